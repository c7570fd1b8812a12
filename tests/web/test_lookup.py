"""一证通查 as a page for the public (no staff login), on both engines: the national index is
fed from the world's registry, a person asks for a code with their document, name and number,
reads it from the SMS, sees their lines per enterprise masked, disputes one, and follows the
case by its reference; in Chinese by default and in English."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from realname.messaging.models import OutboxMessage
from realname.messaging.service import open_body
from realname.national.feeds.keys import PlatformKeys
from realname.national.feeds.repository import FeedRepository
from realname.national.feeds.service import FeedIngest, FeedPublisher, envelope_of
from realname.web.sessions import LANG_COOKIE
from tests.api.conftest import person_json
from tests.national.conftest import signing
from tests.web.conftest import Web, csrf_of

_SIGNERS: dict[int, Any] = {}  # CMCC's feed key, per world (app)


def _registered_and_fed(web: Web, person: int) -> str:
    """Person `person` gets a line at the own hall; enterprise CMCC then publishes its feed
    to the platform (this same instance), so the national index holds it."""
    api = web.api
    msisdn = api.number()
    done = api.client.post(
        "/v1/registrations",
        json={"msisdn": msisdn, "customer": person_json(api.people[person])},
        headers=api.headers("clerk"),
    )
    assert done.status_code == 201, done.text
    app = api.client.app
    rt = app.state.runtime  # type: ignore[attr-defined]
    keys = rt.provided(PlatformKeys)
    now = rt.clock.now()
    signer = _SIGNERS.get(id(app))
    if signer is None:  # the world's first feed: its key is registered once
        signer = _SIGNERS[id(app)] = signing("CMCC")
        with rt.transaction() as session:
            FeedIngest(session, keys).register_key("CMCC", signer.key_id, signer.public_raw, now)
    with rt.transaction() as session:
        publisher = FeedPublisher(
            session, keyring=rt.keyring, signing=signer, sealing=keys.public, batch_size=1000
        )
        high = FeedRepository(session).high_water_mark()
        envelopes = [envelope_of(p) for p in publisher.prepare(high, now, snapshot=True)]
    with rt.transaction() as session:
        for envelope in envelopes:
            FeedIngest(session, keys).take(envelope, at=now, transport="local")
    return msisdn


def _code_sent_to(web: Web, msisdn: str) -> str:
    rt = web.api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.transaction(readonly=True) as session:
        body = session.scalars(
            select(OutboxMessage.body)
            .where(OutboxMessage.destination == msisdn, OutboxMessage.kind == "national_lookup")
            .order_by(OutboxMessage.id.desc())
        ).first()
    assert body is not None
    found = re.search(r"[0-9]{6}", open_body(rt.keyring, body))
    assert found is not None
    return found.group()


def test_a_person_sees_their_lines_masked_and_disputes_one_without_a_staff_login(
    web: Web,
) -> None:
    msisdn = _registered_and_fed(web, 9)
    person = web.api.people[9]
    browser = web.browser()  # nobody signed in
    page = browser.get("/web/lookup")
    assert page.status_code == 200 and "一证通查" in page.text
    csrf = csrf_of(page.text)
    asked = browser.post(
        "/web/lookup/code",
        data={
            "csrf_token": csrf,
            "document_type": "resident_id",
            "document_number": person.document_number,
            "name": person.name,
            "msisdn": msisdn,
        },
    )
    assert asked.status_code == 202, asked.text
    challenge = re.search(r'name="challenge_id" value="([^"]+)"', asked.text)
    assert challenge is not None
    code = _code_sent_to(web, msisdn)
    wrong = browser.post(
        "/web/lookup/answer",
        data={"csrf_token": csrf, "challenge_id": challenge.group(1), "code": "000000"},
    )
    assert wrong.status_code == 422 and 'id="lookup-error"' in wrong.text
    shown = browser.post(
        "/web/lookup/answer",
        data={"csrf_token": csrf, "challenge_id": challenge.group(1), "code": code},
    )
    assert shown.status_code == 200, shown.text
    assert msisdn not in shown.text and person.document_number not in shown.text
    assert msisdn[-4:] in shown.text and "中国移动" in shown.text  # masked, per enterprise
    assert 'data-state="active">正常在用</td>' in shown.text  # the state in words, not its code
    line_ref = re.search(r'name="line_ref" value="(\d+)"', shown.text)
    assert line_ref is not None
    disputed = browser.post(
        "/web/lookup/dispute",
        data={
            "csrf_token": csrf,
            "challenge_id": challenge.group(1),
            "line_ref": line_ref.group(1),
        },
    )
    assert disputed.status_code == 201, disputed.text
    reference = re.search(r'<dd id="case-reference">([A-Za-z]+)</dd>', disputed.text)
    assert reference is not None
    browser.cookies.set(LANG_COOKIE, "en")
    followed = browser.post(
        "/web/lookup/follow", data={"csrf_token": csrf, "reference": reference.group(1)}
    )
    assert followed.status_code == 200 and "Your dispute" in followed.text
    assert msisdn not in followed.text
    unknown = browser.post("/web/lookup/follow", data={"csrf_token": csrf, "reference": "../x"})
    assert unknown.status_code == 404 and "No dispute has that reference" in unknown.text
    forged = browser.post("/web/lookup/follow", data={"csrf_token": "forged", "reference": "abc"})
    assert forged.status_code == 403


@pytest.mark.parametrize("line_ref", ["²", "١٢", "12a", "9" * 16])
def test_a_line_reference_that_is_no_number_is_the_forms_refusal_not_a_500(
    web: Web, line_ref: str
) -> None:
    """'²'.isdigit() is True and int('²') raises: the page answered 500."""
    browser = web.browser()
    csrf = csrf_of(browser.get("/web/lookup").text)
    answer = browser.post(
        "/web/lookup/dispute",
        data={"csrf_token": csrf, "challenge_id": "NoSuchChallengeAtAllXX", "line_ref": line_ref},
    )
    assert answer.status_code == 422 and 'id="lookup-error"' in answer.text


def _disputed_by_api(web: Web, person: int) -> tuple[str, str]:
    """Person `person` gets a line, finds it by 一证通查 (the public JSON routes) and disputes
    it: its number and the case's reference."""
    msisdn = _registered_and_fed(web, person)
    who = web.api.people[person]
    client = web.api.client
    asked = client.post(
        "/v1/national/lookup/codes",
        json={
            "document_type": "resident_id",
            "document_number": who.document_number,
            "name": who.name,
            "msisdn": msisdn,
        },
    )
    assert asked.status_code == 202, asked.text
    challenge = asked.json()["challenge_id"]
    answer = client.post(
        "/v1/national/lookup/answers",
        json={"challenge_id": challenge, "code": _code_sent_to(web, msisdn)},
    )
    assert answer.status_code == 200, answer.text
    line_ref = next(
        line["line_ref"]
        for enterprise in answer.json()["enterprises"]
        for line in enterprise["lines"]
        if line["msisdn_masked"][-4:] == msisdn[-4:]
    )
    disputed = client.post(
        "/v1/national/lookup/disputes", json={"challenge_id": challenge, "line_ref": line_ref}
    )
    assert disputed.status_code == 201, disputed.text
    # the case's complaint id and where it is handled are the enterprise's, not the caller's
    assert not {"complaint_id", "forwarded"} & set(disputed.json())
    return msisdn, str(disputed.json()["reference"])


def test_the_console_lists_the_disputes_of_its_lines_with_deadlines_and_status(web: Web) -> None:
    msisdn, reference = _disputed_by_api(web, 5)
    admin = web.signed_in("admin")
    console = admin.get("/web/console")
    assert 'href="/web/console/disputes"' in console.text  # linked from the console
    page = admin.get("/web/console/disputes")
    assert page.status_code == 200, page.text
    row = page.text.split(f'data-reference="{reference}"', 1)[1].split("</tr>", 1)[0]
    assert msisdn not in page.text and msisdn[-4:] in row  # masked
    # a complaint case here, acted on at once ("not mine" suspends the line for a check)
    # the outcome in the page's words, not its code
    assert "已处理" in row and "本平台投诉工单" in row and "号码已标记为有争议" in row
    assert "line_disputed" not in row
    # The deadline is the dispute's: the policy's days after it was opened.
    api = web.api.client.get("/v1/national/disputes", headers=web.api.headers("admin")).json()
    mine = next(d for d in api if d["reference"] == reference)
    assert mine["status"] == "acted" and not mine["forwarded"] and not mine["overdue"]
    assert "history" not in mine  # the subscriber's steps are followed by the reference
    from realname.web.i18n import Translator

    assert Translator("zh-CN").instant(mine["due_at"]) in row
    # Another enterprise sees none of it; a clerk has no such page; the regulator sees all.
    other = web.signed_in("other_admin").get("/web/console/disputes")
    assert other.status_code == 200 and reference not in other.text
    assert web.signed_in("clerk").get("/web/console/disputes").status_code == 403
    everyone = web.api.client.get("/v1/national/disputes", headers=web.api.headers("regulator"))
    assert reference in {d["reference"] for d in everyone.json()}
    # Closed, it leaves the list unless asked for.
    closed = web.api.client.post(
        f"/v1/complaints/{mine['complaint_id']}/close",
        json={"outcome": "line_cancelled"},
        headers=web.api.headers("complaint_centre"),
    )
    assert closed.status_code == 200, closed.text
    assert f'data-reference="{reference}"' not in admin.get("/web/console/disputes").text
    with_closed = admin.get("/web/console/disputes", params={"closed": "1"}).text
    row = with_closed.split(f'data-reference="{reference}"', 1)[1].split("</tr>", 1)[0]
    assert "已办结" in row and "号码已标记为有争议；号码已注销" in row
    # a closing code with no words here is shown as the enterprise sent it
    from realname.web.i18n import Translator

    assert Translator("en").outcome("line_disputed,refunded") == "line marked as disputed; refunded"
