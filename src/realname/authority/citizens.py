"""Citizens files: test citizens for the simulated authority (`realname authority enrol`) and
the stub server (`realname authority stub --citizens`).

Two formats, chosen by the file's first non-blank character:

- CSV with a header row: `document_type,document_number,name[,revoked]`
- JSON lines (first character `{`): `{"document_type": ..., "document_number": ...,
  "name": ..., "revoked": false}`

`document_type` may be empty (detected from the number); `revoked` is true/false, yes/no,
1/0 or empty (false). Every row is validated with `parse_document`; errors name the line
number and the problem, never the number or the name themselves.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from realname.identity.documents import ParsedDocument, parse_document
from realname.identity.errors import DocumentError
from realname.identity.names import normalize_name

COLUMNS = ("document_type", "document_number", "name", "revoked")
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n", ""}


@dataclass(frozen=True)
class Citizen:
    document: ParsedDocument
    name: str  # normalised
    revoked: bool = False


@dataclass(frozen=True)
class RowError:
    line: int
    problem: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}"


@dataclass(frozen=True)
class CitizensFile:
    citizens: list[Citizen]
    errors: list[RowError]


def read_citizens(path: Path, *, today: date) -> CitizensFile:
    """Every row of the file, validated; a file that cannot be read raises OSError."""
    return parse_citizens(path.read_text(encoding="utf-8-sig"), today=today)


def parse_citizens(text: str, *, today: date) -> CitizensFile:
    rows = _json_rows(text) if text.lstrip().startswith("{") else _csv_rows(text)
    citizens: list[Citizen] = []
    errors: list[RowError] = []
    seen: dict[tuple[str, str], int] = {}
    for line, row in rows:
        if isinstance(row, str):
            errors.append(RowError(line, row))
            continue
        try:
            citizen = _citizen(row, today)
        except _RowProblemError as problem:
            errors.append(RowError(line, str(problem)))
            continue
        key = (str(citizen.document.type), citizen.document.number)
        if key in seen:
            errors.append(RowError(line, f"the same document as line {seen[key]}"))
            continue
        seen[key] = line
        citizens.append(citizen)
    if not citizens and not errors:
        errors.append(RowError(1, "no citizens in the file"))
    return CitizensFile(citizens, errors)


class _RowProblemError(ValueError):
    pass


def _citizen(row: dict[str, Any], today: date) -> Citizen:
    unknown = sorted(set(row) - set(COLUMNS))
    if unknown:
        raise _RowProblemError(f"unknown column(s): {', '.join(unknown)}")
    number = str(row.get("document_number") or "").strip()
    name = normalize_name(str(row.get("name") or ""))
    doc_type = str(row.get("document_type") or "").strip() or None
    if not number:
        raise _RowProblemError("document_number is missing")
    if not name:
        raise _RowProblemError("name is missing")
    try:
        document = parse_document(number, doc_type, today=today)
    except DocumentError as error:
        raise _RowProblemError(f"document_number: {error.message} ({error.code})") from None
    return Citizen(document, name, _revoked(row.get("revoked")))


def _revoked(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = "" if value is None else str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _RowProblemError("revoked must be true or false")


def _csv_rows(text: str) -> list[tuple[int, dict[str, Any] | str]]:
    reader = csv.reader(io.StringIO(text))
    rows: list[tuple[int, dict[str, Any] | str]] = []
    header: list[str] | None = None
    for fields in reader:
        line = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        if header is None:
            header = [f.strip().lower() for f in fields]
            missing = {"document_number", "name"} - set(header)
            if missing:
                return [(line, f"the header needs the columns {', '.join(COLUMNS)}")]
            continue
        if len(fields) != len(header):
            rows.append((line, f"{len(fields)} fields, the header has {len(header)}"))
            continue
        rows.append((line, dict(zip(header, fields, strict=True))))
    return rows


def _json_rows(text: str) -> list[tuple[int, dict[str, Any] | str]]:
    rows: list[tuple[int, dict[str, Any] | str]] = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            rows.append((line, "not a JSON object"))
            continue
        rows.append((line, value if isinstance(value, dict) else "not a JSON object"))
    return rows
