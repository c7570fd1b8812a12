"""`realname channels …`: the channel tree (add, list, move) and channel risk, with
suspension of the channels over the policy's threshold."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from realname.cli import options
from realname.cli.options import At, EnterpriseCode
from realname.cli.provisioning import AsJson, print_rows, provisioning_unit
from realname.cli.session import cli_unit
from realname.config import get_settings

if TYPE_CHECKING:
    from realname.channels.service import AssessedChannel

channels_app = typer.Typer(help="Sales channels: the tree (add, list, move), stock and risk.")
console = Console()


@channels_app.command("risk")
def risk(
    enterprise: EnterpriseCode,
    at: At = None,
    limit: Annotated[int, typer.Option(min=1)] = 10,
    suspend: Annotated[
        bool, typer.Option(help="Suspend every channel over the policy's threshold.")
    ] = False,
) -> None:
    """The riskiest channels with the evidence; optionally suspend those over the threshold."""
    from realname.registry.commands import Actor, Context

    settings = get_settings()
    instant = options.instant(at)
    with cli_unit(settings, write=suspend) as (process, session):
        channels = process.services(session).channels
        enterprise_id = options.enterprise_id(session, enterprise)
        assessed = channels.assess(enterprise_id, instant)
        print_risk(console, enterprise, assessed, limit)
        if suspend:
            ctx = Context(Actor("operator", "cli"), instant)
            for channel in channels.suspend_over_threshold(ctx, enterprise_id, assessed):
                console.print(f"suspended {channel.code}: {channel.status_reason}")


def print_risk(out: Console, enterprise: str, assessed: list[AssessedChannel], limit: int) -> None:
    table = Table(title=f"{enterprise}: riskiest channels")
    for column in ("channel", "kind", "status", "registrations", "score", "signals tripped"):
        table.add_column(
            column, justify="right" if column in ("registrations", "score") else "left"
        )
    for item in assessed[:limit]:
        tripped = [s.name for s in item.risk.signals if s.tripped]
        score = f"[red]{item.risk.score}[/]" if item.over_threshold else str(item.risk.score)
        table.add_row(
            item.channel.code,
            item.channel.kind,
            item.channel.status,
            f"{item.risk.registrations:,}",
            score,
            ", ".join(tripped) or "-",
        )
    out.print(table)
    for item in assessed[:limit]:
        for signal in item.risk.signals:
            if signal.tripped and signal.evidence:
                out.print(f"  {item.channel.code} {signal.name}: {signal.evidence[0]}")


@channels_app.command("add")
def channels_add(
    enterprise: EnterpriseCode,
    code: Annotated[str, typer.Option(help="Unique within the enterprise.")],
    name: Annotated[str, typer.Option()],
    kind: Annotated[str, typer.Option(help="own_hall, partner_hall, social or online.")],
    region: Annotated[str, typer.Option(help="Six-digit GB/T 2260 region code.")],
    parent: Annotated[str | None, typer.Option(help="The agent above it (a channel code).")] = None,
) -> None:
    """Create a channel, optionally under a parent channel (an agent's sub-agent)."""
    from realname.provisioning.document import ChannelSpec

    with provisioning_unit() as unit:
        spec = ChannelSpec(enterprise, code, name, kind.lower(), region, parent)
        channel = unit.service.add_channel(unit.ctx, spec, source="cli")
        console.print(f"channel {channel.code} (id {channel.id}) at {enterprise}")


@channels_app.command("list")
def channels_list(enterprise: EnterpriseCode, as_json: AsJson = False) -> None:
    """The enterprise's channels with kind, region, parent and status."""
    with provisioning_unit(write=False) as unit:
        channels = unit.service.repo.channels(unit.enterprise_id(enterprise))
        codes = {c.id: c.code for c in channels}
        rows = [
            {
                "id": c.id,
                "code": c.code,
                "name": c.name,
                "kind": c.kind,
                "region": c.region_code,
                "parent": codes.get(c.parent_id) if c.parent_id else None,
                "status": c.status,
            }
            for c in channels
        ]
    columns = ["id", "code", "name", "kind", "region", "parent", "status"]
    print_rows(rows, columns, as_json, f"{enterprise}: channels")


@channels_app.command("move")
def channels_move(
    enterprise: EnterpriseCode,
    code: Annotated[str, typer.Argument(help="The channel to move.")],
    parent: Annotated[str | None, typer.Option(help="The new parent channel's code.")] = None,
    top: Annotated[bool, typer.Option(help="Move it to the top (no parent).")] = False,
) -> None:
    """Re-parent a channel (never under itself or its own sub-channels); audited."""
    if (parent is None) == (not top):
        console.print("give --parent CODE or --top")
        raise typer.Exit(2)
    with provisioning_unit() as unit:
        channel = unit.service.move_channel(
            unit.ctx, unit.enterprise_id(enterprise), code, None if top else parent
        )
        console.print(f"channel {channel.code} now under {parent or 'nothing (top)'}")
