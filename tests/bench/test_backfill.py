"""`realname bench backfill` stays runnable: a small run on PostgreSQL, both paths measured,
the figures printed and, with --json, one JSON object last."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from realname.cli.bench import bench_backfill


@pytest.mark.postgres
def test_bench_backfill_runs_on_postgresql() -> None:
    from tests.conftest import POSTGRES_URL, _postgres_or_skip

    _postgres_or_skip()
    app = typer.Typer()
    bench = typer.Typer()
    bench.command("backfill")(bench_backfill)
    app.add_typer(bench, name="bench")
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "backfill",
            "--lines",
            "600",
            "--batch",
            "250",
            "--admin-url",
            POSTGRES_URL,
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "bare SQL" in result.output and "CampaignService.sweep" in result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures["path"] == "backfill sweep (bar outgoing)"
    assert figures["n"] == 600 and figures["errors"] == 0
    assert figures["bare_sql_lines"] == 600 and figures["batches"] == 3
    assert figures["rate_per_s"] > 0 and figures["bare_sql_rate_per_s"] > 0
    assert figures["ratio_to_bare_sql"] > 0
    for key in ("p50_ms", "p99_ms", "seconds", "remind_rate_per_s"):
        assert figures[key] is not None
