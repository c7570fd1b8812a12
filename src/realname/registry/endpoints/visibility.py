"""What a caller may see of a line, for every route of the registry's router: `visible_line`
(the one tenant check: a line another enterprise owns answers 404, exactly like a line that
does not exist) and `line_out` (the line with its owner masked); and the router's refusals."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session

from realname.http.deps import Runtime
from realname.http.errors import refusals
from realname.registry.errors import RegistryError, RegistryErrorCode
from realname.registry.identities import masked_owner
from realname.registry.models import Line
from realname.registry.rows import LineRow, MaskedOwner
from realname.registry.schemas import LineOut, OwnerOut
from realname.security.principals import Principal

REFUSALS = refusals(
    {
        404: "No such line for this caller",
        409: "Refused: state, cap or conflict",
        422: "Refused by the rules (REALNAME.* code)",
    }
)


def registry_router() -> APIRouter:
    """A part of the registry's router: /v1, tagged `registry`, with its refusals (each part
    declares the same, so the OpenAPI document is what one router gave)."""
    return APIRouter(prefix="/v1", tags=["registry"], responses=REFUSALS)


def visible_line(session: Session, principal: Principal, line_id: int) -> Line:
    line = session.get(Line, line_id)
    if line is None or not principal.sees_enterprise(line.enterprise_id):
        raise RegistryError(RegistryErrorCode.LINE_NOT_FOUND)
    return line


def line_out(rt: Runtime, session: Session, line: Line) -> LineOut:
    return line_view(line, masked_owner(session, rt.keyring, line))


def line_view(line: Line | LineRow, owner: MaskedOwner | None) -> LineOut:
    """A line as the API shows it, with its owner masked: from the ORM row a read loaded, or
    from the row a registration wrote (`LineRow`, its owner masked by the write, not re-read)."""
    return LineOut(
        id=line.id,
        msisdn=line.msisdn,
        enterprise_id=line.enterprise_id,
        state=line.state,
        channel_id=line.channel_id,
        barring_reason=line.barring_reason,
        owner=(
            None
            if owner is None
            else OwnerOut(
                document_type=owner.document_type,
                document_number=owner.document_number,
                name=owner.name,
            )
        ),
        activated_at=line.activated_at,
        owner_since=line.owner_since,
        sim_changed_at=line.sim_changed_at,
        reverify_deadline=line.reverify_deadline,
        cooling_until=line.cooling_until,
    )
