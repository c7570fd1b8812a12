"""Policies from TOML: the bundled presets by name, or any file an operator points at.

Presets are package data found through `importlib.resources`, so they load the same from a
source checkout, an installed wheel or a zip. Any failure becomes one `PolicyError` naming the
file and the field, because the person who meets it is editing a file, not reading Python.
"""

from __future__ import annotations

import os
import re
import tomllib
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from realname.policy.errors import PolicyError
from realname.policy.schema import Policy

_SUFFIX = ".toml"


def _presets_dir() -> Traversable:
    return resources.files("realname.policy") / "presets"


def available_presets() -> list[str]:
    return sorted(
        entry.name.removesuffix(_SUFFIX)
        for entry in _presets_dir().iterdir()
        if entry.is_file() and entry.name.endswith(_SUFFIX)
    )


def load_policy(name_or_path: str | os.PathLike[str]) -> Policy:
    """A preset name (`"china"`) or a path to a `.toml` file.

    Anything that looks like a path is read afresh each time, so an operator editing a file
    sees the change; preset names are cached, since package data does not change while running.
    """
    text = os.fspath(name_or_path)
    if isinstance(name_or_path, os.PathLike) or text.endswith(_SUFFIX) or os.sep in text:
        path = Path(text)
        try:
            raw = path.read_bytes()
        except OSError as error:
            raise PolicyError(
                str(path), [("", f"cannot read the file: {error.strerror}")]
            ) from None
        return _parse(raw, str(path))
    return _load_preset(text)


@cache
def _load_preset(name: str) -> Policy:
    names = available_presets()
    if name not in names:  # also keeps "../something" from reaching the file system
        raise PolicyError(
            repr(name), [("", f"no such preset; available: {', '.join(names) or 'none'}")]
        )
    entry = _presets_dir() / f"{name}{_SUFFIX}"
    return _parse(entry.read_bytes(), f"preset {name!r} ({entry})")


def _parse(raw: bytes, source: str) -> Policy:
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise PolicyError(source, [("", f"not UTF-8 text: {error.reason}")]) from None
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(source, [("", f"not valid TOML: {error}")]) from None
    try:
        return Policy.model_validate(data)
    except ValidationError as error:
        raise PolicyError(source, [_describe(e) for e in error.errors()]) from None


def _describe(error: Any) -> tuple[str, str]:
    """`accepted_documents.social.1` and a message that quotes the offending value."""
    location = [part for part in error["loc"] if part != "[key]"]
    field = ".".join(str(part) for part in location)
    message = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    if error["type"] == "missing":
        message = "missing (every field must be given explicitly)"
    elif error["type"] == "extra_forbidden":
        message = "unknown field (misspelt?)"
    elif error["type"] == "enum":
        message = f"unknown value {value!r}; expected {error['ctx']['expected']}"
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        message = f"{message} (got {value!r})"
    return field, message


# `chip_read_needs_reader = …` on a line of its own, and a `[card_reads]` table header (a
# comment may follow it). Edited as text, so the operator's file keeps its comments and order
# (tomllib only reads; no TOML writer ships with the project).
_NEEDS_READER = re.compile(
    r"^([ \t]*chip_read_needs_reader[ \t]*=[ \t]*)(true|false)", re.MULTILINE
)
_CARD_READS_TABLE = re.compile(r"^[ \t]*\[[ \t]*card_reads[ \t]*\][^\n]*(\n|\Z)", re.MULTILINE)
_ATTESTED_KEY = "chip_read_needs_reader = false"


def with_attested_chip_reads(name_or_path: str, folder: Path) -> Path:
    """The policy `name_or_path` as a file in `folder` that takes an API client's own
    `chip_read` claim (`card_reads.chip_read_needs_reader = false`): for a client whose own
    reader software attests its reads, such as the registration benchmark's, where the preset
    (China's) wants the channel's reader's read. Everything else is the policy's own text:
    the key's value is changed where it is, added under an existing `[card_reads]` header (a
    second header is invalid TOML), or added with a table of its own. A file written some
    other way (an inline or dotted table) is refused with what to set, never guessed at."""
    text = os.fspath(name_or_path)
    if text.endswith(_SUFFIX) or os.sep in text:
        source = Path(text).read_text(encoding="utf-8")
        origin = text
    else:
        load_policy(text)  # a known preset, or its PolicyError
        source = (_presets_dir() / f"{text}{_SUFFIX}").read_text(encoding="utf-8")
        origin = f"preset {text!r}"
    _parse(source.encode("utf-8"), origin)  # a valid policy to begin with
    changed = _set_attested(source)
    expected = tomllib.loads(source)
    expected.setdefault("card_reads", {})["chip_read_needs_reader"] = False
    try:
        edited_as_meant = tomllib.loads(changed) == expected
    except tomllib.TOMLDecodeError:
        edited_as_meant = False
    if not edited_as_meant:
        raise PolicyError(
            origin,
            [
                (
                    "card_reads.chip_read_needs_reader",
                    "cannot be set in this file's layout; write the key under a [card_reads] "
                    "table header",
                )
            ],
        )
    path = folder / f"{Path(text).stem}-attested{_SUFFIX}"
    path.write_text(changed, encoding="utf-8")
    _parse(path.read_bytes(), str(path))  # still a valid policy
    return path


def _set_attested(source: str) -> str:
    """`source` with `chip_read_needs_reader = false`, by the smallest text edit."""
    changed, found = _NEEDS_READER.subn(r"\1false", source)
    if found:
        return changed
    table = _CARD_READS_TABLE.search(source)
    if table is not None:
        header = table.group(0) if table.group(1) else table.group(0) + "\n"
        return f"{source[: table.start()]}{header}{_ATTESTED_KEY}\n{source[table.end() :]}"
    newline = "" if source.endswith("\n") or not source else "\n"
    return f"{source}{newline}\n[card_reads]\n{_ATTESTED_KEY}\n"
