"""The CAMARA verification APIs over HTTP: answers, identifier rules, consent, scopes, and the
limits that keep them from being an oracle."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import select

from realname.security.models import AuditLog
from tests.api.conftest import person_json
from tests.verification.camara_schemas import assert_matches
from tests.verification.conftest import Camara

MATCH = "/kyc-match/v0.4/match"
SWAP_DATE, SWAP_CHECK = "/sim-swap/v2/retrieve-date", "/sim-swap/v2/check"
AGE, TENURE = "/kyc-age-verification/v0.2/verify", "/kyc-tenure/v0.2/check-tenure"
NUMBER, SHARE = "/number-verification/v2/verify", "/number-verification/v2/device-phone-number"


def _customer(camara: Camara, name: str = "customer") -> tuple[str, str, str]:
    """(msisdn, document number, name) of a registered line's owner."""
    line = camara.lines[name]
    person = camara.api.people[5 if name == "customer" else 6]
    return str(line["msisdn"]), person.document_number, person.name


def test_kyc_match_answers_each_attribute_sent(camara: Camara) -> None:
    msisdn, document, name = camara.fresh(8)
    response = camara.post(
        MATCH,
        {
            "phoneNumber": msisdn,
            "idDocument": document,
            "name": name,
            "gender": "OTHER",
            "email": "someone@example.com",
        },
        **{"x-correlator": "kyc-1"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-correlator"] == "kyc-1"
    body = response.json()
    assert_matches("KYC_MatchResponse", body)
    assert body == {
        "idDocumentMatch": "true",
        "nameMatch": "true",
        "genderMatch": "false",
        "emailMatch": "not_available",
    }


def test_kyc_match_scores_a_wrong_name_but_never_a_wrong_date(camara: Camara) -> None:
    msisdn, document, name = camara.fresh(8)
    response = camara.post(
        MATCH,
        {
            "phoneNumber": msisdn,
            "idDocument": document,
            "name": name[0] + "某",
            "birthdate": "1900-01-01",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert_matches("KYC_MatchResponse", body)
    assert body["nameMatch"] == "false" and 0 <= body["nameMatchScore"] <= 99
    assert body["birthdateMatch"] == "false" and "birthdateMatchScore" not in body


def test_the_policy_requires_the_document_and_a_wrong_one_reveals_nothing(camara: Camara) -> None:
    msisdn, _document, name = camara.fresh(9)
    missing = camara.post(MATCH, {"phoneNumber": msisdn, "name": name})
    assert (missing.status_code, missing.json()["code"]) == (
        403,
        "KNOW_YOUR_CUSTOMER.ID_DOCUMENT_REQUIRED",
    )
    wrong = camara.post(
        MATCH, {"phoneNumber": msisdn, "idDocument": "110105194912310037", "name": name}
    )
    assert (wrong.status_code, wrong.json()["code"]) == (
        403,
        "KNOW_YOUR_CUSTOMER.ID_DOCUMENT_MISMATCH",
    )
    assert "nameMatch" not in wrong.text
    nothing = camara.post(MATCH, {"phoneNumber": msisdn})
    assert nothing.json()["code"] == "KNOW_YOUR_CUSTOMER.INVALID_PARAM_COMBINATION"


def test_identifier_rules(camara: Camara) -> None:
    msisdn, document, _ = _customer(camara)
    missing = camara.post(SWAP_CHECK, {"maxAge": 24})
    assert (missing.status_code, missing.json()["code"]) == (422, "MISSING_IDENTIFIER")
    unknown = camara.post(SWAP_CHECK, {"phoneNumber": "+8613800199999"})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "IDENTIFIER_NOT_FOUND")
    national = camara.post(SWAP_CHECK, {"phoneNumber": msisdn.removeprefix("+86")})
    assert (national.status_code, national.json()["code"]) == (400, "INVALID_ARGUMENT")
    device = camara.device_token("bank", "customer")
    headers = {"Authorization": f"Bearer {device}"}
    three_legged = camara.api.client.post(SWAP_CHECK, json={"maxAge": 24}, headers=headers)
    assert three_legged.status_code == 200, three_legged.text
    repeated = camara.api.client.post(SWAP_CHECK, json={"phoneNumber": msisdn}, headers=headers)
    assert (repeated.status_code, repeated.json()["code"]) == (422, "UNNECESSARY_IDENTIFIER")
    other_msisdn = str(camara.lines["second"]["msisdn"])
    mismatch = camara.api.client.post(
        MATCH, json={"phoneNumber": other_msisdn, "idDocument": document}, headers=headers
    )
    assert (mismatch.status_code, mismatch.json()["code"]) == (403, "INVALID_TOKEN_CONTEXT")


def test_a_line_not_active_is_not_applicable(camara: Camara) -> None:
    api = camara.api
    person = api.people[7]
    line = api.client.post(
        "/v1/registrations",
        json={
            "msisdn": api.number(),
            "customer": {
                "document": {"number": person.document_number},
                "name": person.name,
                "face_score": 0.95,
                "entry_method": "chip_read",
            },
        },
        headers=api.headers("clerk"),
    ).json()
    assert (
        api.client.post(
            f"/v1/lines/{line['id']}/suspend",
            json={"reason": "enforcement"},
            headers=api.headers("admin"),
        ).status_code
        == 200
    )
    response = camara.post(SWAP_CHECK, {"phoneNumber": line["msisdn"]})
    assert (response.status_code, response.json()["code"]) == (422, "SERVICE_NOT_APPLICABLE")


def test_consent_scope_and_registration_gate_every_call(camara: Camara) -> None:
    msisdn, document, _ = _customer(camara)
    body = {"phoneNumber": msisdn, "idDocument": document}
    no_consent = camara.post(MATCH, body, who="other_bank")
    assert (no_consent.status_code, no_consent.json()["code"]) == (403, "PERMISSION_DENIED")
    # SIM Swap rests on the legal basis (fraud prevention), not on consent.
    assert camara.post(SWAP_CHECK, {"phoneNumber": msisdn}, who="other_bank").status_code == 200
    not_its_api = camara.post(MATCH, body, who="wallet")
    assert (not_its_api.status_code, not_its_api.json()["code"]) == (403, "PERMISSION_DENIED")
    for role in ("admin", "clerk", "relying_party"):  # operators, and a client with no record
        response = camara.api.client.post(MATCH, json=body, headers=camara.api.headers(role))
        assert response.status_code == 403, (role, response.text)


def test_revoked_consent_stops_the_checks(camara: Camara) -> None:
    msisdn, _, _ = _customer(camara, "second")
    assert (
        camara.post(
            TENURE, {"phoneNumber": msisdn, "tenureDate": camara.api.clock.now().date().isoformat()}
        ).status_code
        == 200
    )
    revoke = camara.api.client.post(
        f"/v1/consents/{camara.lines['second']['consent_id']}/revoke",
        headers=camara.api.headers("admin"),
    )
    assert revoke.status_code == 200, revoke.text
    after = camara.post(
        TENURE, {"phoneNumber": msisdn, "tenureDate": camara.api.clock.now().date().isoformat()}
    )
    assert (after.status_code, after.json()["code"]) == (403, "PERMISSION_DENIED")


def test_sim_swap_sees_the_registration_as_the_latest_change(camara: Camara) -> None:
    msisdn, _, _ = _customer(camara)
    recent = camara.post(SWAP_CHECK, {"phoneNumber": msisdn, "maxAge": 1})
    assert recent.status_code == 200 and recent.json() == {"swapped": True}
    assert_matches("CheckSimSwapInfo", recent.json())
    default = camara.post(SWAP_CHECK, {"phoneNumber": msisdn})
    assert default.json() == {"swapped": True}  # maxAge defaults to 240 hours
    when = camara.post(SWAP_DATE, {"phoneNumber": msisdn})
    assert when.status_code == 200, when.text
    assert_matches("SimSwapInfo", when.json())
    latest = datetime.fromisoformat(when.json()["latestSimChange"].replace("Z", "+00:00"))
    assert camara.api.clock.now() - latest < timedelta(minutes=10)
    too_far = camara.post(SWAP_CHECK, {"phoneNumber": msisdn, "maxAge": 2401})
    assert (too_far.status_code, too_far.json()["code"]) == (400, "OUT_OF_RANGE")


def test_age_and_tenure(camara: Camara) -> None:
    msisdn, _, _ = _customer(camara)
    adult = camara.post(AGE, {"phoneNumber": msisdn, "ageThreshold": 18})
    assert adult.status_code == 200, adult.text
    assert_matches("VerifyResponseBody", adult.json())
    assert adult.json() == {"ageCheck": "true", "verifiedStatus": True}
    assert (
        camara.post(AGE, {"phoneNumber": msisdn, "ageThreshold": 120}).json()["ageCheck"] == "false"
    )
    assert camara.post(AGE, {"phoneNumber": msisdn, "ageThreshold": 121}).status_code == 400
    today = camara.post(
        TENURE, {"phoneNumber": msisdn, "tenureDate": camara.api.clock.now().date().isoformat()}
    )
    assert today.json() == {"tenureDateCheck": True}
    assert_matches("TenureInfo", today.json())
    long_ago = camara.post(TENURE, {"phoneNumber": msisdn, "tenureDate": "2000-01-01"})
    assert long_ago.json() == {"tenureDateCheck": False}
    future = (camara.api.clock.now().date() + timedelta(days=2)).isoformat()
    ahead = camara.post(TENURE, {"phoneNumber": msisdn, "tenureDate": future})
    assert (ahead.status_code, ahead.json()["code"]) == (400, "OUT_OF_RANGE")


def test_number_verification_needs_the_network_token(camara: Camara) -> None:
    msisdn, _, _ = _customer(camara)
    device = {"Authorization": f"Bearer {camara.device_token('bank', 'customer')}"}
    client = camara.api.client
    plain = client.post(NUMBER, json={"phoneNumber": msisdn}, headers=device)
    assert plain.json() == {"devicePhoneNumberVerified": True}
    assert_matches("NumberVerificationMatchResponse", plain.json())
    hashed = hashlib.sha256(msisdn.encode()).hexdigest().upper()
    assert client.post(NUMBER, json={"hashedPhoneNumber": hashed}, headers=device).json() == {
        "devicePhoneNumberVerified": True
    }
    other = str(camara.lines["second"]["msisdn"])
    assert client.post(NUMBER, json={"phoneNumber": other}, headers=device).json() == {
        "devicePhoneNumberVerified": False
    }
    both = client.post(
        NUMBER, json={"phoneNumber": msisdn, "hashedPhoneNumber": hashed}, headers=device
    )
    assert both.status_code == 400
    assert client.get(SHARE, headers=device).json() == {"devicePhoneNumber": msisdn}
    two_legged = camara.post(NUMBER, {"phoneNumber": msisdn})
    assert (two_legged.status_code, two_legged.json()["code"]) == (
        403,
        "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK",
    )


def test_guessing_birth_dates_or_documents_is_cut_off(camara: Camara) -> None:
    """With the right document a bank may ask about the name and birth date; three wrong
    answers about one number in a day and even the right question is refused."""
    msisdn, document, _ = camara.fresh(9)
    guesses = [(date(1950, 1, 1) + timedelta(days=n)).isoformat() for n in range(30)]
    statuses = []
    for guess in guesses:
        response = camara.post(
            MATCH, {"phoneNumber": msisdn, "idDocument": document, "birthdate": guess}
        )
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert response.json()["code"] == "QUOTA_EXCEEDED"
            assert int(response.headers["retry-after"]) > 0
            break
    assert statuses == [200, 200, 200, 429], statuses
    right = camara.post(MATCH, {"phoneNumber": msisdn, "idDocument": document})
    assert right.status_code == 429


def test_guessing_document_numbers_is_cut_off(camara: Camara) -> None:
    msisdn, document, _ = camara.fresh(9)
    base = document[:-4]
    codes = []
    for n in range(10):
        response = camara.post(MATCH, {"phoneNumber": msisdn, "idDocument": f"{base}{n:03d}X"})
        codes.append(response.json()["code"] if response.status_code != 200 else "ok")
    assert codes[:3] == ["KNOW_YOUR_CUSTOMER.ID_DOCUMENT_MISMATCH"] * 3, codes
    assert set(codes[3:]) == {"QUOTA_EXCEEDED"}, codes


def test_every_answer_is_audited_without_pii(camara: Camara) -> None:
    msisdn, document, name = _customer(camara)
    rt = camara.api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.transaction() as session:
        entries = session.scalars(select(AuditLog).where(AuditLog.action.like("verify.%"))).all()
    actions = {e.action for e in entries}
    assert {"verify.kyc-match", "verify.sim-swap", "verify.kyc-tenure"} <= actions
    text = " ".join(str(e.detail) for e in entries)
    assert msisdn not in text and document not in text and name not in text


def test_sim_swap_beyond_the_monitored_period(camara: Camara) -> None:
    """A policy that watches 48 hours: older changes read as null, longer maxAge is refused."""
    import pytest

    from realname.security.principals import Principal, Role
    from realname.verification.errors import VerificationError
    from realname.verification.service import VerificationService
    from tests.verification.conftest import _client_of

    msisdn, _, _ = _customer(camara)
    rt = camara.api.client.app.state.runtime  # type: ignore[attr-defined]
    policy = rt.policy.model_copy(update={"sim_swap_monitored_hours": 48})
    bank = Principal(
        client_id=_client_of("bank", camara.tokens["bank"]),
        role=Role.RELYING_PARTY,
        scopes=frozenset({"sim-swap"}),
    )
    later = camara.api.clock.now() + timedelta(days=3)
    with rt.transaction() as session:
        service = VerificationService(session, policy=policy, keyring=rt.keyring)
        answer = service.sim_swap_date(bank, later, msisdn)
        assert answer == {"latestSimChange": None, "monitoredPeriod": 2}
        assert_matches("SimSwapInfo", answer)
        assert service.sim_swap_check(bank, later, msisdn, 48) == {"swapped": False}
        with pytest.raises(VerificationError) as refused:
            service.sim_swap_check(bank, later, msisdn, 49)
        assert (refused.value.http_status, str(refused.value.code)) == (400, "OUT_OF_RANGE")


def test_revoking_a_consent_that_is_not_yours_or_not_there_is_404(camara: Camara) -> None:
    consent_id = camara.lines["customer"]["consent_id"]
    for who, path in (
        ("other_admin", f"/v1/consents/{consent_id}/revoke"),
        ("admin", "/v1/consents/999999/revoke"),
    ):
        response = camara.api.client.post(path, headers=camara.api.headers(who))
        assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND"), who


def test_tenure_names_a_back_filled_prepaid_line_payg(camara: Camara) -> None:
    from sqlalchemy import select

    from realname.registry.models import Line

    msisdn, _, _ = camara.fresh(3)
    rt = camara.api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.transaction() as session:  # as `realname import legacy` leaves a prepaid line
        session.scalars(select(Line).where(Line.msisdn == msisdn)).one().prepaid_balance_minor = 0
    answer = camara.post(TENURE, {"phoneNumber": msisdn, "tenureDate": "2000-01-01"})
    assert answer.json() == {"tenureDateCheck": False, "contractType": "PAYG"}
    assert_matches("TenureInfo", answer.json())


# --- no registration oracle (issue 11, part 6) -------------------------------------------------


def _prober(camara: Camara, name: str, apis: list[str]) -> dict[str, str]:
    """A relying party of its own (its own daily budget), with no consent from anyone."""
    from realname.verification.service import register_relying_party
    from tests.api.conftest import token_for

    rt = camara.api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.transaction() as session:
        party, secret = register_relying_party(
            session, rt.keyring, name=name, purpose="probing", apis=apis, at=camara.api.clock.now()
        )
        client_id = party.client_id
    return {"Authorization": f"Bearer {token_for(camara.api.client, client_id, secret)}"}


def _statements(camara: Camara, call: object) -> tuple[object, int]:
    """The response of `call()` and how many SQL statements answering it took (the audit
    sequencer's, which chains entries in its own thread whenever it wakes, are not the
    answer's)."""
    import threading

    from sqlalchemy import event

    from realname.security.audit_sequencer import SEQUENCER_THREAD

    engine = camara.api.client.app.state.runtime.engine  # type: ignore[attr-defined]
    seen: list[str] = []

    def count(*args: object) -> None:
        if threading.current_thread().name != SEQUENCER_THREAD:
            seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        response = call()  # type: ignore[operator]
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return response, len(seen)


def test_without_consent_a_registered_number_answers_like_an_unregistered_one(
    camara: Camara,
) -> None:
    api = camara.api
    registered, document, _ = _customer(camara)  # consented to "bank" only
    stocked = api.number()  # a kit in stock: a line, but no owner
    suspended = api.client.post(
        "/v1/registrations",
        json={"msisdn": api.number(), "customer": person_json(api.people[9])},
        headers=api.headers("clerk"),
    ).json()
    assert (
        api.client.post(
            f"/v1/lines/{suspended['id']}/suspend",
            json={"reason": "enforcement"},
            headers=api.headers("admin"),
        ).status_code
        == 200
    )
    headers = _prober(camara, "prober-1", ["kyc-match", "kyc-age-verification", "kyc-tenure"])
    bodies = {
        MATCH: {"idDocument": document},
        AGE: {"ageThreshold": 18},
        TENURE: {"tenureDate": "2020-01-01"},
    }
    # Warm the per-worker cache of the client's status (one look-up per token, whatever the
    # number), so the counts below compare only the work each number costs.
    api.client.post(MATCH, json={"phoneNumber": registered, **bodies[MATCH]}, headers=headers)
    for path, extra in bodies.items():
        answers = {}
        costs = {}
        for kind, number in (
            ("unregistered", "+8613800199998"),
            ("registered", registered),
            ("stocked", stocked),
            ("suspended", suspended["msisdn"]),
        ):
            call = partial(
                api.client.post, path, json={"phoneNumber": number, **extra}, headers=headers
            )
            response, cost = _statements(camara, call)
            answers[kind] = (response.status_code, response.json())  # type: ignore[attr-defined]
            costs[kind] = cost
        assert answers["unregistered"][0] == 403, answers
        assert answers["unregistered"][1]["code"] == "PERMISSION_DENIED"
        assert all(answer == answers["unregistered"] for answer in answers.values()), answers
        # The same work on every path (no query more for a registered number), so the
        # answer's timing says nothing either.
        assert len(set(costs.values())) == 1, costs


def test_probes_spend_the_clients_budget_until_429(
    camara: Camara, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = camara.api.client.app.state.runtime  # type: ignore[attr-defined]
    rules = rt.policy.verification.model_copy(update={"unanswered_per_client_per_day": 6})
    monkeypatch.setattr(rt, "policy", rt.policy.model_copy(update={"verification": rules}))
    registered, document, _ = _customer(camara)
    kyc = _prober(camara, "prober-2", ["kyc-match", "sim-swap"])
    for i in range(3):  # no consent, registered or not: counted
        number = registered if i == 0 else f"+86138001997{i:02d}"
        response = camara.api.client.post(
            MATCH, json={"phoneNumber": number, "idDocument": document}, headers=kyc
        )
        assert response.status_code == 403, response.text
    for i in range(3):  # SIM Swap rests on a legal basis: it may say 404, but it counts too
        response = camara.api.client.post(
            SWAP_CHECK, json={"phoneNumber": f"+86138001996{i:02d}"}, headers=kyc
        )
        assert (response.status_code, response.json()["code"]) == (404, "IDENTIFIER_NOT_FOUND")
    for path, body in (
        (MATCH, {"phoneNumber": "+8613800199500", "idDocument": document}),
        (SWAP_CHECK, {"phoneNumber": registered}),  # a real answer is cut off as well
    ):
        response = camara.api.client.post(path, json=body, headers=kyc)
        assert (response.status_code, response.json()["code"]) == (429, "QUOTA_EXCEEDED")
        assert int(response.headers["Retry-After"]) >= 1
    # Another client's budget is its own.
    assert camara.post(SWAP_CHECK, {"phoneNumber": registered}, who="other_bank").status_code == 200


def _error(response: object, status: int, code: str) -> str:
    body = response.json()  # type: ignore[attr-defined]
    assert response.status_code == status, body  # type: ignore[attr-defined]
    assert set(body) == {"status", "code", "message"} and body["status"] == status, body
    assert body["code"] == code, body
    assert_matches("ErrorInfo", body)
    return str(body["message"])


def test_values_past_a_fields_range_are_out_of_range(camara: Camara) -> None:
    """CAMARA: a value outside the schema's minimum/maximum is 400 OUT_OF_RANGE."""
    msisdn, _, _ = _customer(camara)
    for body in ({"phoneNumber": msisdn, "maxAge": 2401}, {"phoneNumber": msisdn, "maxAge": 0}):
        assert "maxAge" in _error(camara.post(SWAP_CHECK, body), 400, "OUT_OF_RANGE")
    for threshold in (121, -1):
        body = {"phoneNumber": msisdn, "ageThreshold": threshold}
        assert "ageThreshold" in _error(camara.post(AGE, body), 400, "OUT_OF_RANGE")
    # Wrong types are not ranges: INVALID_ARGUMENT, strictly (no "24" for 24, no true for 1).
    for wrong in ("24", True, 2.5, None):
        body = {"phoneNumber": msisdn, "maxAge": wrong}
        _error(camara.post(SWAP_CHECK, body), 400, "INVALID_ARGUMENT")
    for wrong in ("18", True):
        body = {"phoneNumber": msisdn, "ageThreshold": wrong}
        _error(camara.post(AGE, body), 400, "INVALID_ARGUMENT")
    flag = {"phoneNumber": msisdn, "ageThreshold": 18, "includeContentLock": "true"}
    _error(camara.post(AGE, flag), 400, "INVALID_ARGUMENT")
    assert camara.post(SWAP_CHECK, {"phoneNumber": msisdn, "maxAge": 24.0}).status_code == 200


def test_kyc_match_needs_at_least_one_property(camara: Camara) -> None:
    """The KYC Match body declares minProperties: 1."""
    _error(camara.post(MATCH, {}), 400, "INVALID_ARGUMENT")


def test_age_verification_answers_what_it_was_asked(camara: Camara) -> None:
    """includeContentLock / includeParentalControl: "not_available" (nothing here knows),
    not a silently missing field; not asked, not answered."""
    msisdn, _, _ = _customer(camara)
    both = {"phoneNumber": msisdn, "ageThreshold": 18}
    asked = camara.post(AGE, both | {"includeContentLock": True, "includeParentalControl": True})
    assert asked.status_code == 200, asked.text
    assert_matches("VerifyResponseBody", asked.json())
    assert asked.json()["contentLock"] == asked.json()["parentalControl"] == "not_available"
    one = camara.post(AGE, both | {"includeParentalControl": True}).json()
    assert one["parentalControl"] == "not_available" and "contentLock" not in one
    plain = camara.post(AGE, both).json()
    assert "contentLock" not in plain and "parentalControl" not in plain
