"""Secret inspections over a real registry, on SQLite and PostgreSQL: a round reproduced from
its seed, a test purchase traced to a violation by the registry's own record, a provincial
administration confined to its province, and refusals that change nothing."""

from __future__ import annotations

import base64
import hashlib
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from realname.compliance.inspections.errors import InspectionError
from realname.compliance.inspections.errors import InspectionErrorCode as E
from realname.compliance.inspections.evidence import EvidenceStore
from realname.compliance.inspections.models import (
    InspectionEvidence,
    InspectionRound,
    InspectionTarget,
    InspectionVisit,
    TestPurchase,
)
from realname.compliance.inspections.outcomes import Finding, Outcome
from realname.compliance.inspections.service import (
    EvidenceFile,
    InspectionService,
    PurchaseSpec,
    RoundSpec,
    VisitSpec,
)
from realname.policy.schema import ChannelKind
from realname.registry.commands import Desk
from realname.security.clients import ClientService
from realname.security.models import AuditLog
from realname.security.principals import Role
from realname.security.vault import KeyRing
from tests.compliance.conftest import inspector, national, provincial
from tests.registry.conftest import NOW, World

TODAY = NOW.date()
LATER = NOW + timedelta(hours=3)


def spec(code: str, seed: int = 20160701, **changes: object) -> RoundSpec:
    values: dict[str, object] = {
        "code": code,
        "name": "2016 H2 resale outlets",
        "starts_on": TODAY - timedelta(days=7),
        "ends_on": TODAY + timedelta(days=7),
        "seed": seed,
        "margin": 0.15,
    }
    values.update(changes)
    return RoundSpec(**values)  # type: ignore[arg-type]


def drawn(service: InspectionService, code: str, seed: int, **changes: object) -> list[int]:
    row = service.create_round(national(), spec(code, seed, **changes))
    return sorted(t.channel_id for t in service.plan(national(), row.id))


def audit_entries(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(AuditLog)
            .where(AuditLog.object_type == "inspection_round")
        )
        or 0
    )


def new_inspector(session: Session, keyring: KeyRing) -> str:
    client, _ = ClientService(session, keyring).create(role=Role.REGULATOR_INSPECTOR, at=NOW)
    return client.client_id


def test_a_round_is_reproduced_from_its_seed(
    sector: World, inspections: InspectionService, db_session: Session
) -> None:
    first = drawn(inspections, "R-A", 42)
    assert drawn(inspections, "R-B", 42) == first
    assert drawn(inspections, "R-C", 43) != first
    row = inspections.repo.round_by_code("R-A")
    assert row is not None and row.population == 25
    # 0.15 at 95 %: n0 = 42.7, corrected for 25 outlets: 16.002, rounded up
    assert row.target_size == 17 and len(first) >= 17
    with pytest.raises(InspectionError) as refused:
        inspections.plan(national(), row.id)  # never redrawn
    assert refused.value.code is E.ALREADY_PLANNED
    assert audit_entries(db_session) == 6  # three rounds created, three plans drawn


def _round_over_beijing(inspections: InspectionService, who: str) -> tuple[int, dict[int, int]]:
    """A round over the MNO's four Beijing halls (each its own stratum: all drawn), assigned
    to `who`: (round id, target id by channel id)."""
    row = inspections.create_round(
        national(), spec("R-BJ", 1, enterprises=["CMCC"], provinces=["11"])
    )
    targets = inspections.plan(national(), row.id)
    inspections.assign(national(), row.id, who, None)
    return row.id, {t.channel_id: t.id for t in targets}


def test_a_test_purchase_is_traced_to_a_violation(
    sector: World, inspections: InspectionService, db_session: Session, keyring: KeyRing
) -> None:
    who = new_inspector(db_session, keyring)
    round_id, targets = _round_over_beijing(inspections, who)
    assert len(targets) == 4
    cover, stranger = sector.people[1], sector.people[0]
    halls = sector.channels

    def visit_and_buy(kind: ChannelKind, msisdn: str, document: str | None) -> TestPurchase:
        visit = inspections.record_visit(
            inspector(who, LATER),
            round_id,
            VisitSpec(targets[halls[kind]], NOW, "110105", Outcome.COMPLIANT),
        )
        return inspections.record_purchase(
            inspector(who, LATER), round_id, PurchaseSpec(visit.id, msisdn, NOW, document)
        )

    # The own hall registers the card the inspector buys to someone else's identity.
    to_stranger = sector.register(stranger, kind=ChannelKind.OWN_HALL)
    wrong = visit_and_buy(ChannelKind.OWN_HALL, to_stranger, cover.document_number)
    # The partner hall registers it to the inspector's document, as it should.
    right_number = sector.register(cover, kind=ChannelKind.PARTNER_HALL)
    right = visit_and_buy(ChannelKind.PARTNER_HALL, right_number, cover.document_number)
    # The social outlet sells a card another outlet had registered the day before.
    number = sector.stock(1, ChannelKind.ONLINE)[0]
    sector.service.register(
        sector.ctx(at=NOW - timedelta(days=1)),
        desk=Desk(
            sector.enterprise_id, halls[ChannelKind.ONLINE], sector.clerks[ChannelKind.ONLINE]
        ),
        msisdn=number,
        person=sector.people[2],
    )
    pre = visit_and_buy(ChannelKind.SOCIAL, number, None)
    assert {wrong.checked_at, right.checked_at, pre.checked_at} == {None}

    checked = {p.id: p for p in inspections.check_purchases(national(LATER), round_id)}
    assert set(checked) == {wrong.id, right.id, pre.id}
    assert (wrong.finding, wrong.violation) == (Finding.REGISTERED_TO_SOMEONE_ELSE, True)
    assert wrong.registered_channel_id == halls[ChannelKind.OWN_HALL]
    assert wrong.registered_clerk_id == sector.clerks[ChannelKind.OWN_HALL]
    assert wrong.line_id is not None and wrong.registration_event_id is not None
    assert (wrong.document_type, wrong.entry_method) == ("resident_id", "chip_read")
    assert (right.finding, right.violation) == (Finding.REGISTERED_TO_BUYER, False)
    assert (pre.finding, pre.violation) == (Finding.REGISTERED_BEFORE_SALE, True)
    # The inspector saw nothing wrong; the registry's record makes two visits violations.
    visits = {v.target_id: v.violation for v in db_session.scalars(select(InspectionVisit)).all()}
    assert visits == {
        targets[halls[ChannelKind.OWN_HALL]]: True,
        targets[halls[ChannelKind.PARTNER_HALL]]: False,
        targets[halls[ChannelKind.SOCIAL]]: True,
    }
    assert inspections.check_purchases(national(LATER), round_id) == []  # checked once
    (rate,) = inspections.rates(national(), [round_id], "enterprise")
    assert (rate.group, rate.kind, rate.rate.hits, rate.rate.n) == ("CMCC", "mno", 2, 3)
    by_kind = {
        r.group: (r.rate.hits, r.rate.n) for r in inspections.rates(national(), [round_id], "kind")
    }
    assert by_kind == {"own_hall": (1, 1), "partner_hall": (0, 1), "social": (1, 1)}
    # No document number anywhere in the inspection tables: only the registry's blind index.
    stored = db_session.scalars(select(TestPurchase)).all()
    assert all(cover.document_number.encode() not in (p.buyer_number_index or b"") for p in stored)


def test_evidence_is_stored_under_its_hash_not_in_the_database(
    sector: World,
    inspections: InspectionService,
    store: EvidenceStore,
    db_session: Session,
    keyring: KeyRing,
) -> None:
    who = new_inspector(db_session, keyring)
    round_id, targets = _round_over_beijing(inspections, who)
    photo = b"\xff\xd8\xff receipt photo"
    digest = hashlib.sha256(photo).hexdigest()
    visit = inspections.record_visit(
        inspector(who, LATER),
        round_id,
        VisitSpec(
            next(iter(targets.values())),
            NOW,
            "110105",
            Outcome.SOLD_WITHOUT_ID,
            39.9,
            116.4,
            [EvidenceFile(base64.b64encode(photo).decode(), "image/jpeg", digest)] * 2,
        ),
    )
    assert visit.violation is True
    (row,) = inspections.repo.evidence_of(visit.id)  # the same file twice is one
    assert (row.sha256, row.size, row.media_type) == (digest, len(photo), "image/jpeg")
    assert store.get(digest) == photo and store.path_of(digest).name == digest


def _counts(session: Session) -> tuple[int, ...]:
    tables = (InspectionRound, InspectionTarget, InspectionVisit, InspectionEvidence, TestPurchase)
    return (
        *tuple(int(session.scalar(select(func.count()).select_from(t)) or 0) for t in tables),
        audit_entries(session),
    )


def test_bad_input_changes_nothing(
    sector: World,
    inspections: InspectionService,
    store: EvidenceStore,
    db_session: Session,
    keyring: KeyRing,
) -> None:
    who = new_inspector(db_session, keyring)
    round_id, targets = _round_over_beijing(inspections, who)
    target = next(iter(targets.values()))
    photo = base64.b64encode(b"photo").decode()
    before = _counts(db_session)

    def refused(code: E, call: object) -> None:
        with pytest.raises(InspectionError) as caught:
            call()  # type: ignore[operator]
        assert caught.value.code is code
        assert _counts(db_session) == before
        assert not store.root.exists() or not any(store.root.rglob("*"))

    def visit(**changes: object) -> VisitSpec:
        values: dict[str, object] = {
            "target_id": target,
            "visited_at": NOW,
            "place_region": "110105",
            "outcome": Outcome.COMPLIANT,
            "evidence": [EvidenceFile(photo, "image/jpeg")],
        }
        values.update(changes)
        return VisitSpec(**values)  # type: ignore[arg-type]

    by = inspector(who, LATER)
    bad_hash = [EvidenceFile(photo, "image/jpeg", "0" * 64)]
    refused(
        E.EVIDENCE_INVALID, lambda: inspections.record_visit(by, round_id, visit(evidence=bad_hash))
    )
    not_b64 = [EvidenceFile("%%%", "image/jpeg")]
    refused(
        E.EVIDENCE_INVALID, lambda: inspections.record_visit(by, round_id, visit(evidence=not_b64))
    )
    refused(
        E.PLACE_INVALID,
        lambda: inspections.record_visit(by, round_id, visit(place_region="999999")),
    )
    refused(E.PLACE_INVALID, lambda: inspections.record_visit(by, round_id, visit(latitude=91.0)))
    outside = NOW - timedelta(days=30)
    refused(
        E.VISIT_OUTSIDE_ROUND,
        lambda: inspections.record_visit(by, round_id, visit(visited_at=outside)),
    )
    refused(
        E.VISIT_IN_FUTURE,
        lambda: inspections.record_visit(
            inspector(who, NOW - timedelta(hours=1)), round_id, visit()
        ),
    )
    refused(
        E.NOT_ASSIGNED,
        lambda: inspections.record_visit(inspector("someone-else", LATER), round_id, visit()),
    )
    refused(
        E.TARGET_NOT_FOUND, lambda: inspections.record_visit(by, round_id, visit(target_id=10**6))
    )
    refused(E.ROUND_NOT_FOUND, lambda: inspections.record_visit(by, 10**6, visit()))
    refused(E.INSPECTOR_NOT_FOUND, lambda: inspections.assign(national(), round_id, "nobody", None))
    refused(E.TARGET_NOT_FOUND, lambda: inspections.assign(national(), round_id, who, [10**6]))
    refused(
        E.ROUND_DATES_INVALID,
        lambda: inspections.create_round(
            national(), spec("R-X", starts_on=TODAY, ends_on=TODAY - timedelta(days=1))
        ),
    )
    refused(
        E.PRECISION_INVALID, lambda: inspections.create_round(national(), spec("R-X", margin=0.0))
    )
    refused(
        E.SCOPE_INVALID,
        lambda: inspections.create_round(national(), spec("R-X", enterprises=["NOPE"])),
    )
    refused(
        E.SCOPE_INVALID, lambda: inspections.create_round(national(), spec("R-X", provinces=["99"]))
    )
    refused(E.ROUND_EXISTS, lambda: inspections.create_round(national(), spec("R-BJ")))
    # A visit goes in; then its purchase with bad input changes nothing either.
    done = inspections.record_visit(by, round_id, visit(evidence=[]))
    before = _counts(db_session)
    refused(E.ALREADY_VISITED, lambda: inspections.record_visit(by, round_id, visit(evidence=[])))
    refused(
        E.NUMBER_INVALID,
        lambda: inspections.record_purchase(by, round_id, PurchaseSpec(done.id, "12", NOW)),
    )
    refused(
        E.DOCUMENT_INVALID,
        lambda: inspections.record_purchase(
            by, round_id, PurchaseSpec(done.id, "13800138000", NOW, "110105000000000000")
        ),
    )
    refused(
        E.VISIT_NOT_FOUND,
        lambda: inspections.record_purchase(by, round_id, PurchaseSpec(10**6, "13800138000", NOW)),
    )


def test_a_provincial_administration_sees_only_its_province(
    sector: World, inspections: InspectionService
) -> None:
    guangdong = inspections.create_round(provincial("44"), spec("GD-1"))
    assert guangdong.province == "44" and guangdong.scope["provinces"] == ["44"]
    targets = inspections.plan(provincial("44"), guangdong.id)
    assert targets and {t.province for t in targets} == {"44"}
    national_round = inspections.create_round(national(), spec("CN-1"))
    with pytest.raises(InspectionError) as hidden:
        inspections.round(provincial("31"), guangdong.id)
    assert hidden.value.code is E.ROUND_NOT_FOUND
    with pytest.raises(InspectionError) as other:
        inspections.round(provincial("44"), national_round.id)  # not its round
    assert other.value.code is E.ROUND_NOT_FOUND
    assert [r.code for r in inspections.rounds(provincial("44"))] == ["GD-1"]
    assert [r.code for r in inspections.rounds(provincial("31"))] == []
    assert {r.code for r in inspections.rounds(national())} == {"GD-1", "CN-1"}
    with pytest.raises(InspectionError) as outside:
        inspections.create_round(provincial("44"), spec("GD-2", provinces=["11"]))
    assert outside.value.code is E.OUTSIDE_PROVINCE
    with pytest.raises(InspectionError):
        inspections.rates(provincial("31"), [guangdong.id], "enterprise")


def test_rounds_compare_over_time(
    sector: World, inspections: InspectionService, db_session: Session, keyring: KeyRing
) -> None:
    who = new_inspector(db_session, keyring)
    report = []
    for code, starts, bad in (("H1", date(2016, 7, 1), 3), ("H2", date(2016, 11, 1), 1)):
        row = inspections.create_round(
            national(),
            spec(code, starts_on=starts, ends_on=starts + timedelta(days=30), provinces=["44"]),
        )
        targets = inspections.plan(national(), row.id)
        inspections.assign(national(), row.id, who, None)
        for i, target in enumerate(targets[:6]):
            outcome = Outcome.ID_NOT_CHECKED if i < bad else Outcome.COMPLIANT
            at = starts + timedelta(days=2)
            from datetime import UTC, datetime

            when = datetime(at.year, at.month, at.day, 10, tzinfo=UTC)
            inspections.record_visit(
                inspector(who, LATER), row.id, VisitSpec(target.id, when, "440106", outcome)
            )
        report = inspections.report(national(), date(2016, 1, 1), date(2017, 1, 1))
    assert [(r.code, r.overall.hits, r.overall.n) for r in report] == [("H1", 3, 6), ("H2", 1, 6)]
    assert {g for g, _, _ in report[0].groups["province"]} == {"广东省"}


def test_assigning_named_outlets_reads_them_in_one_query(
    sector: World, inspections: InspectionService, db_session: Session, keyring: KeyRing
) -> None:
    """It read each named outlet on its own (N+1); an unknown one among them is still named
    and nothing is assigned."""
    from sqlalchemy import event

    who = new_inspector(db_session, keyring)
    row = inspections.create_round(national(), spec("R-AS", 42))
    ids = [t.id for t in inspections.plan(national(), row.id)]
    assert len(ids) >= 10
    engine = db_session.get_bind()

    def statements(chosen: list[int]) -> int:
        """The reads of outlets (the writes are batched by the ORM as it sees fit)."""
        seen: list[str] = []

        def listener(*args: object) -> None:
            text = str(args[2]).lstrip().upper()
            if text.startswith("SELECT") and "INSPECTION_TARGET" in text:
                seen.append(text)

        event.listen(engine, "before_cursor_execute", listener)
        try:
            inspections.assign(national(), row.id, who, chosen)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    with pytest.raises(InspectionError) as refused:
        inspections.assign(national(), row.id, who, [ids[0], 10**6])
    assert refused.value.code is E.TARGET_NOT_FOUND and str(10**6) in str(refused.value)
    assert all(t[0].inspector is None for t in inspections.repo.targets(row.id))
    assert statements(ids[:2]) == statements(ids[2:10])
