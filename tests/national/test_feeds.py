"""Feed batches at the platform, on both engines: signatures (a tampered, unsigned or foreign-
key batch is refused and reported), replay idempotency, gap detection, sealing (no clear
document number at the platform; the national index is not the enterprise's)."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import Engine, func, select

from realname.national.feeds.envelope import Envelope, sign
from realname.national.feeds.errors import FeedError, FeedErrorCode
from realname.national.feeds.models import NationalFeedBatch, NationalFeedRefusal
from realname.national.feeds.service import FeedIngest, feed_status
from realname.national.index.models import NationalIdentity, NationalLine
from realname.national.index.service import NationalIndex
from realname.policy.loader import load_policy
from realname.registry.models import Identity
from tests.national.conftest import NOW, Nation, signing

F = FeedErrorCode


def _lines(nation: Nation) -> dict[str, tuple[str, int | None, int]]:
    rows = nation.session.execute(
        select(NationalLine.msisdn, NationalLine.state, NationalLine.identity_id, NationalLine.seq)
    ).all()
    return {m: (s, i, q) for m, s, i, q in rows}


def test_a_feed_fills_the_national_index(nation: Nation) -> None:
    for signer in (nation.cmcc, nation.mvno):
        for envelope in nation.build(signer, batch_size=2):
            taken = nation.take(envelope)
            assert not taken.duplicate
    lines = _lines(nation)
    assert set(lines) == {*nation.cmcc_lines, *nation.mvno_lines}
    assert {state for state, _, _ in lines.values()} == {"active"}
    # People[0] holds two lines at CMCC and one at MVNO1: one national identity for all three.
    owner = {lines[m][1] for m in (*nation.cmcc_lines[:2], nation.mvno_lines[0])}
    assert len(owner) == 1 and None not in owner
    assert nation.session.scalar(select(func.count()).select_from(NationalIdentity)) == 3


def test_the_platform_keeps_no_clear_number_and_its_index_is_its_own(nation: Nation) -> None:
    for envelope in nation.build(nation.cmcc):
        nation.take(envelope)
    person = nation.world.people[0]
    number = person.document_number
    # The feed itself never carries the number or the name in clear.
    for envelope in nation.build(nation.mvno):
        raw = envelope.to_bytes()
        assert number.encode() not in raw and person.name.encode() not in raw
        nation.take(envelope)
    registry_index = nation.session.scalars(select(Identity.number_index)).all()
    national = nation.session.scalars(select(NationalIdentity)).all()
    assert national
    for row in national:
        assert row.identity_key not in registry_index
        for value in (row.identity_key, row.doc_type.encode()):
            assert number.encode() not in value
    for name_key in nation.session.scalars(select(NationalLine.name_key)):
        assert name_key is not None and person.name.encode() not in name_key
    expected = nation.keys.identity_key("resident_id", number)
    assert expected in {row.identity_key for row in national}
    # The enterprise's key ring cannot compute it: its blind index differs.
    assert nation.keyring.blind_index(number, "identity.number") != expected
    # No national table holds the number, in any column.
    for table in ("national_line", "national_identity", "national_feed_batch"):
        for row in nation.session.execute(select(NationalLine.__table__.metadata.tables[table])):
            assert all(number not in str(value) for value in row)


@pytest.mark.parametrize("what", ["item", "number", "enterprise_owner"])
def test_a_tampered_batch_is_refused(nation: Nation, what: str) -> None:
    envelope = nation.build(nation.cmcc)[0]
    body = copy.deepcopy(envelope.body)
    if what == "item":
        body["items"][0]["state"] = "cancelled"
    elif what == "number":
        body["batch"] = 2
    else:
        body["items"][0]["owner"] = body["items"][-1]["owner"]
    forged = Envelope(body, envelope.key_id, envelope.signature)
    with pytest.raises(FeedError) as refused:
        nation.take(forged)
    assert refused.value.code is F.FEED_SIGNATURE_INVALID
    assert _lines(nation) == {}


def test_unsigned_and_unknown_key_batches_are_refused_and_reported(nation: Nation) -> None:
    envelope = nation.build(nation.cmcc)[0]
    unsigned = Envelope.from_json({"body": envelope.body, "key_id": "f1"})
    stranger = signing("CMCC")
    foreign = sign(envelope.body, "f9", stranger)
    same_id_other_key = sign(envelope.body, "f1", stranger)
    ingest = FeedIngest(nation.session, nation.keys)
    for batch, code in (
        (unsigned, F.FEED_UNSIGNED),
        (foreign, F.FEED_KEY_UNKNOWN),
        (same_id_other_key, F.FEED_SIGNATURE_INVALID),
        (None, F.FEED_MALFORMED),
    ):
        with pytest.raises(FeedError) as refused:
            nation.take(batch)
        assert refused.value.code is code
        ingest.record_refusal(batch, refused.value, at=NOW, transport="local")
    reported = nation.session.scalars(select(NationalFeedRefusal.code)).all()
    assert sorted(reported) == sorted(
        ["FEED_UNSIGNED", "FEED_KEY_UNKNOWN", "FEED_SIGNATURE_INVALID", "FEED_MALFORMED"]
    )
    status = {s.enterprise: s for s in feed_status(nation.session, NOW, late_after=NOW - NOW)}
    assert status["CMCC"].status == "broken" and status["CMCC"].refusals == 3
    assert status["MVNO1"].status == "never"
    assert _lines(nation) == {}


def test_a_replay_is_a_no_op_and_a_conflict_is_refused(nation: Nation) -> None:
    first, second = nation.build(nation.cmcc, batch_size=3)
    nation.take(first)
    nation.take(second)
    before = _lines(nation)
    again = nation.take(first)
    assert again.duplicate and again.applied == 0 and again.next_batch == 3
    assert _lines(nation) == before
    body = copy.deepcopy(first.body)
    body["items"][0]["state"] = "suspended"
    other = sign(body, nation.cmcc.key_id, nation.cmcc)
    with pytest.raises(FeedError) as refused:
        nation.take(other)
    assert refused.value.code is F.FEED_BATCH_CONFLICT
    assert nation.session.scalar(select(func.count()).select_from(NationalFeedBatch)) == 2
    assert _lines(nation) == before


def test_a_batch_ahead_of_the_expected_one_is_refused_with_the_number_expected(
    nation: Nation,
) -> None:
    first, second, third = nation.build(nation.cmcc, batch_size=2)[:3]
    with pytest.raises(FeedError) as refused:
        nation.take(third)
    assert refused.value.code is F.FEED_BATCH_GAP and refused.value.expected == 1
    assert refused.value.response_headers() == {"X-Expected-Batch": "1"}
    nation.take(first)
    with pytest.raises(FeedError) as refused:
        nation.take(third)
    assert refused.value.expected == 2
    nation.take(second)
    assert nation.take(third).next_batch == 4


def test_a_feed_resumes_from_its_cursor(nation: Nation) -> None:
    for envelope in nation.build(nation.cmcc):
        nation.take(envelope)
    assert nation.build(nation.cmcc) == []  # nothing new
    world = nation.world
    msisdn = nation.cmcc_lines[2]
    world.service.cancel(world.ctx("admin"), world.enterprise_id, msisdn, "customer request")
    later = nation.build(nation.cmcc)
    assert len(later) == 1 and later[0].number == 2
    assert later[0].body["cursor"]["from"] > 0
    nation.take(later[0])
    assert _lines(nation)[msisdn][0] in ("cancelled", "cooling")  # no longer held


def test_an_older_change_never_overwrites_a_newer_one(nation: Nation) -> None:
    envelope = nation.build(nation.cmcc)[0]
    nation.take(envelope)
    item = dict(envelope.items[0], seq=0, state="suspended")
    index = NationalIndex(nation.session, nation.keys)
    assert index.apply(nation.world.enterprise_id, 9, "n1", [item], NOW) == 0
    assert _lines(nation)[item["msisdn"]][0] == "active"


def test_an_item_sealed_to_another_key_refuses_the_whole_batch(nation: Nation) -> None:
    envelope = nation.build(nation.cmcc)[0]
    body = copy.deepcopy(envelope.body)
    body["items"][0]["owner"]["sealed"] = "AAAA"
    resigned = sign(body, nation.cmcc.key_id, nation.cmcc)
    with pytest.raises(FeedError) as refused:
        nation.take(resigned)
    assert refused.value.code is F.FEED_ITEM_INVALID


def test_a_snapshot_back_loads_the_lines_as_they_are(nation: Nation) -> None:
    snapshot = nation.build(nation.cmcc, snapshot=True, batch_size=2)
    assert all(e.body.get("snapshot") for e in snapshot)
    for envelope in snapshot:
        nation.take(envelope)
    assert set(_lines(nation)) == set(nation.cmcc_lines)
    assert nation.build(nation.cmcc) == []  # the events up to the snapshot are in it


def test_the_national_cap_reports_identities_over_it(nation: Nation) -> None:
    world = nation.world
    for _ in range(3):
        world.register(world.people[0])  # 5 at CMCC (China's cap there) + 1 at MVNO1
    for signer in (nation.cmcc, nation.mvno):
        for envelope in nation.build(signer):
            nation.take(envelope)
    index = NationalIndex(nation.session, nation.keys)
    assert index.cap_report(load_policy("china")).cap is None
    report = index.cap_report(load_policy("pakistan"))
    assert report.cap == 5
    assert [(o.lines, o.enterprises) for o in report.over] == [(6, 2)]


@pytest.mark.parametrize("batch", [2**31, 2**70, True, 0, "1"])
def test_a_batch_number_no_column_holds_is_malformed_and_reported(
    nation: Nation, batch: object
) -> None:
    """It was a TypeError (2**70) or a DataError (2**31 on PostgreSQL) before any refusal was
    recorded: a 500 over HTTP, and a dropped file that stopped every later one."""
    envelope = nation.build(nation.cmcc)[0]
    body = copy.deepcopy(envelope.body) | {"batch": batch}
    unsigned = Envelope.from_json({"body": body, "key_id": "f1"})
    with pytest.raises(FeedError) as refused:
        nation.take(unsigned)
    assert refused.value.code is F.FEED_MALFORMED
    ingest = FeedIngest(nation.session, nation.keys)
    ingest.record_refusal(unsigned, refused.value, at=NOW, transport="local")
    nation.session.flush()
    (row,) = nation.session.execute(
        select(NationalFeedRefusal.code, NationalFeedRefusal.number)
    ).all()
    assert tuple(row) == ("FEED_MALFORMED", None)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("msisdn", "not-a-number<script>"),
        ("msisdn", "13800138000"),  # not E.164 as the registry keeps it
        ("seq", True),
        ("seq", 2**31),
        ("seq", -1),
        ("province", 11),
        ("op", ["register"]),
    ],
)
def test_an_item_whose_values_no_column_holds_refuses_the_whole_batch(
    nation: Nation, field: str, value: object
) -> None:
    envelope = nation.build(nation.cmcc)[0]
    body = copy.deepcopy(envelope.body)
    body["items"][0][field] = value
    resigned = sign(body, nation.cmcc.key_id, nation.cmcc)
    with pytest.raises(FeedError) as refused:
        nation.take(resigned)
    assert refused.value.code is F.FEED_ITEM_INVALID
    assert _lines(nation) == {}


def test_a_retired_key_signs_nothing_new_and_what_it_signed_before_stays(nation: Nation) -> None:
    """A feed signing key could not be retired: a leaked or rotated key stayed valid for
    ever."""
    from datetime import timedelta

    from realname.security.models import AuditLog

    first, second = nation.build(nation.cmcc, batch_size=3)
    nation.take(first)
    ingest = FeedIngest(nation.session, nation.keys)
    later = NOW + timedelta(hours=1)
    key = ingest.retire_key("CMCC", "f1", later, keyring=nation.keyring, actor="operator:test")
    assert key.retired_at == later
    again = ingest.retire_key("CMCC", "f1", later + timedelta(hours=1), keyring=nation.keyring,
                              actor="operator:test")  # fmt: skip
    assert again.retired_at == later  # the first retirement stands
    audited = nation.session.scalars(
        select(AuditLog).where(AuditLog.action == "national.feed_key.retire")
    ).all()
    assert [a.object_id for a in audited] == ["CMCC:f1"]
    # Before its retirement the key still signs; after it, a stored batch still verifies...
    assert ingest.take(second, at=NOW, transport="local").number == 2
    replay = ingest.take(first, at=later, transport="local")
    assert replay.duplicate and replay.number == 1
    # ...and nothing new it signs is taken, not even a conflicting replay.
    for body in (copy.deepcopy(second.body) | {"batch": 3}, first.body | {"items": []}):
        with pytest.raises(FeedError) as refused:
            ingest.take(sign(body, "f1", nation.cmcc), at=later, transport="local")
        assert refused.value.code is F.FEED_KEY_RETIRED and refused.value.http_status == 401
    # The enterprise's new key carries on.
    rotated = signing("CMCC")
    ingest.register_key("CMCC", "f2", rotated.public_raw, later)
    body = copy.deepcopy(second.body) | {"batch": 3}
    assert ingest.take(sign(body, "f2", rotated), at=later, transport="local").number == 3
    with pytest.raises(FeedError) as unknown:
        ingest.retire_key("CMCC", "f9", later, keyring=nation.keyring, actor="operator:test")
    assert unknown.value.code is F.FEED_KEY_UNKNOWN


def test_the_high_water_mark_gives_up_behind_a_long_writer(fresh_engine: Engine) -> None:
    """`LOCK TABLE line_event IN SHARE MODE` waited without end behind a long transaction
    that wrote events (and every registration queued behind the publisher's request)."""
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from realname.national.feeds.repository import FeedRepository

    if fresh_engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: the mark takes no lock")
    with fresh_engine.connect() as writer:
        writer.execute(text("LOCK TABLE line_event IN ROW EXCLUSIVE MODE"))  # as an INSERT does
        with Session(fresh_engine) as session, session.begin():
            # without the fix this statement would wait for ever; give up after 5 s instead
            session.execute(text("SET LOCAL statement_timeout = '5s'"))
            with pytest.raises(FeedError) as busy:
                FeedRepository(session).high_water_mark(lock_timeout_ms=200)
        writer.rollback()
    assert busy.value.code is F.FEED_BUSY and busy.value.transient
    assert busy.value.http_status == 503 and busy.value.retry_after == 1
    with Session(fresh_engine) as session, session.begin():  # the writer gone: it is taken
        assert FeedRepository(session).high_water_mark(lock_timeout_ms=200) == 0


def test_a_batch_past_the_engines_bind_parameter_limit_is_taken(nation: Nation) -> None:
    """REALNAME_NATIONAL_FEED_BATCH_SIZE goes to 100,000, but one IN list of a batch's numbers
    (or owners) past 65,535 values is refused by PostgreSQL (32,766 by SQLite): every such
    batch was a 503, sent again for ever. The queries a batch runs, with 66,000 values (the
    whole apply of such a batch takes 15 s here: the index's writes are executemany, not IN)."""
    from realname.national.feeds.repository import FeedRepository
    from realname.national.index.repository import IndexRepository

    for envelope in nation.build(nation.cmcc):
        nation.take(envelope)
    size = 66_000
    numbers = [f"+861390{n:07d}" for n in range(size)] + nation.cmcc_lines
    lines = IndexRepository(nation.session).lines(nation.world.enterprise_id, numbers)
    assert set(lines) == set(nation.cmcc_lines)
    known = nation.keys.identity_key("resident_id", nation.world.people[0].document_number)
    keys = [n.to_bytes(32, "big") for n in range(size)] + [known]
    assert list(IndexRepository(nation.session).identity_ids(keys)) == [known]
    held = set(nation.session.scalars(select(Identity.id)))
    absent = [-n for n in range(1, size + 1)]
    people = FeedRepository(nation.session).identities([*absent, *held])
    assert {person.id for person in people} == held and len(held) == 3


@pytest.mark.parametrize(
    "outside",
    [
        "+8617000100001",  # MVNO1's block: another enterprise's number
        "+8613800200001",  # just past CMCC's block +86138001
        "+8613800099999",  # just before it
        "+861380010000",  # a digit short of the block's numbers
    ],
)
def test_a_number_outside_the_enterprises_blocks_refuses_the_batch(
    nation: Nation, outside: str
) -> None:
    """The platform accepted lines of numbers never allocated to the enterprise (a number of
    another enterprise's block, one nobody holds): each item's number must be in one of its
    blocks when the platform holds the allocation."""
    envelope = nation.build(nation.cmcc)[0]
    body = copy.deepcopy(envelope.body)
    assert len(body["items"]) > 1
    body["items"][1]["msisdn"] = outside
    resigned = sign(body, nation.cmcc.key_id, nation.cmcc)
    with pytest.raises(FeedError) as refused:
        nation.take(resigned)
    assert refused.value.code is F.FEED_ITEM_INVALID
    assert refused.value.detail is not None and refused.value.detail.startswith("item 1:")
    assert outside not in str(refused.value)
    assert _lines(nation) == {}
    nation.take(envelope)  # the batch as built: every number in CMCC's block
    assert set(_lines(nation)) >= set(nation.cmcc_lines)


def test_an_enterprise_whose_allocation_the_platform_does_not_hold_is_not_checked(
    nation: Nation,
) -> None:
    from sqlalchemy import delete

    from realname.registry.models import NumberBlockRow

    nation.session.execute(
        delete(NumberBlockRow).where(NumberBlockRow.enterprise_id == nation.world.enterprise_id)
    )
    envelope = nation.build(nation.cmcc)[0]
    body = copy.deepcopy(envelope.body)
    body["items"][0]["msisdn"] = "+8613900000001"
    nation.take(sign(body, nation.cmcc.key_id, nation.cmcc))
    assert "+8613900000001" in _lines(nation)
