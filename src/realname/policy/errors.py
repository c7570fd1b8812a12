"""Why a policy file could not be used.

A bad preset is an operator's configuration mistake found at start-up, not a customer's
refusal, so this is a plain `ValueError` rather than a `CodedError`: nobody shows it to a clerk,
but whoever edits the file must see which file and which field without reading a traceback.
"""

from __future__ import annotations


class PolicyError(ValueError):
    """Every problem found in one file at once, so a broken preset is fixed in one pass."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = [f"{field}: {message}" if field else message for field, message in problems]
        if len(lines) == 1:
            text = f"invalid policy {source}: {lines[0]}"
        else:
            text = "\n  ".join([f"invalid policy {source}:", *lines])
        super().__init__(text)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(field for field, _ in self.problems)
