"""The registry's administration: enterprises, their number blocks, channels and clerks.

The registry owns who may register (a registration checks the channel and the clerk), so it
creates them; each creation is audited in the caller's transaction. The operator's
provisioning (`provisioning/`, from the ministry's files and the API) is a second path to
the same rows with its own rules (licences, dry runs).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from realname.numbering.blocks import NumberBlock
from realname.policy.schema import ChannelKind
from realname.registry.commands import Context
from realname.registry.errors import RegistryError
from realname.registry.guards import E, coded, get_channel, get_enterprise
from realname.registry.models import Channel, Clerk, Enterprise, NumberBlockRow
from realname.registry.recorder import LineRecorder
from realname.registry.repository import RegistryRepository
from realname.registry.sanctions import Measure, refuse_if_in_force


class Administration:
    def __init__(self, session: Session, recorder: LineRecorder) -> None:
        self.session = session
        self.repo = RegistryRepository(session)
        self.recorder = recorder

    def create_enterprise(
        self,
        ctx: Context,
        *,
        code: str,
        name: str,
        kind: str,
        licence_no: str | None = None,
        host_enterprise_id: int | None = None,
    ) -> Enterprise:
        enterprise = Enterprise(
            code=code,
            name=name,
            kind=kind,
            licence_no=licence_no,
            host_enterprise_id=host_enterprise_id,
            status="active",
            created_at=ctx.at,
        )
        self.repo.add(enterprise)
        self.session.flush()
        self.recorder.audit(ctx, "enterprise.create", "enterprise", enterprise.id, {"code": code})
        return enterprise

    def allocate_block(
        self, ctx: Context, enterprise_id: int, block: NumberBlock
    ) -> NumberBlockRow:
        get_enterprise(self.repo, enterprise_id)
        refuse_if_in_force(self.repo, enterprise_id, Measure.BLOCK_ALLOCATION)
        if self.repo.overlapping_blocks(block.first, block.last):
            raise RegistryError(E.BLOCK_OVERLAPS)
        row = NumberBlockRow(
            enterprise_id=enterprise_id, first=block.first, last=block.last, allocated_at=ctx.at
        )
        self.repo.add(row)
        self.session.flush()
        self.recorder.audit(
            ctx, "block.allocate", "number_block", row.id, {"block": str(block), "size": block.size}
        )
        return row

    def create_channel(
        self,
        ctx: Context,
        enterprise_id: int,
        *,
        code: str,
        name: str,
        kind: ChannelKind,
        region_code: str,
        parent_id: int | None = None,
    ) -> Channel:
        get_enterprise(self.repo, enterprise_id)
        if parent_id is not None:
            # A sub-channel of one's own channel only.
            get_channel(self.repo, enterprise_id, parent_id)
        channel = Channel(
            enterprise_id=enterprise_id,
            parent_id=parent_id,
            code=code,
            name=name,
            kind=str(kind),
            region_code=region_code,
            status="active",
            created_at=ctx.at,
        )
        self.repo.add(channel)
        self.session.flush()
        self.recorder.audit(ctx, "channel.create", "channel", channel.id, {"kind": str(kind)})
        return channel

    def create_clerk(
        self, ctx: Context, enterprise_id: int, channel_id: int, *, code: str, name: str
    ) -> Clerk:
        get_channel(self.repo, enterprise_id, channel_id)
        clerk = Clerk(
            channel_id=channel_id, code=code, name=name, status="active", created_at=ctx.at
        )
        self.repo.add(clerk)
        self.session.flush()
        self.recorder.audit(ctx, "clerk.create", "clerk", clerk.id, {"channel_id": channel_id})
        return clerk

    def set_channel_status(
        self, ctx: Context, enterprise_id: int, channel_id: int, status: str, reason: str
    ) -> Channel:
        """A coded reason is kept as is; free text is sealed (audit note) and the channel
        shows the code `manual`, so no typed text sits in clear in the table or the chain."""
        code, note = coded(reason, "manual")
        channel = get_channel(self.repo, enterprise_id, channel_id)
        channel.status, channel.status_reason = status, code
        self.session.flush()
        self.recorder.audit(
            ctx, f"channel.{status}", "channel", channel.id, {"reason": code}, {"note": note}
        )
        return channel
