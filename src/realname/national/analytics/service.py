"""Compute the national figures of a dataset on an engine, timing each figure."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from time import perf_counter, process_time

from realname.national.analytics.dataset import (
    COMPLAINT_SOURCES,
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
    SOURCES_SQL,
    GroupFigures,
    NationalFigures,
    assemble,
    by_enterprise_kind,
    complaints_sql,
    covered_lines_sql,
    covered_of_enterprises,
    identities_sql,
    identity_figures,
    inspections_sql,
    lines_sql,
)

# Told after each figure: its name, how many rows it has and the seconds it took (a national
# dataset takes minutes; the CLI says where it is).
Progress = Callable[[str, int, float], None]


def national_figures(
    engine: Engine,
    dataset: NationalDataset,
    national_cap: int | None,
    progress: Progress | None = None,
) -> NationalFigures:
    """Every breakdown (enterprise first: its total is the month rows' denominator), the
    MNO/MVNO roll-up of the enterprise rows, then the identities over the national cap.

    Where the complaints cover only some enterprises (`national_complaint_sources`), the
    complaint rates are over those enterprises' lines: one more count per breakdown, run only
    then."""
    present = dataset.files()
    for view, files in present.items():
        engine.register(view, files)
    sources = (
        {str(row[0]) for row in engine.rows(SOURCES_SQL)} if COMPLAINT_SOURCES in present else None
    )
    seconds: dict[str, float] = {}
    cpu: dict[str, float] = {}  # this process's CPU time (DuckDB's threads; not Spark's JVM)
    breakdowns: dict[str, list[GroupFigures]] = {}
    total = complaint_total = 0
    partial = False  # some enterprise's complaints are not covered (known after the first)
    for b in BREAKDOWNS:
        started, used = perf_counter(), process_time()
        complaints = complaints_sql(b) if COMPLAINTS in present else None
        inspections = inspections_sql(b) if INSPECTIONS in present else None
        lines = engine.rows(lines_sql(b))
        covered = None
        if b.name == "enterprise" and sources is not None:
            partial = any(row[0] is not None and str(row[0]) not in sources for row in lines)
            covered = covered_of_enterprises(lines, sources) if partial else None
        elif partial and complaints is not None and b.name != "month":
            covered = engine.rows(covered_lines_sql(b))
        rows = assemble(
            b,
            lines,
            None if complaints is None else engine.rows(complaints),
            None if inspections is None else engine.rows(inspections),
            complaint_total if partial else total,
            covered,
        )
        breakdowns[b.name] = rows
        seconds[b.name] = perf_counter() - started
        cpu[b.name] = process_time() - used
        if progress is not None:
            progress(b.name, len(rows), seconds[b.name])
        if b.name == "enterprise":
            total = sum(g.lines for g in rows)
            complaint_total = sum(g.complaint_lines or 0 for g in rows)
            breakdowns["enterprise_kind"] = by_enterprise_kind(rows)
    started, used = perf_counter(), process_time()
    (row,) = engine.rows(identities_sql(national_cap))
    identities = identity_figures(row, national_cap)
    seconds[IDENTITIES] = perf_counter() - started
    cpu[IDENTITIES] = process_time() - used
    if progress is not None:
        progress(IDENTITIES, 1, seconds[IDENTITIES])
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
    progress: Progress | None = None,
) -> NationalFigures:
    """The figures of the dataset under `root` on a fresh engine (Spark: the running session,
    else one started for the call and stopped after it)."""
    dataset = open_dataset(root)
    if engine == "spark":
        with spark_for_one_call() as session:
            runner = SparkEngine(session)
            try:
                return national_figures(runner, dataset, national_cap, progress)
            finally:
                runner.close()
    duck = DuckDBEngine(memory_limit=memory_limit)
    try:
        return national_figures(duck, dataset, national_cap, progress)
    finally:
        duck.close()
