"""The provisioning API under /v1.

Licences and number blocks are the ministry's: the regulator creates enterprises, records
licence decisions and allocates blocks (scope `licensing:write`). An enterprise's admin builds
its own channel tree and staffs it (scope `registry:write`); every id of another enterprise
answers 404, like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from realname.http.deps import RuntimeDep
from realname.http.errors import refusals
from realname.http.idempotency import run_once
from realname.http.principals import (
    LineReader,
    Provisioner,
    ProvisioningReader,
    Regulator,
    context_of,
    enterprise_of,
)
from realname.numbering.blocks import NumberBlock
from realname.provisioning.document import BlockSpec, ChannelSpec, ClerkSpec, EnterpriseSpec
from realname.provisioning.errors import ProvisioningError, ProvisioningErrorCode
from realname.provisioning.schemas import (
    BlockIn,
    BlockOut,
    ChannelIn,
    ChannelMoveIn,
    ClerkIn,
    ClerkOut,
    EnterpriseIn,
    EnterpriseOut,
    LicenceIn,
    ProvisionedChannelOut,
)
from realname.provisioning.service import ProvisioningService
from realname.registry.models import Channel, Clerk, Enterprise, NumberBlockRow
from realname.security.principals import Permission, Principal

C = ProvisioningErrorCode
router = APIRouter(
    prefix="/v1",
    tags=["provisioning"],
    responses=refusals(
        {
            404: "No such enterprise, channel or clerk",
            409: "Refused: exists, overlaps, cycle, licence",
            422: "Refused: invalid field (REALNAME.* code)",
        }
    ),
)
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
EnterpriseQuery = Annotated[
    int | None, Query(ge=1, le=2**31 - 1, description="Regulators: only this enterprise")
]


def _service(rt: RuntimeDep, session: Session) -> ProvisioningService:
    return ProvisioningService(session, rt.keyring)


def _enterprise_out(service: ProvisioningService, e: Enterprise) -> EnterpriseOut:
    return EnterpriseOut(
        id=e.id,
        code=e.code,
        name=e.name,
        kind=e.kind,
        host_code=service.host_code(e),
        licence_status=e.licence_status,
        licence_since=e.licence_status_since,
        licence_no=e.licence_no,
        provinces=list(e.provinces or []),
    )


def _block_out(b: NumberBlockRow) -> BlockOut:
    size = NumberBlock(b.first, b.last).size
    return BlockOut(
        id=b.id, enterprise_id=b.enterprise_id, first="+" + b.first, last="+" + b.last, size=size
    )


def _channel_out(c: Channel) -> ProvisionedChannelOut:
    return ProvisionedChannelOut(
        id=c.id,
        code=c.code,
        name=c.name,
        kind=c.kind,
        region_code=c.region_code,
        parent_id=c.parent_id,
        status=c.status,
    )


def _clerk_out(k: Clerk) -> ClerkOut:
    return ClerkOut(id=k.id, code=k.code, name=k.name, channel_id=k.channel_id, status=k.status)


def _own_channel(service: ProvisioningService, enterprise_id: int, channel_id: int) -> Channel:
    channel = service.repo.channel_by_id(channel_id)
    if channel is None or channel.enterprise_id != enterprise_id:
        raise ProvisioningError(C.CHANNEL_NOT_FOUND)
    return channel


def _visible(principal: Principal, enterprise_id: int | None) -> int | None:
    """The enterprise a reader may list: its own, or for a regulator any (None: all)."""
    if principal.can(Permission.READ_ALL_ENTERPRISES):
        return enterprise_id
    own = enterprise_of(principal)
    if enterprise_id not in (None, own):
        raise ProvisioningError(C.ENTERPRISE_NOT_FOUND)
    return own


# --- enterprises (the regulator) -------------------------------------------------------------


@router.get("/enterprises", response_model=list[EnterpriseOut], summary="List enterprises")
def list_enterprises(
    rt: RuntimeDep, principal: LineReader, enterprise_id: EnterpriseQuery = None
) -> list[EnterpriseOut]:
    """Enterprises with kind, host operator, licence status and provinces served. A
    regulator sees every enterprise; an enterprise's own staff see their enterprise."""
    wanted = _visible(principal, enterprise_id)
    with rt.transaction() as session:
        service = _service(rt, session)
        rows = service.repo.enterprises()
        return [_enterprise_out(service, e) for e in rows if wanted in (None, e.id)]


@router.post(
    "/enterprises", status_code=201, response_model=EnterpriseOut, summary="Create an enterprise"
)
def create_enterprise(
    body: EnterpriseIn, request: Request, rt: RuntimeDep, principal: Regulator
) -> JSONResponse:
    """The regulator licenses an operator: an MNO, or an MVNO on a host MNO, with its licence
    status (pilot or official) and the provinces it serves. The same body again is 201 with
    the existing enterprise; the same code with other values is 409."""

    def work(session: Session) -> EnterpriseOut:
        service = _service(rt, session)
        spec = EnterpriseSpec(
            code=body.code,
            name=body.name,
            kind=body.kind,
            host=body.host_code,
            licence_status=body.licence_status,
            licence_since=body.licence_since,
            licence_no=body.licence_no,
            provinces=tuple(body.provinces),
        )
        enterprise = service.add_enterprise(context_of(principal, request), spec, source="api")
        return _enterprise_out(service, enterprise)

    return run_once(request, rt, principal, body, 201, work)


@router.post(
    "/enterprises/{enterprise_id}/licence",
    response_model=EnterpriseOut,
    summary="Record a licence decision",
)
def change_licence(
    enterprise_id: Id, body: LicenceIn, request: Request, rt: RuntimeDep, principal: Regulator
) -> EnterpriseOut:
    """Pilot to official, suspension, reinstatement or revocation (final), effective on a
    date; kept in the licence history and audited. A suspended or revoked enterprise gets no
    new blocks, channels or clerks."""
    with rt.transaction() as session:
        service = _service(rt, session)
        code = service.enterprise(enterprise_id).code
        enterprise = service.set_licence(
            context_of(principal, request), code, body.status, body.effective_on
        )
        return _enterprise_out(service, enterprise)


# --- number blocks (the regulator allocates; readers list) ------------------------------------


@router.get("/blocks", response_model=list[BlockOut], summary="List number blocks")
def list_blocks(
    rt: RuntimeDep, principal: LineReader, enterprise_id: EnterpriseQuery = None
) -> list[BlockOut]:
    """Allocated number blocks: a regulator's of every enterprise (or `?enterprise_id=`), an
    enterprise's staff their own."""
    wanted = _visible(principal, enterprise_id)
    with rt.transaction() as session:
        return [_block_out(b) for b in _service(rt, session).repo.blocks(wanted)]


@router.post("/blocks", status_code=201, response_model=BlockOut, summary="Allocate a number block")
def allocate_block(
    body: BlockIn, request: Request, rt: RuntimeDep, principal: Regulator
) -> JSONResponse:
    """The regulator allocates a range of mobile numbers (`prefix`, e.g. `+86 170 1`, or
    `first` and `last`) to an enterprise; it may overlap no allocated block (409)."""

    def work(session: Session) -> BlockOut:
        service = _service(rt, session)
        code = service.enterprise(body.enterprise_id).code
        spec = BlockSpec(enterprise=code, prefix=body.prefix, first=body.first, last=body.last)
        return _block_out(service.add_block(context_of(principal, request), spec, source="api"))

    return run_once(request, rt, principal, body, 201, work)


# --- the channel tree and clerks (an enterprise's admin) --------------------------------------


@router.post(
    "/channels",
    status_code=201,
    response_model=ProvisionedChannelOut,
    summary="Create a channel",
)
def create_channel(
    body: ChannelIn, request: Request, rt: RuntimeDep, staff: Provisioner
) -> JSONResponse:
    """A hall, a social channel or an online shop of the caller's enterprise, optionally under
    a parent channel (an agent's sub-agent); its region must be in a province the enterprise
    serves."""
    enterprise_id = staff.enterprise_id

    def work(session: Session) -> ProvisionedChannelOut:
        service = _service(rt, session)
        code = service.enterprise(enterprise_id).code
        parent = None
        if body.parent_id is not None:
            try:
                parent = _own_channel(service, enterprise_id, body.parent_id).code
            except ProvisioningError:
                raise ProvisioningError(C.PARENT_NOT_FOUND) from None
        spec = ChannelSpec(code, body.code, body.name, body.kind, body.region_code, parent)
        channel = service.add_channel(staff.ctx, spec, source="api")
        return _channel_out(channel)

    return run_once(request, rt, staff.principal, body, 201, work)


@router.post(
    "/channels/{channel_id}/move",
    response_model=ProvisionedChannelOut,
    summary="Move a channel in the tree",
)
def move_channel(
    channel_id: Id, body: ChannelMoveIn, rt: RuntimeDep, staff: Provisioner
) -> ProvisionedChannelOut:
    """Put the channel under another parent of the same enterprise (or at the top with
    `parent_id: null`); never under itself or one of its own sub-channels (409). Audited."""
    enterprise_id = staff.enterprise_id
    with rt.transaction() as session:
        service = _service(rt, session)
        channel = _own_channel(service, enterprise_id, channel_id)
        parent = None
        if body.parent_id is not None:
            try:
                parent = _own_channel(service, enterprise_id, body.parent_id).code
            except ProvisioningError:
                raise ProvisioningError(C.PARENT_NOT_FOUND) from None
        moved = service.move_channel(staff.ctx, enterprise_id, channel.code, parent)
        return _channel_out(moved)


@router.get("/clerks", response_model=list[ClerkOut], summary="List clerks")
def list_clerks(rt: RuntimeDep, staff: ProvisioningReader) -> list[ClerkOut]:
    """The clerks of the caller's enterprise with their channel and status."""
    enterprise_id = staff.enterprise_id
    with rt.transaction() as session:
        rows = _service(rt, session).repo.clerks(enterprise_id)
        return [_clerk_out(clerk) for clerk, _ in rows]


@router.post("/clerks", status_code=201, response_model=ClerkOut, summary="Create a clerk")
def create_clerk(
    body: ClerkIn, request: Request, rt: RuntimeDep, staff: Provisioner
) -> JSONResponse:
    """A clerk at one of the caller's channels; the staff code is unique."""
    enterprise_id = staff.enterprise_id

    def work(session: Session) -> ClerkOut:
        service = _service(rt, session)
        channel = _own_channel(service, enterprise_id, body.channel_id)
        code = service.enterprise(enterprise_id).code
        spec = ClerkSpec(code, channel.code, body.code, body.name)
        return _clerk_out(service.add_clerk(staff.ctx, spec, source="api"))

    return run_once(request, rt, staff.principal, body, 201, work)


@router.post("/clerks/{clerk_id}/disable", response_model=ClerkOut, summary="Disable a clerk")
def disable_clerk(clerk_id: Id, rt: RuntimeDep, staff: Provisioner) -> ClerkOut:
    """The clerk registers no one from now on, and the API clients bound to the clerk are
    revoked (their tokens are refused within seconds). Audited."""
    enterprise_id = staff.enterprise_id
    with rt.transaction() as session:
        service = _service(rt, session)
        clerk = service.repo.clerk_by_id(clerk_id)
        channel = service.repo.channel_by_id(clerk.channel_id) if clerk is not None else None
        if clerk is None or channel is None or channel.enterprise_id != enterprise_id:
            raise ProvisioningError(C.CLERK_NOT_FOUND)
        disabled = service.disable_clerk(staff.ctx, enterprise_id, clerk.code)
        return _clerk_out(disabled)
