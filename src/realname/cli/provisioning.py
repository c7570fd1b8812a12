"""`realname enterprises|blocks|clerks|provision|stock …`: what an operator sets up, from the
command line or a file (docs/provisioning.md). `realname channels add|list|move` use the same
unit of work (cli/channels.py)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from realname.cli.options import EnterpriseCode
from realname.cli.session import cli_unit
from realname.config import get_settings
from realname.provisioning.errors import FileErrors, ProvisioningError, ProvisioningErrorCode

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from realname.provisioning.document import Report
    from realname.provisioning.service import ProvisioningService
    from realname.registry.commands import Context
    from realname.security.vault import KeyRing

enterprises_app = typer.Typer(
    help="Enterprises (MNOs, MVNOs) and their licences.", no_args_is_help=True
)
blocks_app = typer.Typer(help="Number blocks allocated to enterprises.", no_args_is_help=True)
clerks_app = typer.Typer(help="Clerks at sales channels.", no_args_is_help=True)
stock_app = typer.Typer(help="SIM kits in a channel's stock.", no_args_is_help=True)
console = Console()

AsJson = Annotated[bool, typer.Option("--json", help="JSON instead of a table.")]


@dataclass
class ProvisioningUnit:
    session: Session
    keyring: KeyRing
    ctx: Context

    @property
    def service(self) -> ProvisioningService:
        from realname.provisioning.service import ProvisioningService

        return ProvisioningService(self.session, self.keyring)

    def enterprise_id(self, code: str) -> int:
        return self.service.enterprise_by_code(code).id


@contextmanager
def provisioning_unit(*, write: bool = True) -> Iterator[ProvisioningUnit]:
    """One transaction per command (lists and dry runs: a read-only session that keeps
    nothing); a refusal prints its code and message, exit 1."""
    from realname.registry.commands import Actor, Context

    try:
        with cli_unit(get_settings(), write=write) as (process, session):
            ctx = Context(Actor("operator", "cli"), process.clock.now())
            yield ProvisioningUnit(session, process.keyring, ctx)
    except ProvisioningError as error:
        console.print(f"[red]{error.code}[/]: {error.message}" + _detail(error))
        raise typer.Exit(1) from None
    except FileErrors as errors:
        for line, refused in errors.errors:
            where = f"line {line}: " if line else ""
            console.print(f"{where}[red]{refused.code}[/]: {refused.message}" + _detail(refused))
        console.print(f"{len(errors.errors)} error(s); nothing was written")
        raise typer.Exit(1) from None


def _detail(error: ProvisioningError) -> str:
    return f" ({error.detail})" if error.detail else ""


def print_rows(rows: list[dict[str, Any]], columns: list[str], as_json: bool, title: str) -> None:
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, default=str))
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
    console.print(table)


# --- enterprises -------------------------------------------------------------------------------


@enterprises_app.command("add")
def enterprises_add(
    code: Annotated[str, typer.Option(help="Short code, e.g. BLUESKY.")],
    name: Annotated[str, typer.Option(help="Legal name.")],
    kind: Annotated[str, typer.Option(help="mno or mvno.")],
    host: Annotated[
        str | None, typer.Option(help="An MVNO's host operator (an MNO's code).")
    ] = None,
    licence: Annotated[
        str, typer.Option(help="pilot, official, suspended or revoked.")
    ] = "official",
    licence_since: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default today.")] = None,
    licence_no: Annotated[str | None, typer.Option(help="The licence's number.")] = None,
    province: Annotated[
        list[str] | None, typer.Option(help="A province served (two digits, e.g. 11); repeat.")
    ] = None,
) -> None:
    """Create an enterprise (a second identical call changes nothing)."""
    from realname.provisioning.document import EnterpriseSpec

    with provisioning_unit() as unit:
        spec = EnterpriseSpec(
            code=code,
            name=name,
            kind=kind.lower(),
            host=host,
            licence_status=licence.lower(),
            licence_since=_date(licence_since),
            licence_no=licence_no,
            provinces=tuple(p.zfill(2) for p in province or ()),
        )
        enterprise = unit.service.add_enterprise(unit.ctx, spec, source="cli")
        console.print(f"enterprise {enterprise.code} (id {enterprise.id}): {enterprise.kind}")


@enterprises_app.command("list")
def enterprises_list(as_json: AsJson = False) -> None:
    """Every enterprise with its kind, host, licence and provinces."""
    with provisioning_unit(write=False) as unit:
        service = unit.service
        rows = [
            {
                "id": e.id,
                "code": e.code,
                "name": e.name,
                "kind": e.kind,
                "host": service.host_code(e),
                "licence": e.licence_status,
                "since": e.licence_status_since,
                "licence_no": e.licence_no,
                "provinces": " ".join(e.provinces or []),
            }
            for e in service.repo.enterprises()
        ]
    print_rows(rows, list(rows[0]) if rows else ["code"], as_json, "Enterprises")


@enterprises_app.command("licence")
def enterprises_licence(
    code: Annotated[str, typer.Argument(help="The enterprise's code.")],
    status: Annotated[str, typer.Option(help="pilot, official, suspended or revoked.")],
    on: Annotated[
        str | None, typer.Option(help="Effective date, YYYY-MM-DD; default today.")
    ] = None,
) -> None:
    """Record the ministry's licence decision (audited, kept in the licence history)."""
    with provisioning_unit() as unit:
        effective = _date(on) or unit.ctx.at.date()
        enterprise = unit.service.set_licence(unit.ctx, code, status.lower(), effective)
        console.print(f"{enterprise.code}: licence {enterprise.licence_status} from {effective}")


# --- blocks ------------------------------------------------------------------------------------


@blocks_app.command("add")
def blocks_add(
    enterprise: EnterpriseCode,
    prefix: Annotated[str | None, typer.Option(help="E.g. '+86 170 1'.")] = None,
    first: Annotated[str | None, typer.Option(help="First number (with --last).")] = None,
    last: Annotated[str | None, typer.Option(help="Last number (with --first).")] = None,
) -> None:
    """Allocate a number block to an enterprise (no overlap with any allocated block)."""
    from realname.provisioning.document import BlockSpec

    with provisioning_unit() as unit:
        spec = BlockSpec(enterprise=enterprise, prefix=prefix, first=first, last=last)
        row = unit.service.add_block(unit.ctx, spec, source="cli")
        console.print(f"block +{row.first}..+{row.last} (id {row.id}) to {enterprise}")


@blocks_app.command("list")
def blocks_list(
    enterprise: Annotated[str | None, typer.Option(help="Only this enterprise.")] = None,
    as_json: AsJson = False,
) -> None:
    """Allocated number blocks with their size and enterprise."""
    from realname.numbering.blocks import NumberBlock

    with provisioning_unit(write=False) as unit:
        owner = unit.enterprise_id(enterprise) if enterprise else None
        codes = {e.id: e.code for e in unit.service.repo.enterprises()}
        rows = []
        for b in unit.service.repo.blocks(owner):
            block = NumberBlock(b.first, b.last)
            rows.append(
                {
                    "id": b.id,
                    "enterprise": codes.get(b.enterprise_id),
                    "block": str(block),
                    "first": "+" + b.first,
                    "last": "+" + b.last,
                    "size": block.size,
                }
            )
    columns = ["id", "enterprise", "block", "first", "last", "size"]
    print_rows(rows, columns, as_json, "Number blocks")


# --- clerks ------------------------------------------------------------------------------------


@clerks_app.command("add")
def clerks_add(
    enterprise: EnterpriseCode,
    channel: Annotated[str, typer.Option(help="The channel's code.")],
    code: Annotated[str, typer.Option(help="Staff code, unique.")],
    name: Annotated[str, typer.Option()],
) -> None:
    """Create a clerk at a channel."""
    from realname.provisioning.document import ClerkSpec

    with provisioning_unit() as unit:
        clerk = unit.service.add_clerk(
            unit.ctx, ClerkSpec(enterprise, channel, code, name), source="cli"
        )
        console.print(f"clerk {clerk.code} (id {clerk.id}) at channel {channel}")


@clerks_app.command("list")
def clerks_list(enterprise: EnterpriseCode, as_json: AsJson = False) -> None:
    """The enterprise's clerks with their channel and status."""
    with provisioning_unit(write=False) as unit:
        rows = [
            {
                "id": k.id,
                "code": k.code,
                "name": k.name,
                "channel": c.code,
                "channel_id": c.id,
                "status": k.status,
            }
            for k, c in unit.service.repo.clerks(unit.enterprise_id(enterprise))
        ]
    columns = ["id", "code", "name", "channel", "channel_id", "status"]
    print_rows(rows, columns, as_json, f"{enterprise}: clerks")


@clerks_app.command("disable")
def clerks_disable(
    enterprise: EnterpriseCode, code: Annotated[str, typer.Argument(help="The clerk's code.")]
) -> None:
    """Disable a clerk: no more registrations, and its API clients are revoked."""
    with provisioning_unit() as unit:
        clerk = unit.service.disable_clerk(unit.ctx, unit.enterprise_id(enterprise), code)
        console.print(f"clerk {clerk.code}: {clerk.status}")


# --- files -------------------------------------------------------------------------------------


def provision(
    file: Annotated[Path, typer.Argument(help="A .yaml/.yml or .csv file.", exists=True)],
    dry_run: Annotated[bool, typer.Option(help="Check every row, write nothing.")] = False,
    as_json: AsJson = False,
) -> None:
    """Create the enterprises, blocks, channels and clerks a file describes, all or nothing.
    Every refused row is reported with its line number; rows that already exist as written
    are `unchanged`, so running a file twice changes nothing (docs/provisioning.md)."""
    from realname.provisioning.files import load_file

    with provisioning_unit(write=not dry_run) as unit:
        document = load_file(file)
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        report = unit.service.provision(
            unit.ctx, document, dry_run=dry_run, source=f"file:{digest[:16]}"
        )
    _print_report(report, as_json)


def _print_report(report: Report, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
        return
    table = Table(title="dry run: nothing written" if report.dry_run else "provisioned")
    for column in ("", "created", "unchanged"):
        table.add_column(column, justify="right" if column else "left")
    for name, counts in report.as_dict().items():
        if isinstance(counts, dict):
            table.add_row(name, f"{counts['created']:,}", f"{counts['unchanged']:,}")
    console.print(table)


# --- stock -------------------------------------------------------------------------------------


@stock_app.command("add")
def stock_add(
    enterprise: EnterpriseCode,
    channel: Annotated[str, typer.Option(help="The channel's code.")],
    first: Annotated[str, typer.Option("--from", help="First number, e.g. +8617010000000.")],
    count: Annotated[int, typer.Option(min=1, max=10_000, help="How many consecutive kits.")],
    iccid_from: Annotated[str, typer.Option(help="The first kit's ICCID (89…); then +1.")],
    imsi_from: Annotated[str, typer.Option(help="The first kit's IMSI; then +1.")],
) -> None:
    """Stock `count` SIM kits with consecutive numbers, ICCIDs and IMSIs at a channel: the
    numbers must lie in the enterprise's blocks; all of them are stocked or none."""
    from realname.numbering.msisdn import parse_msisdn
    from realname.registry.commands import Kit
    from realname.registry.errors import RegistryError
    from realname.wiring import registry_service

    if not (iccid_from.isdigit() and imsi_from.isdigit()):
        console.print("--iccid-from and --imsi-from are digits")
        raise typer.Exit(2)
    try:
        start = parse_msisdn(first)
    except ValueError as error:
        console.print(f"--from: {error}")
        raise typer.Exit(2) from None
    kits = [
        Kit(
            "+" + str(int(start.digits) + i),
            str(int(iccid_from) + i).zfill(len(iccid_from)),
            str(int(imsi_from) + i).zfill(len(imsi_from)),
        )
        for i in range(count)
    ]
    with provisioning_unit() as unit:
        enterprise_id = unit.enterprise_id(enterprise)
        found = unit.service.repo.channel(enterprise_id, channel)
        if found is None:
            raise ProvisioningError(ProvisioningErrorCode.CHANNEL_NOT_FOUND, channel)
        registry = registry_service(unit.session, get_settings(), unit.keyring)
        try:
            lines = registry.stock.stock_kits(unit.ctx, enterprise_id, found.id, kits)
        except RegistryError as error:
            console.print(f"[red]{error.code}[/]: {error.message}")
            raise typer.Exit(1) from None
        console.print(f"stocked {len(lines)} kits at {channel} ({kits[0].msisdn} …)")


def _date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        console.print(f"not a date (YYYY-MM-DD): {text}")
        raise typer.Exit(2) from None
