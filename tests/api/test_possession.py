"""Proof of possession and the subscriber's code login over HTTP, on both engines: a clerk's
code for a legacy line, back-fill refused without a valid proof (and counted), a subscriber's
login by a code with identical answers for unknown numbers, twins verifying one code, rate
limits, and an OTP token that locks its own line."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from realname.backfill.models import LegacyImport
from realname.channels.models import RegistrationRefusal
from realname.messaging.models import OutboxMessage
from realname.messaging.service import open_body
from realname.possession.models import PossessionChallenge, PossessionFailure
from realname.registry.check import run_integrity_check
from realname.registry.models import Line
from realname.security.clients import principal_from_token
from tests.api.conftest import Api, person_json
from tests.registry.conftest import NOW

_serial = iter(range(1, 10_000))


def legacy_line(api: Api) -> tuple[int, str]:
    """A legacy line as `realname import legacy` leaves it (the import is its first event)."""
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    n = next(_serial)
    msisdn = f"+86138009{n:05d}"
    with rt.transaction() as session:
        batch = LegacyImport(
            enterprise_id=api.enterprise_id,
            source_name="t.csv",
            source_sha256="0" * 64,
            actor="test",
            started_at=NOW,
            finished_at=NOW,
            rows_read=1,
            rows_loaded=1,
            rows_present=0,
            rows_rejected=0,
        )
        session.add(batch)
        session.flush()
        line = Line(
            msisdn=msisdn,
            enterprise_id=api.enterprise_id,
            state="legacy",
            activated_at=NOW - timedelta(days=900),
            state_changed_at=NOW,
            event_count=0,
            legacy_import_id=batch.id,
        )
        session.add(line)
        session.flush()
        return line.id, msisdn


def sms_code(api: Api, line_id: int) -> str:
    """What the subscriber reads on the phone: the latest code SMS to the line."""
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.transaction() as session:
        body = session.scalars(
            select(OutboxMessage.body)
            .where(OutboxMessage.line_id == line_id, OutboxMessage.kind.like("otp.%"))
            .order_by(OutboxMessage.id.desc())
        ).first()
    assert body is not None and body.startswith("sealed:")
    found = re.search(r"[0-9]{6}", open_body(rt.keyring, body))
    assert found is not None
    return found.group()


def count(api: Api, query: Any) -> int:
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.transaction() as session:
        return int(session.scalar(query) or 0)


def backfill(api: Api, msisdn: str, possession: dict[str, Any] | None) -> Any:
    body: dict[str, Any] = {"msisdn": msisdn, "customer": person_json(api.people[3])}
    if possession is not None:
        body["possession"] = possession
    return api.client.post("/v1/registrations", json=body, headers=api.headers("clerk"))


def challenge(api: Api, line_id: int, who: str = "clerk") -> Any:
    return api.client.post(f"/v1/lines/{line_id}/possession-challenges", headers=api.headers(who))


def test_a_clerk_backfills_with_the_code_the_holder_reads_out(api: Api) -> None:
    line_id, msisdn = legacy_line(api)
    failures = select(func.count()).select_from(PossessionFailure)
    refusals = select(func.count()).select_from(RegistrationRefusal)
    before_failures, before_refusals = count(api, failures), count(api, refusals)

    refused = backfill(api, msisdn, None)
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "REALNAME.POSSESSION_NOT_PROVEN"
    assert (
        api.client.get(f"/v1/lines/{line_id}", headers=api.headers("clerk")).json()["state"]
        == "legacy"
    )

    asked = challenge(api, line_id)
    assert asked.status_code == 201, asked.text
    answer = asked.json()
    assert set(answer) == {"challenge_id", "expires_at", "delivery"}
    code = sms_code(api, line_id)
    assert code not in asked.text
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    guessed = backfill(
        api, msisdn, {"method": "otp", "challenge_id": answer["challenge_id"], "code": wrong}
    )
    assert guessed.status_code == 403 and guessed.json()["code"] == "REALNAME.POSSESSION_NOT_PROVEN"
    assert count(api, failures) == before_failures + 2
    assert count(api, refusals) == before_refusals + 2
    assert (
        count(
            api,
            select(PossessionChallenge.attempts).where(
                PossessionChallenge.public_id == answer["challenge_id"]
            ),
        )
        == 1
    )

    done = backfill(
        api, msisdn, {"method": "otp", "challenge_id": answer["challenge_id"], "code": code}
    )
    assert done.status_code == 201, done.text
    assert done.json()["state"] == "active" and done.json()["owner"] is not None
    again = challenge(api, line_id)
    assert again.status_code == 409
    assert again.json()["code"] == "REALNAME.CHALLENGE_NOT_APPLICABLE"
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.transaction(readonly=True) as session:  # one snapshot, as `realname check` reads
        report = run_integrity_check(session, rt.policy, rt.keyring)
    assert report.ok, [r.violations for r in report.results]


def test_another_enterprises_line_reads_as_missing(api: Api) -> None:
    line_id, _ = legacy_line(api)
    response = challenge(api, line_id, "other_clerk")
    assert response.status_code == 404
    assert challenge(api, line_id, "admin").status_code == 403


def login(api: Api, phone_number: str, **headers: str) -> Any:
    return api.client.post(
        "/v1/subscriber/otp",
        json={"phone_number": phone_number},
        headers=api.headers("subscriber", **headers),
    )


def verify(api: Api, challenge_id: str, code: str) -> Any:
    return api.client.post(
        "/v1/subscriber/otp/verify",
        json={"challenge_id": challenge_id, "code": code},
        headers=api.headers("subscriber"),
    )


_owners = iter(range(10_000))


def registered_line(api: Api) -> dict[str, Any]:
    """A registered line; its owner (`person`) one of five people in turn, within the cap."""
    person = api.people[4 + next(_owners) % 5]
    response = api.client.post(
        "/v1/registrations",
        json={"msisdn": api.number(), "customer": person_json(person)},
        headers=api.headers("clerk"),
    )
    assert response.status_code == 201, response.text
    return {**response.json(), "person": person_json(person)}


def test_a_subscriber_logs_in_by_code_and_locks_their_own_line(api: Api) -> None:
    line = registered_line(api)
    other = registered_line(api)
    asked = login(api, line["msisdn"])
    assert asked.status_code == 202, asked.text
    code = sms_code(api, line["id"])
    token = verify(api, asked.json()["challenge_id"], code)
    assert token.status_code == 200, token.text
    answer = token.json()
    assert answer["line_id"] == line["id"] and answer["token_type"] == "Bearer"
    assert 0 < answer["expires_in"] <= 900
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    principal = principal_from_token(answer["access_token"], rt.token_keys, rt.clock.now())
    assert principal.line_id == line["id"] and principal.amr == frozenset({"otp"})
    assert principal.enterprise_id == api.enterprise_id
    bearer = {"Authorization": f"Bearer {answer['access_token']}"}
    owner = {"owner": line["person"]}
    locked = api.client.post(f"/v1/lines/{line['id']}/lock", json=owner, headers=bearer)
    assert locked.status_code == 200, locked.text
    assert locked.json()["state"] == "suspended"
    elsewhere = api.client.post(f"/v1/lines/{other['id']}/lock", json=owner, headers=bearer)
    assert elsewhere.status_code == 404
    # The code is used: a replay gets nothing.
    assert verify(api, asked.json()["challenge_id"], code).status_code == 403
    # An OTP token is not the network authentication Number Verification attests.
    nv = api.client.post(
        "/number-verification/v2/verify",
        json={"phoneNumber": line["msisdn"]},
        headers=bearer,
    )
    assert nv.status_code in (401, 403)


def test_a_code_login_token_stands_for_the_owner_it_was_issued_to(api: Api) -> None:
    """Transferred in the same instant the token was issued (no clock tick to compare), the
    token still reaches nothing of the receiver's: it names its owner (claim `own`)."""
    line = registered_line(api)
    receivers_line = registered_line(api)
    asked = login(api, line["msisdn"]).json()
    token = verify(api, asked["challenge_id"], sms_code(api, line["id"])).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/v1/me/lines", headers=bearer).status_code == 200
    receiver = receivers_line["person"]
    moved = api.client.post(
        f"/v1/lines/{line['id']}/transfers",
        json={"owner": line["person"], "receiver": receiver},
        headers=api.headers("clerk"),
    )
    assert moved.status_code == 201, moved.text
    listed = api.client.get("/v1/me/lines", headers=bearer)
    assert (listed.status_code, listed.json()["code"]) == (403, "REALNAME.BOUND_LINE_GONE")
    locked = api.client.post(f"/v1/me/lines/{receivers_line['id']}/lock", headers=bearer)
    assert locked.status_code == 403
    # nor the bound line itself through the older owner routes, even with the new owner's proof
    stale = api.client.post(
        f"/v1/lines/{line['id']}/lock", json={"owner": receiver}, headers=bearer
    )
    assert (stale.status_code, stale.json()["code"]) == (404, "REALNAME.LINE_NOT_FOUND")


def test_unknown_and_ownerless_numbers_get_the_same_answer(api: Api) -> None:
    line = registered_line(api)
    legacy_id, legacy = legacy_line(api)
    answers = []
    for number in (line["msisdn"], "+8613800999999", legacy, api.other_enterprise_numbers[0]):
        response = login(api, number)
        answers.append(
            (response.status_code, tuple(sorted(response.json())), response.json()["expires_in"])
        )
        if number != line["msisdn"]:
            wrong = verify(api, response.json()["challenge_id"], "000000")
            assert (wrong.status_code, wrong.json()["code"]) == (403, "REALNAME.CODE_NOT_ACCEPTED")
    assert len(set(answers)) == 1
    messages = (
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.kind == "otp.login", OutboxMessage.line_id == legacy_id)
    )
    assert count(api, messages) == 0  # an owner-less legacy line cannot log in: no code sent


def test_wrong_codes_void_a_login_code(api: Api) -> None:
    line = registered_line(api)
    asked = login(api, line["msisdn"]).json()
    code = sms_code(api, line["id"])
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        assert verify(api, asked["challenge_id"], wrong).status_code == 403
    assert verify(api, asked["challenge_id"], code).status_code == 403  # void now


def test_login_codes_are_limited_per_number_alike_known_or_not(api: Api) -> None:
    line = registered_line(api)
    for number in (line["msisdn"], "+8613800888888"):
        statuses = [login(api, number).status_code for _ in range(6)]
        assert statuses == [202] * 5 + [429], (number, statuses)


def test_a_busy_app_backend_does_not_hold_back_every_login(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Codes are limited per (app, user's address), not per calling address alone: one app
    backend calls for all its users, and one abuser used to exhaust the limit for everyone."""
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    rules = rt.policy.possession.model_copy(update={"otp_per_requester_per_hour": 3})
    monkeypatch.setattr(rt, "policy", rt.policy.model_copy(update={"possession": rules}))

    def ask(number: str, address: str) -> Any:
        return api.client.post(
            "/v1/subscriber/otp",
            json={"phone_number": number, "end_user_address": address},
            headers=api.headers("subscriber"),
        )

    abuser = [ask(f"+861380077{i:04d}", "198.51.100.9").status_code for i in range(4)]
    assert abuser == [202, 202, 202, 429]
    refused = ask("+8613800770009", "198.51.100.9")
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    line = registered_line(api)
    assert ask(line["msisdn"], "203.0.113.7").status_code == 202  # another user, same app
    bad = ask(line["msisdn"], "not-an-address")
    assert bad.status_code == 400


def test_twins_verifying_one_code_get_one_token(api: Api) -> None:
    line = registered_line(api)
    asked = login(api, line["msisdn"]).json()
    code = sms_code(api, line["id"])
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def run() -> None:
        barrier.wait()
        statuses.append(verify(api, asked["challenge_id"], code).status_code)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [200, 403, 403, 403]


def test_only_a_subscriber_app_asks_for_login_codes(api: Api) -> None:
    for who in ("clerk", "admin", "regulator", "relying_party"):
        response = api.client.post(
            "/v1/subscriber/otp", json={"phone_number": "+8613800138000"}, headers=api.headers(who)
        )
        assert response.status_code == 403, who


def test_an_otp_token_serves_the_self_service_routes(api: Api) -> None:
    """Helper `self`'s /v1/me routes take the line-bound OTP token like a network one."""
    line = registered_line(api)
    asked = login(api, line["msisdn"]).json()
    token = verify(api, asked["challenge_id"], sms_code(api, line["id"])).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    mine = api.client.get("/v1/me/lines", headers=bearer)
    assert mine.status_code == 200, mine.text
    assert line["id"] in [item["id"] for item in mine.json()]
    locked = api.client.post(f"/v1/me/lines/{line['id']}/lock", headers=bearer)
    assert locked.status_code == 200, locked.text


def test_concurrent_wrong_codes_compare_at_most_the_attempt_limit(api: Api) -> None:
    """Twenty clerks' requests with wrong codes for one challenge, all at once (one thread and
    transaction each): each attempt is counted, under the challenge row's lock, before its code
    is compared, and a refusal does not undo it, so exactly `otp_max_attempts` codes are
    compared, the rest are refused as spent, and the code is void afterwards."""
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    limit = rt.policy.possession.otp_max_attempts
    line_id, msisdn = legacy_line(api)
    asked = challenge(api, line_id)
    assert asked.status_code == 201, asked.text
    challenge_id = asked.json()["challenge_id"]
    code = sms_code(api, line_id)
    wrong = [f"{(int(code) + k) % 10**6:06d}" for k in range(1, 21)]
    failures = select(PossessionFailure.reason).where(PossessionFailure.line_id == line_id)
    barrier = threading.Barrier(len(wrong))
    answers: list[tuple[int, str]] = []

    def run(guess: str) -> None:
        barrier.wait()
        response = backfill(
            api, msisdn, {"method": "otp", "challenge_id": challenge_id, "code": guess}
        )
        answers.append((response.status_code, response.json()["code"]))

    threads = [threading.Thread(target=run, args=(guess,)) for guess in wrong]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(answers) == len(wrong)
    compared = answers.count((403, "REALNAME.POSSESSION_NOT_PROVEN"))
    spent = answers.count((403, "REALNAME.CHALLENGE_INVALID"))
    assert (compared, spent) == (limit, len(wrong) - limit), answers
    with rt.transaction() as session:
        attempts = session.scalar(
            select(PossessionChallenge.attempts).where(
                PossessionChallenge.public_id == challenge_id
            )
        )
        reasons = sorted(session.scalars(failures))
    assert attempts == limit
    # Every refused request is one failure for channel risk, counted once.
    assert reasons == sorted(["wrong_code"] * limit + ["challenge_spent"] * (len(wrong) - limit))
    # Void now: even the right code is refused, and the line is still legacy.
    right = backfill(api, msisdn, {"method": "otp", "challenge_id": challenge_id, "code": code})
    assert (right.status_code, right.json()["code"]) == (403, "REALNAME.CHALLENGE_INVALID")
    assert api.client.get(f"/v1/lines/{line_id}", headers=api.headers("clerk")).json()["state"] == (
        "legacy"
    )


def test_twins_with_the_right_code_backfill_once(api: Api) -> None:
    """Four requests with the right code at once: exactly one back-fills the line."""
    line_id, msisdn = legacy_line(api)
    challenge_id = challenge(api, line_id).json()["challenge_id"]
    code = sms_code(api, line_id)
    barrier = threading.Barrier(4)
    answers: list[int] = []

    def run() -> None:
        barrier.wait()
        claim = {"method": "otp", "challenge_id": challenge_id, "code": code}
        answers.append(backfill(api, msisdn, claim).status_code)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    # One back-fills the line; the others find the code used (403) or the line taken (409).
    assert answers.count(201) == 1 and set(answers) <= {201, 403, 409}, answers
