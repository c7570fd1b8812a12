"""`realname national export`: the national index as the Parquet datasets national analytics
read (issue 16 §3; the contract between the feeds and the analytics).

`national_lines`: one row per line the feeds told, in the analytics' `NATIONAL_LINES_SCHEMA`
(realname/national/analytics/dataset.py), the one schema both sides use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from realname.national.analytics.dataset import LINES, NATIONAL_LINES_SCHEMA
from realname.national.index.repository import IndexRepository


@dataclass(frozen=True)
class Exported:
    path: Path
    rows: int


def export_lines(session: Session, directory: str | Path, chunk: int = 100_000) -> Exported:
    """Write `DIR/national_lines/part-0.parquet` (streamed in row groups of `chunk`)."""
    schema = NATIONAL_LINES_SCHEMA
    folder = Path(directory) / LINES
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "part-0.parquet"
    rows = 0
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    with pq.ParquetWriter(target, schema) as writer:
        for (
            code,
            kind,
            province,
            channel_kind,
            state,
            key,
            owner_since,
            activated,
        ) in IndexRepository(session).all_lines():
            record = {
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
            for name in schema.names:
                columns[name].append(record.get(name))
            rows += 1
            if len(columns[schema.names[0]]) >= chunk:
                writer.write_table(pa.Table.from_pydict(columns, schema=schema))
                columns = {name: [] for name in schema.names}
        if columns[schema.names[0]] or rows == 0:
            writer.write_table(pa.Table.from_pydict(columns, schema=schema))
    return Exported(target, rows)


def _month(value: datetime | None) -> date | None:
    return value.date().replace(day=1) if value is not None else None
