"""Card reads over HTTP, on both engines: the channel's reader posts the chip's data, a clerk
of that channel registers with it once; the server, not the request, makes it `chip_read`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from realname.policy.loader import load_policy
from realname.policy.schema import CardReadRules
from realname.registry.cardreads.models import CardRead
from realname.registry.commands import Person
from realname.registry.models import LineEvent
from tests.api.conftest import Api, person_json


def _read(api: Api, person: Person) -> dict[str, Any]:
    response = api.client.post(
        "/v1/card-reads",
        json={
            "document": {"type": "resident_id", "number": person.document_number},
            "name": person.name,
        },
        headers=api.headers("card_reader"),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _register(api: Api, customer: dict[str, Any], who: str = "clerk", **more: Any) -> Any:
    return api.client.post(
        "/v1/registrations",
        json={"msisdn": more.pop("msisdn", None) or api.number(), "customer": customer, **more},
        headers=api.headers(who),
    )


def _rows(api: Api, public_id: str) -> list[CardRead]:
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.transaction(readonly=True) as session:
        rows = list(session.scalars(select(CardRead).where(CardRead.public_id == public_id)))
        session.expunge_all()
    return rows


def test_a_registration_with_the_readers_read_is_a_chip_read_and_spends_it(api: Api) -> None:
    person = api.people[0]
    read = _read(api, person)
    assert read["channel_id"] == api.own_channel_id
    (row,) = _rows(api, read["id"])
    assert row.data_sealed is not None and person.document_number.encode() not in row.data_sealed
    latest = api.client.get("/v1/card-reads/latest", headers=api.headers("clerk"))
    assert latest.status_code == 200, latest.text
    shown = latest.json()
    assert shown["id"] == read["id"]
    assert shown["document_number"] != person.document_number and "*" in shown["name"]

    registered = _register(api, {"card_read_id": read["id"], "face_score": 0.93})
    assert registered.status_code == 201, registered.text
    line = registered.json()
    assert line["owner"]["document_number"][-4:] == person.document_number[-4:]
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.transaction(readonly=True) as session:
        events = session.scalars(select(LineEvent).where(LineEvent.line_id == line["id"]))
        methods = [e.detail["entry_method"] for e in events if "entry_method" in e.detail]
        assert methods == ["chip_read"]
    (spent,) = _rows(api, read["id"])
    assert spent.used_at is not None and spent.data_sealed is None  # wiped when used

    again = _register(api, {"card_read_id": read["id"], "face_score": 0.93})
    assert again.status_code == 404 and again.json()["code"] == "REALNAME.CARD_READ_NOT_FOUND"
    gone = api.client.get("/v1/card-reads/latest", headers=api.headers("clerk"))
    assert gone.status_code == 404 and gone.json()["code"] == "REALNAME.CARD_READ_NOT_FOUND"


def test_a_refused_registration_leaves_the_read_for_another_try(api: Api) -> None:
    read = _read(api, api.people[1])
    msisdn = api.number()
    refused = _register(api, {"card_read_id": read["id"], "face_score": 0.2}, msisdn=msisdn)
    assert refused.status_code == 422 and refused.json()["code"] == "REALNAME.FACE_MISMATCH"
    (row,) = _rows(api, read["id"])
    assert row.used_at is None and row.data_sealed is not None
    registered = _register(api, {"card_read_id": read["id"], "face_score": 0.95}, msisdn=msisdn)
    assert registered.status_code == 201, registered.text


def test_a_read_belongs_to_its_channel_and_expires(api: Api) -> None:
    read = _read(api, api.people[2])
    elsewhere = _register(api, {"card_read_id": read["id"], "face_score": 0.95}, "partner_clerk")
    assert elsewhere.status_code == 404
    assert elsewhere.json()["code"] == "REALNAME.CARD_READ_NOT_FOUND"
    not_here = api.client.get("/v1/card-reads/latest", headers=api.headers("partner_clerk"))
    assert not_here.status_code == 404
    api.clock.advance(timedelta(seconds=301))
    try:
        late = _register(api, {"card_read_id": read["id"], "face_score": 0.95})
        assert late.status_code == 404 and late.json()["code"] == "REALNAME.CARD_READ_NOT_FOUND"
        # The next read (at any channel) deletes the expired one: nothing lingers.
        _read(api, api.people[3])
        assert _rows(api, read["id"]) == []
    finally:
        api.clock.advance(timedelta(seconds=-301))


def test_a_read_is_the_document_and_name_or_neither(api: Api) -> None:
    read = _read(api, api.people[4])
    both = person_json(api.people[4]) | {"card_read_id": read["id"]}
    assert _register(api, both).status_code == 400
    manual = {"card_read_id": read["id"], "entry_method": "manual"}
    assert _register(api, manual).status_code == 400
    assert _register(api, {"face_score": 0.9}).status_code == 400
    (row,) = _rows(api, read["id"])
    assert row.used_at is None


def test_the_owner_present_at_the_counter_is_read_too(api: Api) -> None:
    owner = api.people[5]
    registered = _register(api, person_json(owner))
    assert registered.status_code == 201, registered.text
    read = _read(api, owner)
    lost = api.client.post(
        f"/v1/lines/{registered.json()['id']}/report-lost",
        json={"owner": {"card_read_id": read["id"], "face_score": 0.95}},
        headers=api.headers("clerk"),
    )
    assert lost.status_code == 200, lost.text
    assert _rows(api, read["id"])[0].used_at is not None


@contextmanager
def _the_preset(api: Api) -> Iterator[None]:
    """The app under China's preset as shipped (the `api` world attests its chip reads:
    tests/api/conftest.py `attest`)."""
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    before = rt.policy
    rt.policy = load_policy("china")
    try:
        yield
    finally:
        rt.policy = before


def test_a_chip_read_claim_without_the_channel_readers_read_is_refused_in_china(
    api: Api,
) -> None:
    assert load_policy("china").card_reads.chip_read_needs_reader is True
    claimed = person_json(api.people[6])  # entry_method chip_read, no read
    with _the_preset(api):
        refused = _register(api, claimed)
        assert refused.status_code == 403
        body = refused.json()
        assert body["code"] == "REALNAME.CHIP_READ_UNATTESTED"
        assert "card_read_id" in body["message"] and "/v1/card-reads" in body["message"]
        read = _read(api, api.people[6])
        with_read = _register(api, {"card_read_id": read["id"], "face_score": 0.95})
        assert with_read.status_code == 201, with_read.text
    # A policy that trusts an integrator's own reader takes its claim.
    assert CardReadRules().chip_read_needs_reader is False
    assert _register(api, person_json(api.people[7])).status_code == 201


def test_a_person_given_without_saying_how_the_document_was_captured_is_refused(
    api: Api,
) -> None:
    """entry_method defaulted to chip_read: leaving it out claimed the most trusted capture.
    Now it must be said (or the person given by a card read), and the refusal says what to
    send."""
    unsaid = {k: v for k, v in person_json(api.people[8]).items() if k != "entry_method"}
    for policy in (_the_preset(api), nullcontext()):
        with policy:
            refused = _register(api, unsaid)
            assert refused.status_code == 422, refused.text
            body = refused.json()
            assert body["code"] == "REALNAME.ENTRY_METHOD_REQUIRED"
            assert "card_read_id" in body["message"] and "entry_method" in body["message"]
    line = _register(api, person_json(api.people[8]))  # said: chip_read, attested here
    assert line.status_code == 201, line.text
    # An owner-present operation is a counter operation too.
    lost = api.client.post(
        f"/v1/lines/{line.json()['id']}/report-lost",
        json={"owner": unsaid},
        headers=api.headers("clerk"),
    )
    assert lost.status_code == 422 and lost.json()["code"] == "REALNAME.ENTRY_METHOD_REQUIRED"


def test_typed_entry_is_refused_where_the_policy_refuses_manual_entry(api: Api) -> None:
    typed = person_json(api.people[8], entry_method="manual")
    refused = _register(api, typed)  # the own hall: china refuses manual entry there
    assert refused.status_code == 422
    assert refused.json()["code"] == "REALNAME.MANUAL_ENTRY_REFUSED"


def test_each_card_read_is_an_audit_entry_naming_the_reader_and_channel_not_the_card(
    api: Api,
) -> None:
    from realname.registry.cardreads.service import audit_name
    from realname.security.models import AuditLog

    person = api.people[2]
    read = _read(api, person)
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.transaction(readonly=True) as session:
        entries = list(
            session.scalars(
                select(AuditLog).where(
                    AuditLog.action == "card_read.record",
                    AuditLog.object_id == audit_name(read["id"]),
                )
            )
        )
        session.expunge_all()
    assert len(entries) == 1
    (entry,) = entries
    reader_id = api.secrets["card_reader"][0]
    assert entry.actor == f"card_reader:{reader_id}" and entry.object_type == "card_read"
    assert entry.detail["channel_id"] == str(api.own_channel_id)
    assert entry.detail["document_type"] == "resident_id"
    written = repr((entry.actor, entry.object_id, entry.correlation_id, entry.detail))
    for secret in (person.document_number, person.name, read["id"]):
        assert secret not in written
