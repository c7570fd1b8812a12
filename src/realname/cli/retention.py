"""`realname retention run`: the daily purge of registration records past the policy's
retention after termination (registry/retention.py). Run it from cron next to
`realname backfill run`, e.g. `15 3 * * * realname retention run`; it is idempotent and
safe to run twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console

from realname.config import get_settings

retention_app = typer.Typer(
    help="Retention: purge registration records past the policy's retention.",
    no_args_is_help=True,
)
console = Console()


@retention_app.command("run")
def run(
    at: Annotated[
        datetime | None,
        typer.Option(
            help="Act as of this instant (UTC), e.g. to replay a missed day; default now."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what is due; change nothing.")
    ] = False,
    batch: Annotated[
        int, typer.Option(min=1, max=100_000, help="Identities per transaction.")
    ] = 500,
) -> None:
    """Purge every identity whose last line ended more than the policy's retention ago: its
    sealed number, name and address and its blind indexes go; the line events stay.
    Idempotent; one audit entry per batch."""
    from realname.registry.retention import run_retention
    from realname.wiring import Process

    settings = get_settings()
    now = settings.clock().now()
    instant = now if at is None else (at if at.tzinfo else at.replace(tzinfo=UTC))
    if instant > now + timedelta(minutes=5):
        console.print("[red]--at is in the future[/]: records are purged only once they are due")
        raise typer.Exit(2)
    with Process(settings) as process, console.status("retention") as status:
        policy = process.policy
        report = run_retention(
            process.uow,
            process.keyring,
            policy,
            instant,
            batch_size=batch,
            dry_run=dry_run,
            progress=lambda n: status.update(f"retention: {n:,} identities purged"),
        )
    verb = "due (dry run, nothing changed)" if dry_run else "purged"
    console.print(
        f"retention {policy.retention_after_termination_days} days after termination "
        f"(records last used before {report.cutoff:%Y-%m-%d %H:%M} UTC): "
        f"{len(report.purged):,} identities {verb} in {report.batches:,} batches"
        + ("" if dry_run else f", {report.notes:,} sealed notes destroyed")
    )
