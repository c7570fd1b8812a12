"""`realname usage import FILE --enterprise CODE`: the usage feed that proofs of possession
are checked against. Wired in by `realname.cli` (`app.add_typer(usage_app, name="usage")`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from realname.config import get_settings

usage_app = typer.Typer(
    help="The network's usage feed (proof of possession).", no_args_is_help=True
)
console = Console()


@usage_app.command("import")
def import_usage_command(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="CSV with a header: msisdn, last_used_at, last_topup_at, last_topup_minor "
            "(fen), called_numbers (full numbers separated by ';').",
        ),
    ],
    enterprise: Annotated[str, typer.Option("--enterprise", help="The enterprise's code.")],
) -> None:
    """Load recent usage per line: when it was last used and topped up, and (as keyed
    hashes only) the last top-up amount and numbers it called. Bad rows are reported with
    their line number and reason; the good rows land. Exit 1 when a row was rejected."""
    from sqlalchemy.orm import Session

    from realname.db.engine import create_engine_from_settings
    from realname.policy.loader import load_policy
    from realname.possession.service import PossessionService, read_usage_csv
    from realname.registry.repository import RegistryRepository
    from realname.registry.wiring import registry_service
    from realname.security.keys import keyring_from_settings

    settings = get_settings()
    try:
        text = file.read_text(encoding="utf-8-sig")
        rows = list(read_usage_csv(text))
    except (UnicodeDecodeError, ValueError) as error:
        console.print(f"[red]{file.name}: {error}[/]")
        raise typer.Exit(2) from None
    engine = create_engine_from_settings(settings)
    try:
        with Session(engine) as session, session.begin():
            found = RegistryRepository(session).enterprise_by_code(enterprise)
            if found is None:
                console.print(f"[red]No such enterprise: {enterprise}[/]")
                raise typer.Exit(1)
            keyring = keyring_from_settings(settings)
            policy = load_policy(settings.policy)
            service = PossessionService(
                session,
                policy=policy,
                keyring=keyring,
                registry=registry_service(session, settings, keyring, policy),
            )
            result = service.import_usage(found.id, rows, settings.clock().now())
    finally:
        engine.dispose()
    console.print(f"{result.loaded} rows loaded, {len(result.rejected)} rejected")
    for line, reason in result.rejected:
        console.print(f"  line {line}: {reason}")
    if result.rejected:
        raise typer.Exit(1)
