"""Errors of the outbox and its gateways. Their text never holds a phone number or a body."""

from __future__ import annotations


class MessagingError(Exception):
    """Base of everything the messaging domain raises."""


class OutboxError(MessagingError, ValueError):
    """A message that cannot be queued; the text names the field, never its value."""


class GatewayError(MessagingError):
    """A gateway refused or could not take a message. `code` is short and stable
    (`smpp:0x0000000b`, `file:destination`, `connection`), recorded as the outbox row's
    `last_error` together with the text."""

    def __init__(self, message: str, *, code: str = "gateway") -> None:
        super().__init__(message)
        self.code = code

    @property
    def record(self) -> str:
        """What the outbox stores in `last_error` (at most 200 characters)."""
        return f"{self.code}: {self}"[:200]


class TemporaryGatewayError(GatewayError):
    """Try again later (throttled, queue full, connection lost, no answer in time).

    `gateway_down` says the gateway as a whole is unavailable or pushing back, not just this
    message: the sender then stops the batch, hands the rest back and pauses, instead of
    spending one attempt of every queued message on a gateway that is down.
    """

    def __init__(self, message: str, *, code: str = "temporary", gateway_down: bool = False):
        super().__init__(message, code=code)
        self.gateway_down = gateway_down


class PermanentGatewayError(GatewayError):
    """Trying again cannot help (invalid destination, message rejected): failed at once."""
