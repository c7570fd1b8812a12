"""The registry's reads: a line by number (through a POST body) or by id, its history, its
owner in clear (audited), an identity's lines, a channel's stock, the re-verification queue.

Lines are addressed by their id in URLs; a phone or document number travels only in a POST
body, so none ever appears in a URL, an access log or a proxy's cache key."""

from __future__ import annotations

from fastapi import Request

from realname.http.deps import RuntimeDep
from realname.http.errors import ApiError
from realname.http.params import ChannelId, LineId, ListLimit, NumberEnding
from realname.http.principals import (
    EnterpriseQuery,
    LineReader,
    OwnerRevealer,
    context_of,
    enterprise_of,
    enterprise_to_read,
)
from realname.registry.endpoints.visibility import line_out, registry_router, visible_line
from realname.registry.errors import RegistryError, RegistryErrorCode
from realname.registry.guards import e164_of
from realname.registry.models import LineEvent
from realname.registry.repository import RegistryRepository
from realname.registry.schemas import (
    EventOut,
    IdentityLineOut,
    IdentityLinesIn,
    LineLookupIn,
    LineOut,
    OwnerRevealedOut,
    OwnerRevealIn,
)
from realname.registry.service import RegistryService
from realname.security.principals import Permission, Role

router = registry_router()


@router.post("/lines/lookup", response_model=LineOut, summary="Find a line by phone number")
def lookup(body: LineLookupIn, rt: RuntimeDep, principal: LineReader) -> LineOut:
    """The line with this number, owner masked (404 when it is not the caller's)."""
    with rt.transaction() as session:
        line = RegistryRepository(session).line(e164_of(body.msisdn))
        if line is None or not principal.sees_enterprise(line.enterprise_id):
            raise RegistryError(RegistryErrorCode.LINE_NOT_FOUND)
        return line_out(rt, session, line)


@router.get("/lines/{line_id:id}", response_model=LineOut, summary="Read a line")
def read_line(line_id: LineId, rt: RuntimeDep, principal: LineReader) -> LineOut:
    """A line's current state, owner masked."""
    with rt.transaction() as session:
        return line_out(rt, session, visible_line(session, principal, line_id))


@router.get("/lines/{line_id}/history", response_model=list[EventOut], summary="A line's history")
def history(line_id: LineId, rt: RuntimeDep, principal: LineReader) -> list[EventOut]:
    """Every state change of the line, oldest first (who, where, when, why)."""
    with rt.transaction() as session:
        line = visible_line(session, principal, line_id)
        return [event_out(e) for e in RegistryRepository(session).events_of(line.id)]


def event_out(event: LineEvent) -> EventOut:
    return EventOut(
        seq=event.seq,
        operation=event.operation,
        from_state=event.from_state,
        to_state=event.to_state,
        owner_changed=event.owner_before_id != event.owner_after_id,
        channel_id=event.channel_id,
        actor=event.actor,
        reason=event.reason,
        occurred_at=event.occurred_at,
    )


@router.post(
    "/lines/{line_id}/owner",
    response_model=OwnerRevealedOut,
    summary="Reveal a line's owner in clear (audited)",
)
def reveal_owner(
    line_id: LineId,
    body: OwnerRevealIn,
    request: Request,
    rt: RuntimeDep,
    principal: OwnerRevealer,
) -> OwnerRevealedOut:
    """The owner's full name and document number, now or at a past instant (fraud tracing).
    Only roles that need it may ask; each read is audited with its purpose."""
    at = body.at or rt.clock.now()
    with rt.transaction() as session:
        line = visible_line(session, principal, line_id)
        owner = rt.service(RegistryService, session).identities.reveal_owner(
            context_of(principal, request), line, at, body.purpose
        )
        if owner is None:
            return OwnerRevealedOut(line_id=line.id, at=at, owned=False)
        return OwnerRevealedOut(
            line_id=line.id,
            at=at,
            owned=True,
            identity_id=owner.identity_id,
            document_type=owner.document_type,
            document_number=owner.document_number,
            name=owner.name,
            nationality=owner.nationality,
            birth_date=owner.birth_date,
            sex=owner.sex,
            purged=owner.purged,
        )


@router.post(
    "/identities/lines",
    response_model=list[IdentityLineOut],
    summary="Lines of an identity within the caller's enterprise",
)
def identity_lines(
    body: IdentityLinesIn, rt: RuntimeDep, principal: LineReader
) -> list[IdentityLineOut]:
    """Which of the caller's lines (all enterprises, for a regulator) this document holds."""
    scope = None if principal.can(Permission.READ_ALL_ENTERPRISES) else enterprise_of(principal)
    with rt.transaction() as session:
        from realname.registry.commands import Person

        person = Person(
            document_number=body.document.number,
            name="",
            document_type=body.document.type,
            nationality=body.document.nationality,
        )
        return [
            IdentityLineOut(
                line_id=line.id, msisdn=line.msisdn, enterprise_id=e.id, state=line.state
            )
            for line, e in rt.service(RegistryService, session).identities.lines_of(
                person, enterprise_id=scope
            )
        ]


@router.get(
    "/channels/{channel_id}/stock", response_model=list[LineOut], summary="A channel's stock"
)
def channel_stock(
    channel_id: ChannelId,
    rt: RuntimeDep,
    principal: LineReader,
    limit: ListLimit = 1000,
    ending: NumberEnding = None,
) -> list[LineOut]:
    """SIM kits in stock at the channel, in number order, at most `limit` (a clerk sees only
    its own channel). How many there are in all: `GET /v1/stock/summary`."""
    if principal.role is Role.CLERK and principal.channel_id != channel_id:
        raise ApiError(403, "PERMISSION_DENIED", "A clerk sees only its own channel's stock.")
    with rt.transaction() as session:
        channel = RegistryRepository(session).channel(channel_id)
        if channel is None or not principal.sees_enterprise(channel.enterprise_id):
            raise RegistryError(RegistryErrorCode.CHANNEL_NOT_FOUND)
        return [
            line_out(rt, session, line)
            for line in RegistryRepository(session).stock_of(channel_id, limit, ending)
        ]


@router.get(
    "/lines/reverification-queue",
    response_model=list[LineOut],
    summary="Lines whose owner must re-verify (二次实名)",
)
def reverification_queue(
    rt: RuntimeDep,
    principal: LineReader,
    limit: ListLimit = 100,
    enterprise_id: EnterpriseQuery = None,
) -> list[LineOut]:
    """The enterprise's lines with a re-verification pending, soonest deadline first (at most
    `limit`), owners masked; a regulator names the enterprise."""
    enterprise = enterprise_to_read(principal, enterprise_id)
    with rt.transaction(readonly=True) as session:
        lines = RegistryRepository(session).reverification_queue(enterprise, limit)
        return [line_out(rt, session, line) for line in lines]
