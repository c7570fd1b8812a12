"""The pages through a browser-like client (FastAPI TestClient on https), on both engines:
sign-in, CSRF, idle timeout, sign-out, role refusals, masking and the audited reveal, the
locale switch, and a registration refused in one line."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from realname.web.sessions import (
    CSRF_COOKIE,
    IDLE_TIMEOUT,
    LANG_COOKIE,
    LIFETIME,
    PURGE_AFTER,
    SESSION_COOKIE,
)
from tests.api.conftest import token_for
from tests.web.conftest import PASSWORD, Web, csrf_of, form_id_of


def _card(web: Web, index: int) -> str:
    """The own hall's card reader reads person `index`'s card: the read's id, for the form."""
    person = web.api.people[index]
    response = web.api.client.post(
        "/v1/card-reads",
        json={
            "document": {"type": "resident_id", "number": person.document_number},
            "name": person.name,
        },
        headers=web.api.headers("card_reader"),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_a_page_without_a_session_sends_to_the_login(web: Web) -> None:
    browser = web.browser()
    assert browser.get("/web/desk").headers["location"] == "/web/login"
    assert browser.get("/").headers["location"] == "/web/"


def test_login_sets_a_secure_httponly_strict_cookie_and_a_wrong_password_is_refused(
    web: Web,
) -> None:
    browser = web.browser()
    page = browser.get("/web/login")
    assert page.status_code == 200 and 'lang="zh-CN"' in page.text
    csrf = csrf_of(page.text)
    wrong = browser.post(
        "/web/login", data={"username": "clerk", "password": "nope-nope-nope", "csrf_token": csrf}
    )
    assert wrong.status_code == 401 and "用户名或密码不正确" in wrong.text
    right = browser.post(
        "/web/login", data={"username": "clerk", "password": PASSWORD, "csrf_token": csrf}
    )
    assert right.status_code == 303
    cookie = next(
        h for h in right.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "=")
    )
    assert "Secure" in cookie and "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert browser.get("/web/").headers["location"] == "/web/desk"
    assert browser.get("/web/desk").status_code == 200


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(web: Web) -> None:
    login = web.browser()
    login.get("/web/login")
    refused = login.post(
        "/web/login", data={"username": "clerk", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert refused.status_code == 403 and SESSION_COOKIE not in refused.cookies
    clerk = web.signed_in("clerk")
    number = web.api.number()
    response = clerk.post(
        "/web/desk/register",
        data={
            "csrf_token": "forged",
            "card_read_id": _card(web, 0),
            "face_score": "0.95",
            "msisdn": number,
        },
    )
    assert response.status_code == 403 and "安全校验" in response.text
    looked = web.api.client.post(
        "/v1/lines/lookup", json={"msisdn": number}, headers=web.api.headers("admin")
    )
    assert looked.json()["state"] == "stocked"  # not registered
    web.api.free_numbers.append(number)


def test_an_idle_session_ends_and_logout_ends_it_too(web: Web) -> None:
    clerk = web.signed_in("clerk")
    assert clerk.get("/web/desk").status_code == 200
    web.api.clock.advance(IDLE_TIMEOUT + timedelta(seconds=1))
    try:
        gone = clerk.get("/web/desk")
        assert gone.status_code == 303 and gone.headers["location"] == "/web/login?expired=1"
        # once ended it stays ended, even if used again at once
        web.api.clock.advance(-IDLE_TIMEOUT)
        assert clerk.get("/web/desk").status_code == 303
    finally:
        web.api.clock.advance(timedelta(seconds=-1))
    admin = web.signed_in("admin")
    csrf = csrf_of(admin.get("/web/console").text)
    assert admin.post("/web/logout", data={"csrf_token": csrf}).status_code == 303
    assert admin.get("/web/console").status_code == 303


def test_each_page_refuses_the_other_roles(web: Web) -> None:
    clerk, admin, regulator = (web.signed_in(w) for w in ("clerk", "admin", "regulator"))
    assert clerk.get("/web/dashboard").status_code == 403
    assert clerk.get("/web/console").status_code == 403
    assert admin.get("/web/dashboard").status_code == 403
    assert admin.get("/web/desk").status_code == 403
    assert regulator.get("/web/desk").status_code == 403
    assert regulator.get("/web/dashboard").status_code == 200
    assert admin.get("/web/console").status_code == 200
    # an inspector has no page: refused everywhere, and the API refuses the escalation too
    inspector = web.signed_in("regulator_inspector")
    page = inspector.get("/web/dashboard")
    assert page.status_code == 403
    csrf = csrf_of(page.text)
    escalation = inspector.post(
        "/web/dashboard/escalate",
        data={
            "csrf_token": csrf,
            "enterprise_id": str(web.api.enterprise_id),
            "kind": "notice",
            "evidence_kind": "document",
            "evidence_ref": "DOC-1",
        },
    )
    assert escalation.status_code == 403


def test_registration_at_the_desk_then_masked_in_the_console_and_revealed_with_a_purpose(
    web: Web,
) -> None:
    clerk = web.signed_in("clerk")
    number = web.api.number()
    desk = clerk.get("/web/desk", params={"ending": number[-4:]})
    assert number in desk.text  # the kit is offered from this channel's stock
    person = web.api.people[1]
    done = clerk.post(
        "/web/desk/register",
        data={
            "csrf_token": csrf_of(desk.text),
            "card_read_id": _card(web, 1),
            "face_score": "0.95",
            "msisdn": number,
        },
    )
    assert done.status_code == 201, done.text
    assert person.document_number not in done.text and person.name not in done.text
    admin = web.signed_in("admin")
    console = admin.get("/web/console")
    found = admin.post(
        "/web/lines/lookup", data={"csrf_token": csrf_of(console.text), "msisdn": number}
    )
    assert found.status_code == 303
    line = admin.get(found.headers["location"])
    assert 'data-state="active">正常在用</dd>' in line.text
    assert person.document_number not in line.text and person.name not in line.text
    assert person.document_number[:6] in line.text  # masked: 110105********002X
    revealed = admin.post(
        found.headers["location"] + "/reveal",
        data={"csrf_token": csrf_of(line.text), "purpose": "fraud case 12"},
    )
    assert revealed.status_code == 200 and person.document_number in revealed.text
    audit = web.api.client.post(
        found.headers["location"].replace("/web", "/v1") + "/owner",
        json={"purpose": "x"},
        headers=web.api.headers("clerk"),
    )
    assert audit.status_code == 403  # a clerk may not reveal, through the API or a page
    clerk_line = clerk.get(found.headers["location"])
    assert "reveal" not in clerk_line.text.split('id="history-h"')[0].split("after-sale")[0] or (
        'action="' + found.headers["location"] + '/reveal"' not in clerk_line.text
    )


def test_a_refused_registration_says_why_in_one_line_in_the_clerks_language(web: Web) -> None:
    clerk = web.signed_in("clerk")
    desk = clerk.get("/web/desk")
    number = web.api.number()
    form = {
        "csrf_token": csrf_of(desk.text),
        "card_read_id": _card(web, 2),
        "face_score": "0.10",
        "msisdn": number,
    }
    refused = clerk.post("/web/desk/register", data=form)
    assert refused.status_code == 422
    line = re.search(r'<p class="refusal" role="alert" id="refused">([^<]+)</p>', refused.text)
    assert line and "人脸比对分数低于阈值" in line.group(1) and "\n" not in line.group(1)
    english = clerk.post(
        "/web/locale",
        data={"csrf_token": form["csrf_token"], "lang": "en", "next_page": "/web/desk"},
    )
    assert english.status_code == 303 and english.headers["location"] == "/web/desk"
    assert clerk.cookies.get(LANG_COOKIE) == "en"
    again = clerk.post("/web/desk/register", data=form)
    assert "The face score is below the threshold" in again.text and 'lang="en"' in again.text
    # A score no camera gives (nan, inf, too large for a float) is the clerk's typing error,
    # not a server error (it was a 500: no JSON body can carry it to the API).
    for score in ("nan", "inf", "1e400"):
        odd = clerk.post("/web/desk/register", data=form | {"face_score": score})
        assert odd.status_code == 422 and 'id="refused"' in odd.text, score
    web.api.free_numbers.append(number)


def test_the_locale_formats_dates_and_numbers(web: Web) -> None:
    regulator = web.signed_in("regulator")
    chinese = regulator.get("/web/dashboard").text
    assert "监管看板" in chinese
    regulator.post(
        "/web/locale",
        data={"csrf_token": csrf_of(chinese), "lang": "en", "next_page": "/web/dashboard"},
    )
    english = regulator.get("/web/dashboard").text
    assert "Regulator dashboard" in english and "监管看板" not in english


def test_the_dashboard_exports_csv_and_escalates_an_enterprise(web: Web) -> None:
    regulator = web.signed_in("regulator")
    exported = regulator.get("/web/dashboard/export.csv")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert exported.content.decode("utf-8-sig").startswith("enterprise,name,kind,lines")
    page = regulator.get("/web/dashboard")
    done = regulator.post(
        "/web/dashboard/escalate",
        data={
            "csrf_token": csrf_of(page.text),
            "enterprise_id": str(web.api.other_enterprise_id),
            "kind": "notice",
            "evidence_kind": "document",
            "evidence_ref": "MIIT-2026-17",
        },
    )
    assert done.status_code == 201, done.text
    assert "通报批评" in done.text
    # The form sent again (a reload of the answer, a double click) is not a second notice.
    form = {
        "csrf_token": csrf_of(page.text),
        "form_id": form_id_of(page.text),
        "enterprise_id": str(web.api.other_enterprise_id),
        "kind": "notice",
        "evidence_kind": "document",
        "evidence_ref": "MIIT-2026-18",
    }
    first, again = (regulator.post("/web/dashboard/escalate", data=form) for _ in range(2))
    assert first.status_code == again.status_code == 201, again.text
    assert again.text.count("MIIT-2026-18") == first.text.count("MIIT-2026-18")
    assert done.text.count("通报批评") + 1 == again.text.count("通报批评")
    other = web.signed_in("other_admin")
    assert "通报批评" in other.get("/web/console").text  # the enterprise sees its action


def test_pages_load_only_local_resources_and_forbid_others(web: Web) -> None:
    for who, page in (
        ("clerk", "/web/desk"),
        ("admin", "/web/console"),
        ("regulator", "/web/dashboard"),
    ):
        browser = web.signed_in(who)
        response = browser.get(page)
        assert "default-src 'self'" in response.headers["content-security-policy"]
        for url in re.findall(r'(?:src|href)="([^"]+)"', response.text):
            assert url.startswith(("/", "#")), url
            if url.startswith("/web/static/"):
                assert browser.get(url).status_code == 200, url
    login = web.browser().get("/web/login")
    assert CSRF_COOKIE in login.cookies


def test_absurd_ids_in_a_page_path_are_refused_not_a_server_error(web: Web) -> None:
    admin = web.signed_in("admin")
    for value in ("1" * 4301, str(2**63), "-1", "x"):
        page = admin.get(f"/web/lines/{value}")
        assert page.status_code in (400, 404, 422), (value, page.status_code)
        assert "Traceback" not in page.text


def test_failed_sign_ins_are_throttled_like_the_token_endpoint(web: Web) -> None:
    browser = web.browser()
    csrf = csrf_of(browser.get("/web/login").text)
    statuses = [
        browser.post(
            "/web/login",
            data={"username": "other_admin", "password": "wrong-password", "csrf_token": csrf},
        ).status_code
        for _ in range(6)
    ]
    assert statuses[:5] == [401] * 5 and statuses[5] == 429
    locked = browser.post(
        "/web/login", data={"username": "other_admin", "password": PASSWORD, "csrf_token": csrf}
    )
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    web.api.clock.advance(timedelta(minutes=6))
    try:
        assert web.signed_in("other_admin").get("/web/console").status_code == 200
    finally:
        web.api.clock.advance(-timedelta(minutes=6))


def test_a_revoked_client_shuts_its_staff_account_out(web: Web) -> None:
    from realname.security.clients import ClientService

    inspector = web.signed_in("regulator_inspector")
    assert inspector.get("/web/").status_code == 303
    rt = web.api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.transaction() as session:
        ClientService(session, rt.keyring).revoke(
            web.api.secrets["regulator_inspector"][0], rt.clock.now()
        )
    assert inspector.get("/web/").headers["location"].startswith("/web/login")


def test_a_legacy_line_is_back_filled_at_the_desk_with_the_code_the_holder_reads_out(
    web: Web,
) -> None:
    from tests.api.test_possession import legacy_line, sms_code

    line_id, _msisdn = legacy_line(web.api)
    clerk = web.signed_in("clerk")
    page = clerk.get(f"/web/lines/{line_id}")
    assert page.status_code == 200 and 'id="send-code"' in page.text
    sent = clerk.post(
        f"/web/lines/{line_id}/backfill-code", data={"csrf_token": csrf_of(page.text)}
    )
    assert sent.status_code == 200 and 'id="code-sent"' in sent.text
    challenge = re.search(r'name="challenge_id" value="([^"]+)"', sent.text)
    assert challenge is not None
    form = {
        "csrf_token": csrf_of(sent.text),
        "card_read_id": _card(web, 3),
        "face_score": "0.95",
        "challenge_id": challenge.group(1),
    }
    code = sms_code(web.api, line_id)
    wrong = clerk.post(
        f"/web/lines/{line_id}/backfill", data=form | {"code": f"{(int(code) + 1) % 10**6:06d}"}
    )
    assert wrong.status_code == 422 and "证明持有该号码" in wrong.text
    done = clerk.post(f"/web/lines/{line_id}/backfill", data=form | {"code": code})
    assert done.status_code == 200, done.text
    assert '<dd id="line-state" data-state="active">正常在用</dd>' in done.text


def test_the_same_registration_form_sent_twice_registers_once(web: Web) -> None:
    clerk = web.signed_in("clerk")
    number = web.api.number()
    desk = clerk.get("/web/desk").text
    form = {
        "csrf_token": csrf_of(desk),
        "form_id": form_id_of(desk),
        "card_read_id": _card(web, 4),
        "face_score": "0.95",
        "msisdn": number,
    }
    first, second = (clerk.post("/web/desk/register", data=form) for _ in range(2))
    assert first.status_code == second.status_code == 201, second.text
    assert number in second.text


def test_the_desk_picks_up_the_card_its_reader_just_read(web: Web) -> None:
    clerk = web.signed_in("clerk")
    read_id = _card(web, 5)
    fragment = clerk.get("/web/card-read")
    assert fragment.status_code == 200
    assert f'name="card_read_id" value="{read_id}"' in fragment.text
    person = web.api.people[5]
    assert person.document_number not in fragment.text and person.name not in fragment.text
    receiver = clerk.get("/web/card-read", params={"field": "receiver_card_read_id"})
    assert f'name="receiver_card_read_id" value="{read_id}"' in receiver.text
    odd = clerk.get("/web/card-read", params={"field": '"><script>'})
    assert "<script>" not in odd.text and 'name="card_read_id"' in odd.text
    # Another channel's clerk sees no read of this one.
    assert (
        web.api.client.get(
            "/v1/card-reads/latest", headers=web.api.headers("partner_clerk")
        ).status_code
        == 404
    )
    desk = clerk.get("/web/desk").text
    number = web.api.number()
    registered = clerk.post(
        "/web/desk/register",
        data={
            "csrf_token": csrf_of(desk),
            "form_id": form_id_of(desk),
            "card_read_id": read_id,
            "face_score": "0.95",
            "msisdn": number,
        },
    )
    assert registered.status_code == 201, registered.text
    assert read_id not in clerk.get("/web/card-read").text  # spent: never offered again
    web.api.clock.advance(timedelta(seconds=301))  # every read waiting here has expired
    try:
        clerk.get("/web/desk")  # the session's idle clock is not in the way
        none = clerk.get("/web/card-read")
        assert 'id="card-read-missing"' in none.text and "重新读卡" in none.text, none.text
    finally:
        web.api.clock.advance(timedelta(seconds=-301))


def test_a_typed_document_is_manual_entry_and_refused_where_the_policy_says(web: Web) -> None:
    clerk = web.signed_in("clerk")
    desk = clerk.get("/web/desk").text
    person = web.api.people[6]
    number = web.api.number()
    form = {
        "csrf_token": csrf_of(desk),
        "doc_type": "resident_id",
        "doc_number": person.document_number,
        "name": person.name,
        "face_score": "0.95",
        "msisdn": number,
    }
    refused = clerk.post("/web/desk/register", data=form)
    # The own hall refuses manual entry (china): the page sent the typed card as manual,
    # never as a chip read, and says what to do instead.
    assert refused.status_code == 422
    line = re.search(r'<p class="refusal" role="alert" id="refused">([^<]+)</p>', refused.text)
    assert line and "不允许手工录入" in line.group(1) and "读取身份证" in line.group(1)
    nothing = clerk.post("/web/desk/register", data=form | {"doc_number": "", "name": ""})
    assert nothing.status_code == 422 and "请先读取身份证" in nothing.text
    web.api.free_numbers.append(number)


def test_the_desk_counts_its_whole_stock_and_finds_kits_by_their_last_digits(web: Web) -> None:
    clerk = web.signed_in("clerk")
    page = clerk.get("/web/desk").text
    summary = web.api.client.get("/v1/stock/summary", headers=web.api.headers("clerk")).json()
    unsold = next(r["unsold"] for r in summary if r["channel"]["id"] == web.api.own_channel_id)
    shown = re.search(r'<span id="in-stock">([^<]+)</span>', page)
    assert shown and shown.group(1).replace(",", "") == str(unsold) and unsold > 50
    assert page.count('<option value="+') == 50  # a bounded list, not the whole stock
    wanted = web.api.free_numbers[0]
    found = clerk.get("/web/desk", params={"ending": wanted[-4:]}).text
    options = re.findall(r'<option value="(\+[^"]+)"', found)
    assert wanted in options and all(o.endswith(wanted[-4:]) for o in options)
    ignored = clerk.get("/web/desk", params={"ending": "12345x"})
    assert ignored.status_code == 200 and ignored.text.count('<option value="+') == 50


def test_an_error_inside_the_api_a_page_calls_is_an_error_page(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    from realname.registry.cardreads.service import CardReadService

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the reader's store is broken")

    clerk = web.signed_in("clerk")
    quiet = TestClient(
        web.api.client.app, base_url="https://testserver", raise_server_exceptions=False
    )
    quiet.cookies = clerk.cookies
    monkeypatch.setattr(CardReadService, "latest", broken)
    failed = quiet.get("/web/card-read")
    assert failed.status_code == 500
    assert failed.headers["content-type"].startswith("text/html")
    assert "系统内部错误" in failed.text and "broken" not in failed.text
    assert failed.headers["Content-Security-Policy"].startswith("default-src 'self'")
    # The API's own callers still get its JSON.
    api = web.api.client.get("/v1/card-reads/latest", headers=web.api.headers("clerk"))
    assert api.status_code == 500 and api.json()["code"] == "INTERNAL"


def test_a_form_missing_a_field_is_a_page_that_says_which(web: Web) -> None:
    clerk = web.signed_in("clerk")
    desk = clerk.get("/web/desk").text
    missing = clerk.post(
        "/web/desk/register", data={"csrf_token": csrf_of(desk), "face_score": "0.9"}
    )
    assert missing.status_code == 422
    assert missing.headers["content-type"].startswith("text/html")
    assert "表单缺少必填项" in missing.text and "msisdn" in missing.text
    # The API's 400 for a body it cannot take is unchanged.
    api = web.api.client.post("/v1/registrations", json={}, headers=web.api.headers("clerk"))
    assert api.status_code == 400 and api.json()["code"] == "INVALID_ARGUMENT"


def _session_rows(web: Web) -> int:
    from sqlalchemy import func, select

    from realname.security.staff import StaffSession

    rt = web.api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.transaction(readonly=True) as session:
        return int(session.scalar(select(func.count()).select_from(StaffSession)) or 0)


def test_signing_in_again_in_a_browser_ends_its_previous_session(web: Web) -> None:
    browser = web.signed_in("clerk")
    first = browser.cookies.get(SESSION_COOKIE)
    csrf = csrf_of(browser.get("/web/login").text)
    again = browser.post(
        "/web/login", data={"username": "admin", "password": PASSWORD, "csrf_token": csrf}
    )
    assert again.status_code == 303
    assert browser.cookies.get(SESSION_COOKIE) != first
    stale = web.browser()
    stale.cookies.set(SESSION_COOKIE, str(first))
    assert stale.get("/web/desk").status_code == 303  # the clerk's session is over


def test_the_session_cookie_is_host_only_and_a_session_has_a_lifetime(web: Web) -> None:
    browser = web.browser()
    csrf = csrf_of(browser.get("/web/login").text)
    right = browser.post(
        "/web/login", data={"username": "clerk", "password": PASSWORD, "csrf_token": csrf}
    )
    cookie = next(h for h in right.headers.get_list("set-cookie") if h.startswith("__Host-"))
    assert SESSION_COOKIE.startswith("__Host-") and cookie.startswith(SESSION_COOKIE + "=")
    assert "Path=/" in cookie and "Domain" not in cookie and "Secure" in cookie
    moved = timedelta()
    try:
        # Busy all day (a request every 14 minutes), the session still ends after LIFETIME.
        while moved <= LIFETIME:
            assert browser.get("/web/desk").status_code == 200, moved
            web.api.clock.advance(timedelta(minutes=14))
            moved += timedelta(minutes=14)
        assert browser.get("/web/desk").status_code == 303
    finally:
        web.api.clock.advance(-moved)


def test_sessions_over_for_a_day_are_deleted_at_the_next_sign_in(web: Web) -> None:
    old = web.signed_in("regulator")
    csrf = csrf_of(old.get("/web/dashboard").text)
    assert old.post("/web/logout", data={"csrf_token": csrf}).status_code == 303
    before = _session_rows(web)
    web.api.clock.advance(PURGE_AFTER + timedelta(minutes=1))
    try:
        web.signed_in("regulator")
        assert _session_rows(web) < before  # the ended ones (and the idle ones) are gone
    finally:
        web.api.clock.advance(-(PURGE_AFTER + timedelta(minutes=1)))


def test_a_password_too_long_is_refused_as_such_not_cut(web: Web) -> None:
    browser = web.browser()
    csrf = csrf_of(browser.get("/web/login").text)
    long = browser.post(
        "/web/login",
        data={"username": "clerk", "password": PASSWORD + "x" * 200, "csrf_token": csrf},
    )
    assert long.status_code == 422 and "密码最多 200 个字符" in long.text
    assert SESSION_COOKIE not in long.cookies
    from realname.security.staff import StaffService

    rt = web.api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.transaction() as session, pytest.raises(ValueError, match="at most 200"):
        StaffService(session, rt.keyring).create_account(
            "long", "y" * 201, web.api.secrets["clerk"][0], rt.clock.now()
        )


def test_a_formula_in_an_exported_cell_is_text_not_a_formula(web: Web) -> None:
    created = web.api.client.post(
        "/v1/enterprises",
        json={"code": "EVIL1", "name": '=HYPERLINK("http://x","点我")', "kind": "mno"},
        headers=web.api.headers("regulator"),
    )
    assert created.status_code == 201, created.text
    regulator = web.signed_in("regulator")
    exported = regulator.get("/web/dashboard/export.csv").content.decode("utf-8-sig")
    assert "EVIL1" in exported, exported[:500]
    assert "'=HYPERLINK(" in exported
    assert not any(
        cell.startswith(("=", "+", "@"))
        for line in exported.splitlines()
        for cell in line.split(",")
    )
    # The workbook shows the name as typed: a text cell styled quotePrefix, no `'` in it.
    import io

    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(regulator.get("/web/dashboard/export.xlsx").content))
    cell = next(r[1] for r in book.active.iter_rows(min_row=2) if r[0].value == "EVIL1")
    assert (cell.value, cell.data_type, cell.quotePrefix) == (
        '=HYPERLINK("http://x","点我")',
        "s",
        True,
    )


def test_pages_and_static_files_send_hsts_and_the_security_headers(web: Web) -> None:
    browser = web.browser()
    for response in (
        browser.get("/web/login"),
        browser.get("/web/static/app.css"),
        browser.get("/web/static/vendor/htmx.min.js"),
    ):
        assert response.status_code == 200
        assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    page = browser.get("/web/login")
    assert page.headers["X-Frame-Options"] == "DENY"
    static = browser.get("/web/static/app.css")
    assert static.headers["Cross-Origin-Resource-Policy"] == "same-origin"


def test_another_enterprises_staff_can_neither_see_nor_touch_a_line_through_any_page(
    web: Web,
) -> None:
    """Enterprise A's line and B's kits, through B's and A's pages: every page answers as if
    they did not exist, and nothing changes (the API's tenant check, proved through the web)."""
    clerk = web.signed_in("clerk")  # enterprise A's own hall
    desk = clerk.get("/web/desk").text
    number = web.api.number()
    registered = clerk.post(
        "/web/desk/register",
        data={
            "csrf_token": csrf_of(desk),
            "card_read_id": _card(web, 7),
            "face_score": "0.95",
            "msisdn": number,
        },
    )
    assert registered.status_code == 201, registered.text
    line_id = int(re.search(r'href="/web/lines/(\d+)"', registered.text).group(1))  # type: ignore[union-attr]

    other = web.signed_in("other_admin")  # enterprise B's administrator
    csrf = csrf_of(other.get("/web/console").text)
    assert number not in other.get("/web/console").text
    seen = other.get(f"/web/lines/{line_id}")
    assert seen.status_code == 404 and number not in seen.text
    looked = other.post("/web/lines/lookup", data={"csrf_token": csrf, "msisdn": number})
    assert looked.status_code == 404 and number not in looked.text
    for action, form in (
        ("report-lost", {}),
        ("cancel", {"reason": "not theirs"}),
        ("reveal", {"purpose": "curiosity"}),
        ("sim-replacement", {"iccid": "89860000000000000001", "imsi": "460000000000001"}),
    ):
        tried = other.post(f"/web/lines/{line_id}/{action}", data={"csrf_token": csrf, **form})
        assert tried.status_code in (403, 404, 422), (action, tried.status_code)
        assert number not in tried.text and web.api.people[7].name not in tried.text, action
    line = web.api.client.get(f"/v1/lines/{line_id}", headers=web.api.headers("admin")).json()
    assert line["state"] == "active"  # nothing B tried changed it
    history = web.api.client.get(
        f"/v1/lines/{line_id}/history", headers=web.api.headers("admin")
    ).json()
    assert [e["operation"] for e in history][-1] == "register"

    # A's clerk and B's kits: not offered, not registrable, not visible.
    b_kit = web.api.other_enterprise_numbers[0]
    assert b_kit not in clerk.get("/web/desk", params={"ending": b_kit[-4:]}).text
    taken = clerk.post(
        "/web/desk/register",
        data={
            "csrf_token": csrf_of(desk),
            "card_read_id": _card(web, 8),
            "face_score": "0.95",
            "msisdn": b_kit,
        },
    )
    assert taken.status_code == 422 and 'id="refused"' in taken.text
    csrf_a = csrf_of(clerk.get("/web/desk").text)
    found = clerk.post("/web/lines/lookup", data={"csrf_token": csrf_a, "msisdn": b_kit})
    assert found.status_code == 404


def test_a_page_that_does_not_exist_is_a_page_and_the_api_keeps_its_json(web: Web) -> None:
    browser = web.signed_in("clerk")
    missing = browser.get("/web/no-such-page")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "没有这个页面" in missing.text
    wrong_method = browser.get("/web/desk/register")
    assert wrong_method.status_code == 405 and "没有这个页面" in wrong_method.text
    api = web.api.client.get("/v1/no-such-route", headers=web.api.headers("clerk"))
    assert api.status_code == 404 and api.json()["code"] == "NOT_FOUND"


def test_the_console_finds_where_a_kit_is_and_the_dashboard_exports_xlsx(web: Web) -> None:
    import io

    from openpyxl import load_workbook

    admin = web.signed_in("admin")
    page = admin.get("/web/console").text
    kit = web.api.partner_numbers[-1]
    found = admin.post("/web/console/where", data={"csrf_token": csrf_of(page), "msisdn": kit})
    assert found.status_code == 200 and 'id="where-found"' in found.text
    assert "待售" in found.text  # stocked, in the page's words
    other = web.signed_in("other_admin")  # another enterprise's kit reads as no kit at all
    page_b = other.get("/web/console").text
    hidden = other.post("/web/console/where", data={"csrf_token": csrf_of(page_b), "msisdn": kit})
    assert hidden.status_code == 404 and 'id="where-error"' in hidden.text
    regulator = web.signed_in("regulator")
    book = regulator.get("/web/dashboard/export.xlsx")
    assert book.status_code == 200 and book.headers["content-type"].startswith(
        "application/vnd.openxmlformats"
    )
    sheet = load_workbook(io.BytesIO(book.content)).active
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert header[:3] == ["enterprise", "name", "kind"]
    assert sheet.max_row >= 3  # CMCC and MVNO1 (and any added by other tests)


def test_the_console_lists_the_lines_waiting_for_re_verification(web: Web) -> None:
    from tests.api.conftest import person_json

    number = web.api.number()
    made = web.api.client.post(
        "/v1/registrations",
        json={"msisdn": number, "customer": person_json(web.api.people[2])},
        headers=web.api.headers("clerk"),
    )
    assert made.status_code == 201, made.text
    asked = web.api.client.post(
        f"/v1/lines/{made.json()['id']}/reverification-requests",
        json={"reason": "fraud complaint"},
        headers=web.api.headers("admin"),
    )
    assert asked.status_code == 200, asked.text
    console = web.signed_in("admin").get("/web/console").text
    queue = console.split('id="reverify-queue"', 1)[1].split("</table>", 1)[0]
    assert number in queue
    assert number not in web.signed_in("other_admin").get("/web/console").text


def test_the_dashboard_shows_the_months_trend_and_the_provinces_as_charts_and_tables(
    web: Web,
) -> None:
    import json

    from tests.api.conftest import person_json

    made = web.api.client.post(
        "/v1/registrations",
        json={"msisdn": web.api.number(), "customer": person_json(web.api.people[1])},
        headers=web.api.headers("clerk"),
    )
    assert made.status_code == 201, made.text
    page = web.signed_in("regulator").get("/web/dashboard").text
    block = re.search(r'<script type="application/json" id="trend-data">(.*?)</script>', page)
    assert block is not None
    months = json.loads(block.group(1))
    assert months and [m["month"] for m in months] == sorted(m["month"] for m in months)
    assert sum(m["registrations"] for m in months) > 0
    table = page.split('id="trend"', 1)[1].split("</table>", 1)[0]
    assert months[-1]["month"] in table
    # The map by province: the figures' provinces with the map's names, and the same
    # numbers in a table (in English, the provinces' English names).
    block = re.search(r'<script type="application/json" id="provinces-data">(.*?)</script>', page)
    assert block is not None
    provinces = json.loads(block.group(1))
    assert provinces and all(p["lines"] is not None for p in provinces)
    assert any(p["map"] for p in provinces), provinces  # the demo's lines have provinces
    first = next(p for p in provinces if p["map"])
    row = page.split(f'data-province="{first["code"]}"', 1)[1].split("</tr>", 1)[0]
    assert first["name"] in row and first["name"] == first["map"]
    regulator = web.signed_in("regulator")
    regulator.cookies.set("realname_lang", "en")
    english = regulator.get("/web/dashboard").text
    assert 'id="provinces-h">Real-name rate by province' in english


def test_a_line_changes_hands_at_the_counter_with_both_cards_read(web: Web) -> None:
    """The transfer form carries two people (the owner's read, the receiver's read, its
    fields `receiver_`-prefixed); a read missing is the form's one-line refusal, not a 422
    from FastAPI; then the new owner re-verifies with a read of their own."""
    clerk = web.signed_in("clerk")
    desk = clerk.get("/web/desk").text
    registered = clerk.post(
        "/web/desk/register",
        data={
            "csrf_token": csrf_of(desk),
            "card_read_id": _card(web, 3),
            "face_score": "0.95",
            "msisdn": web.api.number(),
        },
    )
    assert registered.status_code == 201, registered.text
    line_id = int(re.search(r'href="/web/lines/(\d+)"', registered.text).group(1))  # type: ignore[union-attr]
    csrf = csrf_of(clerk.get(f"/web/lines/{line_id}").text)
    half = clerk.post(
        f"/web/lines/{line_id}/transfer", data={"csrf_token": csrf, "card_read_id": _card(web, 3)}
    )
    assert half.status_code == 422 and half.text.lstrip().startswith("<!")  # a page, not JSON
    owner_read, receiver_read = _card(web, 3), _card(web, 4)
    moved = clerk.post(
        f"/web/lines/{line_id}/transfer",
        data={
            "csrf_token": csrf,
            "card_read_id": owner_read,
            "face_score": "0.93",
            "receiver_card_read_id": receiver_read,
            "receiver_face_score": "0.94",
        },
    )
    assert moved.status_code == 200, moved.text
    history = web.api.client.get(
        f"/v1/lines/{line_id}/history", headers=web.api.headers("admin")
    ).json()
    assert [e["operation"] for e in history][-1] == "transfer"


def test_switching_language_on_a_page_a_post_answered_lands_on_a_page_one_can_get(
    web: Web,
) -> None:
    """The switch reloads the page it was on; a form's answer (its path a POST route) has no
    GET, so the switch goes to its section's page: it was a 405 error page."""
    clerk = web.signed_in("clerk")
    csrf = csrf_of(clerk.get("/web/desk").text)
    line_id = web.api.client.post(
        "/v1/lines/lookup", json={"msisdn": web.api.number()}, headers=web.api.headers("admin")
    ).json()["id"]
    for was_on, lands_on in (
        ("/web/desk/register", "/web/desk"),  # a registration's answer
        (f"/web/lines/{line_id}/report-lost", f"/web/lines/{line_id}"),
        ("/web/lines/lookup", "/web/"),  # nothing to GET above it: the home page
        ("/web/desk", "/web/desk"),
        ("/web/lookup/answer", "/web/lookup"),
        ("//elsewhere.example/web/", "/web/"),
        ("/web/\\elsewhere", "/web/"),
    ):
        switched = clerk.post(
            "/web/locale", data={"csrf_token": csrf, "lang": "en", "next_page": was_on}
        )
        assert switched.status_code == 303 and switched.headers["location"] == lands_on, was_on
        shown = clerk.get(lands_on)
        assert shown.status_code in (200, 303), (was_on, shown.status_code)
    assert 'lang="en"' in clerk.get("/web/desk").text


def test_switching_language_keeps_a_pages_filters(web: Web) -> None:
    """The disputes page with `?closed=1` comes back with its closed cases still shown: the
    switch dropped the query. A form's answer keeps none (a POST's fields are no filter)."""
    admin = web.signed_in("admin")
    page = admin.get("/web/console/disputes?closed=1")
    assert page.status_code == 200
    assert 'name="next_page" value="/web/console/disputes?closed=1"' in page.text
    csrf = csrf_of(page.text)
    for was_on, lands_on in (
        ("/web/console/disputes?closed=1", "/web/console/disputes?closed=1"),
        ("/web/console/disputes?closed=1#top", "/web/console/disputes?closed=1"),
        ("/web/desk/register?x=1", "/web/desk"),
    ):
        switched = admin.post(
            "/web/locale", data={"csrf_token": csrf, "lang": "en", "next_page": was_on}
        )
        assert switched.status_code == 303 and switched.headers["location"] == lands_on, was_on


def _inspected_round(web: Web, code: str, outcomes: list[str]) -> None:
    """A round of secret inspections with a visit per outcome (to the first planned outlets)."""
    rounds = "/v1/regulator/inspections/rounds"
    regulator = web.api.headers("regulator")
    created = web.api.client.post(
        rounds,
        json={
            "code": code,
            "name": "web round",
            "starts_on": "2026-11-01",
            "ends_on": "2026-11-30",
            "seed": 5,
            "min_per_stratum": len(outcomes),
        },
        headers=regulator,
    )
    assert created.status_code == 201, created.text
    round_id = created.json()["id"]
    planned = web.api.client.post(f"{rounds}/{round_id}/plan", headers=regulator)
    assert planned.status_code == 201, planned.text
    targets = [t["id"] for t in planned.json()["targets"]][: len(outcomes)]
    assert len(targets) == len(outcomes), planned.json()
    from realname.security.clients import ClientService
    from realname.security.principals import Role

    rt = web.api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.transaction() as session:  # the world's inspector may have been revoked by now
        client, secret = ClientService(session, rt.keyring).create(
            role=Role.REGULATOR_INSPECTOR, at=rt.clock.now()
        )
        inspector_id = client.client_id
    inspector = {"Authorization": f"Bearer {token_for(web.api.client, inspector_id, secret)}"}
    assigned = web.api.client.post(
        f"{rounds}/{round_id}/assignments",
        json={"inspector": inspector_id, "target_ids": targets},
        headers=regulator,
    )
    assert assigned.status_code == 200, assigned.text
    for target, outcome in zip(targets, outcomes, strict=True):
        visit = web.api.client.post(
            f"{rounds}/{round_id}/visits",
            json={
                "target_id": target,
                "visited_at": "2026-11-20T10:00:00Z",
                "place_region": "110105",
                "outcome": outcome,
            },
            headers=inspector,
        )
        assert visit.status_code == 201, visit.text


def test_the_dashboard_charts_each_inspection_rounds_violation_rate_with_its_interval(
    web: Web,
) -> None:
    import json

    from realname.compliance.inspections.rates import wilson

    _inspected_round(web, "WEB-R1", ["sold_without_id", "compliant"])
    page = web.signed_in("regulator").get("/web/dashboard").text
    block = re.search(r'<script type="application/json" id="rounds-data">(.*?)</script>', page)
    assert block is not None
    rounds = {r["code"]: r for r in json.loads(block.group(1))}
    shown = rounds["WEB-R1"]
    expected = wilson(1, 2)
    assert (shown["inspected"], shown["violations"]) == (2, 1)
    assert (shown["rate"], shown["low"], shown["high"]) == (
        expected.rate,
        expected.low,
        expected.high,
    )
    table = page.split('id="rounds"', 1)[1].split("</table>", 1)[0]
    assert 'data-round="WEB-R1"' in table and "50.0%" in table
    assert 'id="rounds-chart"' in page and "/web/static/charts.js" in page


def test_the_charts_series_are_named_in_the_pages_language(web: Web) -> None:
    import json

    regulator = web.signed_in("regulator")

    def labels() -> dict[str, str]:
        page = regulator.get("/web/dashboard").text
        block = re.search(r'<script type="application/json" id="chart-labels">(.*?)</script>', page)
        assert block is not None
        return dict(json.loads(block.group(1)))

    chinese = labels()
    assert chinese["registrations"] == "入网登记" and chinese["violation_rate"] == "违规率"
    csrf = csrf_of(regulator.get("/web/dashboard").text)
    regulator.post(
        "/web/locale", data={"csrf_token": csrf, "lang": "en", "next_page": "/web/dashboard"}
    )
    assert labels()["registrations"] == "Registrations"
    # The script names no series itself: every name comes from the page's block.
    from realname.web.base import HERE

    script = (HERE / "static" / "charts.js").read_text(encoding="utf-8")
    assert 'name: "registrations"' not in script and 'name: label("registrations")' in script
