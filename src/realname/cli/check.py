"""`realname check`: the database audited like fsck (registry/check.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from realname.cli.session import cli_unit
from realname.config import get_settings

console = Console()


def check_command(
    limit: Annotated[int, typer.Option(help="Violations printed per check.")] = 20,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="Signed checkpoints (JSONL) the chains must still extend; default: "
            "REALNAME_CHECKPOINT_FILE when it exists."
        ),
    ] = None,
    log: Annotated[
        list[Path] | None, typer.Option(help="A log file to scan for PII too (repeatable).")
    ] = None,
    sequence: Annotated[
        bool,
        typer.Option(
            help="Chain pending audit entries (deferred mode) before checking; "
            "--no-sequence checks them as they are (read only)."
        ),
    ] = True,
    workers: Annotated[
        int,
        typer.Option(
            min=0,
            help="Processes for the row checks (MACs, sealed PII, text columns), run beside "
            "the rest on connections of their own; 0: everything in this one.",
        ),
    ] = 2,
) -> None:
    """Audit the database like fsck: owners, holdings, caps, event replay, row MACs, PII in
    any text column, the keyed audit chains and the signed checkpoints."""
    from datetime import timedelta

    import realname.tables  # noqa: F401  (every table, so every text column is scanned)
    from realname.cli.session import cli_process
    from realname.registry.check import run_integrity_check
    from realname.security.audit_sequencer import has_pending

    settings = get_settings()
    if sequence:
        with cli_process(settings) as process, console.status("audit: chaining pending entries"):
            if has_pending(process.uow):
                done = process.sequence_audit()
                console.print(f"audit: chained {done.chained:,} pending entries")
                if done.refused:
                    console.print(f"[red]audit: refused {len(done.refused):,} altered entries[/]")
    if checkpoint is None and Path(settings.checkpoint_file).is_file():
        checkpoint = Path(settings.checkpoint_file)
    if checkpoint is not None and not checkpoint.is_file():
        console.print(f"[red]no checkpoint file at {checkpoint}[/]")
        raise typer.Exit(2)
    with (
        cli_unit(settings, write=False) as (process, session),
        console.status("checking") as status,
    ):
        report = run_integrity_check(
            session,
            process.policy,
            process.keyring,
            progress=lambda name: status.update(f"checking: {name}"),
            checkpoints=checkpoint,
            logs=log or (),
            now=process.clock.now(),
            pending_alarm=timedelta(seconds=settings.audit_pending_alarm_seconds),
            workers=workers,
        )
    if checkpoint is None:
        console.print("no checkpoint file: truncation of the chains cannot be detected")
    print_integrity_report(report, limit)
    raise typer.Exit(0 if report.ok else 1)


def print_integrity_report(report: Any, limit: int = 20) -> None:
    table = Table(title="realname check")
    table.add_column("check")
    table.add_column("examined", justify="right")
    table.add_column("violations", justify="right")
    for result in report.results:
        table.add_row(
            result.name,
            f"{result.examined:,}",
            "[green]0[/]" if result.ok else f"[red]{len(result.violations):,}[/]",
        )
    console.print(table)
    for result in report.results:
        for note in getattr(result, "notes", []):
            console.print(f"  {result.name}: {note}", soft_wrap=True)
        for violation in result.violations[:limit]:
            # Notes and violations one line each, never wrapped at the terminal's width: a
            # path or an id split across lines cannot be grepped from a saved report.
            console.print(f"[red]✗[/] {result.name}: {violation}", soft_wrap=True)
        if len(result.violations) > limit:
            console.print(f"  … and {len(result.violations) - limit:,} more")
    verdict = (
        "[green]no violations[/]" if report.ok else f"[red]{report.violation_count:,} violations[/]"
    )
    console.print(verdict)
