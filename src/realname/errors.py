"""The shape every user-facing refusal shares: a stable code, a bilingual message, no PII.

Domain packages subclass `CodedError` with their own code enum and message table; the HTTP
layer turns any of them into a CAMARA error body, choosing the language from the request. It is
the one error base: the HTTP kit's own refusals and the CAMARA verification errors derive from
it too, overriding only how their code travels (`wire_code`) and their headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import ClassVar


def wants_chinese(language: str) -> bool:
    return language.lower().startswith("zh")


class CodedError(ValueError):
    """A refusal a user can cause. `detail` is an extra English hint and must carry no PII.

    Every entry point reads the same three things from any of them: `http_status` (a domain
    declares its table; 422 by default), `retry_after` (seconds, sent as Retry-After: rate
    limits, an authority outage) and `transient` (the same request may succeed later, so it is
    neither stored as an idempotent answer nor counted against a channel)."""

    messages: ClassVar[Mapping[StrEnum, tuple[str, str]]] = {}
    statuses: ClassVar[Mapping[StrEnum, int]] = {}
    transient_codes: ClassVar[frozenset[StrEnum]] = frozenset()

    def __init__(
        self, code: StrEnum, detail: str | None = None, *, retry_after: int | None = None
    ) -> None:
        self.code = code
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(f"{code}: {detail or self.message_in('en')}")

    @property
    def http_status(self) -> int:
        return self.statuses.get(self.code, 422)

    @property
    def wire_code(self) -> str:
        """The `code` of the error body: a domain's codes live under the `REALNAME.` namespace."""
        return f"REALNAME.{str(self.code).upper()}"

    def response_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after else {}

    @property
    def transient(self) -> bool:
        return self.code in self.transient_codes

    def message_in(self, language: str) -> str:
        english, chinese = self.messages[self.code]
        return chinese if wants_chinese(language) else english

    @property
    def message(self) -> str:
        return self.message_in("en")

    @property
    def message_zh(self) -> str:
        return self.message_in("zh")
