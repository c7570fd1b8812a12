"""`POST /v1/card-reads` (the channel's card reader) and `GET /v1/card-reads/latest` (a
clerk of that channel); `person_at`, the one way a counter operation turns its `customer` or
`owner` into the person it verifies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Security, status

from realname.http.deps import RuntimeDep
from realname.http.errors import ApiError
from realname.http.principals import READ, Allowed, AtCounter, Counter, context_of
from realname.registry.cardreads.schemas import CardReadIn, CardReadOut, WaitingReadOut
from realname.registry.cardreads.service import CardReadService
from realname.registry.commands import Context, Person
from realname.registry.errors import RegistryError, RegistryErrorCode
from realname.registry.schemas import CardPersonIn, CounterPersonIn
from realname.registry.service import RegistryService
from realname.security.principals import Permission, Principal

CARD_READS = "cardreads:write"

router = APIRouter(prefix="/v1", tags=["card reads"])

CardReader = Annotated[Principal, Security(Allowed(Permission.READ_CARDS), scopes=[CARD_READS])]
ClerkReading = Annotated[Counter, Security(AtCounter(Permission.REGISTER), scopes=[READ])]


def card_reads(registry: RegistryService) -> CardReadService:
    """The card reads on the registry's unit of work."""
    return CardReadService(registry.session, keyring=registry.keyring, policy=registry.policy)


def person_at(
    registry: RegistryService, ctx: Context, channel_id: int, person: CounterPersonIn
) -> Person:
    """The read it names (taken: spent in this transaction), or the person as given, whose
    `entry_method` must be stated and whose `chip_read` claim the policy judges."""
    reads = card_reads(registry)
    if isinstance(person, CardPersonIn):
        return reads.take(ctx, channel_id, person.card_read_id, person.face_score)
    if person.entry_method is None:
        # Never assumed: it was chip_read, which let any client claim the most trusted
        # capture by leaving it out. The refusal says what to send.
        raise RegistryError(RegistryErrorCode.ENTRY_METHOD_REQUIRED)
    given = person.to_person()
    reads.check_claim(given)
    return given


@router.post(
    "/card-reads",
    status_code=status.HTTP_201_CREATED,
    response_model=CardReadOut,
    summary="The card reader posts a chip's data",
)
def record(body: CardReadIn, request: Request, rt: RuntimeDep, reader: CardReader) -> CardReadOut:
    """A card reader (role `card_reader`, bound to one channel) posts what it read from an
    ID card's chip. It is kept sealed for `card_reads.ttl_seconds` (policy) for a clerk of
    that channel to name once, as `card_read_id`; then it is gone."""
    if reader.enterprise_id is None or reader.channel_id is None:
        raise ApiError(403, "PERMISSION_DENIED", "A card reader acts for one channel.")
    with rt.transaction() as session:
        read = card_reads(rt.service(RegistryService, session)).record(
            context_of(reader, request),
            enterprise_id=reader.enterprise_id,
            channel_id=reader.channel_id,
            reader=reader.client_id,
            card=body.to_card(),
        )
        return CardReadOut(
            id=read.public_id,
            channel_id=read.channel_id,
            read_at=read.read_at,
            expires_at=read.expires_at,
        )


@router.get(
    "/card-reads/latest",
    response_model=WaitingReadOut,
    summary="The card just read at the clerk's channel (masked)",
    responses={404: {"description": "No unused read waits at this channel"}},
)
def latest(rt: RuntimeDep, counter: ClerkReading) -> WaitingReadOut:
    """The channel's latest unused, unexpired read, masked, for the clerk to check and
    name as `card_read_id`. 404 `REALNAME.CARD_READ_NOT_FOUND` when none waits."""
    with rt.transaction(readonly=True) as session:
        read = card_reads(rt.service(RegistryService, session)).latest(
            counter.ctx, counter.channel_id
        )
    if read is None:
        raise RegistryError(RegistryErrorCode.CARD_READ_NOT_FOUND)
    return WaitingReadOut.of(read)
