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

from realname.compliance.enforcement.ladder import RECTIFICATION_FAILED, ActionKind
from realname.compliance.enforcement.models import EnforcementProposal
from realname.compliance.enforcement.service import EnforcementService, NewAction
from realname.compliance.inspections.evidence import EvidenceStore
from realname.compliance.inspections.models import InspectionTarget
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
    inspection_rounds: list[str] = field(default_factory=list)  # oldest first
    previous_rates: dict[str, float] = field(default_factory=dict)  # the round before
    # What the enforcement sweep proposed and still waits for a person: (enterprise, rung,
    # rule, basis).
    pending: list[tuple[str, str, str, str]] = field(default_factory=list)
    # Where the demo tries a sale under the card: (enterprise, channel, clerk id, msisdn).
    sale: tuple[int, int, int, str] | None = None


# Simulated propensity of an outlet to sell against the rules, by enterprise kind and round:
# the ministry's published rates of 2016 (MVNO outlets 33.9 % in the first round, physical
# outlets 26.0 %; MNO halls lower, DESIGN.md §8). Only the demo's inspectors draw from it; the
# rates printed are measured. One persistent offender's outlets sell at the first round's
# 33.9 % in both rounds (exactly that share of its visits), so the escalation rule fires.
VIOLATION_PROPENSITY = ({"mvno": 0.339, "mno": 0.118}, {"mvno": 0.26, "mno": 0.118})
OFFENDER_RATE = 0.339
VIOLATIONS = (Outcome.SOLD_WITHOUT_ID, Outcome.ID_NOT_CHECKED, Outcome.PRE_ACTIVATED_CARD)
ROUND_APART = timedelta(days=91)  # the rounds a quarter apart


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
    violating = _inspections(engine, keyring, settings, policy, now, rng, result)
    _ladder(engine, settings, keyring, policy, now, result, violating)
    return result


def _inspections(
    engine: Engine,
    keyring: KeyRing,
    settings: Settings,
    policy: Policy,
    now: datetime,
    rng: random.Random,
    result: ComplianceDemo,
) -> dict[int, list[int]]:
    """Two national rounds a quarter apart over every enterprise's outlets, each planned
    from its seed for ±10 points at 95 %, each outlet drawn visited (its outcome drawn at the
    propensity of its enterprise's kind in that round; the persistent offender's at
    OFFENDER_RATE), and the measured violation rates with their Wilson intervals. Returns the
    outlets found violating in the latest round, by enterprise id."""
    store = EvidenceStore(settings.evidence_dir)
    planned = []
    with unit_of(engine).transaction() as session:
        service = InspectionService(session, keyring, store)
        for ago in (ROUND_APART, timedelta(0)):
            at = now - ago
            spec = RoundSpec(
                code=f"DEMO-{at:%Y%m}",
                name="secret inspection of sales outlets",
                starts_on=at.date() - timedelta(days=6),
                ends_on=at.date(),
                seed=rng.randrange(2**31),
                margin=0.10,
            )
            acting = Acting(Context(Actor("regulator", "demo"), at))
            row = service.create_round(acting, spec)
            planned.append((row.id, row.code, at, service.plan(acting, row.id)))
        kinds: dict[int, str] = dict(session.execute(select(Enterprise.id, Enterprise.kind)).all())
        stocked = _stocked_channels(session)
        offender = _offender(policy, kinds, stocked, [targets for *_, targets in planned])
        violating: dict[int, list[int]] = {}
        for index, (round_id, _code, at, targets) in enumerate(planned):
            acting = Acting(Context(Actor("regulator", "demo"), at))
            propensity = VIOLATION_PROPENSITY[index]
            # The offender's outlets with a kit in stock violate first: the card that stops
            # them is seen refusing a sale.
            mine = sorted(
                (t for t in targets if t.enterprise_id == offender),
                key=lambda t: (t.channel_id not in stocked, t.channel_id),
            )
            bad = {t.id for t in mine[: max(1, round(OFFENDER_RATE * len(mine)))]}
            for target in targets:
                if target.enterprise_id == offender:
                    violates = target.id in bad
                else:
                    violates = rng.random() < propensity.get(kinds[target.enterprise_id], 0.2)
                if violates and index == len(planned) - 1:
                    violating.setdefault(target.enterprise_id, []).append(target.channel_id)
                visit = VisitSpec(
                    target_id=target.id,
                    visited_at=at - timedelta(hours=rng.randrange(1, 120)),
                    place_region=f"{target.province}0000",
                    outcome=rng.choice(VIOLATIONS) if violates else Outcome.COMPLIANT,
                )
                service.record_visit(acting, round_id, visit)
        acting = Acting(Context(Actor("regulator", "demo"), now))
        first, latest = (service.rates(acting, [p[0]], "enterprise") for p in planned)
    result.inspection_rounds = [code for _, code, _, _ in planned]
    result.inspection_round = planned[-1][1]
    before = {g.group: g.rate.rate for g in first}
    ordered = sorted(latest, key=lambda g: (g.kind != "mno", g.group))
    result.inspection_rates = [
        (g.group, g.kind or "", g.rate.n, g.rate.hits, g.rate.rate or 0.0, g.rate.low or 0.0,
         g.rate.high or 0.0)
        for g in ordered
    ]  # fmt: skip
    result.previous_rates = {code: rate for code, rate in before.items() if rate is not None}
    return violating


def _stocked_channels(session: Session) -> set[int]:
    """Active channels with an active clerk and a kit in stock: where a sale can be tried."""
    return set(
        session.scalars(
            select(Channel.id)
            .join(Clerk, Clerk.channel_id == Channel.id)
            .join(Line, Line.channel_id == Channel.id)
            .where(Channel.status == "active", Clerk.status == "active", Line.state == "stocked")
            .distinct()
        )
    )


def _offender(
    policy: Policy,
    kinds: dict[int, str],
    stocked: set[int],
    rounds: list[list[InspectionTarget]],
) -> int | None:
    """The enterprise visited enough in every round (the policy's `min_inspected`) with a
    visited outlet where a sale can be tried: an MVNO if one qualifies, the most visited."""
    visits: list[Counter[int]] = [Counter(t.enterprise_id for t in r) for r in rounds]
    sellable = {t.enterprise_id for t in rounds[-1] if t.channel_id in stocked}
    enough = policy.enforcement.min_inspected
    fits = [
        (kinds[e] == "mvno", min(v[e] for v in visits), e)
        for e in visits[-1]
        if e in sellable and all(v[e] >= enough for v in visits)
    ]
    return max(fits)[2] if fits else None


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
    violating: dict[int, list[int]],
) -> None:
    """The enforcement sweep over the demo's two rounds proposes the first rung wherever the
    violation rate stayed above the policy's; the demo's regulator takes up ONE enterprise
    (the worst latest rate among those whose violating outlets can be seen refusing a sale):
    the notice, an interview, a rectification order whose follow-up inspection fails, the
    first yellow card the system then proposes, and the yellow III on the outlets the round
    found violating, which refuses the next sale at one of them. The other proposals wait."""
    regulator = Context(Actor("regulator", "demo"), now)
    with unit_of(engine).transaction() as session:
        stocked = _stocked_channels(session)
        ladder = enforcement_service(services(session, settings, keyring, policy))
        proposed = ladder.sweep(regulator)
        codes: dict[int, str] = dict(session.execute(select(Enterprise.id, Enterprise.code)).all())
        rates = {code: rate for code, _, _, _, rate, _, _ in result.inspection_rates}
        candidates = [
            p
            for p in proposed
            if p.rule == "violation_rate"
            and any(c in stocked for c in violating.get(p.enterprise_id, []))
        ]
        rounds = " and ".join(result.inspection_rounds)
        result.steps.append(
            ("sweep", f"{len(proposed)} proposals from rounds {rounds} (rates above the policy's)")
        )
        if candidates:
            chosen = max(candidates, key=lambda p: (rates.get(codes[p.enterprise_id], 0.0), p.id))
            _escalate(ladder, regulator, now, result, chosen, codes, violating, stocked)
        for proposal in ladder.proposals(None, "pending"):
            result.pending.append(
                (codes[proposal.enterprise_id], proposal.kind, proposal.rule, proposal.basis)
            )
    if result.sale is None:
        return
    enterprise_id, channel_id, clerk_id, msisdn = result.sale
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


def _escalate(
    ladder: EnforcementService,
    regulator: Context,
    now: datetime,
    result: ComplianceDemo,
    proposal: EnforcementProposal,
    codes: dict[int, str],
    violating: dict[int, list[int]],
    stocked: set[int],
) -> None:
    enterprise_id = proposal.enterprise_id
    result.enterprise = codes[enterprise_id]
    rounds = [("inspection_round", code) for code in result.inspection_rounds]
    notice = ladder.accept(regulator, proposal.id)
    result.steps.append((notice.kind, f"proposed ({proposal.rule}), accepted by the regulator"))
    ladder.take(
        regulator,
        enterprise_id,
        NewAction(ActionKind.INTERVIEW, rounds, minutes="management interviewed on the rounds"),
    )
    result.steps.append(("interview", "management interviewed; minutes sealed"))
    order = ladder.take(
        regulator,
        enterprise_id,
        NewAction(ActionKind.RECTIFICATION, rounds, deadline=now + timedelta(days=30)),
    )
    result.steps.append(("rectification", "ordered, deadline in 30 days"))
    ladder.follow_up(regulator, order.id, False, rounds[-1:])
    # The failed follow-up's card; with a complaint-rate rule in the policy the sweep may
    # have proposed a card for the same enterprise too (it waits, like the others).
    card = next(
        p for p in ladder.proposals(enterprise_id, "pending") if p.rule == RECTIFICATION_FAILED
    )
    result.steps.append(("follow-up", f"failed: the system proposes {card.kind}"))
    ladder.accept(regulator, card.id)
    result.steps.append((card.kind, "accepted by the regulator"))
    outlets = sorted(set(violating[enterprise_id]))
    ladder.take(
        regulator,
        enterprise_id,
        NewAction(
            ActionKind.YELLOW_3,
            [*rounds, ("action", str(order.id))],
            channel_ids=outlets,
        ),
    )
    result.steps.append(
        ("yellow_3", f"blocks and settlement stopped, {len(outlets)} violating outlets shut")
    )
    channel_id = next(c for c in outlets if c in stocked)
    clerk_id, msisdn = ladder.session.execute(
        select(Clerk.id, Line.msisdn)
        .join(Line, Line.channel_id == Clerk.channel_id)
        .where(Clerk.channel_id == channel_id, Line.state == "stocked")
        .order_by(Clerk.id, Line.msisdn)
        .limit(1)
    ).one()
    result.sale = (enterprise_id, channel_id, clerk_id, msisdn)
