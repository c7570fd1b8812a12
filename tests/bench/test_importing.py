"""`realname bench import --json`: the figures as one JSON object, last."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from realname.cli.bench import bench_import


@pytest.mark.postgres
def test_bench_import_prints_its_figures_as_json() -> None:
    from tests.conftest import POSTGRES_URL, _postgres_or_skip

    _postgres_or_skip()
    app = typer.Typer()
    bench = typer.Typer()
    bench.command("import")(bench_import)
    app.add_typer(bench, name="bench")
    result = CliRunner().invoke(
        app, ["bench", "import", "--rows", "2000", "--admin-url", POSTGRES_URL, "--json"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures["path"] == "legacy import (CSV -> PostgreSQL)"
    assert figures["n"] == 2000 and figures["errors"] == 0
    assert figures["rows_loaded"] + figures["rows_rejected"] == 2000
    assert figures["bare_sql_rate_per_s"] > 0 and figures["ratio_to_bare_sql"] > 0
    assert figures["rerun_rows_present"] == figures["rows_loaded"]
    assert figures["p50_ms"] is None  # measured as a whole
