"""Options and look-ups several command groups share: the enterprise by its code, and `--at`
(acting as of an earlier instant, never a later one)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from realname.config import get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

console = Console()

EnterpriseCode = Annotated[str, typer.Option("--enterprise", help="The enterprise's code.")]
At = Annotated[
    datetime | None,
    typer.Option(help="Act as of this instant (UTC), e.g. to replay a missed day; default now."),
]


def enterprise_id(session: Session, code: str) -> int:
    """The enterprise's id; an unknown code ends the command (exit 1)."""
    from realname.registry.repository import RegistryRepository

    enterprise = RegistryRepository(session).enterprise_by_code(code)
    if enterprise is None:
        console.print(f"[red]no enterprise with code {code!r}[/]")
        raise typer.Exit(1)
    return enterprise.id


def instant(at: datetime | None) -> datetime:
    """--at replays a missed day; a future instant would bar and terminate lines early."""
    now = get_settings().clock().now()
    if at is None:
        return now
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    if at > now + timedelta(minutes=5):
        console.print("[red]--at is in the future[/]: the job acts on past and present days only")
        raise typer.Exit(2)
    return at
