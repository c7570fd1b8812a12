"""The pages' routes: sign-in, sign-out and the language here; the front desk and a line's page
in `desk.py`; the enterprise console and the regulator's dashboard in `boards.py`. Each page
checks only which role it is for (a clerk is not shown the regulator's dashboard); every read
and every action goes through the JSON API (`calls.Api`), which authorises, masks, audits and
refuses as it does for any client."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

from realname.http.deps import Runtime, runtime
from realname.http.sources import request_source
from realname.security.staff import MAX_PASSWORD_LENGTH, MAX_USERNAME_LENGTH, StaffService
from realname.security.throttle import login_throttler
from realname.web import boards, desk, lookup
from realname.web.base import (
    HERE,
    HOME,
    STATIC_HEADERS,
    Text,
    problem,
    redirect,
    render,
    translator,
)
from realname.web.i18n import LOCALES
from realname.web.sessions import (
    CSRF_COOKIE,
    LANG_COOKIE,
    LIFETIME,
    PURGE_AFTER,
    SESSION_COOKIE,
    Staff,
    csrf_ok,
    current_staff,
    set_cookie,
)

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


def install(app: FastAPI) -> None:
    """The pages and their static files on the app (called by the app factory, after the
    API's error handlers: a page's errors are pages, the API's stay JSON)."""
    app.include_router(router)
    app.include_router(desk.router)
    app.include_router(boards.router)
    app.include_router(lookup.router)
    app.mount("/web/static", SecureStatic(directory=HERE / "static"), name="web-static")
    _page_errors(app)


class SecureStatic(StaticFiles):
    """The pages' scripts and styles, with the security headers every response carries."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(STATIC_HEADERS)
        return response


def _is_page(request: Request) -> bool:
    return request.url.path == "/" or request.url.path.startswith("/web/")


ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


def _page_errors(app: FastAPI) -> None:
    """A form missing a field (FastAPI's 422) and anything unexpected inside a page or the
    API it calls (`calls.ApiFailedError`) answer a page, not the API's JSON."""
    api_invalid = cast(ErrorHandler, app.exception_handlers[RequestValidationError])
    api_unexpected = cast(ErrorHandler, app.exception_handlers[Exception])
    api_http = cast(ErrorHandler, app.exception_handlers[StarletteHTTPException])

    async def on_invalid(request: Request, error: Exception) -> Response:
        if not _is_page(request):
            return await api_invalid(request, error)
        assert isinstance(error, RequestValidationError)
        t = translator(request)
        fields = sorted(
            {str(e.get("loc", ("", ""))[-1]) for e in error.errors() if e.get("loc")}
            - {"csrf_token", "form_id"}
        )
        message = t("error.form") + (f" ({', '.join(fields)})" if fields else "")
        return problem(request, await _staff_or_none(request), 422, message)

    async def on_unexpected(request: Request, error: Exception) -> Response:
        if not _is_page(request):
            return await api_unexpected(request, error)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        log.error("page error", extra={"route": route, "error_type": type(error).__name__})
        staff = await _staff_or_none(request)
        return problem(request, staff, 500, translator(request)("error.unexpected"))

    async def on_http(request: Request, error: Exception) -> Response:
        if not _is_page(request):
            return await api_http(request, error)
        assert isinstance(error, StarletteHTTPException)
        t = translator(request)
        message = t("error.not_found") if error.status_code in (404, 405) else t("error.form")
        staff = await _staff_or_none(request)
        return problem(request, staff, error.status_code, message)

    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


async def _staff_or_none(request: Request) -> Staff | None:
    """Who is signed in, for the error page's header; nobody when even that fails."""
    try:
        return await current_staff(request)
    except Exception:  # the error page must not fail in turn (the database may be down)
        return None


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


def _sign_in(
    rt: Runtime, username: str, password: str, source: str, previous: str | None
) -> SignIn:
    """Throttled as the API's token endpoint is (security.throttle: failures per user name and
    per source address, counted before the password is checked), then one scrypt. A session
    the browser still holds (`previous`) ends: one browser, one session; sessions over for a
    day are deleted."""
    now = rt.clock.now()
    throttle = login_throttler(rt.settings)
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
        if previous:
            staff.end(previous, now)
        staff.purge(now - max(PURGE_AFTER, LIFETIME))
        opened = staff.open(account, now)
        throttle.record_success(session, subject, source)
        return SignIn(opened.token)


@router.post("/web/login")
async def login(request: Request, username: Text, password: Text, csrf_token: Text) -> Response:
    t = translator(request)
    if not csrf_ok(request, csrf_token, None):
        return render(request, "login.html", None, status=403, error=t("error.csrf"))
    if len(username) > MAX_USERNAME_LENGTH or len(password) > MAX_PASSWORD_LENGTH:
        # Refused as too long, never cut to a prefix that could match.
        return render(request, "login.html", None, status=422, error=t("login.too_long"))
    source = request_source(request, runtime(request).settings.trusted_proxies)
    previous = request.cookies.get(SESSION_COOKIE)
    outcome = await run_in_threadpool(
        _sign_in,
        runtime(request),
        username,
        password,
        source,
        previous[:128] if previous else None,
    )
    if outcome.retry_after is not None:
        response = render(request, "login.html", None, status=429, error=t("login.locked"))
        response.headers["Retry-After"] = str(outcome.retry_after)
        return response
    if outcome.token is None:
        return render(request, "login.html", None, status=401, error=t("login.failed"))
    response = redirect("/web/")
    set_cookie(response, SESSION_COOKIE, outcome.token)
    response.delete_cookie(CSRF_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
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


def _gettable(path: str) -> bool:
    """Whether one of the pages' routes answers GET at `path` (a page one can reload)."""
    scope = {"type": "http", "path": path, "method": "GET", "root_path": ""}
    for pages in (router, desk.router, boards.router, lookup.router):
        for route in pages.routes:
            if not isinstance(route, APIRoute):
                continue
            match, child = route.matches(scope)
            # an id is a number: `/web/lines/lookup` is no line's page
            if match is Match.FULL and all(
                str(v).isdigit() for k, v in child["path_params"].items() if k.endswith("_id")
            ):
                return True
    return False


def _page_to_show(request: Request, next_page: str) -> str:
    """Where the language switch sends the browser: the page it was on, when that page is a
    GET; a page reached by a POST (a form's answer: `/web/desk/register`) has no GET to
    reload, so its section's index (the nearest GET-able path above it: `/web/desk`,
    `/web/lines/7`), else the home page. A GET page keeps its query (its filters); the page
    above a POST does not get the POST's. Only this app's pages (no `//host`)."""
    if not next_page.startswith("/web/") or "//" in next_page or "\\" in next_page:
        return "/web/"
    path, _, query = next_page.split("#", 1)[0].partition("?")
    if _gettable(path):
        return f"{path}?{query}" if query else path  # its filters kept: `?closed=1`
    while path.startswith("/web/") and path != "/web/":
        path = path.rsplit("/", 1)[0] or "/"
        if _gettable(path):
            return path
    return "/web/"


@router.post("/web/locale")
async def switch_locale(
    request: Request, lang: Text, csrf_token: Text, next_page: Annotated[str, Form()] = "/web/"
) -> Response:
    staff = await current_staff(request)
    if not csrf_ok(request, csrf_token, staff):
        return problem(request, staff, 403, translator(request)("error.csrf"))
    response = redirect(_page_to_show(request, next_page))
    set_cookie(response, LANG_COOKIE, lang if lang in LOCALES else "zh-CN", http_only=False)
    return response
