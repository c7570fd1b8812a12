"""`realname national export`: the platform's data as the Parquet datasets national analytics
read (issue 16 §3; the contract between the platform and the analytics).

- `national_lines`: one row per line the feeds told (the national index), keys only.
- `national_complaints`: one row per complaint the complaint centre traced to a line (the
  enterprise, the selling channel's province and kind, the category, the month received).
- `national_inspections`: one row per outlet visited in a secret-inspection round.
- `national_complaint_sources`: the enterprises `national_complaints` covers (those whose
  lines this instance's registry holds).

Each in its schema from realname/national/analytics/dataset.py, the one both sides use; no
number, name or document leaves in any of them.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from realname.compliance.complaints.repository import ComplaintRepository
from realname.compliance.inspections.repository import InspectionRepository
from realname.national.analytics.dataset import (
    COMPLAINT_SOURCES,
    COMPLAINTS,
    INSPECTIONS,
    LINES,
    NATIONAL_COMPLAINT_SOURCES_SCHEMA,
    NATIONAL_COMPLAINTS_SCHEMA,
    NATIONAL_INSPECTIONS_SCHEMA,
    NATIONAL_LINES_SCHEMA,
)
from realname.national.index.repository import IndexRepository


@dataclass(frozen=True)
class Exported:
    path: Path
    rows: int


# (dataset, rows written so far): called at every row group, for a progress display.
Written = Callable[[str, int], None]


def _silent(_name: str, _rows: int) -> None:
    return None


def export_lines(
    session: Session, directory: str | Path, chunk: int = 100_000, written: Written = _silent
) -> Exported:
    """Write `DIR/national_lines/part-0.parquet` (streamed in row groups of `chunk`)."""

    def record(row: Any) -> Mapping[str, Any]:
        code, kind, province, channel_kind, state, key, owner_since, activated = row
        return {
            "enterprise": code,
            "enterprise_kind": kind,
            "province": province,
            "channel_kind": channel_kind,
            "state": state,
            "real_name": key is not None,
            "identity_key": key,
            "registered_month": _month(owner_since) if key is not None else None,
            "activated_at": activated.astimezone(UTC) if activated else None,
        }

    rows = IndexRepository(session).all_lines()
    return _write(directory, LINES, NATIONAL_LINES_SCHEMA, rows, record, chunk, written)


def export_complaints(
    session: Session, directory: str | Path, chunk: int = 100_000, written: Written = _silent
) -> Exported:
    """Write `DIR/national_complaints/part-0.parquet`: the traced complaints."""

    def record(row: Any) -> Mapping[str, Any]:
        code, region, channel_kind, category, received_at = row
        return {
            "enterprise": code,
            "province": region[:2] if region else None,
            "channel_kind": channel_kind,
            "category": category,
            "month": _month(received_at),
        }

    rows = ComplaintRepository(session).traced_for_export()
    return _write(directory, COMPLAINTS, NATIONAL_COMPLAINTS_SCHEMA, rows, record, chunk, written)


def export_inspections(
    session: Session, directory: str | Path, chunk: int = 100_000, written: Written = _silent
) -> Exported:
    """Write `DIR/national_inspections/part-0.parquet`: every recorded visit."""

    def record(row: Any) -> Mapping[str, Any]:
        code, kind, province, channel_kind, round_code, violated = row
        return {
            "enterprise": code,
            "enterprise_kind": kind,
            "province": province,
            "channel_kind": channel_kind,
            "round": round_code,
            "violated": bool(violated),
        }

    rows = InspectionRepository(session).visits_for_export()
    return _write(directory, INSPECTIONS, NATIONAL_INSPECTIONS_SCHEMA, rows, record, chunk, written)


def export_all(
    session: Session, directory: str | Path, written: Written = _silent
) -> list[Exported]:
    """The datasets under `directory` (what `realname report national --from` reads).

    The complaint centre traces a complaint through the registry that holds the line, so the
    complaints cover only the enterprises whose lines this instance's registry holds: they
    are listed in `national_complaint_sources`, and the others' complaints read as unknown,
    not 0.0 per 10,000 lines (a platform that also runs one enterprise's registry, fed by
    the rest). With no such enterprise (the platform on its own) there is no complaints
    dataset at all."""
    exported = [export_lines(session, directory, written=written)]
    sources = ComplaintRepository(session).traced_enterprises()
    if sources:
        exported.append(export_complaints(session, directory, written=written))
        exported.append(
            _write(
                directory,
                COMPLAINT_SOURCES,
                NATIONAL_COMPLAINT_SOURCES_SCHEMA,
                sources,
                lambda code: {"enterprise": code},
                100_000,
                written,
            )
        )
    exported.append(export_inspections(session, directory, written=written))
    return exported


def staging_directory(directory: str | Path) -> Path:
    """A new directory inside `directory` to write an export into before it is put in place
    (the same file system, so putting it in place is a rename)."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".export-", dir=target))


def put_in_place(staging: Path, directory: str | Path) -> None:
    """Each dataset written under `staging` replaces the one of that name in `directory`; a
    dataset this export did not write (complaints, where none are traced here) is removed,
    so the directory never mixes two exports."""
    target = Path(directory)
    for name in (LINES, COMPLAINTS, COMPLAINT_SOURCES, INSPECTIONS):
        fresh, current = staging / name, target / name
        if current.exists():
            retired = staging / f".old-{name}"
            current.rename(retired)
            shutil.rmtree(retired)
        if fresh.exists():
            fresh.rename(current)


def _write(
    directory: str | Path,
    name: str,
    schema: pa.Schema,
    rows: Iterable[Any],
    record: Callable[[Any], Mapping[str, Any]],
    chunk: int,
    written_so_far: Written = _silent,
) -> Exported:
    """Stream `rows`, as `record` makes them, to `DIR/name/part-0.parquet` in row groups of
    `chunk` (an empty dataset is one empty row group: the file still states the schema)."""
    folder = Path(directory) / name
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "part-0.parquet"
    written = 0
    columns: dict[str, list[Any]] = {field: [] for field in schema.names}
    with pq.ParquetWriter(target, schema) as writer:
        for row in rows:
            values = record(row)
            for field in schema.names:
                columns[field].append(values.get(field))
            written += 1
            if len(columns[schema.names[0]]) >= chunk:
                writer.write_table(pa.Table.from_pydict(columns, schema=schema))
                columns = {field: [] for field in schema.names}
                written_so_far(name, written)
        if columns[schema.names[0]] or written == 0:
            writer.write_table(pa.Table.from_pydict(columns, schema=schema))
    written_so_far(name, written)
    return Exported(target, written)


def _month(value: datetime | None) -> date | None:
    return value.date().replace(day=1) if value is not None else None
