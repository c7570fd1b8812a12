"""The demo's regulator: complaints from the complaint centre traced to the owners of the
time, and one enterprise taken up the ladder until a card's consequence refuses a
registration at its counter. No printing (cli/demo.py prints `ComplianceDemo`).

Everything goes through the services an entry point uses, in one transaction per step, with
the demo's clock: the complaint file through `ComplaintService.import_csv`, the decisions
through `EnforcementService`, the refused registration through `RegistryService.register`.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from realname.compliance.enforcement.ladder import ActionKind
from realname.compliance.enforcement.service import NewAction
from realname.compliance.inspections.evidence import EvidenceStore
from realname.compliance.inspections.outcomes import Outcome
from realname.compliance.inspections.service import (
    Acting,
    InspectionService,
    RoundSpec,
    VisitSpec,
)
from realname.config import Settings
from realname.errors import CodedError
from realname.policy.schema import Policy
from realname.registry.commands import Actor, Context, Desk, Person
from realname.registry.models import Channel, Clerk, Enterprise, Line, LineEvent
from realname.security.vault import KeyRing
from realname.sim.state import unit_of
from realname.wiring import complaint_service, enforcement_service, services

CATEGORIES = ("harassment_call", "spam_sms", "fraud_call")


@dataclass
class ComplianceDemo:
    complaints: int = 0
    refused_rows: list[tuple[int, str]] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    traced_to_earlier_owner: int = 0  # the line changed hands since the call
    enterprise: str = ""
    steps: list[tuple[str, str]] = field(default_factory=list)  # (rung, what followed)
    refusal: str = ""  # the code a registration at its counter got under the card
    # One national round of secret inspections: (enterprise, kind, visited, violating, rate,
    # Wilson low, high), MNOs first.
    inspection_round: str = ""
    inspection_rates: list[tuple[str, str, int, int, float, float, float]] = field(
        default_factory=list
    )


# Simulated propensity of an outlet to sell against the rules, by enterprise kind: the
# ministry's published rates of 2016 (MVNO outlets 33.9 % in the first round; MNO halls lower,
# DESIGN.md §8). Only the demo's inspectors draw from it; the rates printed are measured.
VIOLATION_PROPENSITY = {"mvno": 0.339, "mno": 0.118}
VIOLATIONS = (Outcome.SOLD_WITHOUT_ID, Outcome.ID_NOT_CHECKED, Outcome.PRE_ACTIVATED_CARD)


def run_compliance(
    engine: Engine, settings: Settings, keyring: KeyRing, policy: Policy, now: datetime, seed: int
) -> ComplianceDemo:
    rng = random.Random(seed)
    result = ComplianceDemo()
    with unit_of(engine).transaction() as session:
        text, earlier = _complaint_file(session, rng, now)
        built = services(session, settings, keyring, policy)
        report = complaint_service(built).import_csv(
            Context(Actor("complaint_centre", "demo"), now), text.encode()
        )
    result.complaints = len(report.accepted)
    result.refused_rows = [(line, code) for line, code, _ in report.refused]
    with unit_of(engine).transaction(readonly=True) as session:
        from realname.compliance.complaints.models import Complaint

        for complaint in session.scalars(select(Complaint)):
            for outcome in (complaint.outcome or "").split(","):
                result.outcomes[outcome] += 1
            current = session.get(Line, complaint.line_id) if complaint.line_id else None
            if current is not None and complaint.centre_ref in earlier:
                result.traced_to_earlier_owner += (
                    complaint.owner_identity_id != current.owner_identity_id
                )
    _inspections(engine, keyring, settings, now, rng, result)
    _ladder(engine, settings, keyring, policy, now, result)
    return result


def _inspections(
    engine: Engine,
    keyring: KeyRing,
    settings: Settings,
    now: datetime,
    rng: random.Random,
    result: ComplianceDemo,
) -> None:
    """A national round over every enterprise's outlets, planned from its seed for ±10
    points at 95 %, each outlet drawn visited (its outcome drawn at the enterprise kind's
    propensity), and the measured violation rates with their Wilson intervals."""
    acting = Acting(Context(Actor("regulator", "demo"), now))
    code = f"DEMO-{now:%Y%m}"
    with unit_of(engine).transaction() as session:
        service = InspectionService(session, keyring, EvidenceStore(settings.evidence_dir))
        spec = RoundSpec(
            code=code,
            name="secret inspection of sales outlets",
            starts_on=now.date() - timedelta(days=6),
            ends_on=now.date(),
            seed=rng.randrange(2**31),
            margin=0.10,
        )
        row = service.create_round(acting, spec)
        kinds: dict[int, str] = dict(session.execute(select(Enterprise.id, Enterprise.kind)).all())
        for target in service.plan(acting, row.id):
            violating = rng.random() < VIOLATION_PROPENSITY.get(kinds[target.enterprise_id], 0.2)
            outcome = rng.choice(VIOLATIONS) if violating else Outcome.COMPLIANT
            visit = VisitSpec(
                target_id=target.id,
                visited_at=now - timedelta(hours=rng.randrange(1, 120)),
                place_region=f"{target.province}0000",
                outcome=outcome,
            )
            service.record_visit(acting, row.id, visit)
        rates = service.rates(acting, [row.id], "enterprise")
    result.inspection_round = code
    ordered = sorted(rates, key=lambda g: (g.kind != "mno", g.group))
    result.inspection_rates = [
        (g.group, g.kind or "", g.rate.n, g.rate.hits, g.rate.rate or 0.0, g.rate.low or 0.0,
         g.rate.high or 0.0)
        for g in ordered
    ]  # fmt: skip


def _complaint_file(session: Session, rng: random.Random, now: datetime) -> tuple[str, set[str]]:
    """A day's file from the centre: calls from lines that changed hands since (dated before
    the transfer), a cluster of harassment calls on one line, a "not mine", and one row the
    centre got wrong. Returns the text and the centre references of the first kind."""
    transfers = session.execute(
        select(Line.msisdn, func.min(LineEvent.occurred_at))
        .join(LineEvent, LineEvent.line_id == Line.id)
        .where(LineEvent.operation == "transfer", Line.state == "active")
        .group_by(Line.msisdn)
        .order_by(Line.msisdn)
        .limit(8)
    ).all()
    active = session.scalars(
        select(Line.msisdn).where(Line.state == "active").order_by(Line.id).limit(60)
    ).all()
    rows = ["category,msisdn,occurred_at,content_sha256,centre_ref"]

    def add(category: str, msisdn: str, at: datetime) -> None:
        digest = f"{rng.getrandbits(256):064x}"
        rows.append(f"{category},{msisdn},{at.isoformat()},{digest},DEMO-{len(rows):04d}")

    for msisdn, transferred in transfers:
        add(rng.choice(CATEGORIES), msisdn, transferred - timedelta(hours=2))
    earlier = {f"DEMO-{n:04d}" for n in range(1, len(rows))}
    picks = rng.sample(list(active), min(len(active), 15))
    for msisdn in picks[:-2]:
        add(rng.choice(CATEGORIES), msisdn, now - timedelta(hours=rng.randint(1, 48)))
    if len(picks) >= 2:
        for i in range(5):  # five harassment calls in a day: the owner must re-verify
            add("harassment_call", picks[-2], now - timedelta(hours=3 + i))
        add("not_mine", picks[-1], now - timedelta(hours=1))
    rows.append(f"phishing,{active[0] if active else '+8613800000000'},{now.isoformat()},,")
    return "\n".join(rows) + "\n", earlier


def _ladder(
    engine: Engine,
    settings: Settings,
    keyring: KeyRing,
    policy: Policy,
    now: datetime,
    result: ComplianceDemo,
) -> None:
    """The last MVNO (an MNO in a tiny world) with a kit in stock at an active channel: a
    notice, a rectification order whose follow-up inspection fails, the first yellow card
    the system then proposes, and the yellow III the regulator decides on the channel, which
    refuses its next sale."""
    regulator = Context(Actor("regulator", "demo"), now)
    with unit_of(engine).transaction() as session:
        found = session.execute(
            select(Enterprise.id, Enterprise.code, Channel.id, Clerk.id, Line.msisdn)
            .join(Channel, Channel.enterprise_id == Enterprise.id)
            .join(Clerk, Clerk.channel_id == Channel.id)
            .join(Line, Line.channel_id == Channel.id)
            .where(Channel.status == "active", Clerk.status == "active", Line.state == "stocked")
            .order_by((Enterprise.kind == "mvno").desc(), Enterprise.id.desc(), Line.msisdn)
            .limit(1)
        ).first()
        if found is None:
            return
        enterprise_id, code, channel_id, clerk_id, msisdn = found
        result.enterprise = code
        ladder = enforcement_service(services(session, settings, keyring, policy))
        evidence = [("document", "DEMO-NOTICE-1")]
        ladder.take(regulator, enterprise_id, NewAction(ActionKind.NOTICE, evidence))
        result.steps.append(("notice", "circulated"))
        order = ladder.take(
            regulator,
            enterprise_id,
            NewAction(ActionKind.RECTIFICATION, evidence, deadline=now + timedelta(days=30)),
        )
        result.steps.append(("rectification", "deadline in 30 days"))
        ladder.follow_up(regulator, order.id, False, [("inspection_round", "DEMO-FOLLOW-UP")])
        (proposal,) = ladder.proposals(enterprise_id, "pending")
        result.steps.append(("follow-up", f"failed: the system proposes {proposal.kind}"))
        ladder.accept(regulator, proposal.id)
        result.steps.append((proposal.kind, "accepted by the regulator"))
        ladder.take(
            regulator,
            enterprise_id,
            NewAction(
                ActionKind.YELLOW_3,
                [("action", str(order.id)), ("inspection_round", "DEMO-FOLLOW-UP")],
                channel_ids=[channel_id],
            ),
        )
        result.steps.append(("yellow_3", "settlement and block allocation stopped, channel shut"))
    with unit_of(engine).transaction() as session:
        registry = services(session, settings, keyring, policy).registry
        try:
            registry.register(
                Context(Actor("clerk", str(clerk_id)), now),
                desk=Desk(enterprise_id, channel_id, clerk_id),
                msisdn=msisdn,
                person=Person(document_number="-", name="-"),
            )
        except CodedError as refused:  # nothing was written
            result.refusal = str(refused.code)
        else:
            raise RuntimeError("the card's channel suspension did not refuse the sale")
