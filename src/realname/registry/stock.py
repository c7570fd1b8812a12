"""SIM kits in a channel's stock: put in, passed along the channel tree, taken back.

The registry registers from stock (a new line is a stocked kit of the registering channel),
so stock is the registry's; channels call it for their moves. Every batch is checked whole
before any of it moves, and its lines are locked in number order.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from realname.registry.commands import Context, Kit
from realname.registry.errors import RegistryError
from realname.registry.guards import E, O, S, coded, e164_of, get_channel
from realname.registry.lifecycle import LineState, Operation
from realname.registry.models import Line
from realname.registry.recorder import LineRecorder, allowed
from realname.registry.repository import RegistryRepository


class Stock:
    def __init__(self, session: Session, recorder: LineRecorder) -> None:
        self.session = session
        self.repo = RegistryRepository(session)
        self.recorder = recorder

    def stock_kits(
        self, ctx: Context, enterprise_id: int, channel_id: int, kits: Sequence[Kit]
    ) -> list[Line]:
        """Put SIM kits in a channel's stock; each number must be in the enterprise's blocks."""
        channel = get_channel(self.repo, enterprise_id, channel_id)
        # Validate the whole batch before changing anything (a refusal leaves no half-stocked
        # batch), and lock lines in number order so two batches cannot deadlock.
        planned: list[tuple[Kit, str, Line | None, LineState | None]] = []
        seen_numbers: set[str] = set()
        seen_kits: set[str] = set()
        for kit in sorted(kits, key=lambda k: e164_of(k.msisdn)):
            e164 = e164_of(kit.msisdn)
            if not kit.card_is_well_formed:
                raise RegistryError(E.KIT_INVALID)
            if self.repo.block_owning(enterprise_id, e164[1:]) is None:
                raise RegistryError(E.NUMBER_NOT_ALLOCATED)
            if (
                e164 in seen_numbers
                or {kit.iccid, kit.imsi} & seen_kits
                or self.repo.kit_in_use(enterprise_id, kit.iccid, kit.imsi)
            ):
                raise RegistryError(E.KIT_IN_USE)
            seen_numbers.add(e164)
            seen_kits |= {kit.iccid, kit.imsi}
            line = self.repo.line_for_update(e164)
            if line is not None and line.enterprise_id != enterprise_id:
                raise RegistryError(E.NUMBER_NOT_ALLOCATED)
            before = LineState(line.state) if line is not None else None
            allowed(O.STOCK, before)
            planned.append((kit, e164, line, before))
        lines = []
        for kit, e164, line, before in planned:
            if line is None:
                line = Line(
                    msisdn=e164,
                    enterprise_id=enterprise_id,
                    state=str(before),
                    state_changed_at=ctx.at,
                    event_count=0,
                )
                self.repo.add(line)
            line.iccid, line.imsi, line.channel_id = kit.iccid, kit.imsi, channel.id
            line.stocked_at = ctx.at
            self.session.flush()
            self.recorder.record(ctx, line, O.STOCK, before, S.STOCKED, channel_id=channel.id)
            lines.append(line)
        return lines

    def move_kits(
        self,
        ctx: Context,
        enterprise_id: int,
        from_channel_id: int,
        to_channel_id: int,
        msisdns: Sequence[str],
    ) -> list[Line]:
        """Pass unsold kits down to a sub-channel or back up to its parent: stock follows the
        channel tree, so an enterprise always knows which channel answers for a kit."""
        source = get_channel(self.repo, enterprise_id, from_channel_id)
        target = get_channel(self.repo, enterprise_id, to_channel_id, must_be_active=True)
        if target.parent_id != source.id and source.parent_id != target.id:
            raise RegistryError(E.STOCK_MOVE_NOT_ALLOWED)
        lines = self._held_kits(enterprise_id, source.id, msisdns, O.MOVE_STOCK)
        for line in lines:
            line.channel_id = target.id
            self.recorder.record(
                ctx,
                line,
                O.MOVE_STOCK,
                S.STOCKED,
                S.STOCKED,
                channel_id=target.id,
                detail={"from_channel_id": source.id, "iccid": line.iccid},
            )
        return lines

    def return_kits(
        self,
        ctx: Context,
        enterprise_id: int,
        channel_id: int,
        msisdns: Sequence[str],
        *,
        write_off: bool = False,
        reason: str = "",
    ) -> list[Line]:
        """Take kits out of a channel's stock back to the enterprise pool; a written-off kit
        (lost, damaged) is gone, so its ICCID and IMSI leave the number with it."""
        operation = O.WRITE_OFF if write_off else O.UNSTOCK
        lines = self._held_kits(enterprise_id, channel_id, msisdns, operation)
        for line in lines:
            detail = {"from_channel_id": channel_id, "iccid": line.iccid}
            line.channel_id = None
            line.stocked_at = None
            line.iccid = line.imsi = None
            code, note = coded(reason, None)
            self.recorder.record(
                ctx, line, operation, S.STOCKED, S.POOLED, reason=code, note=note, detail=detail
            )
        return lines

    def _held_kits(
        self, enterprise_id: int, channel_id: int, msisdns: Sequence[str], operation: Operation
    ) -> list[Line]:
        """The lines of a batch, locked in number order, each a kit this channel holds; the
        whole batch is checked before any of it moves."""
        if not msisdns:
            raise RegistryError(E.NOTHING_TO_MOVE)
        numbers = sorted({e164_of(raw) for raw in msisdns})
        lines = []
        for e164 in numbers:
            line = self.repo.line_for_update(e164)
            if line is None or line.enterprise_id != enterprise_id:
                raise RegistryError(E.LINE_NOT_FOUND)
            if line.state != S.STOCKED or line.channel_id != channel_id:
                raise RegistryError(E.NOT_IN_CHANNEL_STOCK)
            allowed(operation, S.STOCKED)
            lines.append(line)
        return lines
