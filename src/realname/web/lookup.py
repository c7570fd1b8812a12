"""一证通查 for the public: no staff login. A person gives their document, name and one of
their mobile numbers; a one-time code goes by SMS to that number; with it they see their lines
at every enterprise (numbers masked), may dispute one as not theirs, and follow the case by
its reference. Every step is the national platform's public API
(`/v1/national/lookup/...`), called in process with the browser's address (its per-address
limits count the person); the forms carry the pre-session CSRF token."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from realname.web.base import Text, problem, public_api, refusal, render, translator
from realname.web.sessions import csrf_ok

router = APIRouter(include_in_schema=False)

REFERENCE = re.compile(r"[A-Za-z]{1,24}")
DOCUMENT_TYPES = (
    "resident_id",
    "residence_permit",
    "home_return_permit",
    "taiwan_permit",
    "passport",
    "permanent_residence",
)


def _page(request: Request, status: int = 200, **context: Any) -> Response:
    # `path`: where the language switch comes back to (the steps are POSTs, not pages)
    return render(
        request,
        "lookup.html",
        None,
        status=status,
        document_types=DOCUMENT_TYPES,
        path="/web/lookup",
        **context,
    )


def _forged(request: Request, csrf_token: str) -> Response | None:
    if csrf_ok(request, csrf_token, None):
        return None
    return problem(request, None, 403, translator(request)("error.csrf"))


@router.get("/web/lookup")
async def lookup_page(request: Request) -> Response:
    return _page(request, step="ask")


@router.post("/web/lookup/code")
async def ask_code(
    request: Request,
    csrf_token: Text,
    document_type: Text,
    document_number: Text,
    name: Text,
    msisdn: Text,
) -> Response:
    """Step 1: the code goes to the number (when it is theirs; the answer is the same)."""
    if (refused := _forged(request, csrf_token)) is not None:
        return refused
    body = {
        "document_type": document_type,
        "document_number": document_number.strip(),
        "name": name.strip(),
        "msisdn": msisdn.strip(),
    }
    answer = await public_api(request).post("/v1/national/lookup/codes", body)
    if not answer.ok:
        return _page(request, 422, step="ask", error=refusal(request, answer))
    return _page(request, 202, step="code", challenge=answer.body)


@router.post("/web/lookup/answer")
async def show_lines(
    request: Request, csrf_token: Text, challenge_id: Text, code: Text
) -> Response:
    """Step 2: the code from the SMS; the lines in the person's name, per enterprise."""
    if (refused := _forged(request, csrf_token)) is not None:
        return refused
    body = {"challenge_id": challenge_id, "code": code.strip()}
    answer = await public_api(request).post("/v1/national/lookup/answers", body)
    if not answer.ok:
        challenge = {"challenge_id": challenge_id}
        return _page(request, 422, step="code", challenge=challenge, error=refusal(request, answer))
    return _page(request, step="answer", result=answer.body, challenge_id=challenge_id)


@router.post("/web/lookup/dispute")
async def dispute(
    request: Request, csrf_token: Text, challenge_id: Text, line_ref: Text
) -> Response:
    """Step 3: a line that is not theirs opens a case at its enterprise."""
    if (refused := _forged(request, csrf_token)) is not None:
        return refused
    if not (line_ref.isascii() and line_ref.isdigit()) or len(line_ref) > 15:  # "²".isdigit()
        return _page(request, 422, step="ask", error=translator(request)("error.form"))
    body = {"challenge_id": challenge_id, "line_ref": int(line_ref)}
    answer = await public_api(request).post("/v1/national/lookup/disputes", body)
    if not answer.ok:
        return _page(request, 422, step="ask", error=refusal(request, answer))
    return _page(request, 201, step="case", case=answer.body, opened=True)


@router.post("/web/lookup/follow")
async def follow(request: Request, csrf_token: Text, reference: Text) -> Response:
    """A case by its reference (a form, so the reference stays out of URLs and logs)."""
    if (refused := _forged(request, csrf_token)) is not None:
        return refused
    reference = reference.strip()
    if not REFERENCE.fullmatch(reference):
        return _page(request, 404, step="ask", error=translator(request)("national.no_case"))
    answer = await public_api(request).get(f"/v1/national/lookup/disputes/{reference}")
    if not answer.ok:
        return _page(request, 404, step="ask", error=refusal(request, answer))
    return _page(request, step="case", case=answer.body)
