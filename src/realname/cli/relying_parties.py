"""`realname relying-parties …`: the banks and payment apps that call the CAMARA APIs."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from realname.cli.session import cli_unit
from realname.config import get_settings

parties_app = typer.Typer(help="Relying parties (banks, payment apps) of the CAMARA APIs.")
console = Console()


@parties_app.command("add")
def parties_add(
    name: Annotated[str, typer.Option(help="The bank or payment app.")],
    purpose: Annotated[str, typer.Option(help="Why it checks subscribers (kept on record).")],
    apis: Annotated[
        str,
        typer.Option(
            help="Comma-separated: kyc-match, sim-swap, kyc-age-verification, kyc-tenure, "
            "number-verification."
        ),
    ],
) -> None:
    """Register a relying party: an API client with only its APIs' scopes (secret shown once)."""
    from realname.verification.service import register_relying_party

    settings = get_settings()
    try:
        with cli_unit(settings, write=True) as (process, session):
            party, secret = register_relying_party(
                session,
                process.keyring,
                name=name,
                purpose=purpose,
                apis=[a.strip() for a in apis.split(",") if a.strip()],
                at=settings.clock().now(),
            )
            client_id = party.client_id
    except ValueError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    console.print(f"client_id  {client_id}\nsecret     {secret}  (shown once)")
