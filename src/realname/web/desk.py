"""The front desk (a clerk at its channel) and a line's page (every staff role: what each may do
there is the API's answer)."""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from realname.web.base import (
    Blank,
    Text,
    api_for,
    form_staff,
    page_staff,
    redirect,
    refusal,
    render,
    translator,
)
from realname.web.sessions import Staff

router = APIRouter(include_in_schema=False)


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
    staff = await page_staff(request, "clerk")
    if not isinstance(staff, Staff):
        return staff
    return await _desk(request, staff)


@router.post("/web/desk/register")
async def register(
    request: Request, csrf_token: Text, card: Text, face_score: Text, msisdn: Text
) -> Response:
    staff = await form_staff(request, "clerk", csrf_token)
    if not isinstance(staff, Staff):
        return staff
    t = translator(request)
    person = _card(card)
    if person is None:
        return await _desk(request, staff, 422, refused=t("error.card"))
    score = _score(face_score)
    if score is None:
        return await _desk(request, staff, 422, refused=t("error.number"))
    person |= {"entry_method": "chip_read", "face_score": score}
    body = {"msisdn": msisdn, "customer": person}
    answer = await api_for(request, staff).post("/v1/registrations", body)
    if not answer.ok:
        return await _desk(request, staff, 422, refused=refusal(request, answer))
    return await _desk(request, staff, 201, registered=answer.body)


# ---- a line (every staff role; what it may do is the API's answer) ------------------------


@router.post("/web/lines/lookup")
async def lookup(request: Request, csrf_token: Text, msisdn: Text) -> Response:
    staff = await form_staff(request, None, csrf_token)
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
    staff = await page_staff(request, None)
    if not isinstance(staff, Staff):
        return staff
    return await _line(request, staff, line_id)


async def _line_action(
    request: Request, line_id: int, csrf_token: str, path: str, body: dict[str, Any] | None
) -> Response:
    staff = await form_staff(request, None, csrf_token)
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
    if face_score.strip():
        score = _score(face_score)
        if score is None:
            return None
        person["face_score"] = score
    return person


def _score(text: str) -> float | None:
    """A face score as typed or sent by the camera software; None unless a finite number
    (`nan`, `inf` and `1e400` parse as floats, and no JSON body can carry them)."""
    try:
        score = float(text)
    except ValueError:
        return None
    return score if math.isfinite(score) else None


async def _unreadable(request: Request, line_id: int, csrf_token: str) -> Response:
    staff = await form_staff(request, None, csrf_token)
    if not isinstance(staff, Staff):
        return staff
    return await _line(request, staff, line_id, 422, error=translator(request)("error.card"))


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


@router.post("/web/lines/{line_id}/backfill-code")
async def backfill_code(request: Request, line_id: int, csrf_token: Text) -> Response:
    """Back-fill, step 1: a one-time code to the legacy line (the customer proves holding it)."""
    staff = await form_staff(request, "clerk", csrf_token)
    if not isinstance(staff, Staff):
        return staff
    answer = await api_for(request, staff).post(f"/v1/lines/{line_id}/possession-challenges")
    if not answer.ok:
        return await _line(request, staff, line_id, 422, error=refusal(request, answer))
    return await _line(request, staff, line_id, challenge=answer.body)


@router.post("/web/lines/{line_id}/backfill")
async def backfill(
    request: Request,
    line_id: int,
    csrf_token: Text,
    card: Text,
    challenge_id: Text,
    code: Text,
    face_score: Blank = "",
) -> Response:
    """Back-fill, step 2: register the legacy line to the customer, with the code as proof."""
    staff = await form_staff(request, "clerk", csrf_token)
    if not isinstance(staff, Staff):
        return staff
    customer = _present(card, face_score)
    if customer is None:
        return await _line(request, staff, line_id, 422, error=translator(request)("error.card"))
    api = api_for(request, staff)
    line = await api.get(f"/v1/lines/{line_id}")
    if not line.ok:
        return await _line(request, staff, line_id, 404, error=refusal(request, line))
    body = {
        "msisdn": line.body["msisdn"],
        "customer": customer,
        "possession": {"method": "otp", "challenge_id": challenge_id, "code": code.strip()},
    }
    answer = await api.post("/v1/registrations", body)
    if not answer.ok:
        return await _line(request, staff, line_id, 422, error=refusal(request, answer))
    return await _line(request, staff, line_id, done=translator(request)("done"))


@router.post("/web/lines/{line_id}/reveal")
async def reveal(request: Request, line_id: int, csrf_token: Text, purpose: Text) -> Response:
    staff = await form_staff(request, None, csrf_token)
    if not isinstance(staff, Staff):
        return staff
    answer = await api_for(request, staff).post(f"/v1/lines/{line_id}/owner", {"purpose": purpose})
    if not answer.ok:
        return await _line(request, staff, line_id, 422, error=refusal(request, answer))
    return await _line(request, staff, line_id, revealed=answer.body)
