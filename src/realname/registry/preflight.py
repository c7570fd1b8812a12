"""What a line operation checks before it takes the line's row lock, and again after.

The cheap refusals come first on a plain read (no such line, a move the lifecycle forbids, a
channel or clerk not allowed), then the identity authority (a network call) before any lock;
the caller then locks the line and checks the move again. Nothing here writes.
"""

from __future__ import annotations

from datetime import date
from typing import TypeVar

from realname.policy.schema import ChannelKind, Policy
from realname.registry.commands import Desk, Person, PossessionProof
from realname.registry.errors import RegistryError
from realname.registry.guards import (
    E,
    O,
    S,
    e164_of,
    get_channel,
    get_clerk,
    get_enterprise,
    locked_line,
)
from realname.registry.identities import IdentityBook, VerifiedPerson
from realname.registry.lifecycle import LineState, Operation, is_unregistered_legacy
from realname.registry.models import Channel, Line
from realname.registry.recorder import allowed
from realname.registry.repository import RegistryRepository
from realname.registry.rows import LineRow

AnyLine = TypeVar("AnyLine", Line, LineRow)


class Preflight:
    def __init__(self, repo: RegistryRepository, identities: IdentityBook, policy: Policy) -> None:
        self.repo = repo
        self.identities = identities
        self.policy = policy

    def at_counter(
        self,
        desk: Desk,
        msisdn: str,
        operation: Operation,
        owner: Person,
        today: date,
        *,
        receiver: Person | None = None,
    ) -> tuple[Channel, Line, LineState, LineState, VerifiedPerson, VerifiedPerson | None]:
        """A counter operation's common ground: an active channel of the enterprise, its clerk,
        the owner's document verified (by the authority, before any lock), the line (locked)
        and the move the state machine allows."""
        channel = self.open_desk(desk)
        get_clerk(self.repo, channel, desk.clerk_id)
        verified = self.owner_checked_unlocked(
            desk.enterprise_id, msisdn, operation, owner, ChannelKind(channel.kind), today
        )
        verified_receiver = None
        if receiver is not None:  # the transfer's receiver: verified before any lock too
            verified_receiver = self.identities.verify(
                receiver, ChannelKind(channel.kind), new_holder=True, today=today
            )
        line = locked_line(self.repo, desk.enterprise_id, msisdn)
        before = LineState(line.state)
        after = allowed(operation, before, line.barring_reason)
        return channel, line, before, after, verified, verified_receiver

    def open_desk(self, desk: Desk) -> Channel:
        """The counter's channel: the enterprise's, and active."""
        return get_channel(self.repo, desk.enterprise_id, desk.channel_id, must_be_active=True)

    def owner_checked_unlocked(
        self,
        enterprise_id: int,
        msisdn: str,
        operation: Operation,
        owner: Person,
        kind: ChannelKind,
        today: date,
    ) -> VerifiedPerson:
        """The cheap refusals on a plain read (no such line, a move the state machine
        forbids), then the person's document through the authority: a network call, made
        before the line's row lock is taken. The caller locks the line and checks again."""
        line = self.repo.line(e164_of(msisdn))
        if line is None or line.enterprise_id != enterprise_id:
            raise RegistryError(E.LINE_NOT_FOUND)
        allowed(operation, LineState(line.state), line.barring_reason)
        return self.identities.verify(owner, kind, new_holder=False, today=today)

    def refuse_without_licence(self, enterprise_id: int) -> None:
        """A suspended or revoked licence stops new customers (seed 002: MVNOs whose licence
        the ministry withdraws); existing lines may still be back-filled to their owners."""
        if get_enterprise(self.repo, enterprise_id).licence_status in ("suspended", "revoked"):
            raise RegistryError(E.LICENCE_NOT_IN_FORCE)

    def registrable(
        self, line: AnyLine | None, enterprise_id: int, channel_id: int
    ) -> tuple[AnyLine, LineState, Operation, LineState]:
        """The registration the line allows at this channel: a kit of its stock, or a legacy
        line of the enterprise waiting for its owner."""
        if line is None or line.enterprise_id != enterprise_id:
            raise RegistryError(E.NOT_IN_CHANNEL_STOCK)
        state = LineState(line.state)
        if state is S.STOCKED and line.channel_id != channel_id:
            raise RegistryError(E.NOT_IN_CHANNEL_STOCK)
        legacy = is_unregistered_legacy(line.state, line.owner_identity_id)
        operation = O.REGISTER_LEGACY if legacy else O.REGISTER
        return line, state, operation, allowed(operation, state, line.barring_reason)

    def refuse_unproven(
        self, line: Line | LineRow, operation: Operation, possession: PossessionProof | None
    ) -> None:
        """A legacy line is back-filled only with a proof of possession for that very line,
        when the policy names proof methods."""
        unproven = possession is None or possession.line_id != line.id
        if operation is O.REGISTER_LEGACY and self.policy.possession.backfill_methods and unproven:
            raise RegistryError(E.POSSESSION_NOT_PROVEN)
