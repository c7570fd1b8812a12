"""`realname complaints import FILE.csv`: a file from the complaint centre. Every good row
lands, traced and acted on; every bad one is listed with its line number and code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from realname.cli.session import cli_unit
from realname.config import get_settings

complaints_app = typer.Typer(help="Complaints from the complaint centre (12321-style).")
console = Console()
err = Console(stderr=True)  # progress, so --json output stays clean


@complaints_app.command("import")
def import_file(
    path: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The CSV file.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
) -> None:
    """Header: category,msisdn,occurred_at,content_sha256,centre_ref (occurred_at in ISO 8601
    with its offset); a file past the row limit is refused whole, with the limit in its
    message. Exit 0 when the file was read (bad rows are listed), 1 when nothing in it could be
    taken, 2 when it is not such a file (or too big)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from realname.compliance.complaints.errors import ComplaintError
    from realname.registry.commands import Actor, Context
    from realname.wiring import complaint_service

    data = path.read_bytes()
    try:
        with cli_unit(get_settings(), write=True) as (process, session):
            ctx = Context(Actor("complaint_centre", "cli"), process.clock.now())
            with Progress(
                TextColumn("complaints"), BarColumn(), MofNCompleteColumn(), console=err
            ) as bar:
                task = bar.add_task("complaints", total=None)

                def shown(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                service = complaint_service(process.services(session))
                report = service.import_csv(ctx, data, progress=shown)
    except ComplaintError as error:
        console.print(f"[red]{error.code}[/]: {error.message}")
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        console.print(
            f"import {report.import_id}: {report.rows} rows, {len(report.accepted)} taken, "
            f"{len(report.refused)} refused"
        )
        for line, code, message in report.refused:
            console.print(f"  line {line}: {code} {message}")
    if report.rows and not report.accepted:
        raise typer.Exit(1)
