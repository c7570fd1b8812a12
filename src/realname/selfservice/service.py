"""Self-service use cases for a subscriber whose token is bound to one line.

**Who the caller is.** The token names a line the subscriber proved they hold (a one-time
code sent to it, or the network's own authentication). Through that line's registration the
caller stands for its *current* owner's identity, at this enterprise only, looked up at every
request: a line transferred to someone else takes its token's access to the old owner's other
lines away at once, and a line with no owner (an unregistered legacy line) reaches nothing
beyond itself.

**What the binding is worth.** Locking a line and reporting it lost only protect the owner,
so the binding is enough: a lost phone cannot receive a code, so its owner proves another of
their lines instead. Unlocking restores service, so it still needs the owner's document and
name (as `RegistryService.unlock` checks). Answering a re-verification online needs the
owner's document checked against the authority, a live-face score and a liveness score from
the app. A "not mine" dispute is a complaint on the disputed line's history plus a case with
the policy's deadline, and asks that line's holder to re-verify.

Services flush, never commit; the entry point owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from realname.policy.schema import Policy
from realname.registry.commands import Context, Person
from realname.registry.errors import RegistryError, RegistryErrorCode
from realname.registry.models import Line
from realname.registry.reverification import ReverificationTriggers
from realname.registry.service import RegistryService
from realname.security.principals import Principal
from realname.selfservice.errors import SelfServiceError, SelfServiceErrorCode
from realname.selfservice.models import Dispute
from realname.selfservice.repository import SelfServiceRepository

E = RegistryErrorCode
NOT_MINE = "not_mine"
DISPUTE_REASON = "not_mine_dispute"


@dataclass(frozen=True)
class Scope:
    """What a bound token reaches, as of this request."""

    proved_line: Line
    enterprise_id: int
    identity_id: int | None  # the proved line's current owner; None: only the line itself


class SelfService:
    def __init__(
        self,
        session: Session,
        *,
        policy: Policy,
        registry: RegistryService,
        reverification: ReverificationTriggers,
    ) -> None:
        self.session = session
        self.policy = policy
        self.registry = registry
        self.reverification = reverification
        self.repo = SelfServiceRepository(session)

    def scope(self, principal: Principal) -> Scope:
        """The bound line and, through its registration, the identity the token stands for:
        once the line changes hands the token reaches nothing of the new owner's
        (BOUND_LINE_GONE; `Principal.stands_for`)."""
        line = self.repo.line(principal.line_id) if principal.line_id is not None else None
        if (
            line is None
            or principal.enterprise_id not in (None, line.enterprise_id)
            or not principal.stands_for(line.owner_identity_id, line.owner_since)
        ):
            raise SelfServiceError(SelfServiceErrorCode.BOUND_LINE_GONE)
        return Scope(line, line.enterprise_id, line.owner_identity_id)

    def line(self, scope: Scope, line_id: int, *, owned: bool = True) -> Line:
        """One of the caller's lines, or LINE_NOT_FOUND exactly as for a line nobody has.
        `owned`: the operation needs a registered owner (the caller's identity)."""
        line = self.repo.line(line_id)
        if line is None or line.enterprise_id != scope.enterprise_id:
            raise RegistryError(E.LINE_NOT_FOUND)
        mine = scope.identity_id is not None and line.owner_identity_id == scope.identity_id
        if not mine and line.id != scope.proved_line.id:
            raise RegistryError(E.LINE_NOT_FOUND)
        if owned and not mine:
            raise RegistryError(E.NOT_OWNER, "the line has no registered owner")
        return line

    def lines(self, scope: Scope) -> Sequence[Line]:
        if scope.identity_id is None:
            return [scope.proved_line]
        return self.repo.lines_of(scope.identity_id, scope.enterprise_id)

    def report_lost(self, ctx: Context, scope: Scope, line_id: int) -> Line:
        line = self.line(scope, line_id)
        return self.registry.report_lost(ctx, line.enterprise_id, line.msisdn)

    def lock(self, ctx: Context, scope: Scope, line_id: int) -> Line:
        line = self.line(scope, line_id)
        return self.registry.lock_held(ctx, line.enterprise_id, line.msisdn)

    def unlock(self, ctx: Context, scope: Scope, line_id: int, owner: Person) -> Line:
        line = self.line(scope, line_id)
        return self.registry.unlock(ctx, line.enterprise_id, line.msisdn, owner)

    def answer_reverification(
        self, ctx: Context, scope: Scope, line_id: int, owner: Person, liveness: float | None
    ) -> Line:
        line = self.line(scope, line_id)
        return self.registry.answer_reverification_online(
            ctx, line.enterprise_id, line.msisdn, owner, liveness
        )

    def dispute(self, ctx: Context, scope: Scope, line_id: int) -> Dispute:
        """ "Registered to me, but not mine": the line the caller proved is theirs by definition,
        so only another line of their identity can be disputed."""
        line = self.line(scope, line_id)
        if line.id == scope.proved_line.id:
            raise SelfServiceError(SelfServiceErrorCode.CANNOT_DISPUTE_PROVED_LINE)
        assert scope.identity_id is not None  # `line` found it through the identity
        existing = self.repo.open_dispute(line.id, scope.identity_id)
        if existing is not None and existing.due_at > ctx.at:
            return existing  # one case per line and identity while it runs
        self.registry.complain(ctx, line.enterprise_id, line.msisdn, NOT_MINE)
        complaint_seq = line.event_count
        asked = self.reverification.ask(ctx, line, DISPUTE_REASON)
        dispute = Dispute(
            enterprise_id=line.enterprise_id,
            line_id=line.id,
            identity_id=scope.identity_id,
            proved_line_id=scope.proved_line.id,
            opened_at=ctx.at,
            due_at=ctx.at + timedelta(days=self.policy.risk.dispute_answer_days),
            complaint_seq=complaint_seq,
            reverification_requested=asked,
        )
        self.repo.add(dispute)
        self.session.flush()
        return dispute

    def disputes(self, scope: Scope) -> Sequence[Dispute]:
        if scope.identity_id is None:
            return []
        return self.repo.disputes_of(scope.identity_id, scope.enterprise_id)
