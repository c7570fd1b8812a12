"""`realname staff …`: the accounts people sign in to the web pages with, each acting as one
API client; and `realname demo`'s last step, the demo world served with the pages and an
account per role (printed once; Ctrl-C stops the server)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from realname.cli.session import cli_unit
from realname.config import Settings, get_settings

console = Console()
staff_app = typer.Typer(
    help="Staff accounts for the web pages (each acts as an API client).", no_args_is_help=True
)


@staff_app.command("add")
def staff_add(
    username: Annotated[str, typer.Argument(help="The name they sign in with.")],
    client: Annotated[
        str, typer.Option(help="The API client it acts as (`realname clients add`).")
    ],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="REALNAME_STAFF_PASSWORD",
            help="At least 10 characters; asked for when not given (stored as an scrypt hash).",
        ),
    ],
) -> None:
    """Create an account: its role and tenant are the client's."""
    from realname.security.staff import StaffService

    settings = get_settings()
    with cli_unit(settings, write=True) as (process, session):
        try:
            StaffService(session, process.keyring).create_account(
                username, password, client, settings.clock().now()
            )
        except ValueError as error:
            console.print(str(error))
            raise typer.Exit(2) from None
    console.print(f"staff account {username} acts as {client}")


@staff_app.command("list")
def staff_list() -> None:
    """Accounts, the client each acts as, and their status."""
    from realname.security.staff import StaffService

    settings = get_settings()
    with cli_unit(settings, write=False) as (process, session):
        table = Table()
        for column in ("user name", "client", "status", "created"):
            table.add_column(column)
        for account in StaffService(session, process.keyring).accounts():
            table.add_row(
                account.username, account.client_id, account.status, f"{account.created_at:%F}"
            )
    console.print(table)


@staff_app.command("disable")
def staff_disable(username: Annotated[str, typer.Argument()]) -> None:
    """No more sign-ins; its open sessions end at their next request."""
    from realname.security.staff import StaffService

    settings = get_settings()
    with cli_unit(settings, write=True) as (process, session):
        done = StaffService(session, process.keyring).disable(username, settings.clock().now())
    if not done:
        console.print(f"no active staff account {username}")
        raise typer.Exit(1)
    console.print(f"staff account {username} disabled")


def serve_demo_world(settings: Settings) -> None:
    """Accounts for each role on the demo database, then the app (API and pages) on it, at
    REALNAME_HOST:REALNAME_PORT (127.0.0.1:8000 by default)."""
    host, port = settings.host, settings.port
    import uvicorn

    from realname.api.app import create_app
    from realname.db.engine import create_engine_from_settings
    from realname.db.uow import UnitOfWork
    from realname.security.keys import keyring_from_settings
    from realname.sim.desk import create_demo_accounts, walk_in_customer

    engine = create_engine_from_settings(settings)
    keyring = keyring_from_settings(settings)
    now = settings.clock().now()
    try:
        from sqlalchemy.orm import sessionmaker

        with UnitOfWork(sessionmaker(engine, expire_on_commit=False)).transaction() as session:
            desk = create_demo_accounts(session, keyring, now)
            card = walk_in_customer(session, keyring, now, "王小明")
    finally:
        engine.dispose()
    table = Table(title=f"web pages at http://{host}:{port}/web/ (demo accounts, shown once)")
    for column in ("role", "user name", "password", "acts for"):
        table.add_column(column)
    for account in desk.accounts:
        table.add_row(account.role, account.username, account.password, account.where)
    console.print(table)
    base = f"http://{host}:{port}"
    console.print(
        "the front desk's card reader (role card_reader, at the clerk's channel): its software "
        "gets a token and posts a card's chip data; then 'Read the card' on the desk picks it "
        "up (face score 0.95). A walk-in customer's card, as the reader would post it:"
    )
    typer.echo(f"READER={desk.reader_client_id}:{desk.reader_secret}")
    typer.echo(
        f'TOKEN=$(curl -s -u "$READER" -d grant_type=client_credentials {base}/oauth/token'
        " | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')"
    )
    typer.echo(
        f"curl -s -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' "
        f"-d '{json.dumps(card, ensure_ascii=False)}' {base}/v1/card-reads"
    )
    console.print("serving; Ctrl-C to stop")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", access_log=False)
