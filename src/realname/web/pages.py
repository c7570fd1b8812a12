"""The routes of the pages. Each page checks only which role it is for (so a clerk is not
shown the regulator's dashboard); every read and every action goes through the JSON API
(`calls.Api`), which authorises, masks, audits and refuses as it does for any client."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from realname.http.deps import Runtime, runtime
from realname.security.staff import StaffService
from realname.security.throttle import LoginThrottler, ThrottlePolicy
from realname.web.calls import Answer, Api
from realname.web.i18n import LOCALES, Translator, chosen_locale
from realname.web.refusals import explain
from realname.web.sessions import (
    CSRF_COOKIE,
    LANG_COOKIE,
    SESSION_COOKIE,
    Staff,
    csrf_ok,
    current_staff,
    pre_session_csrf,
    set_cookie,
)

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)

HOME = {"clerk": "/web/desk", "enterprise_admin": "/web/console", "regulator": "/web/dashboard"}
RUNGS = ("notice", "interview", "rectification", "yellow_1", "yellow_2", "yellow_3", "red")
EVIDENCE_KINDS = ("inspection_round", "figure", "complaint", "action", "document")
# Only local resources: scripts and styles from this app, no inline script.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

Text = Annotated[str, Form()]


def install(app: FastAPI) -> None:
    """The pages and their static files on the app (called by the app factory)."""
    app.include_router(router)
    app.mount("/web/static", StaticFiles(directory=HERE / "static"), name="web-static")


def translator(request: Request) -> Translator:
    return Translator(chosen_locale(request.cookies.get(LANG_COOKIE)))


def _secure(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def render(
    request: Request, name: str, staff: Staff | None, status: int = 200, **context: Any
) -> Response:
    t = translator(request)
    csrf = staff.csrf_token if staff is not None else pre_session_csrf(request)
    response = templates.TemplateResponse(
        request,
        name,
        {"t": t, "staff": staff, "csrf": csrf, "home": HOME, "path": request.url.path, **context},
        status_code=status,
    )
    if staff is None and request.cookies.get(CSRF_COOKIE) != csrf:
        set_cookie(response, CSRF_COOKIE, csrf)
    return _secure(response)


def redirect(url: str) -> Response:
    return _secure(RedirectResponse(url, status_code=303))


def problem(request: Request, staff: Staff | None, status: int, message: str) -> Response:
    return render(request, "problem.html", staff, status=status, message=message)


def api_for(request: Request, staff: Staff) -> Api:
    return Api(request, staff.token, translator(request).locale)


def refusal(request: Request, answer: Answer) -> str:
    return explain(answer.code, answer.message, translator(request).locale)


async def _page_staff(request: Request, role: str | None) -> Staff | Response:
    """The signed-in staff for a page of `role`, or the response that sends them away."""
    staff = await current_staff(request)
    if staff is None:
        ended = SESSION_COOKIE in request.cookies
        return redirect("/web/login?expired=1" if ended else "/web/login")
    if role is not None and staff.role != role:
        return problem(request, staff, 403, translator(request)("error.forbidden"))
    return staff


async def _form_staff(request: Request, role: str | None, csrf_token: str) -> Staff | Response:
    staff = await _page_staff(request, role)
    if isinstance(staff, Staff) and not csrf_ok(request, csrf_token, staff):
        return problem(request, staff, 403, translator(request)("error.csrf"))
    return staff


# ---- sign-in, sign-out, language ------------------------------------------------------


@router.get("/")
async def root() -> Response:
    return redirect("/web/")


@router.get("/web/")
async def home(request: Request) -> Response:
    staff = await current_staff(request)
    if staff is None:
        return redirect("/web/login")
    return redirect(HOME.get(staff.role, "/web/login"))


@router.get("/web/login")
async def login_page(request: Request, expired: int = 0) -> Response:
    t = translator(request)
    return render(request, "login.html", None, notice=t("login.expired") if expired else None)


@dataclass(frozen=True)
class SignIn:
    token: str | None  # the session's cookie value; None: refused
    retry_after: int | None = None  # locked out for this many seconds


def _sign_in(rt: Runtime, username: str, password: str, source: str) -> SignIn:
    """Throttled as the API's token endpoint is (security.throttle: failures per user name and
    per source address, counted before the password is checked), then one scrypt."""
    settings, now = rt.settings, rt.clock.now()
    throttle = LoginThrottler(
        ThrottlePolicy(
            max_failures_per_client=settings.login_max_failures,
            max_failures_per_source=settings.login_max_failures_per_source,
            window=timedelta(seconds=settings.login_failure_window_seconds),
        )
    )
    subject = f"staff:{username}"
    with rt.transaction() as session:
        retry_after = throttle.claim_attempt(session, subject, source, now)
    if retry_after is not None:
        return SignIn(None, retry_after)
    with rt.transaction() as session:
        staff = StaffService(session, rt.keyring)
        account = staff.authenticate(username, password)
        if account is None:
            return SignIn(None)
        opened = staff.open(account, now)
        throttle.record_success(session, subject, source)
        return SignIn(opened.token)


@router.post("/web/login")
async def login(request: Request, username: Text, password: Text, csrf_token: Text) -> Response:
    t = translator(request)
    if not csrf_ok(request, csrf_token, None):
        return render(request, "login.html", None, status=403, error=t("error.csrf"))
    source = request.client.host if request.client else ""
    outcome = await run_in_threadpool(
        _sign_in, runtime(request), username[:64], password[:200], source
    )
    if outcome.retry_after is not None:
        response = render(request, "login.html", None, status=429, error=t("login.locked"))
        response.headers["Retry-After"] = str(outcome.retry_after)
        return response
    if outcome.token is None:
        return render(request, "login.html", None, status=401, error=t("login.failed"))
    response = redirect("/web/")
    set_cookie(response, SESSION_COOKIE, outcome.token)
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


def _sign_out(rt: Runtime, cookie: str) -> None:
    with rt.transaction() as session:
        StaffService(session, rt.keyring).end(cookie, rt.clock.now())


@router.post("/web/logout")
async def logout(request: Request, csrf_token: Text) -> Response:
    staff = await current_staff(request)
    if staff is not None and not csrf_ok(request, csrf_token, staff):
        return problem(request, staff, 403, translator(request)("error.csrf"))
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await run_in_threadpool(_sign_out, runtime(request), cookie[:128])
    response = redirect("/web/login")
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response


@router.post("/web/locale")
async def switch_locale(
    request: Request, lang: Text, csrf_token: Text, next_page: Annotated[str, Form()] = "/web/"
) -> Response:
    staff = await current_staff(request)
    if not csrf_ok(request, csrf_token, staff):
        return problem(request, staff, 403, translator(request)("error.csrf"))
    target = next_page if next_page.startswith("/web/") and "//" not in next_page else "/web/"
    response = redirect(target)
    set_cookie(response, LANG_COOKIE, lang if lang in LOCALES else "zh-CN", http_only=False)
    return response


# ---- the front desk ---------------------------------------------------------------------


def _card(text: str) -> dict[str, Any] | None:
    """The card reader's JSON as the API's person: document and name (and address)."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    document = data.get("document")
    if not isinstance(document, dict) or not isinstance(data.get("name"), str):
        return None
    person: dict[str, Any] = {"document": document, "name": data["name"]}
    if isinstance(data.get("address"), str | dict):
        person["address"] = data["address"]
    return person


async def _desk(request: Request, staff: Staff, status: int = 200, **context: Any) -> Response:
    stock = await api_for(request, staff).get(f"/v1/channels/{staff.channel_id}/stock")
    kits = stock.body if stock.ok and isinstance(stock.body, list) else []
    return render(request, "desk.html", staff, status=status, kits=kits, **context)


@router.get("/web/desk")
async def desk(request: Request) -> Response:
    staff = await _page_staff(request, "clerk")
    if not isinstance(staff, Staff):
        return staff
    return await _desk(request, staff)


@router.post("/web/desk/register")
async def register(
    request: Request, csrf_token: Text, card: Text, face_score: Text, msisdn: Text
) -> Response:
    staff = await _form_staff(request, "clerk", csrf_token)
    if not isinstance(staff, Staff):
        return staff
    t = translator(request)
    person = _card(card)
    if person is None:
        return await _desk(request, staff, 422, refused=t("error.card"))
    try:
        score = float(face_score)
    except ValueError:
        return await _desk(request, staff, 422, refused=t("error.number"))
    person |= {"entry_method": "chip_read", "face_score": score}
    answer = await api_for(request, staff).post(
        "/v1/registrations", {"msisdn": msisdn, "customer": person}
    )
    if not answer.ok:
        return await _desk(request, staff, 422, refused=refusal(request, answer))
    return await _desk(request, staff, 201, registered=answer.body)


# ---- a line (every staff role; what it may do is the API's answer) ------------------------


@router.post("/web/lines/lookup")
async def lookup(request: Request, csrf_token: Text, msisdn: Text) -> Response:
    staff = await _form_staff(request, None, csrf_token)
    if not isinstance(staff, Staff):
        return staff
    answer = await api_for(request, staff).post("/v1/lines/lookup", {"msisdn": msisdn})
    if not answer.ok:
        return render(request, "line.html", staff, status=404, error=refusal(request, answer))
    return redirect(f"/web/lines/{int(answer.body['id'])}")


async def _line(
    request: Request, staff: Staff, line_id: int, status: int = 200, **context: Any
) -> Response:
    api = api_for(request, staff)
    line = await api.get(f"/v1/lines/{line_id}")
    if not line.ok:
        return render(request, "line.html", staff, status=404, error=refusal(request, line))
    history = await api.get(f"/v1/lines/{line_id}/history")
    events = history.body if history.ok and isinstance(history.body, list) else []
    return render(
        request, "line.html", staff, status=status, line=line.body, events=events[-10:], **context
    )


@router.get("/web/lines/{line_id}")
async def line_page(request: Request, line_id: int) -> Response:
    staff = await _page_staff(request, None)
    if not isinstance(staff, Staff):
        return staff
    return await _line(request, staff, line_id)


async def _line_action(
    request: Request, line_id: int, csrf_token: str, path: str, body: dict[str, Any] | None
) -> Response:
    staff = await _form_staff(request, None, csrf_token)
    if not isinstance(staff, Staff):
        return staff
    answer = await api_for(request, staff).post(f"/v1/lines/{line_id}/{path}", body)
    if not answer.ok:
        return await _line(request, staff, line_id, 422, error=refusal(request, answer))
    return await _line(request, staff, line_id, done=translator(request)("done"))


def _present(card: str, face_score: str) -> dict[str, Any] | None:
    """The person at the counter: the card reader's data and the live face score."""
    person = _card(card)
    if person is None:
        return None
    person["entry_method"] = "chip_read"
    try:
        if face_score.strip():
            person["face_score"] = float(face_score)
    except ValueError:
        return None
    return person


async def _unreadable(request: Request, line_id: int, csrf_token: str) -> Response:
    staff = await _form_staff(request, None, csrf_token)
    if not isinstance(staff, Staff):
        return staff
    return await _line(request, staff, line_id, 422, error=translator(request)("error.card"))


Blank = Annotated[str, Form()]


@router.post("/web/lines/{line_id}/report-lost")
async def report_lost(
    request: Request, line_id: int, csrf_token: Text, card: Blank = "", face_score: Blank = ""
) -> Response:
    """A clerk with the owner present (card read); the back office without a body."""
    if not card.strip():
        return await _line_action(request, line_id, csrf_token, "report-lost", None)
    owner = _present(card, face_score)
    if owner is None:
        return await _unreadable(request, line_id, csrf_token)
    return await _line_action(request, line_id, csrf_token, "report-lost", {"owner": owner})


@router.post("/web/lines/{line_id}/sim-replacement")
async def replace_sim(
    request: Request,
    line_id: int,
    csrf_token: Text,
    card: Text,
    iccid: Text,
    imsi: Text,
    face_score: Blank = "",
) -> Response:
    owner = _present(card, face_score)
    if owner is None:
        return await _unreadable(request, line_id, csrf_token)
    body = {"owner": owner, "iccid": iccid, "imsi": imsi}
    return await _line_action(request, line_id, csrf_token, "sim-replacements", body)


@router.post("/web/lines/{line_id}/transfer")
async def transfer(
    request: Request,
    line_id: int,
    csrf_token: Text,
    card: Text,
    receiver_card: Text,
    face_score: Blank = "",
    receiver_face_score: Blank = "",
) -> Response:
    owner, receiver = _present(card, face_score), _present(receiver_card, receiver_face_score)
    if owner is None or receiver is None:
        return await _unreadable(request, line_id, csrf_token)
    body = {"owner": owner, "receiver": receiver}
    return await _line_action(request, line_id, csrf_token, "transfers", body)


@router.post("/web/lines/{line_id}/cancel")
async def cancel(
    request: Request,
    line_id: int,
    csrf_token: Text,
    reason: Text,
    card: Blank = "",
    face_score: Blank = "",
) -> Response:
    body: dict[str, Any] = {"reason": reason}
    if card.strip():
        owner = _present(card, face_score)
        if owner is None:
            return await _unreadable(request, line_id, csrf_token)
        body["owner"] = owner
    return await _line_action(request, line_id, csrf_token, "cancel", body)


@router.post("/web/lines/{line_id}/reverification")
async def reverify(
    request: Request, line_id: int, csrf_token: Text, card: Text, face_score: Blank = ""
) -> Response:
    """The owner re-verifies at the counter (二次实名)."""
    owner = _present(card, face_score)
    if owner is None:
        return await _unreadable(request, line_id, csrf_token)
    return await _line_action(
        request, line_id, csrf_token, "reverification-answers", {"owner": owner}
    )


@router.post("/web/lines/{line_id}/reveal")
async def reveal(request: Request, line_id: int, csrf_token: Text, purpose: Text) -> Response:
    staff = await _form_staff(request, None, csrf_token)
    if not isinstance(staff, Staff):
        return staff
    answer = await api_for(request, staff).post(f"/v1/lines/{line_id}/owner", {"purpose": purpose})
    if not answer.ok:
        return await _line(request, staff, line_id, 422, error=refusal(request, answer))
    return await _line(request, staff, line_id, revealed=answer.body)


# ---- the enterprise console --------------------------------------------------------------


async def _console(request: Request, staff: Staff, status: int = 200, **context: Any) -> Response:
    api = api_for(request, staff)
    stock = await api.get("/v1/stock/summary")
    progress = await api.get("/v1/backfill/progress")
    risk = await api.get("/v1/channels/risk", {"limit": 10})
    complaints = await api.get("/v1/complaints", {"limit": 20})
    actions = await api.get("/v1/enforcement/actions", {"open_only": "true"})
    return render(
        request,
        "console.html",
        staff,
        status=status,
        stock=stock.body if stock.ok else [],
        progress=progress.body if progress.ok else None,
        risk=risk.body if risk.ok else [],
        complaints=complaints.body if complaints.ok else [],
        actions=actions.body if actions.ok else [],
        **context,
    )


@router.get("/web/console")
async def console(request: Request) -> Response:
    staff = await _page_staff(request, "enterprise_admin")
    if not isinstance(staff, Staff):
        return staff
    return await _console(request, staff)


@router.post("/web/console/channels/{channel_id}/{action}")
async def channel_status(
    request: Request,
    channel_id: int,
    action: str,
    csrf_token: Text,
    reason: Annotated[str, Form()] = "",
) -> Response:
    staff = await _form_staff(request, "enterprise_admin", csrf_token)
    if not isinstance(staff, Staff):
        return staff
    if action not in ("suspend", "resume"):
        return problem(request, staff, 404, translator(request)("error.forbidden"))
    body = {"reason": reason} if reason.strip() else {}
    answer = await api_for(request, staff).post(f"/v1/channels/{channel_id}/{action}", body)
    if not answer.ok:
        return await _console(request, staff, 422, error=refusal(request, answer))
    return await _console(request, staff, done=translator(request)("done"))


# ---- the regulator's dashboard -----------------------------------------------------------


async def _dashboard_data(api: Api) -> dict[str, Any]:
    enterprises = await api.get("/v1/enterprises")
    figures = await api.get("/v1/regulator/figures")
    actions = await api.get("/v1/regulator/enforcement/actions")
    counts = await api.get("/v1/complaints/counts")
    return {
        "enterprises": enterprises.body if enterprises.ok else [],
        "figures": figures.body if figures.ok else None,
        "actions": actions.body if actions.ok else [],
        "counts": counts.body if counts.ok else [],
    }


async def _dashboard(request: Request, staff: Staff, status: int = 200, **context: Any) -> Response:
    data = await _dashboard_data(api_for(request, staff))
    rows = data["figures"]["enterprises"] if data["figures"] else []
    # MNOs first, then MVNOs: side by side in one table and one chart.
    rows = sorted(rows, key=lambda r: (r["kind"] != "mno", r["enterprise"]))
    chart = [
        {
            "name": r["enterprise"],
            "kind": r["kind"],
            "rate": r["violation_rate"],
            "low": r["violation_rate_low"],
            "high": r["violation_rate_high"],
        }
        for r in rows
        if r["violation_rate"] is not None
    ]
    licences = {e["code"]: e["licence_status"] for e in data["enterprises"]}
    ids = {e["id"]: e["code"] for e in data["enterprises"]}
    return render(
        request,
        "dashboard.html",
        staff,
        status=status,
        rows=rows,
        period=data["figures"]["period"] if data["figures"] else "",
        licences=licences,
        enterprise_codes=ids,
        enterprises=data["enterprises"],
        actions=data["actions"],
        counts=data["counts"][:20],
        chart=json.dumps(chart),
        rungs=RUNGS,
        evidence_kinds=EVIDENCE_KINDS,
        **context,
    )


@router.get("/web/dashboard")
async def dashboard(request: Request) -> Response:
    staff = await _page_staff(request, "regulator")
    if not isinstance(staff, Staff):
        return staff
    return await _dashboard(request, staff)


EXPORT_COLUMNS = (
    "enterprise",
    "name",
    "kind",
    "lines",
    "registered",
    "real_name_rate",
    "inspected",
    "violations",
    "violation_rate",
    "violation_rate_low",
    "violation_rate_high",
    "complaints",
    "complaints_per_10k",
    "backfill_progress",
    "backfill_deadline",
    "refused",
    "cap_breaches",
)


@router.get("/web/dashboard/export.csv")
async def export_csv(request: Request) -> Response:
    staff = await _page_staff(request, "regulator")
    if not isinstance(staff, Staff):
        return staff
    figures = await api_for(request, staff).get("/v1/regulator/figures")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    period = ""
    if figures.ok:
        period = str(figures.body["period"])
        for row in figures.body["enterprises"]:
            writer.writerow([row.get(column, "") for column in EXPORT_COLUMNS])
    name = quote(f"realname-figures-{period or 'now'}.csv")
    response = Response(
        out.getvalue().encode("utf-8-sig"),  # with a BOM, so Excel reads the Chinese names
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f"attachment; filename={name}"},
    )
    return _secure(response)


@router.post("/web/dashboard/escalate")
async def escalate(
    request: Request,
    csrf_token: Text,
    enterprise_id: Annotated[int, Form()],
    kind: Text,
    evidence_kind: Text,
    evidence_ref: Text,
    minutes: Annotated[str, Form()] = "",
) -> Response:
    staff = await _form_staff(request, "regulator", csrf_token)
    if not isinstance(staff, Staff):
        return staff
    body: dict[str, Any] = {
        "enterprise_id": enterprise_id,
        "kind": kind,
        "evidence": [{"kind": evidence_kind, "ref": evidence_ref}],
    }
    if minutes.strip():
        body["minutes"] = minutes
    answer = await api_for(request, staff).post("/v1/regulator/enforcement/actions", body)
    if not answer.ok:
        return await _dashboard(request, staff, 422, error=refusal(request, answer))
    return await _dashboard(request, staff, 201, escalated=answer.body)
