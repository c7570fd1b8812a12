"""Compute the national figures of a dataset on an engine, timing each figure."""

from __future__ import annotations

from pathlib import Path
from time import perf_counter, process_time

from realname.national.analytics.dataset import (
    COMPLAINTS,
    INSPECTIONS,
    NationalDataset,
    open_dataset,
)
from realname.national.analytics.engines import (
    DuckDBEngine,
    Engine,
    SparkEngine,
    spark_for_one_call,
)
from realname.national.analytics.figures import (
    BREAKDOWNS,
    IDENTITIES,
    GroupFigures,
    NationalFigures,
    assemble,
    by_enterprise_kind,
    complaints_sql,
    identities_sql,
    identity_figures,
    inspections_sql,
    lines_sql,
)


def national_figures(
    engine: Engine, dataset: NationalDataset, national_cap: int | None
) -> NationalFigures:
    """Every breakdown (enterprise first: its total is the month rows' denominator), the
    MNO/MVNO roll-up of the enterprise rows, then the identities over the national cap."""
    present = dataset.files()
    for view, files in present.items():
        engine.register(view, files)
    seconds: dict[str, float] = {}
    cpu: dict[str, float] = {}  # this process's CPU time (DuckDB's threads; not Spark's JVM)
    breakdowns: dict[str, list[GroupFigures]] = {}
    total = 0
    for b in BREAKDOWNS:
        started, used = perf_counter(), process_time()
        complaints = complaints_sql(b) if COMPLAINTS in present else None
        inspections = inspections_sql(b) if INSPECTIONS in present else None
        rows = assemble(
            b,
            engine.rows(lines_sql(b)),
            None if complaints is None else engine.rows(complaints),
            None if inspections is None else engine.rows(inspections),
            total,
        )
        breakdowns[b.name] = rows
        seconds[b.name] = perf_counter() - started
        cpu[b.name] = process_time() - used
        if b.name == "enterprise":
            total = sum(g.lines for g in rows)
            breakdowns["enterprise_kind"] = by_enterprise_kind(rows)
    started, used = perf_counter(), process_time()
    (row,) = engine.rows(identities_sql(national_cap))
    identities = identity_figures(row, national_cap)
    seconds[IDENTITIES] = perf_counter() - started
    cpu[IDENTITIES] = process_time() - used
    return NationalFigures(
        engine=engine.name,
        lines_total=total,
        breakdowns=breakdowns,
        identities=identities,
        seconds=seconds,
        cpu_seconds=cpu,
    )


def figures_of_directory(
    root: Path,
    engine: str = "duckdb",
    national_cap: int | None = None,
    memory_limit: str | None = None,
) -> NationalFigures:
    """The figures of the dataset under `root` on a fresh engine (Spark: the running session,
    else one started for the call and stopped after it)."""
    dataset = open_dataset(root)
    if engine == "spark":
        with spark_for_one_call() as session:
            runner = SparkEngine(session)
            try:
                return national_figures(runner, dataset, national_cap)
            finally:
                runner.close()
    duck = DuckDBEngine(memory_limit=memory_limit)
    try:
        return national_figures(duck, dataset, national_cap)
    finally:
        duck.close()
