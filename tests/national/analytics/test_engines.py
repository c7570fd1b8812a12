"""Same inputs, same answers: the figures on Spark equal those on DuckDB, row for row (the
statements are the same text; this checks the engines read and count alike)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from realname.bench.national import generate
from realname.national.analytics.dataset import NATIONAL_COMPLAINT_SOURCES_SCHEMA, open_dataset
from realname.national.analytics.engines import DuckDBEngine, SparkEngine
from realname.national.analytics.errors import NationalAnalyticsError
from realname.national.analytics.figures import NationalFigures
from realname.national.analytics.service import national_figures
from tests.national.analytics.conftest import table, write_dataset


def _on_duckdb(root: Path, cap: int) -> NationalFigures:
    engine = DuckDBEngine(threads=1)
    try:
        return national_figures(engine, open_dataset(root), cap)
    finally:
        engine.close()


def _on_spark(spark: Any, root: Path, cap: int) -> NationalFigures:
    engine = SparkEngine(spark)
    try:
        return national_figures(engine, open_dataset(root), cap)
    finally:
        engine.close()


def test_spark_gives_duckdbs_answers(spark: Any, tmp_path: Path) -> None:
    """One dataset, one Spark run (each statement costs Spark seconds): a generated country
    (42 enterprises, 31 provinces, dealers over the cap) with the hand dataset's files beside
    its own (null provinces, an inspected enterprise without lines, unowned lines)."""
    root = tmp_path / "national"
    generate(root, 20_000, seed=3)
    write_dataset(tmp_path / "hand")
    for name in ("national_lines/a.parquet", "national_lines/b.parquet"):
        shutil.copy(tmp_path / "hand" / name, root / name.replace("/", "/hand-"))
    shutil.copy(
        tmp_path / "hand/national_complaints.parquet", root / "national_complaints/hand.parquet"
    )
    shutil.copy(
        tmp_path / "hand/national_inspections/round.parquet",
        root / "national_inspections/hand.parquet",
    )
    # The complaints cover some enterprises only (the others run their own instance): the
    # covered-lines counts run too, with their IN subquery.
    covered = [*sorted(_enterprises(root) - {"CUCC"})[::2], "CMCC", "SNAIL"]
    pq.write_table(
        table([(code,) for code in covered], NATIONAL_COMPLAINT_SOURCES_SCHEMA),
        root / "national_complaint_sources.parquet",
    )
    duck = _on_duckdb(root, 5)
    assert any(g.complaints is None and g.lines for g in duck.breakdowns["enterprise"])
    enterprises = {g.group for g in duck.breakdowns["enterprise"]}
    assert len(enterprises) == 42 and {"CMCC", "SNAIL", "YUANTE"} <= enterprises
    assert duck.identities.over_cap
    assert _on_spark(spark, root, 5).as_json() == {**duck.as_json(), "engine": "spark"}


def _enterprises(root: Path) -> set[str]:
    return {
        str(code)
        for path in root.glob("national_lines/*.parquet")
        for code in pq.read_table(path, columns=["enterprise"]).column(0).to_pylist()
    }


def _register_and_count(engine: SparkEngine, path: Path) -> None:
    engine.register("national_lines", [path])
    engine.rows("SELECT COUNT(*) FROM national_lines")


def test_spark_refuses_an_unreadable_file_with_a_code(spark: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not parquet PAR1")
    engine = SparkEngine(spark)
    with pytest.raises(NationalAnalyticsError) as refused:  # on reading, or on the first query
        _register_and_count(engine, bad)
    assert refused.value.code == "NATIONAL_DATASET_UNREADABLE"
