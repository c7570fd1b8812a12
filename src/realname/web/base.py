"""What every page shares: the templates, the response (security headers, CSRF cookie), the
caller's language, and the staff a page or form is for."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from realname.web.calls import Answer, Api
from realname.web.i18n import Translator, chosen_locale
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

HOME = {"clerk": "/web/desk", "enterprise_admin": "/web/console", "regulator": "/web/dashboard"}
# Only local resources: scripts and styles from this app, no inline script.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    # HTTPS only, for a year, this host and below (a browser then never tries plain http)
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# The static files (scripts, styles): the same transport and sniffing rules, cacheable, and
# readable by this origin's pages only.
STATIC_HEADERS = {
    "Strict-Transport-Security": SECURITY_HEADERS["Strict-Transport-Security"],
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}

Text = Annotated[str, Form()]
Blank = Annotated[str, Form()]  # may be left empty (its default: "")


def translator(request: Request) -> Translator:
    return Translator(chosen_locale(request.cookies.get(LANG_COOKIE)))


def secure(response: Response) -> Response:
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
        {
            "t": t,
            "staff": staff,
            "csrf": csrf,
            # every form of this rendering carries it: a form sent again (a reload, a double
            # click) is the same request to the API, which answers it once (calls.Api.post)
            "form_id": secrets.token_urlsafe(16),
            "home": HOME,
            "path": request.url.path,
            # where the language switch comes back to: a GET page with its query (a filter
            # such as `?closed=1`); a form's answer has none to keep
            "here": request.url.path
            + (f"?{request.url.query}" if request.method == "GET" and request.url.query else ""),
            **context,
        },
        status_code=status,
    )
    if staff is None and request.cookies.get(CSRF_COOKIE) != csrf:
        set_cookie(response, CSRF_COOKIE, csrf)
    return secure(response)


def redirect(url: str) -> Response:
    return secure(RedirectResponse(url, status_code=303))


def problem(request: Request, staff: Staff | None, status: int, message: str) -> Response:
    return render(request, "problem.html", staff, status=status, message=message)


def api_for(request: Request, staff: Staff) -> Api:
    return Api(request, staff.token, translator(request).locale)


def public_api(request: Request) -> Api:
    """The API's public routes (一证通查), with no token: as any browser would call them."""
    return Api(request, None, translator(request).locale)


def refusal(request: Request, answer: Answer) -> str:
    return explain(answer.code, answer.message, translator(request).locale)


async def page_staff(request: Request, role: str | None) -> Staff | Response:
    """The signed-in staff for a page of `role`, or the response that sends them away."""
    staff = await current_staff(request)
    if staff is None:
        ended = SESSION_COOKIE in request.cookies
        return redirect("/web/login?expired=1" if ended else "/web/login")
    if role is not None and staff.role != role:
        return problem(request, staff, 403, translator(request)("error.forbidden"))
    return staff


async def form_staff(request: Request, role: str | None, csrf_token: str) -> Staff | Response:
    staff = await page_staff(request, role)
    if isinstance(staff, Staff) and not csrf_ok(request, csrf_token, staff):
        return problem(request, staff, 403, translator(request)("error.csrf"))
    return staff
