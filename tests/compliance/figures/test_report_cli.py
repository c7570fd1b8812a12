"""`realname report compliance|inspections` on a demo database: the JSON the issue promises,
one object per enterprise, and refusals of a bad period or province (exit 2)."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from realname.cli import app
from realname.compliance.inspections.evidence import EvidenceStore
from realname.compliance.inspections.outcomes import Outcome
from realname.compliance.inspections.service import (
    Acting,
    InspectionService,
    RoundSpec,
    VisitSpec,
)
from realname.config import Settings
from realname.db.engine import create_engine_from_settings
from realname.registry.commands import Actor, Context
from realname.security.clients import ClientService
from realname.security.keys import keyring_from_settings
from realname.security.principals import Role
from realname.tables import load_all_models

runner = CliRunner()


@pytest.fixture
def demo_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    from realname.config import get_settings

    url = f"sqlite:///{tmp_path}/demo.db"
    monkeypatch.setenv("REALNAME_KEY_FILE", str(tmp_path / "keys.json"))
    monkeypatch.setenv("REALNAME_SMS_FILE", str(tmp_path / "sms.jsonl"))
    get_settings.cache_clear()
    made = runner.invoke(
        app, ["demo", "--lines", "300", "--operations", "60", "--database-url", url]
    )
    assert made.exit_code == 0, made.stdout
    monkeypatch.setenv("REALNAME_DATABASE_URL", url)
    get_settings.cache_clear()
    _inspect(get_settings(), tmp_path)
    yield url
    get_settings.cache_clear()


def _inspect(settings: Settings, tmp_path: Path) -> None:
    """One national round over every outlet: the first three visited, one violating."""
    load_all_models()
    engine = create_engine_from_settings(settings)
    keyring = keyring_from_settings(settings)
    now = settings.clock().now()
    ctx = Context(Actor("regulator", "test"), now)
    with Session(engine) as session, session.begin():
        inspector, _ = ClientService(session, keyring).create(role=Role.REGULATOR_INSPECTOR, at=now)
        service = InspectionService(session, keyring, EvidenceStore(tmp_path / "evidence"))
        row = service.create_round(
            Acting(ctx), RoundSpec("DEMO-1", "demo", now.date() - timedelta(days=1), now.date(), 5)
        )
        targets = service.plan(Acting(ctx), row.id)
        service.assign(Acting(ctx), row.id, inspector.client_id, None)
        by = Acting(
            Context(Actor("regulator_inspector", inspector.client_id), now),
            inspector=inspector.client_id,
        )
        for target, outcome in zip(
            targets, (Outcome.SOLD_WITHOUT_ID, Outcome.COMPLIANT, Outcome.COMPLIANT), strict=False
        ):
            service.record_visit(by, row.id, VisitSpec(target.id, now, "110105", outcome))
    engine.dispose()


def test_report_compliance_json_has_one_object_per_enterprise(demo_database: str) -> None:
    result = runner.invoke(app, ["report", "compliance", "--format", "json"])
    assert result.exit_code == 0, result.stdout
    rows = json.loads(result.stdout)
    # The demo's three MNOs and seed 002's 42 resale pilots.
    assert len(rows) == 45 and {r["kind"] for r in rows} == {"mno", "mvno"}
    for row in rows:
        for key in (
            "enterprise",
            "kind",
            "lines",
            "real_name_rate",
            "inspected",
            "violations",
            "violation_rate",
            "violation_rate_low",
            "violation_rate_high",
            "complaints_per_10k",
        ):
            assert key in row, key
        assert row["cap_breaches"] == 0
    # Every round of the period counts: the demo's own two and this test's DEMO-1 (3 visits,
    # 1 violating), as the inspections report totals them.
    rounds = json.loads(runner.invoke(app, ["report", "inspections", "--format", "json"]).stdout)
    overall = [r for r in rounds if r["by"] == "round"]
    assert {r["round"] for r in overall} >= {"DEMO-1"} and len(overall) == 3
    assert sum(r["inspected"] for r in rows) == sum(r["inspected"] for r in overall)
    assert sum(r["violations"] for r in rows) == sum(r["violations"] for r in overall)
    assert sum(r["lines"] for r in rows) > 0
    inspected = [r for r in rows if r["inspected"]]
    assert all(
        r["violation_rate_low"] <= r["violation_rate"] <= r["violation_rate_high"]
        for r in inspected
    )


def test_report_inspections_and_the_other_formats(demo_database: str) -> None:
    text = runner.invoke(app, ["report", "inspections", "--format", "json"])
    assert text.exit_code == 0, text.stdout
    rows = json.loads(text.stdout)
    (overall,) = [r for r in rows if r["by"] == "round" and r["round"] == "DEMO-1"]
    assert (overall["inspected"], overall["violations"]) == (3, 1)
    markdown = runner.invoke(app, ["report", "compliance", "--format", "md", "--province", "11"])
    assert markdown.exit_code == 0 and "北京市" in markdown.stdout
    csv_text = runner.invoke(app, ["report", "inspections", "--format", "csv"])
    assert csv_text.stdout.startswith("round,starts_on,ends_on,by,group")
    assert runner.invoke(app, ["report", "compliance", "--period", "2016-13"]).exit_code == 2
    assert runner.invoke(app, ["report", "compliance", "--province", "99"]).exit_code == 2
    old = runner.invoke(app, ["report", "inspections", "--format", "json", "--period", "2016-07"])
    assert old.exit_code == 0 and json.loads(old.stdout) == []


REPORTS = ["compliance", "inspections", "enforcement", "complaints", "segments"]


def _csv_form(value: object) -> str:
    """A workbook cell as csv.DictWriter writes the same value."""
    from datetime import datetime

    if value is None:
        return ""
    if isinstance(value, datetime):  # openpyxl reads a date cell back as a datetime
        return value.date().isoformat()
    return str(value)


def _same(cell: str, text: str) -> bool:
    """Equal, a number to Excel's 15 significant digits."""
    if cell == text:
        return True
    try:
        return math.isclose(float(cell), float(text), rel_tol=1e-14)
    except ValueError:
        return False


def test_xlsx_holds_the_rows_of_the_csv(demo_database: str, tmp_path: Path) -> None:
    """Every report (one demo database for all five: it takes seconds to build)."""
    import csv
    import io

    from openpyxl import load_workbook

    for report in REPORTS:
        as_csv = runner.invoke(app, ["report", report, "--format", "csv"])
        assert as_csv.exit_code == 0, as_csv.stdout
        expected = list(csv.reader(io.StringIO(as_csv.stdout)))
        workbook = tmp_path / f"{report}.xlsx"
        argv = ["report", report, "--format", "xlsx", "--output", str(workbook)]
        written = runner.invoke(app, argv)
        assert written.exit_code == 0 and written.stdout == "", written.stdout
        sheet = load_workbook(workbook, read_only=True)[report]
        got = [[_csv_form(cell) for cell in row] for row in sheet.iter_rows(values_only=True)]
        assert len(got) == len(expected) > 1, report  # the header and at least one row
        for row, want in zip(got, expected, strict=True):
            row = row + [""] * (len(want) - len(row))  # read-only sheets drop trailing blanks
            assert all(map(_same, row, want)), (report, row, want)
        # Redirected standard output gets the same workbook.
        piped = runner.invoke(app, ["report", report, "--format", "xlsx"])
        assert piped.exit_code == 0 and piped.stdout_bytes[:2] == b"PK", report  # a zip


def test_xlsx_to_a_terminal_is_refused_before_any_work(
    demo_database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("realname.cli.report._stdout_is_terminal", lambda: True)
    for report in REPORTS:
        refused = runner.invoke(app, ["report", report, "--format", "xlsx"])
        assert refused.exit_code == 2 and "--output FILE" in refused.stderr, report
    # --output is fine at a terminal; a file that cannot be written is a clear error.
    missing = tmp_path / "no-such-dir" / "x.xlsx"
    bad = runner.invoke(
        app, ["report", "enforcement", "--format", "xlsx", "--output", str(missing)]
    )
    assert bad.exit_code == 2 and "cannot write" in bad.stderr
    markdown = tmp_path / "enforcement.md"
    done = runner.invoke(app, ["report", "enforcement", "--output", str(markdown)])
    assert done.exit_code == 0 and markdown.read_text().startswith("| enterprise")


def test_settlement_is_refused_where_the_demos_card_suspends_it(demo_database: str) -> None:
    """The demo's yellow III suspends its enterprise's settlement: that statement is refused
    with the stable code; another enterprise's statement lists its channels."""
    report = runner.invoke(app, ["report", "enforcement", "--format", "json"])
    enforcement = json.loads(report.stdout)
    (carded,) = [r["enterprise"] for r in enforcement if "settlement" in r["measures"]]
    refused = runner.invoke(app, ["report", "settlement", "--enterprise", carded])
    assert refused.exit_code == 1 and "REALNAME.SETTLEMENT_SUSPENDED" in refused.stderr
    other = next(r["enterprise"] for r in enforcement if r["enterprise"] != carded)
    shown = runner.invoke(app, ["report", "settlement", "--enterprise", other, "--format", "json"])
    assert shown.exit_code == 0, shown.stderr
    rows = json.loads(shown.stdout)
    assert rows and all(r["channel"].startswith(other + "-") for r in rows)
    unknown = runner.invoke(app, ["report", "settlement", "--enterprise", "NOPE"])
    assert unknown.exit_code == 1 and "NOPE" in unknown.stderr
    # The reads that answered are on the audit trail (the refused one is not).
    from sqlalchemy import create_engine, select

    from realname.compliance.reads import FIGURE_READ
    from realname.security.models import AuditLog

    engine = create_engine(demo_database)
    with Session(engine) as session:
        read = session.scalars(
            select(AuditLog).where(AuditLog.action == FIGURE_READ).order_by(AuditLog.id)
        ).all()
    engine.dispose()
    assert [(e.actor, e.object_id) for e in read] == [
        ("operator:cli", "enforcement"),
        ("operator:cli", "settlement"),
    ]
    assert read[1].detail["enterprise"] == other and read[1].detail["scope"] == "national"
