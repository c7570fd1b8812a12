"""What every registry module refuses the same way: the short names of the codes, states and
operations, a reason's code or sealed note, a policy violation raised as a registry error,
and the look-ups that refuse what a caller may not touch (another enterprise's channel, an
inactive clerk, a number that does not parse)."""

from __future__ import annotations

from realname.numbering.errors import NumberError
from realname.numbering.msisdn import parse_msisdn
from realname.policy import checks
from realname.registry.commands import TypedText
from realname.registry.errors import RegistryError, RegistryErrorCode
from realname.registry.integrity import is_reason_code
from realname.registry.lifecycle import LineState, Operation
from realname.registry.models import Channel, Clerk, Enterprise, Line
from realname.registry.repository import RegistryRepository

E = RegistryErrorCode
S = LineState
O = Operation  # noqa: E741


def coded(text: str | None, fallback: str | None) -> tuple[str | None, str | None]:
    """(reason code, note to seal): a coded reason (lower-case words, no digits) from our own
    code is kept; anything a person typed (`TypedText`, or not code-shaped) becomes a sealed
    note under the fallback code."""
    if not text:
        return None, None
    if not isinstance(text, TypedText) and is_reason_code(text):
        return text, None
    return fallback, text


def refuse_on(violation: checks.PolicyViolation | None) -> None:
    if violation is not None:
        raise RegistryError(RegistryErrorCode(violation.value.upper()))


def e164_of(raw: str) -> str:
    try:
        return parse_msisdn(raw).e164
    except NumberError as error:
        raise RegistryError(E.NUMBER_INVALID, str(error.code)) from None


def get_enterprise(repo: RegistryRepository, enterprise_id: int) -> Enterprise:
    enterprise = repo.enterprise(enterprise_id)
    if enterprise is None:
        raise RegistryError(E.ENTERPRISE_NOT_FOUND)
    return enterprise


def get_channel(
    repo: RegistryRepository, enterprise_id: int, channel_id: int, must_be_active: bool = False
) -> Channel:
    channel = repo.channel(channel_id)
    if channel is None or channel.enterprise_id != enterprise_id:
        raise RegistryError(E.CHANNEL_NOT_FOUND)
    if must_be_active and channel.status != "active":
        raise RegistryError(E.CHANNEL_NOT_AUTHORISED, channel.status_reason)
    return channel


def get_clerk(repo: RegistryRepository, channel: Channel, clerk_id: int) -> Clerk:
    clerk = repo.clerk(clerk_id)
    if clerk is None or clerk.channel_id != channel.id or clerk.status != "active":
        raise RegistryError(E.CLERK_NOT_AUTHORISED)
    return clerk


def locked_line(repo: RegistryRepository, enterprise_id: int, msisdn: str) -> Line:
    """The enterprise's line with this number, locked for the change (LINE_NOT_FOUND for any
    other enterprise's: never a probe of another tenant's numbers)."""
    line = repo.line_for_update(e164_of(msisdn))
    if line is None or line.enterprise_id != enterprise_id:
        raise RegistryError(E.LINE_NOT_FOUND)
    return line
