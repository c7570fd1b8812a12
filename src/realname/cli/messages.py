"""`realname messages …`: drain the outbox, see what is in it.

Wired into the main command with `app.add_typer(messages_app, name="messages")`. Importing
this module builds the Typer app and nothing else (no settings, no engine).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from realname.cli.session import cli_session
from realname.config import get_settings

messages_app = typer.Typer(help="Messages to subscribers (the outbox).", no_args_is_help=True)

console = Console()


@messages_app.command("send")
def send(
    forever: Annotated[
        bool, typer.Option("--forever", help="Keep polling for new messages until SIGTERM/^C.")
    ] = False,
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Messages per claim.")] = 50,
    poll_interval: Annotated[
        float, typer.Option(min=0.05, max=3600, help="Seconds between polls when idle.")
    ] = 2.0,
) -> None:
    """Send due messages through REALNAME_SMS_GATEWAY (file or smpp), then print the counts.

    Without --forever: until nothing is due. Exit 1 if the gateway stayed unavailable."""
    import threading

    from realname.api.middleware import configure_logging
    from realname.messaging.sender import stop_on_signals
    from realname.wiring import build_sender

    settings = get_settings()
    configure_logging(settings.log_level)
    stop = threading.Event()
    with build_sender(settings) as sender, stop_on_signals(stop):
        stats = sender.run(
            forever=forever, batch=batch, poll_interval=poll_interval, stop_event=stop
        )
    console.print(f"{stats.summary()} (gateway: {settings.sms_gateway})")
    if stats.gateway_down:
        console.print("[red]the gateway is unavailable[/]; unsent messages stay queued")
        raise typer.Exit(1)


@messages_app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Messages by status and kind, what is due now, and the oldest pending message's age."""
    from realname.messaging.service import outbox_status

    settings = get_settings()
    with cli_session(settings, write=False) as session:
        report = outbox_status(session, settings.clock().now())
    age = report.oldest_pending_age_seconds
    if as_json:
        counts: dict[str, dict[str, int]] = {}
        for (state, kind), n in sorted(report.counts.items()):
            counts.setdefault(state, {})[kind] = n
        typer.echo(
            json.dumps(
                {
                    "counts": counts,
                    "pending": report.total("pending"),
                    "sent": report.total("sent"),
                    "failed": report.total("failed"),
                    "due": report.due,
                    "leased": report.leased,
                    "oldest_pending_age_seconds": None if age is None else round(age, 1),
                }
            )
        )
        return
    table = Table(title="outbox")
    table.add_column("status")
    table.add_column("kind")
    table.add_column("messages", justify="right")
    for (state, kind), n in sorted(report.counts.items()):
        table.add_row(state, kind, f"{n:,}")
    console.print(table)
    console.print(
        f"pending {report.total('pending'):,} (due now {report.due:,}, being sent "
        f"{report.leased:,}); oldest pending: {_age(age)}"
    )


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "none"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
