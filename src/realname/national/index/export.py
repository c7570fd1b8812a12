"""`realname national export`: the national index as the Parquet datasets national analytics
read (issue 16 §3; the contract between the feeds and the analytics).

`national_lines`: one row per line the feeds told, with the columns of the analytics'
`NATIONAL_LINES_SCHEMA` (realname/national/analytics/dataset.py). The schema is written here
against the agreed column list; where the analytics package is present its schema is the one
used, so the two cannot drift apart.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from realname.national.index.repository import IndexRepository

LINES_DATASET = "national_lines"
_FALLBACK_SCHEMA = pa.schema(
    [
        ("enterprise", pa.string()),
        ("enterprise_kind", pa.string()),
        ("province", pa.string()),
        ("channel_kind", pa.string()),
        ("state", pa.string()),
        ("real_name", pa.bool_()),
        ("identity_key", pa.binary()),
        ("registered_month", pa.date32()),
        ("activated_at", pa.timestamp("us", tz="UTC")),
    ]
)


def lines_schema() -> pa.Schema:
    """The analytics' schema when that package is installed, else the agreed column list."""
    try:
        module = importlib.import_module("realname.national.analytics.dataset")
    except ImportError:
        return _FALLBACK_SCHEMA
    schema = getattr(module, "NATIONAL_LINES_SCHEMA", None)
    return schema if isinstance(schema, pa.Schema) else _FALLBACK_SCHEMA


@dataclass(frozen=True)
class Exported:
    path: Path
    rows: int


def export_lines(session: Session, directory: str | Path, chunk: int = 100_000) -> Exported:
    """Write `DIR/national_lines/part-0.parquet` (streamed in row groups of `chunk`)."""
    schema = lines_schema()
    folder = Path(directory) / LINES_DATASET
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
