"""The front desk (a clerk at its channel) and a line's page (every staff role: what each may do
there is the API's answer)."""

from __future__ import annotations

import asyncio
import math
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
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
# The kits the desk offers: the first of the channel's stock (its count comes with them).
DESK_KITS = 50
ENDING = re.compile(r"[0-9]{1,4}")


# ---- the front desk ---------------------------------------------------------------------

# The names of the form fields that carry a card read (the owner's; a transfer's receiver's).
READ_FIELDS = ("card_read_id", "receiver_card_read_id")


def _person(
    read_id: str, doc_type: str, doc_number: str, name: str, face_score: str, *, face: bool
) -> dict[str, Any] | str:
    """The person at the counter as the API takes it, or the message key of what is missing.

    The card reader's read (its id) makes the entry `chip_read` on the server; typed fields
    are `manual`, always (the API refuses them where the policy refuses manual entry). The
    page never claims a chip read it does not hold."""
    person: dict[str, Any]
    if read_id.strip():
        person = {"card_read_id": read_id.strip()}
    elif doc_number.strip() and name.strip():
        document: dict[str, Any] = {"number": doc_number.strip()}
        if doc_type.strip():
            document["type"] = doc_type.strip()
        person = {"document": document, "name": name.strip(), "entry_method": "manual"}
    else:
        return "error.card"
    if face or face_score.strip():
        score = _score(face_score)
        if score is None:
            return "error.number"
        person["face_score"] = score
    return person


class AtTheCounter:
    """The person at the counter, as the desk's forms give them: the card reader's read (its
    id), or a typed document and name; and the live face score."""

    def __init__(
        self,
        card_read_id: Blank = "",
        doc_type: Blank = "",
        doc_number: Blank = "",
        name: Blank = "",
        face_score: Blank = "",
    ) -> None:
        self.fields = (card_read_id, doc_type, doc_number, name, face_score)

    @property
    def given(self) -> bool:
        """A read or a typed document (a back-office action may go without the owner)."""
        read_id, _, doc_number, _, _ = self.fields
        return bool(read_id.strip() or doc_number.strip())

    def person(self, *, face: bool = False) -> dict[str, Any] | str:
        """`_person` of the fields: the API's person, or the message key of what is missing."""
        return _person(*self.fields, face=face)


class ReceiverAtTheCounter(AtTheCounter):
    """A transfer's receiver: the same fields, `receiver_`-prefixed in the form."""

    def __init__(
        self,
        receiver_card_read_id: Blank = "",
        receiver_doc_type: Blank = "",
        receiver_doc_number: Blank = "",
        receiver_name: Blank = "",
        receiver_face_score: Blank = "",
    ) -> None:
        super().__init__(
            receiver_card_read_id,
            receiver_doc_type,
            receiver_doc_number,
            receiver_name,
            receiver_face_score,
        )


Counter = Annotated[AtTheCounter, Depends()]
Receiver = Annotated[ReceiverAtTheCounter, Depends()]


async def _desk(
    request: Request, staff: Staff, status: int = 200, ending: str = "", **context: Any
) -> Response:
    """The desk: the first kits of the channel's stock (those ending in `ending`, 尾号) and
    how many it holds in all, read side by side."""
    api = api_for(request, staff)
    params: dict[str, Any] = {"limit": DESK_KITS}
    if ending:
        params["ending"] = ending
    stock, summary = await asyncio.gather(
        api.get(f"/v1/channels/{staff.channel_id}/stock", params), api.get("/v1/stock/summary")
    )
    kits = stock.body if stock.ok and isinstance(stock.body, list) else []
    rows = summary.body if summary.ok and isinstance(summary.body, list) else []
    in_stock = next(
        (int(r["unsold"]) for r in rows if r.get("channel", {}).get("id") == staff.channel_id), 0
    )
    return render(
        request,
        "desk.html",
        staff,
        status=status,
        kits=kits,
        in_stock=in_stock,
        ending=ending,
        **context,
    )


@router.get("/web/desk")
async def desk(request: Request, ending: str = "") -> Response:
    staff = await page_staff(request, "clerk")
    if not isinstance(staff, Staff):
        return staff
    ending = ending.strip() if ENDING.fullmatch(ending.strip()) else ""
    return await _desk(request, staff, ending=ending)


@router.get("/web/card-read")
async def card_read(request: Request, field: str = "card_read_id") -> Response:
    """The card just read at the clerk's channel (masked), as a fragment the desk's
    "Read the card" button puts into its form (htmx): a hidden field with the read's id."""
    staff = await page_staff(request, "clerk")
    if not isinstance(staff, Staff):
        return staff
    if field not in READ_FIELDS:
        field = READ_FIELDS[0]
    answer = await api_for(request, staff).get("/v1/card-reads/latest")
    if not answer.ok:
        error = refusal(request, answer)
        return render(request, "_card_read.html", staff, field=field, read=None, error=error)
    return render(request, "_card_read.html", staff, field=field, read=answer.body)


@router.post("/web/desk/register")
async def register(
    request: Request,
    csrf_token: Text,
    face_score: Text,
    msisdn: Text,
    card_read_id: Blank = "",
    doc_type: Blank = "",
    doc_number: Blank = "",
    name: Blank = "",
) -> Response:
    staff = await form_staff(request, "clerk", csrf_token)
    if not isinstance(staff, Staff):
        return staff
    t = translator(request)
    person = _person(card_read_id, doc_type, doc_number, name, face_score, face=True)
    if isinstance(person, str):
        return await _desk(request, staff, 422, refused=t(person))
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


def _score(text: str) -> float | None:
    """A face score as typed or sent by the camera software; None unless a finite number
    (`nan`, `inf` and `1e400` parse as floats, and no JSON body can carry them)."""
    try:
        score = float(text)
    except ValueError:
        return None
    return score if math.isfinite(score) else None


async def _unreadable(request: Request, line_id: int, csrf_token: str, key: str) -> Response:
    staff = await form_staff(request, None, csrf_token)
    if not isinstance(staff, Staff):
        return staff
    return await _line(request, staff, line_id, 422, error=translator(request)(key))


@router.post("/web/lines/{line_id}/report-lost")
async def report_lost(
    request: Request,
    line_id: int,
    csrf_token: Text,
    present: Counter,
) -> Response:
    """A clerk with the owner present (card read); the back office without a body."""
    if not present.given:
        return await _line_action(request, line_id, csrf_token, "report-lost", None)
    owner = present.person()
    if isinstance(owner, str):
        return await _unreadable(request, line_id, csrf_token, owner)
    return await _line_action(request, line_id, csrf_token, "report-lost", {"owner": owner})


@router.post("/web/lines/{line_id}/sim-replacement")
async def replace_sim(
    request: Request,
    line_id: int,
    csrf_token: Text,
    iccid: Text,
    imsi: Text,
    present: Counter,
) -> Response:
    owner = present.person()
    if isinstance(owner, str):
        return await _unreadable(request, line_id, csrf_token, owner)
    body = {"owner": owner, "iccid": iccid, "imsi": imsi}
    return await _line_action(request, line_id, csrf_token, "sim-replacements", body)


@router.post("/web/lines/{line_id}/transfer")
async def transfer(
    request: Request,
    line_id: int,
    csrf_token: Text,
    present: Counter,
    receiving: Receiver,
) -> Response:
    owner, receiver = present.person(), receiving.person()
    for person in (owner, receiver):
        if isinstance(person, str):
            return await _unreadable(request, line_id, csrf_token, person)
    body = {"owner": owner, "receiver": receiver}
    return await _line_action(request, line_id, csrf_token, "transfers", body)


@router.post("/web/lines/{line_id}/cancel")
async def cancel(
    request: Request,
    line_id: int,
    csrf_token: Text,
    reason: Text,
    present: Counter,
) -> Response:
    body: dict[str, Any] = {"reason": reason}
    if present.given:
        owner = present.person()
        if isinstance(owner, str):
            return await _unreadable(request, line_id, csrf_token, owner)
        body["owner"] = owner
    return await _line_action(request, line_id, csrf_token, "cancel", body)


@router.post("/web/lines/{line_id}/reverification")
async def reverify(
    request: Request,
    line_id: int,
    csrf_token: Text,
    present: Counter,
) -> Response:
    """The owner re-verifies at the counter (二次实名)."""
    owner = present.person()
    if isinstance(owner, str):
        return await _unreadable(request, line_id, csrf_token, owner)
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
    challenge_id: Text,
    code: Text,
    present: Counter,
) -> Response:
    """Back-fill, step 2: register the legacy line to the customer, with the code as proof."""
    staff = await form_staff(request, "clerk", csrf_token)
    if not isinstance(staff, Staff):
        return staff
    customer = present.person()
    if isinstance(customer, str):
        return await _line(request, staff, line_id, 422, error=translator(request)(customer))
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
