"""`realname clients …`: API clients (OAuth2 client credentials)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from realname.cli.session import cli_session, cli_unit
from realname.config import get_settings
from realname.security.principals import Role

clients_app = typer.Typer(help="API clients (OAuth2 client credentials).", no_args_is_help=True)
console = Console()


@clients_app.command("add")
def clients_add(
    role: Annotated[Role, typer.Option(help="What the client may do.")],
    enterprise: Annotated[str | None, typer.Option(help="Enterprise code it acts for.")] = None,
    channel: Annotated[
        str | None,
        typer.Option(
            help="Channel code at the enterprise (or id) (clerks: default the clerk's "
            "channel; card readers: required)."
        ),
    ] = None,
    clerk: Annotated[str | None, typer.Option(help="Clerk code (or id) of a clerk client.")] = None,
    description: Annotated[str, typer.Option()] = "",
    province: Annotated[
        str | None,
        typer.Option(help="Two-digit GB/T 2260 province of a provincial_regulator (e.g. 44)."),
    ] = None,
    scopes: Annotated[
        str | None,
        typer.Option(
            help="Fewer scopes than the role's, space-separated (e.g. 'compliance:read'); "
            "default: all of the role's.",
        ),
    ] = None,
) -> None:
    """Create a client; its secret is printed once and stored only as a hash."""
    from realname.registry.repository import RegistryRepository
    from realname.security.clients import ClientService

    settings = get_settings()
    with cli_unit(settings, write=True) as (process, session):
        keyring = process.keyring
        enterprise_id = None
        if enterprise is not None:
            found = RegistryRepository(session).enterprise_by_code(enterprise)
            if found is None:
                console.print(f"no enterprise with code {enterprise}")
                raise typer.Exit(2)
            enterprise_id = found.id
        clerk_id, channel_id = _clerk_of(
            session, enterprise_id, clerk, _channel_of(session, enterprise_id, channel)
        )
        try:
            client, secret = ClientService(session, keyring).create(
                role=role,
                at=settings.clock().now(),
                enterprise_id=enterprise_id,
                channel_id=channel_id,
                clerk_id=clerk_id,
                scopes=_scopes(role, scopes, province),
                description=description,
            )
        except ValueError as error:
            console.print(str(error))
            raise typer.Exit(2) from None
        client_id = client.client_id
    typer.echo(json.dumps({"client_id": client_id, "client_secret": secret}))


def _scopes(role: Role, scopes: str | None, province: str | None) -> list[str] | None:
    """The scopes asked for (the role's when none), with the province's."""
    from realname.security.clients import DEFAULT_SCOPES
    from realname.security.principals import province_scope

    chosen = scopes.replace(",", " ").split() if scopes is not None else None
    if province is None:
        return chosen
    return [*(chosen if chosen is not None else DEFAULT_SCOPES[role]), province_scope(province)]


def _channel_of(session: Any, enterprise_id: int | None, channel: str | None) -> int | None:
    """The channel id for --channel CODE (at the enterprise) or ID."""
    from realname.provisioning.repository import ProvisioningRepository

    if channel is None:
        return None
    repo = ProvisioningRepository(session)
    return int(
        _by_code_or_id("channel", channel, enterprise_id, repo.channel, repo.channel_by_id).id
    )


def _clerk_of(
    session: Any, enterprise_id: int | None, clerk: str | None, channel: int | None
) -> tuple[int | None, int | None]:
    """(clerk id, channel id) for --clerk CODE or ID: a code is looked up at the enterprise,
    and the clerk's own channel is the default channel."""
    from realname.provisioning.repository import ProvisioningRepository

    if clerk is None:
        return None, channel
    repo = ProvisioningRepository(session)
    found = _by_code_or_id("clerk", clerk, enterprise_id, repo.clerk, repo.clerk_by_id)
    return found.id, channel if channel is not None else found.channel_id


def _by_code_or_id(
    kind: str,
    given: str,
    enterprise_id: int | None,
    by_code: Callable[[int, str], Any],
    by_id: Callable[[int], Any],
) -> Any:
    """The row `given` names: its code at the enterprise, or its id. A number that is one's
    code and another's id is refused: binding a client to the wrong one would let it act at
    a counter it does not stand at."""
    coded = by_code(enterprise_id, given) if enterprise_id is not None else None
    numbered = by_id(int(given)) if given.isdigit() else None
    if coded is not None and numbered is not None and coded.id != numbered.id:
        console.print(
            f"{kind} {given} is both the code of one {kind} and the id of another here: "
            f"give the code of the one you mean"
        )
        raise typer.Exit(2)
    found = coded or numbered
    if found is None:
        console.print(f"no {kind} {given}" + (" at this enterprise" if enterprise_id else ""))
        raise typer.Exit(2)
    return found


@clients_app.command("list")
def clients_list() -> None:
    """Every client with its role, tenant and status (never a secret)."""
    from realname.security.clients import ClientRepository

    table = Table()
    for column in ("client_id", "role", "enterprise", "channel", "clerk", "scopes", "status"):
        table.add_column(column)
    with cli_session(get_settings(), write=False) as session:
        for c in ClientRepository(session).all():
            table.add_row(
                c.client_id,
                c.role,
                str(c.enterprise_id or ""),
                str(c.channel_id or ""),
                str(c.clerk_id or ""),
                c.scopes,
                c.status,
            )
    console.print(table)


@clients_app.command("revoke")
def clients_revoke(client_id: str) -> None:
    """Revoke a client: it gets no new tokens, and the tokens it holds are refused within
    REALNAME_CLIENT_STATUS_CACHE_SECONDS (default 2 s) on every server."""
    from realname.security.clients import ClientService

    with cli_unit(get_settings(), write=True) as (process, session):
        revoked = ClientService(session, process.keyring).revoke(client_id, process.clock.now())
    console.print("revoked" if revoked else "no such active client")
    raise typer.Exit(0 if revoked else 1)
