"""The enterprise console (its administrator) and the regulator's dashboard."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from realname.compliance.figures.render import spreadsheet_safe, xlsx_bytes
from realname.compliance.inspections.rates import wilson
from realname.web.base import (
    Text,
    api_for,
    form_staff,
    page_staff,
    problem,
    refusal,
    render,
    secure,
    translator,
)
from realname.web.calls import Api
from realname.web.i18n import Translator
from realname.web.provinces import PROVINCES, province_label
from realname.web.sessions import Staff

router = APIRouter(include_in_schema=False)

RUNGS = ("notice", "interview", "rectification", "yellow_1", "yellow_2", "yellow_3", "red")
EVIDENCE_KINDS = ("inspection_round", "figure", "complaint", "action", "document")


# ---- the enterprise console --------------------------------------------------------------


async def _console(request: Request, staff: Staff, status: int = 200, **context: Any) -> Response:
    api = api_for(request, staff)
    # Independent reads, side by side (each its own in-process call and transaction).
    stock, progress, risk, complaints, actions, flags, queue = await asyncio.gather(
        api.get("/v1/stock/summary"),
        api.get("/v1/backfill/progress"),
        api.get("/v1/channels/risk", {"limit": 10}),
        api.get("/v1/complaints", {"limit": 20}),
        api.get("/v1/enforcement/actions", {"open_only": "true"}),
        api.get("/v1/complaints/flags"),
        api.get("/v1/lines/reverification-queue", {"limit": 20}),
    )
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
        flags=flags.body[:20] if flags.ok else [],
        queue=queue.body if queue.ok else [],
        **context,
    )


@router.get("/web/console")
async def console(request: Request) -> Response:
    staff = await page_staff(request, "enterprise_admin")
    if not isinstance(staff, Staff):
        return staff
    return await _console(request, staff)


@router.get("/web/console/disputes")
async def console_disputes(request: Request, closed: int = 0) -> Response:
    """The 一证通查 disputes of the enterprise's lines: a complaint case here or forwarded to
    its own instance, each with its deadline and status (`?closed=1`: the closed too)."""
    staff = await page_staff(request, "enterprise_admin")
    if not isinstance(staff, Staff):
        return staff
    answer = await api_for(request, staff).get(
        "/v1/national/disputes", {"include_closed": "true" if closed else "false", "limit": 200}
    )
    return render(
        request,
        "disputes.html",
        staff,
        disputes=answer.body if answer.ok else [],
        available=answer.ok,
        closed=bool(closed),
    )


@router.post("/web/console/channels/{channel_id}/{action}")
async def channel_status(
    request: Request,
    channel_id: int,
    action: str,
    csrf_token: Text,
    reason: Annotated[str, Form()] = "",
) -> Response:
    staff = await form_staff(request, "enterprise_admin", csrf_token)
    if not isinstance(staff, Staff):
        return staff
    if action not in ("suspend", "resume"):
        return problem(request, staff, 404, translator(request)("error.forbidden"))
    body = {"reason": reason} if reason.strip() else {}
    answer = await api_for(request, staff).post(f"/v1/channels/{channel_id}/{action}", body)
    if not answer.ok:
        return await _console(request, staff, 422, error=refusal(request, answer))
    return await _console(request, staff, done=translator(request)("done"))


@router.post("/web/console/where")
async def where_is(request: Request, csrf_token: Text, msisdn: Text) -> Response:
    """Where a kit is now (which channel), and how it got there (`POST /v1/stock/where`)."""
    staff = await form_staff(request, "enterprise_admin", csrf_token)
    if not isinstance(staff, Staff):
        return staff
    answer = await api_for(request, staff).post("/v1/stock/where", {"msisdn": msisdn.strip()})
    if not answer.ok:
        return await _console(request, staff, 404, where_error=refusal(request, answer))
    return await _console(request, staff, where=answer.body, where_msisdn=msisdn.strip())


# ---- the regulator's dashboard -----------------------------------------------------------


ROUNDS_SHOWN = 12  # the latest inspection rounds on the chart (the API takes up to 50)


async def _rounds(api: Api) -> list[dict[str, Any]]:
    """The latest inspection rounds, oldest first, each with its violation rate and Wilson
    95 % interval over every outlet visited (the sum of its enterprises' counts, as
    `realname report inspections` reads a round's overall rate)."""
    listed = await api.get("/v1/regulator/inspections/rounds")
    if not listed.ok or not listed.body:
        return []
    rounds = sorted(listed.body, key=lambda r: (r["starts_on"], r["id"]))[-ROUNDS_SHOWN:]
    rates = await api.get(
        "/v1/regulator/inspections/rates",
        {"round_id": [r["id"] for r in rounds], "by": "enterprise"},
    )
    counts: dict[int, tuple[int, int]] = {}
    for row in rates.body if rates.ok else []:
        n, hits = counts.get(row["round_id"], (0, 0))
        counts[row["round_id"]] = (n + row["inspected"], hits + row["violations"])
    out = []
    for r in rounds:
        n, hits = counts.get(r["id"], (0, 0))
        rate = wilson(hits, n)
        out.append(
            {
                "code": r["code"],
                "name": r["name"],
                "starts_on": r["starts_on"],
                "ends_on": r["ends_on"],
                "inspected": n,
                "violations": hits,
                "rate": rate.rate,
                "low": rate.low,
                "high": rate.high,
            }
        )
    return out


async def _dashboard_data(api: Api) -> dict[str, Any]:
    enterprises, figures, actions, counts, rounds = await asyncio.gather(
        api.get("/v1/enterprises"),
        api.get("/v1/regulator/figures"),
        api.get("/v1/regulator/enforcement/actions"),
        api.get("/v1/complaints/counts"),
        _rounds(api),
    )
    return {
        "enterprises": enterprises.body if enterprises.ok else [],
        "figures": figures.body if figures.ok else None,
        "actions": actions.body if actions.ok else [],
        "counts": counts.body if counts.ok else [],
        "rounds": rounds,
    }


def _chart_labels(t: Translator) -> dict[str, str]:
    """The charts' series names in the page's language (charts.js reads them)."""
    keys = (
        "registrations",
        "refused",
        "complaints",
        "violation_rate",
        "interval",
        "real_name_rate",
    )
    return {key: t(f"chart.{key}") for key in keys}


def _province_rows(groups: list[dict[str, Any]], locale: str) -> list[dict[str, Any]]:
    """The provinces' figures for the map and its table, one row per place on the map: two
    codes of one province (台湾省: 71, and 83 of the residence permits) are one row, their
    counts added and their rates taken again over the sums. Lines of no known province
    ("unknown") are a row of the table and no place on the map."""
    merged: dict[str, dict[str, Any]] = {}
    for group in groups:
        province = PROVINCES.get(group["code"] or "")
        row = merged.setdefault(
            province.map_name if province is not None else group["group"],
            {
                "code": group["code"] or group["group"],
                "map": province.map_name if province is not None else None,
                "name": province_label(group["code"], locale) if province else group["group"],
                **dict.fromkeys(_PROVINCE_COUNTS, 0),
            },
        )
        for count in _PROVINCE_COUNTS:
            row[count] += group[count] or 0
    for row in merged.values():
        row["real_name_rate"] = row["registered"] / row["lines"] if row["lines"] else None
        rate = wilson(row["violations"], row["inspected"])
        row["violation_rate"], row["low"], row["high"] = rate.rate, rate.low, rate.high
    return sorted(merged.values(), key=lambda row: (row["map"] is None, str(row["code"])))


_PROVINCE_COUNTS = ("lines", "registered", "inspected", "violations", "complaints")


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
    # The trend: the figures' months, oldest first (registrations, refusals, complaints and
    # the violation rate), as a chart with the same numbers in a table beside it.
    trend = [
        {
            "month": m["group"],
            "registrations": m["registrations"],
            "refused": m["refused"],
            "complaints": m["complaints"],
            "violation_rate": m["violation_rate"],
        }
        for m in sorted(
            data["figures"]["by_month"] if data["figures"] else [], key=lambda m: m["group"]
        )
    ]
    licences = {e["code"]: e["licence_status"] for e in data["enterprises"]}
    ids = {e["id"]: e["code"] for e in data["enterprises"]}
    t = translator(request)
    # The map by province: the real-name rate colours it; the table beside it has the same
    # numbers (and the violation rate with its interval) for those who read rather than look.
    provinces = _province_rows((data["figures"] or {}).get("by_province", []), t.locale)
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
        chart=chart,
        trend=trend,
        rounds=data["rounds"],
        provinces=provinces,
        chart_labels=_chart_labels(t),
        rungs=RUNGS,
        evidence_kinds=EVIDENCE_KINDS,
        **context,
    )


@router.get("/web/dashboard")
async def dashboard(request: Request) -> Response:
    staff = await page_staff(request, "regulator")
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


@router.get("/web/dashboard/export.xlsx")
async def export_xlsx(request: Request) -> Response:
    """The same figures as the CSV, as a workbook (numbers as numbers; text that a
    spreadsheet would run as a formula stays text)."""
    staff = await page_staff(request, "regulator")
    if not isinstance(staff, Staff):
        return staff
    figures = await api_for(request, staff).get("/v1/regulator/figures")
    rows = figures.body["enterprises"] if figures.ok else []
    period = str(figures.body["period"]) if figures.ok else ""
    name = quote(f"realname-figures-{period or 'now'}.xlsx")
    response = Response(
        xlsx_bytes(list(EXPORT_COLUMNS), rows, f"figures {period}".strip()),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename={name}"},
    )
    return secure(response)


@router.get("/web/dashboard/export.csv")
async def export_csv(request: Request) -> Response:
    staff = await page_staff(request, "regulator")
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
            writer.writerow([spreadsheet_safe(row.get(column, "")) for column in EXPORT_COLUMNS])
    name = quote(f"realname-figures-{period or 'now'}.csv")
    response = Response(
        out.getvalue().encode("utf-8-sig"),  # with a BOM, so Excel reads the Chinese names
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f"attachment; filename={name}"},
    )
    return secure(response)


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
    staff = await form_staff(request, "regulator", csrf_token)
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
