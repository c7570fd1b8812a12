"""`/v1/national/feeds`: the platform's side of the enterprise feeds."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Request, Security
from starlette.concurrency import run_in_threadpool

from realname.http.deps import Runtime, RuntimeDep
from realname.http.errors import refusals
from realname.http.principals import Allowed
from realname.national.feeds.envelope import Envelope
from realname.national.feeds.errors import FeedError, FeedErrorCode
from realname.national.feeds.jobs import take_batch
from realname.national.feeds.keys import PlatformKeys, b64
from realname.national.feeds.schemas import FeedStateOut, SealingKeyOut, TakenOut
from realname.national.feeds.service import feed_status
from realname.security.principals import Permission, Principal

FEED = "national:feed"
# Only the feed client is granted PUBLISH_FEED.
FeedClient = Annotated[Principal, Security(Allowed(Permission.PUBLISH_FEED), scopes=[FEED])]
# The ministry that licenses the enterprises docks their feeds: the national regulator.
FeedWatcher = Annotated[
    Principal, Security(Allowed(Permission.LICENSE), scopes=["compliance:read"])
]
MAX_BATCH_BYTES = 64 * 1024 * 1024

router = APIRouter(
    prefix="/v1/national/feeds",
    tags=["national feeds"],
    responses=refusals(
        {
            401: "Unsigned, a signature that does not verify, or a retired key "
            "(REALNAME.FEED_*): reported",
            404: "No such enterprise at the platform (REALNAME.FEED_ENTERPRISE_UNKNOWN)",
            409: "A conflicting replay, or a gap: the X-Expected-Batch header names the batch "
            "expected",
            422: "An item is malformed, or sealed to a key the platform does not hold",
        }
    ),
)


def platform_keys_of(rt: Runtime) -> PlatformKeys:
    """The platform's sealing and index keys, as the composition root built them."""
    return rt.provided(PlatformKeys)


@router.post("/batches", response_model=TakenOut, summary="Push a signed feed batch")
async def push_batch(request: Request, rt: RuntimeDep, principal: FeedClient) -> TakenOut:
    """One numbered batch of the caller's enterprise's line changes, signed with its
    registered Ed25519 key, document numbers sealed to the platform's key (docs/national.md).

    Taken whole or not at all. The same batch again (same number, same digest) answers
    `duplicate: true` and changes nothing; another batch under a number already taken is
    refused `FEED_BATCH_CONFLICT`; a batch ahead of the expected one `FEED_BATCH_GAP`, with
    the expected number in `X-Expected-Batch`. Every refusal is reported to the regulator."""
    data = await request.body()
    if len(data) > MAX_BATCH_BYTES:
        raise FeedError(FeedErrorCode.FEED_MALFORMED, "the batch is too large")
    keys = platform_keys_of(rt)

    def work() -> TakenOut:
        # parsing and verifying up to 64 MB is CPU: in a worker thread, not on the event
        # loop, where it stalled every other request of this worker
        envelope = Envelope.from_bytes(data)
        taken = take_batch(
            rt.uow,
            keys,
            envelope,
            at=rt.clock.now(),
            transport="http",
            client_enterprise_id=principal.enterprise_id,
        )
        return TakenOut(**taken.as_dict())

    return await run_in_threadpool(work)


@router.get("/sealing-key", response_model=SealingKeyOut, summary="The platform's sealing key")
def sealing_key(rt: RuntimeDep, _principal: FeedClient) -> SealingKeyOut:
    """The X25519 public key to seal document numbers to (PyNaCl / libsodium sealed box)."""
    public = platform_keys_of(rt).public
    return SealingKeyOut(key_id=public.key_id, public_key=b64(public.public))


@router.get("", response_model=list[FeedStateOut], summary="Whose feed is late or broken")
def feeds(rt: RuntimeDep, _principal: FeedWatcher) -> list[FeedStateOut]:
    """Every enterprise's feed: `broken` when its last batch was refused (see the refusals),
    `late` when nothing came for REALNAME_NATIONAL_FEED_LATE_SECONDS, `never` when nothing
    came at all."""
    late = timedelta(seconds=rt.settings.national_feed_late_seconds)
    with rt.transaction(readonly=True) as session:
        states = feed_status(session, rt.clock.now(), late)
    return [FeedStateOut(**asdict(state)) for state in states]
