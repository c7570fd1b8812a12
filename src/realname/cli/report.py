"""`realname report …`: the regulator's reports, printed as a Markdown table, CSV or JSON
(`--format`). Each report is one query path in its domain's service (`compliance/`); this
module only renders."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import typer

from realname.cli.session import cli_unit
from realname.config import get_settings

report_app = typer.Typer(help="The regulator's reports (md, csv or json).")


class Format(StrEnum):
    MD = "md"
    CSV = "csv"
    JSON = "json"


FormatOption = Annotated[Format, typer.Option("--format", help="md, csv or json.")]


def render(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: Format) -> str:
    """The rows as text: JSON (a list of objects), CSV or a Markdown table (the columns
    given, in order; JSON keeps every key)."""
    if fmt is Format.JSON:
        return json.dumps(list(rows), ensure_ascii=False, default=str, indent=1)
    if fmt is Format.CSV:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue().rstrip("\n")
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


ENFORCEMENT_COLUMNS = [
    "enterprise",
    "kind",
    "licence",
    "actions",
    "open",
    "highest_open",
    "measures",
    "notice",
    "interview",
    "rectification",
    "yellow_1",
    "yellow_2",
    "yellow_3",
    "red",
]
COMPLAINT_COLUMNS = [
    "enterprise",
    "channel",
    "total",
    "spam_sms",
    "fraud_call",
    "harassment_call",
    "not_mine",
    "other",
]


@report_app.command("enforcement")
def enforcement_report(fmt: FormatOption = Format.MD) -> None:
    """Per enterprise: actions by rung, how many are open, the highest open rung, the
    measures in force (no new blocks, no settlement) and the licence."""
    from realname.wiring import enforcement_service

    with cli_unit(get_settings(), write=False) as (process, session):
        rows = enforcement_service(process.services(session)).report()
    typer.echo(render(rows, ENFORCEMENT_COLUMNS, fmt))


@report_app.command("complaints")
def complaints_report(
    fmt: FormatOption = Format.MD,
    since: Annotated[
        datetime | None, typer.Option(help="Received at or after (UTC); default all.")
    ] = None,
    until: Annotated[datetime | None, typer.Option(help="Received before (UTC).")] = None,
) -> None:
    """Traced complaints per enterprise and the channel that sold the line, by category."""
    from datetime import UTC

    from realname.wiring import complaint_service

    since = since.replace(tzinfo=since.tzinfo or UTC) if since else None
    until = until.replace(tzinfo=until.tzinfo or UTC) if until else None
    with cli_unit(get_settings(), write=False) as (process, session):
        rows = complaint_service(process.services(session)).report(since, until)
    typer.echo(render(rows, COMPLAINT_COLUMNS, fmt))
