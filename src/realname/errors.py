"""The shape every user-facing refusal shares: a stable code, a bilingual message, no PII.

Domain packages subclass `CodedError` with their own code enum and message table; the HTTP
layer turns any of them into a CAMARA error body, choosing the language from the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import ClassVar


def wants_chinese(language: str) -> bool:
    return language.lower().startswith("zh")


class CodedError(ValueError):
    """A refusal a user can cause. `detail` is an extra English hint and must carry no PII."""

    messages: ClassVar[Mapping[StrEnum, tuple[str, str]]] = {}

    def __init__(self, code: StrEnum, detail: str | None = None) -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail or self.message_in('en')}")

    def message_in(self, language: str) -> str:
        english, chinese = self.messages[self.code]
        return chinese if wants_chinese(language) else english

    @property
    def message(self) -> str:
        return self.message_in("en")

    @property
    def message_zh(self) -> str:
        return self.message_in("zh")
