"""`realname usage import FILE --enterprise CODE`: the usage feed that proofs of possession
are checked against. Wired in by `realname.cli` (`app.add_typer(usage_app, name="usage")`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from realname.cli.options import EnterpriseCode
from realname.cli.session import cli_unit
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
    enterprise: EnterpriseCode,
) -> None:
    """Load recent usage per line: when it was last used and topped up, and (as keyed
    hashes only) the last top-up amount and numbers it called. Bad rows are reported with
    their line number and reason; the good rows land. Exit 1 when a row was rejected."""
    from realname.possession.usage import read_usage_csv
    from realname.registry.repository import RegistryRepository

    settings = get_settings()
    try:
        text = file.read_text(encoding="utf-8-sig")
        rows = list(read_usage_csv(text))
    except (UnicodeDecodeError, ValueError) as error:
        console.print(f"[red]{file.name}: {error}[/]")
        raise typer.Exit(2) from None
    with cli_unit(settings, write=True) as (process, session):
        found = RegistryRepository(session).enterprise_by_code(enterprise)
        if found is None:
            console.print(f"[red]No such enterprise: {enterprise}[/]")
            raise typer.Exit(1)
        possession = process.services(session).possession
        result = possession.import_usage(found.id, rows, settings.clock().now())
    console.print(f"{result.loaded} rows loaded, {len(result.rejected)} rejected")
    for line, reason in result.rejected:
        console.print(f"  line {line}: {reason}")
    if result.rejected:
        raise typer.Exit(1)
