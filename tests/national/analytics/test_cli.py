"""`realname report national` and `realname bench national` as a user runs them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from realname.cli import app
from realname.national.analytics.figures import BREAKDOWN_NAMES

runner = CliRunner()


def test_report_national_json_md_and_csv(hand_dataset: Path) -> None:
    args = ["report", "national", "--from", str(hand_dataset), "--national-cap", "3"]
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # the report alone: progress goes to stderr
    # Where a long run is: each figure as it is done, on stderr.
    said = result.stderr.splitlines()
    assert [line.split(":")[0].strip() for line in said] == [*BREAKDOWN_NAMES, "identities"]
    assert said[0].startswith("  enterprise: 4 rows in ") and said[0].endswith(" s")
    assert data["engine"] == "duckdb" and data["lines"] == 8
    assert data["identities"]["identities_over_cap"] == 1
    cmcc = data["enterprise"][0]
    assert (cmcc["group"], cmcc["kind"], cmcc["lines"], cmcc["violations"]) == ("CMCC", "mno", 3, 1)
    guangdong = next(r for r in data["province"] if r["group"] == "44")
    assert guangdong["name"] == "广东省"

    md = runner.invoke(app, [*args, "--format", "md"])
    assert md.exit_code == 0
    assert "## MNOs and MVNOs" in md.stdout and "广东省" in md.stdout
    assert "1 hold more than the national cap of 3" in md.stdout

    text = runner.invoke(app, [*args, "--format", "csv"]).stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["by"] for r in rows} == {*BREAKDOWN_NAMES, "enterprise_kind"}
    assert next(r for r in rows if r["group"] == "SNAIL")["complaints"] == "3"


def test_report_national_on_spark_prints_duckdbs_figures(spark: Any, hand_dataset: Path) -> None:
    args = ["report", "national", "--from", str(hand_dataset), "--format", "json"]
    on_duckdb = json.loads(runner.invoke(app, args).stdout)
    result = runner.invoke(app, [*args, "--engine", "spark"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {**on_duckdb, "engine": "spark"}
    # said before Spark is asked for a session (seconds of silence otherwise), then each figure
    said = result.stderr.splitlines()
    assert said[0].startswith("  Spark: getting a session") and len(said) > 1, said
    assert spark.sql("SELECT 1").collect()  # the test session's Spark is left running


def test_report_national_without_a_cap_in_the_policy(
    hand_dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REALNAME_POLICY", "china")  # per enterprise only: no national cap
    result = runner.invoke(app, ["report", "national", "--from", str(hand_dataset)])
    assert result.exit_code == 0, result.output
    assert "no national cap in the policy" in result.output


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda root: root / "missing", "NATIONAL_DATASET_NOT_FOUND"),
        (lambda root: _wrong_schema(root), "NATIONAL_DATASET_SCHEMA"),
    ],
)
def test_a_bad_dataset_is_a_code_and_exit_2_not_a_traceback(
    tmp_path: Path, make: object, code: str
) -> None:
    root = make(tmp_path)  # type: ignore[operator]
    result = runner.invoke(app, ["report", "national", "--from", str(root)])
    assert result.exit_code == 2
    assert f"REALNAME.{code}" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def _wrong_schema(root: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (root / "national_lines").mkdir(parents=True)
    pq.write_table(pa.table({"enterprise": ["CMCC"]}), root / "national_lines" / "x.parquet")
    return root


def test_bench_national_json_is_the_last_line(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["bench", "national", "--lines", "5000", "--dir", str(tmp_path), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output.strip().splitlines()[-1])
    assert (data["lines"], data["engine"]) == (5000, "duckdb")
    assert data["seconds"] > 0 and data["rows_per_s"] > 0
    assert set(data["figure_seconds"]) == {*BREAKDOWN_NAMES, "identities"}
    assert set(data["figure_cpu_seconds"]) == set(data["figure_seconds"])
    assert data["generate_seconds"] is not None and data["bytes_per_line"] > 20
    # same size and seed: the dataset is reused, not written again
    again = runner.invoke(
        app, ["bench", "national", "--lines", "5000", "--dir", str(tmp_path), "--json"]
    )
    assert json.loads(again.output.strip().splitlines()[-1])["generate_seconds"] is None


def test_bench_national_refuses_an_unknown_engine() -> None:
    result = runner.invoke(app, ["bench", "national", "--lines", "5000", "--engine", "oracle"])
    assert result.exit_code == 2


def test_bench_national_never_deletes_a_dataset_it_did_not_write(tmp_path: Path) -> None:
    """`--dir` at a real `realname national export` removed it (the same folder names)."""
    export = tmp_path / "national_lines"
    export.mkdir()
    (export / "real-export.parquet").write_bytes(b"PAR1")
    result = runner.invoke(app, ["bench", "national", "--lines", "5000", "--dir", str(tmp_path)])
    assert result.exit_code == 2 and "did not write" in result.output
    assert "Traceback" not in result.output
    assert (export / "real-export.parquet").read_bytes() == b"PAR1"


def test_bench_national_dir_that_is_a_file_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    inside = runner.invoke(
        app, ["bench", "national", "--lines", "5000", "--dir", str(a_file / "below")]
    )
    assert inside.exit_code == 2 and "--dir" in inside.output, inside.output
    assert not isinstance(inside.exception, OSError)
    itself = runner.invoke(app, ["bench", "national", "--lines", "5000", "--dir", str(a_file)])
    assert itself.exit_code == 2


def test_running_out_of_memory_says_what_to_change_not_that_the_dataset_is_bad(
    tmp_path: Path,
) -> None:
    """DuckDB's out-of-memory was reported as NATIONAL_DATASET_UNREADABLE: the operator went
    looking for a broken file. It is its own code, with the limit to raise."""
    from realname.bench.national import generate

    generate(tmp_path, 200_000, threads=1)
    args = ["report", "national", "--from", str(tmp_path), "--format", "json"]
    starved = runner.invoke(app, [*args, "--memory-limit", "2MB"])
    assert starved.exit_code == 2
    assert "REALNAME.NATIONAL_ENGINE_OUT_OF_MEMORY" in starved.output
    assert "--memory-limit" in starved.output and "Traceback" not in starved.output
    assert runner.invoke(app, [*args, "--memory-limit", "1GB"]).exit_code == 0


@pytest.mark.parametrize("limit", ["lots", "8 apples", "-1GB"])
def test_a_memory_limit_duckdb_cannot_read_is_a_usage_error(hand_dataset: Path, limit: str) -> None:
    """It reached DuckDB's SET as written and came back as a ParserException traceback."""
    args = ["report", "national", "--from", str(hand_dataset), "--memory-limit", limit]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "--memory-limit" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_memory_limit_is_refused_for_spark(hand_dataset: Path) -> None:
    args = ["report", "national", "--from", str(hand_dataset), "--engine", "spark"]
    result = runner.invoke(app, [*args, "--memory-limit", "2GB"])
    assert result.exit_code == 2 and "Spark" in result.output


def test_the_engine_refuses_a_setting_it_cannot_read_with_a_code() -> None:
    from realname.national.analytics.engines import DuckDBEngine
    from realname.national.analytics.errors import (
        NationalAnalyticsError,
        NationalAnalyticsErrorCode,
    )

    with pytest.raises(NationalAnalyticsError) as refused:
        DuckDBEngine(memory_limit="lots")
    assert refused.value.code is NationalAnalyticsErrorCode.ENGINE_UNAVAILABLE
    assert "memory_limit" in str(refused.value.detail)
