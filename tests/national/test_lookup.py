"""一证通查 on both engines: the answer after a code sent to a held number, one refusal for
every failure, the per-identity and per-source limits, the audit, and "not mine" disputes."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import orjson
import pytest
from sqlalchemy import Engine, func, select

from realname.compliance.complaints.models import Complaint
from realname.messaging.models import OutboxMessage
from realname.national.feeds.keys import FeedSigningKey
from realname.national.lookup.disputes import DisputeService
from realname.national.lookup.errors import LookupErrorCode, NationalLookupError
from realname.national.lookup.models import NationalLookupChallenge
from realname.national.lookup.service import LookupLimits, LookupService
from realname.policy.schema import Policy
from realname.registry.commands import Actor, Context
from realname.security.models import AuditLog
from realname.security.vault import KeyRing
from tests.compliance.conftest import complaints_of
from tests.national.conftest import NOW, Nation, signing

L = LookupErrorCode


def _service(nation: Nation, **limits: int) -> LookupService:
    return LookupService(
        nation.session, keys=nation.keys, keyring=nation.keyring, limits=LookupLimits(**limits)
    )


def _ask(service: LookupService, nation: Nation, person: int = 0, **over: str) -> object:
    who = nation.world.people[person]
    values = {
        "doc_type": "resident_id",
        "doc_number": who.document_number,
        "name": who.name,
        "msisdn": nation.cmcc_lines[0],
        "source": "203.0.113.7",
    }
    values.update(over)
    return service.issue(at=NOW, **values)  # type: ignore[arg-type]


def test_a_proved_subscriber_sees_their_lines_per_enterprise_masked(fed: Nation) -> None:
    service = _service(fed)
    issued = _ask(service, fed)
    assert issued.code is not None  # type: ignore[attr-defined]
    message = fed.session.scalars(select(OutboxMessage)).one()
    assert message.destination == fed.cmcc_lines[0] and message.kind == "national_lookup"
    assert issued.code not in message.body  # type: ignore[attr-defined]  # sealed body
    answer = service.answer(
        challenge_id=issued.challenge_id,  # type: ignore[attr-defined]
        code=issued.code,  # type: ignore[attr-defined]
        at=NOW + timedelta(seconds=30),
    )
    assert answer.total == 3
    counts = {e.enterprise: e.active_lines for e in answer.enterprises}
    assert counts == {"CMCC": 2, "MVNO1": 1}
    shown = [line.msisdn_masked for e in answer.enterprises for line in e.lines]
    assert all("*" in m for m in shown)
    assert not set(shown) & {*fed.cmcc_lines, *fed.mvno_lines}
    actions = fed.session.scalars(select(AuditLog.action)).all()
    assert "national.lookup.code" in actions and "national.lookup.answer" in actions


def _as_typed(number: str, how: str) -> str:
    if how == "spaced":
        return f"{number[:6]} {number[6:14]} {number[14:]}"
    if how == "dashed":
        return f"{number[:6]}-{number[6:14]}-{number[14:]}".lower()
    return "".join(chr(ord(c) + 0xFEE0) for c in number)  # full-width, as Chinese IMEs type


@pytest.mark.parametrize("how", ["spaced", "dashed", "full_width"])
def test_a_number_typed_as_people_type_it_is_the_same_document(fed: Nation, how: str) -> None:
    """The platform keyed the typed text itself: no code was sent, and the person got the
    stranger's answer."""
    number = fed.world.people[0].document_number
    issued = _ask(_service(fed), fed, doc_number=_as_typed(number, how))
    assert issued.code is not None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "case", ["wrong_code", "unknown_person", "wrong_name", "not_their_number", "expired", "reused"]
)
def test_every_failure_gives_the_one_answer(fed: Nation, case: str) -> None:
    service = _service(fed)
    over: dict[str, str] = {}
    if case == "unknown_person":
        over["doc_number"] = "11010519491231002X"
    elif case == "wrong_name":
        over["name"] = "王二"
    elif case == "not_their_number":
        over["msisdn"] = fed.mvno_lines[1]  # people[2]'s line
    issued = _ask(service, fed, **over)
    code = issued.code or "123456"  # type: ignore[attr-defined]
    at = NOW + timedelta(seconds=10)
    if case == "wrong_code":
        code = f"{(int(code) + 1) % 10**6:06d}"
    if case == "expired":
        at = NOW + timedelta(hours=1)
    if case == "reused":
        service.answer(challenge_id=issued.challenge_id, code=code, at=at)  # type: ignore[attr-defined]
    if case in ("unknown_person", "wrong_name", "not_their_number"):
        assert issued.code is None  # type: ignore[attr-defined]
        assert fed.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    with pytest.raises(NationalLookupError) as refused:
        service.answer(challenge_id=issued.challenge_id, code=code, at=at)  # type: ignore[attr-defined]
    assert refused.value.code is L.LOOKUP_NOT_PROVED
    assert refused.value.http_status == 403


def test_tries_are_limited_per_challenge(fed: Nation) -> None:
    service = _service(fed, max_attempts=2)
    issued = _ask(service, fed)
    right = issued.code  # type: ignore[attr-defined]
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    for _ in range(2):
        with pytest.raises(NationalLookupError):
            service.answer(challenge_id=issued.challenge_id, code=wrong, at=NOW)  # type: ignore[attr-defined]
    with pytest.raises(NationalLookupError) as refused:
        service.answer(challenge_id=issued.challenge_id, code=right, at=NOW)  # type: ignore[attr-defined]
    assert refused.value.code is L.LOOKUP_NOT_PROVED


def test_requests_are_limited_per_identity_known_or_not(fed: Nation) -> None:
    service = _service(fed, per_identity_per_day=2, per_source_per_hour=100)
    for over in ({}, {"doc_number": "11010519491231002X"}):
        for n in range(2):
            _ask(service, fed, source=f"198.51.100.{n}", **over)
        with pytest.raises(NationalLookupError) as refused:
            _ask(service, fed, source="198.51.100.9", **over)
        assert refused.value.code is L.LOOKUP_RATE_LIMITED
        # a day from the oldest counted request (it said an hour, and an hour later: 429)
        assert refused.value.retry_after == 24 * 3600


def test_requests_are_limited_per_source(fed: Nation) -> None:
    service = _service(fed, per_identity_per_day=100, per_source_per_hour=3)
    for person in range(3):
        _ask(service, fed, person=person)
    with pytest.raises(NationalLookupError) as refused:
        _ask(service, fed, person=4)
    assert refused.value.code is L.LOOKUP_RATE_LIMITED and refused.value.retry_after == 3600
    _ask(service, fed, person=4, source="192.0.2.1")  # another address is not held back


def test_a_line_disputed_as_not_mine_opens_a_complaint_case(fed: Nation) -> None:
    service = _service(fed)
    disputes = DisputeService(service)
    issued = _ask(service, fed)
    answer = service.answer(
        challenge_id=issued.challenge_id,  # type: ignore[attr-defined]
        code=issued.code,  # type: ignore[attr-defined]
        at=NOW,
    )
    mvno = next(e for e in answer.enterprises if e.enterprise == "MVNO1")
    complaints = complaints_of(fed.world)
    opened: list[str] = []

    def open_complaint(line: object, reference: str) -> int:
        from realname.compliance.complaints.service import Intake

        opened.append(reference)
        ctx = Context(Actor("national", "lookup"), NOW, None)
        return complaints.take(ctx, Intake("not_mine", line.msisdn, NOW, centre_ref=reference)).id  # type: ignore[attr-defined]

    state = disputes.dispute(
        challenge_id=issued.challenge_id,  # type: ignore[attr-defined]
        line_ref=mvno.lines[0].line_ref,
        at=NOW + timedelta(minutes=1),
        open_complaint=open_complaint,
    )
    assert state.enterprise == "MVNO1" and state.due_at == NOW + timedelta(days=15, minutes=1)
    complaint = fed.session.scalars(select(Complaint)).one()
    assert complaint.category == "not_mine" and complaint.centre_ref == state.reference
    assert complaint.enterprise_id == fed.world.other_enterprise_id
    later = disputes.dispute_state(state.reference, NOW + timedelta(days=16))
    assert later.status == complaint.status and later.overdue is (complaint.status != "closed")
    # Its steps end with the state it shows (an acted case's history ended at `traced`).
    assert later.status == "acted"  # the not_mine case is acted on as it is traced
    assert [step.status for step in later.history] == ["open", "traced", "acted"]
    assert later.history[-1].outcome == complaint.outcome
    # Without a proved answer, or for a line of someone else, nothing is opened.
    cmcc_of_person_1 = mvno.lines[0].line_ref + 100  # no such line in the index
    for challenge, line_ref in (
        ("NoSuchChallengeAtAllXX", mvno.lines[0].line_ref),
        (issued.challenge_id, cmcc_of_person_1),  # type: ignore[attr-defined]
    ):
        with pytest.raises(NationalLookupError) as refused:
            disputes.dispute(
                challenge_id=challenge,
                line_ref=line_ref,
                at=NOW + timedelta(minutes=2),
                open_complaint=open_complaint,
            )
        assert refused.value.code is L.LOOKUP_NOT_PROVED
    assert len(opened) == 1


def _hostile_batch(
    nation: Nation,
    msisdn: str,
    seq: int,
    name: str,
    *,
    enterprise: str = "MVNO1",
    signer: FeedSigningKey | None = None,
) -> None:
    """`enterprise` (MVNO1 by default) sends, signed with its own key, an item for `msisdn`
    naming people[0]'s document under `name`."""
    from realname.national.feeds.envelope import build_body, sign
    from realname.national.feeds.keys import b64
    from realname.national.feeds.repository import FeedRepository

    person = nation.world.people[0]
    sealed = nation.keys.public.seal(orjson.dumps({"number": person.document_number, "name": name}))
    item = {
        "msisdn": msisdn,
        "seq": seq,
        "op": "register",
        "state": "active",
        "at": NOW.isoformat(),
        "activated_at": NOW.isoformat(),
        "owner_since": NOW.isoformat(),
        "channel_kind": "own_hall",
        "province": "11",
        "owner": {"doc_type": "resident_id", "sealed": b64(sealed)},
    }
    repo = FeedRepository(nation.session)
    found = repo.enterprise_by_code(enterprise)
    assert found is not None
    feed = repo.feed_for_update(found.id)
    body = build_body(enterprise, feed.next_batch, 0, 0, nation.keys.active, [item])
    signer = signer or nation.mvno
    nation.take(sign(body, signer.key_id, signer))


def test_another_enterprises_batch_cannot_change_the_name_a_line_answers_to(fed: Nation) -> None:
    """The identity kept one name, "the latest registration's": any enterprise's batch, even
    a stale item that was not applied, rewrote it, and the person's lookup failed at every
    enterprise (or answered to the name the batch chose)."""
    person = fed.world.people[0]
    stale_line = fed.mvno_lines[0]  # people[0]'s line at MVNO1, already at a higher seq
    _hostile_batch(fed, stale_line, 0, "王二")  # stale: not applied
    # An applied item: MVNO1 says a new line of its own is people[0]'s under another name.
    _hostile_batch(fed, "+8617000199999", 5, "王二")
    service = _service(fed, per_identity_per_day=100, per_source_per_hour=100)
    for msisdn in (fed.cmcc_lines[0], fed.cmcc_lines[1], stale_line):
        assert _ask(service, fed, msisdn=msisdn).code is not None, msisdn  # type: ignore[attr-defined]
    # The name the hostile batch chose opens neither CMCC's lines nor the stale one...
    for msisdn in (fed.cmcc_lines[0], stale_line):
        assert _ask(service, fed, msisdn=msisdn, name="王二").code is None  # type: ignore[attr-defined]
    # ...only the line that enterprise registered under it; the true name does not open that.
    assert _ask(service, fed, msisdn="+8617000199999", name="王二").code is not None  # type: ignore[attr-defined]
    assert _ask(service, fed, msisdn="+8617000199999", name=person.name).code is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("change", ["transferred", "moved"])
def test_a_dispute_of_a_line_that_changed_since_the_index_was_told_is_refused(
    fed: Nation, change: str
) -> None:
    """The complaint traced the number to whoever held it at that instant: a stale index
    made the dispute act on the new owner's line (or on another enterprise's)."""
    from realname.national.lookup.models import NationalDispute
    from realname.registry.commands import Desk
    from realname.registry.models import Line

    service = _service(fed)
    disputes = DisputeService(service)
    issued = _ask(service, fed)
    answer = service.answer(
        challenge_id=issued.challenge_id,  # type: ignore[attr-defined]
        code=issued.code,  # type: ignore[attr-defined]
        at=NOW,
    )
    mvno = next(e for e in answer.enterprises if e.enterprise == "MVNO1")
    world = fed.world
    if change == "transferred":
        world.service.transfer(
            world.ctx(at=NOW + timedelta(seconds=5)),
            desk=Desk(world.other_enterprise_id, world.other_channel_id, world.other_clerk_id),
            msisdn=fed.mvno_lines[0],
            owner=world.people[0],
            receiver=world.people[3],
        )
    else:  # ported to CMCC (as the registry would record it), the index not told yet
        line = fed.session.scalars(select(Line).where(Line.msisdn == fed.mvno_lines[0])).one()
        line.enterprise_id = world.enterprise_id
    fed.session.flush()
    opened: list[str] = []
    with pytest.raises(NationalLookupError) as refused:
        disputes.dispute(
            challenge_id=issued.challenge_id,  # type: ignore[attr-defined]
            line_ref=mvno.lines[0].line_ref,
            at=NOW + timedelta(minutes=1),
            open_complaint=lambda line, reference: opened.append(reference) or None,  # type: ignore[func-returns-value]
        )
    assert refused.value.code is L.LOOKUP_LINE_CHANGED and refused.value.http_status == 409
    assert opened == []
    assert fed.session.scalar(select(func.count()).select_from(NationalDispute)) == 0
    assert fed.session.scalar(select(func.count()).select_from(Complaint)) == 0


def test_a_dispute_repeated_after_the_line_changed_answers_its_case(fed: Nation) -> None:
    """A retry of a dispute already opened gets its case, not LOOKUP_LINE_CHANGED: the
    line-changed check ran first and hid the open case once the registry moved on."""
    from realname.registry.commands import Desk

    service = _service(fed)
    disputes = DisputeService(service)
    issued = _ask(service, fed)
    answer = service.answer(
        challenge_id=issued.challenge_id,  # type: ignore[attr-defined]
        code=issued.code,  # type: ignore[attr-defined]
        at=NOW,
    )
    mvno = next(e for e in answer.enterprises if e.enterprise == "MVNO1")

    def dispute() -> object:
        return disputes.dispute(
            challenge_id=issued.challenge_id,  # type: ignore[attr-defined]
            line_ref=mvno.lines[0].line_ref,
            at=NOW + timedelta(minutes=1),
            open_complaint=lambda line, reference: None,
        )

    first = dispute()
    world = fed.world
    world.service.transfer(
        world.ctx(at=NOW + timedelta(seconds=70)),
        desk=Desk(world.other_enterprise_id, world.other_channel_id, world.other_clerk_id),
        msisdn=fed.mvno_lines[0],
        owner=world.people[0],
        receiver=world.people[3],
    )
    fed.session.flush()
    assert dispute() == first


def test_disputes_at_once_open_one_case(
    fresh_engine: Engine, keyring: KeyRing, china: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two proved answers of one person disputing one line at once: check-then-insert opened
    two cases on PostgreSQL (each saw none); the pair's row lock makes the second find the
    first's."""
    from sqlalchemy.orm import Session

    from realname.national.lookup.models import NationalDispute
    from realname.national.lookup.repository import LookupRepository
    from tests.national.conftest import build_nation

    limits = LookupLimits(per_identity_per_day=10, per_source_per_hour=100)
    with Session(fresh_engine) as session, session.begin():
        nation = build_nation(session, keyring, china)
        for signer in (nation.cmcc, nation.mvno):
            for envelope in nation.build(signer):
                nation.take(envelope)
        person, msisdn = nation.world.people[0], nation.cmcc_lines[0]
        service = LookupService(session, keys=nation.keys, keyring=keyring, limits=limits)
        challenges, line_ref = [], 0
        for n in range(2):
            issued = service.issue(
                doc_type="resident_id",
                doc_number=person.document_number,
                name=person.name,
                msisdn=msisdn,
                source=f"198.51.100.{n}",
                at=NOW,
            )
            assert issued.code is not None
            answer = service.answer(challenge_id=issued.challenge_id, code=issued.code, at=NOW)
            line_ref = answer.enterprises[0].lines[0].line_ref
            challenges.append(issued.challenge_id)
    looked = LookupRepository.open_dispute

    def slow_open_dispute(self: LookupRepository, *args: object) -> object:
        found = looked(self, *args)  # type: ignore[arg-type]
        time.sleep(0.1)  # widen the gap between looking and inserting
        return found

    monkeypatch.setattr(LookupRepository, "open_dispute", slow_open_dispute)
    start = threading.Barrier(2)
    references: list[str] = []

    def dispute(challenge: str) -> None:
        start.wait(timeout=10)
        with Session(fresh_engine) as session, session.begin():
            lookup = LookupService(session, keys=nation.keys, keyring=keyring, limits=limits)
            state = DisputeService(lookup).dispute(
                challenge_id=challenge,
                line_ref=line_ref,
                at=NOW + timedelta(minutes=1),
                open_complaint=lambda line, reference: None,
            )
        references.append(state.reference)

    threads = [threading.Thread(target=dispute, args=(c,)) for c in challenges]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(references) == 2 and len(set(references)) == 1
    with fresh_engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(NationalDispute)) == 1


def test_the_limits_are_exact_when_requests_come_at_once(
    fresh_engine: Engine, keyring: KeyRing, china: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Count-then-insert: on PostgreSQL (READ COMMITTED) every concurrent request counted the
    same committed total, below the limit, and all of them got a code."""
    from sqlalchemy.orm import Session

    from realname.national.lookup.repository import LookupRepository
    from tests.national.conftest import build_nation

    with Session(fresh_engine) as session, session.begin():
        nation = build_nation(session, keyring, china)
        for signer in (nation.cmcc, nation.mvno):
            for envelope in nation.build(signer):
                nation.take(envelope)
        person, msisdn = nation.world.people[0], nation.cmcc_lines[0]
    counted = LookupRepository.window

    def slow_window(self: LookupRepository, *args: object) -> tuple[int, object]:
        result = counted(self, *args)  # type: ignore[arg-type]
        time.sleep(0.05)  # widen the gap between counting and inserting
        return result  # type: ignore[return-value]

    monkeypatch.setattr(LookupRepository, "window", slow_window)
    limits = LookupLimits(per_identity_per_day=2, per_source_per_hour=100)
    start = threading.Barrier(6)
    outcomes: list[str] = []

    def ask(n: int) -> None:
        start.wait(timeout=10)
        try:
            with Session(fresh_engine) as session, session.begin():
                LookupService(session, keys=nation.keys, keyring=keyring, limits=limits).issue(
                    doc_type="resident_id",
                    doc_number=person.document_number,
                    name=person.name,
                    msisdn=msisdn,
                    source=f"198.51.100.{n}",
                    at=NOW,
                )
            outcomes.append("issued")
        except NationalLookupError as error:
            outcomes.append(str(error.code))

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["LOOKUP_RATE_LIMITED"] * 4 + ["issued"] * 2
    with fresh_engine.connect() as connection:
        issued = connection.scalar(select(func.count()).select_from(NationalLookupChallenge))
    assert issued == 2


def test_every_entry_point_builds_the_service_with_the_configured_limits(
    fed: Nation, china: Policy, tmp_path: object
) -> None:
    from realname.config import Settings
    from realname.wiring import Process

    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/p.db",
        national_lookup_per_identity_per_day=7,
        national_lookup_max_attempts=2,
    )
    built = LookupService.configured(
        fed.session, keys=fed.keys, keyring=fed.keyring, settings=settings, policy=china
    )
    assert built.limits == LookupLimits.from_settings(settings, china)
    assert built.limits.per_identity_per_day == 7 and built.limits.max_attempts == 2
    with Process(settings) as process:
        process.__dict__.update(national_keys=fed.keys, keyring=fed.keyring, policy=china)
        assert process.lookup(fed.session).limits == built.limits


def test_a_dispute_at_an_enterprise_of_another_instance_is_forwarded_to_it(fed: Nation) -> None:
    """This instance's registry does not hold the enterprise's lines (it runs its own
    instance and feeds the platform): the complaint closed at once as `number_unknown`. It
    stays open as `forwarded`; the enterprise pulls it, posts its handling, and the subscriber
    sees it by the reference."""
    from realname.national.feeds.service import FeedIngest
    from realname.national.lookup.models import NationalDispute
    from realname.registry.models import Enterprise

    remote = Enterprise(code="MVNO9", name="远程转售", kind="mvno", status="active", created_at=NOW)
    fed.session.add(remote)
    fed.session.flush()
    remote_key = signing("MVNO9")
    FeedIngest(fed.session, fed.keys).register_key("MVNO9", "f1", remote_key.public_raw, NOW)
    person = fed.world.people[0]
    # A number CMCC (here) held before it was ported to MVNO9: this registry's line of that
    # number is CMCC's, not the one disputed (it was refused LOOKUP_LINE_CHANGED).
    ported = fed.cmcc_lines[2]
    _hostile_batch(fed, ported, 1, person.name, enterprise="MVNO9", signer=remote_key)
    service = _service(fed)
    disputes = DisputeService(service)
    issued = _ask(service, fed)
    answer = service.answer(
        challenge_id=issued.challenge_id,  # type: ignore[attr-defined]
        code=issued.code,  # type: ignore[attr-defined]
        at=NOW,
    )
    line = next(e for e in answer.enterprises if e.enterprise == "MVNO9").lines[0]
    opened: list[str] = []
    state = disputes.dispute(
        challenge_id=issued.challenge_id,  # type: ignore[attr-defined]
        line_ref=line.line_ref,
        at=NOW + timedelta(minutes=1),
        open_complaint=lambda _line, reference: opened.append(reference) or 1,  # type: ignore[func-returns-value]
    )
    assert opened == [] and fed.session.scalar(select(func.count()).select_from(Complaint)) == 0
    assert (state.status, state.outcome, state.enterprise) == ("forwarded", None, "MVNO9")
    assert fed.session.scalars(select(NationalDispute.status)).one() == "forwarded"
    # The enterprise pulls it (its own line, in full, to trace in its registry)...
    later = NOW + timedelta(days=1)
    page = disputes.forwarded(remote.id, later)
    (pulled,) = page.disputes
    assert page.next is None  # the one page
    assert pulled.reference == state.reference and pulled.msisdn == ported
    assert pulled.line_seq == 1 and not pulled.overdue
    assert disputes.forwarded(fed.world.other_enterprise_id, later).disputes == []
    # ...its console lists it (masked, forwarded, with its deadline), no other's does...
    (listed,) = disputes.disputes_of(remote.id, later)
    assert (listed.reference, listed.status, listed.forwarded, listed.complaint_id) == (
        state.reference, "forwarded", True, None,
    )  # fmt: skip
    assert listed.msisdn_masked != ported and listed.msisdn_masked[-4:] == ported[-4:]
    assert listed.due_at == state.due_at and not listed.overdue
    assert disputes.disputes_of(remote.id, state.due_at)[0].overdue
    assert disputes.disputes_of(fed.world.other_enterprise_id, later) == []
    # ...another enterprise cannot answer it; a handling is a status and an outcome code...
    with pytest.raises(NationalLookupError) as refused:
        disputes.answer_forwarded(
            enterprise_id=fed.world.other_enterprise_id, reference=state.reference,
            status="closed", outcome="resolved", at=later, actor="feed_client:x",
        )  # fmt: skip
    assert refused.value.code is L.DISPUTE_NOT_FOUND
    for status, outcome in (("closed", None), ("done", "x"), ("closed", "王小明 139")):
        with pytest.raises(NationalLookupError) as refused:
            disputes.answer_forwarded(
                enterprise_id=remote.id, reference=state.reference, status=status,
                outcome=outcome, at=later, actor="feed_client:x",
            )  # fmt: skip
        assert refused.value.code is L.DISPUTE_ANSWER_INVALID
    traced = disputes.answer_forwarded(
        enterprise_id=remote.id, reference=state.reference, status="traced", outcome=None,
        at=later, actor="feed_client:x",
    )  # fmt: skip
    assert traced.status == "traced"
    acted = disputes.answer_forwarded(
        enterprise_id=remote.id, reference=state.reference, status="acted",
        outcome="owner_reverified", at=later + timedelta(hours=1), actor="feed_client:x",
    )  # fmt: skip
    # ...never backwards (a client replaying an old state); the handling shown, posted again
    # (its answer lost), is answered as it stands and recorded once...
    with pytest.raises(NationalLookupError) as refused:
        disputes.answer_forwarded(
            enterprise_id=remote.id, reference=state.reference, status="traced",
            outcome=None, at=later, actor="feed_client:x",
        )  # fmt: skip
    assert refused.value.code is L.DISPUTE_STATUS_BACKWARDS and refused.value.http_status == 409
    again = disputes.answer_forwarded(
        enterprise_id=remote.id, reference=state.reference, status="acted",
        outcome="owner_reverified", at=later + timedelta(hours=2), actor="feed_client:x",
    )  # fmt: skip
    assert again == acted
    closed = disputes.answer_forwarded(
        enterprise_id=remote.id, reference=state.reference, status="closed",
        outcome="line_cancelled", at=later + timedelta(hours=3), actor="feed_client:x",
    )  # fmt: skip
    assert (closed.status, closed.outcome) == ("closed", "line_cancelled")
    # ...the subscriber sees it, never overdue once closed; it is answered once.
    seen = disputes.dispute_state(state.reference, NOW + timedelta(days=30))
    assert (seen.status, seen.outcome, seen.overdue) == ("closed", "line_cancelled", False)
    assert [(step.status, step.outcome, step.at) for step in seen.history] == [
        ("forwarded", None, NOW + timedelta(minutes=1)),
        ("traced", None, later),
        ("acted", "owner_reverified", later + timedelta(hours=1)),
        ("closed", "line_cancelled", later + timedelta(hours=3)),
    ]
    assert disputes.forwarded(remote.id, later).disputes == []
    assert disputes.disputes_of(remote.id, later) == []  # closed: only when asked for
    (kept,) = disputes.disputes_of(remote.id, later, include_closed=True)
    assert (kept.status, kept.outcome, kept.overdue) == ("closed", "line_cancelled", False)
    with pytest.raises(NationalLookupError) as refused:
        disputes.answer_forwarded(
            enterprise_id=remote.id, reference=state.reference, status="acted",
            outcome=None, at=later, actor="feed_client:x",
        )  # fmt: skip
    assert refused.value.code is L.DISPUTE_CLOSED and refused.value.http_status == 409
    actions = fed.session.scalars(
        select(AuditLog.action).where(AuditLog.action == "national.lookup.dispute_answer")
    ).all()
    assert len(actions) == 3


def test_housekeeping_purges_lookup_rows_past_the_longest_window_only(fed: Nation) -> None:
    """`national_lookup_lock` kept one row per key ever counted and `national_lookup_challenge`
    every challenge, for ever: the daily job purges those past the per-identity day, and the
    limits count exactly as before."""
    from realname.national.lookup.models import NationalLookupLock
    from realname.national.lookup.service import purge_lookup_rows

    def rows() -> tuple[int, int]:
        count = lambda model: fed.session.scalar(select(func.count()).select_from(model))  # noqa: E731
        return count(NationalLookupChallenge), count(NationalLookupLock)

    service = _service(fed, per_identity_per_day=2, per_source_per_hour=100)
    _ask(service, fed)
    _ask(service, fed, source="198.51.100.2")
    before = rows()
    assert before[0] == 2 and before[1] >= 2
    assert purge_lookup_rows(fed.session, NOW + timedelta(hours=23)) == (0, 0)
    assert rows() == before
    with pytest.raises(NationalLookupError):  # still counted: the day is not over
        service.issue(
            at=NOW + timedelta(hours=23),
            doc_type="resident_id",
            doc_number=fed.world.people[0].document_number,
            name=fed.world.people[0].name,
            msisdn=fed.cmcc_lines[0],
            source="198.51.100.3",
        )
    later = NOW + timedelta(days=2)
    challenges, locks = purge_lookup_rows(fed.session, later)
    assert challenges == 2 and locks >= 2
    assert rows() == (0, 0)
    # the purged keys' locks come back when used again
    again = service.issue(
        at=later,
        doc_type="resident_id",
        doc_number=fed.world.people[0].document_number,
        name=fed.world.people[0].name,
        msisdn=fed.cmcc_lines[0],
        source="198.51.100.2",
    )
    assert again.code is not None  # type: ignore[attr-defined]


def test_a_refused_handling_leaves_the_other_disputes_to_be_answered(fed: Nation) -> None:
    """`disputes pull` at the enterprise: the platform refusing one case's handling (a 409
    for a case it shows further on) stopped the run there, and, oldest first, every later
    case waited behind it on every run. Now it is reported and the others are answered."""
    from collections.abc import Iterator
    from contextlib import contextmanager

    from realname.national.feeds.errors import FeedError, FeedErrorCode
    from realname.national.lookup.jobs import pull_disputes

    class SameSession:
        @contextmanager
        def transaction(self, **_: object) -> Iterator[object]:
            yield fed.session

    posted: list[str] = []

    class Platform:
        def forwarded_disputes(self) -> list[dict[str, object]]:
            return [
                {"reference": f"ND{n}", "msisdn": msisdn, "status": "forwarded", "outcome": None}
                for n, msisdn in enumerate(fed.cmcc_lines[:2])
            ]

        def answer_dispute(self, reference: str, status: str, outcome: str | None) -> None:
            if reference == "ND0":
                raise FeedError(FeedErrorCode.FEED_PLATFORM_REFUSED, "dispute handling: HTTP 409")
            posted.append(reference)

    report = pull_disputes(
        SameSession(),  # type: ignore[arg-type]
        Platform(),
        lambda _session: complaints_of(fed.world),
        now=lambda: NOW,
    )
    assert (report.pulled, report.opened, report.posted) == (2, 2, 1)
    assert report.refused == [("ND0", "FEED_PLATFORM_REFUSED")] and posted == ["ND1"]
