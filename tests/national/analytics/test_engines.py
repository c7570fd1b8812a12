"""Same inputs, same answers: the figures on Spark equal those on DuckDB, row for row (the
statements are the same text; this checks the engines read and count alike)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from realname.bench.national import generate
from realname.national.analytics.dataset import open_dataset
from realname.national.analytics.engines import DuckDBEngine, SparkEngine
from realname.national.analytics.errors import NationalAnalyticsError
from realname.national.analytics.figures import NationalFigures
from realname.national.analytics.service import national_figures
from tests.national.analytics.conftest import write_dataset


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
    duck = _on_duckdb(root, 5)
    enterprises = {g.group for g in duck.breakdowns["enterprise"]}
    assert len(enterprises) == 42 and {"CMCC", "SNAIL", "YUANTE"} <= enterprises
    assert duck.identities.over_cap
    assert _on_spark(spark, root, 5).as_json() == {**duck.as_json(), "engine": "spark"}


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
