"""`realname db …`: the schema, migrated by Alembic."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from realname.cli.session import cli_engine
from realname.config import get_settings

db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
console = Console()


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Migrate the database in REALNAME_DATABASE_URL to REVISION (default: head)."""
    from alembic.util import CommandError

    from realname.db import migrate

    with cli_engine(get_settings()) as engine:
        try:
            migrate.upgrade(engine, revision)
        except CommandError as error:  # an unknown revision, or one not reachable from here
            console.print(f"[red]cannot upgrade:[/red] {str(error).splitlines()[0][:200]}")
            raise typer.Exit(1) from None
        console.print(f"database at revision [bold]{migrate.current_revision(engine)}[/]")


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision and whether it is at head."""
    from realname.db import migrate

    with cli_engine(get_settings()) as engine:
        current, head = migrate.current_revision(engine), migrate.head_revision(engine)
    console.print(f"current {current or '(empty)'}; head {head}")
    raise typer.Exit(0 if current == head else 1)
