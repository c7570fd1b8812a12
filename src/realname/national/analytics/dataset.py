"""The national dataset the analytics read: the platform's current lines, and optionally the
complaints and the secret inspections, as Parquet.

This module owns the schema (the contract between the national feeds, whose
`realname national export --to DIR` writes the dataset, and the analytics that read it).
A dataset is a directory holding, per dataset name, either a directory of `*.parquet` files
(any depth: one file per enterprise or per day is fine) or one `<name>.parquet` file:

    DIR/national_lines/…/*.parquet     required
    DIR/national_complaints/…          optional: complaint rates are left out without it
    DIR/national_inspections/…         optional: violation rates are left out without it

Only the files' footers are read here (no rows), so checking a 100-million-line dataset costs
milliseconds; the engines read the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from realname.national.analytics.errors import NationalAnalyticsError
from realname.national.analytics.errors import NationalAnalyticsErrorCode as Code

LINES = "national_lines"
COMPLAINTS = "national_complaints"
INSPECTIONS = "national_inspections"
COMPLAINT_SOURCES = "national_complaint_sources"

# One row per line the platform knows, as its feeds stand (the stock, not events).
NATIONAL_LINES_SCHEMA = pa.schema(
    [
        pa.field("enterprise", pa.string(), nullable=False),  # code, e.g. "CMCC"
        pa.field("enterprise_kind", pa.string(), nullable=False),  # "mno" | "mvno"
        # 2-digit GB/T 2260 code of the line's selling channel's province
        pa.field("province", pa.string()),
        pa.field("channel_kind", pa.string()),  # own_hall | partner_hall | social | online
        pa.field("state", pa.string(), nullable=False),  # the registry's line states
        pa.field("real_name", pa.bool_(), nullable=False),  # an owner identity is registered
        # the platform's national blind index of the owner's document (32 bytes); null: no owner
        pa.field("identity_key", pa.binary()),
        # first day of the month the current owner registered; null when none
        pa.field("registered_month", pa.date32()),
        pa.field("activated_at", pa.timestamp("us", tz="UTC")),
    ]
)

# One row per complaint the complaint centre traced to a line.
NATIONAL_COMPLAINTS_SCHEMA = pa.schema(
    [
        pa.field("enterprise", pa.string(), nullable=False),
        pa.field("province", pa.string()),
        pa.field("channel_kind", pa.string()),
        pa.field(
            "category", pa.string()
        ),  # spam_sms | fraud_call | harassment_call | not_mine | other
        pa.field("month", pa.date32()),  # first day of the month it was received
    ]
)

# One row per outlet visited in a secret-inspection round.
NATIONAL_INSPECTIONS_SCHEMA = pa.schema(
    [
        pa.field("enterprise", pa.string(), nullable=False),
        pa.field("enterprise_kind", pa.string(), nullable=False),
        pa.field("province", pa.string()),
        pa.field("channel_kind", pa.string()),
        pa.field("round", pa.string()),
        pa.field("violated", pa.bool_(), nullable=False),
    ]
)

# One row per enterprise whose complaints `national_complaints` holds: the complaint centre
# traces a complaint through the registry that holds the line, so an export covers the
# enterprises of its own registry, not those that run their own instance and only feed the
# platform. Their complaints are unknown, not zero. Absent (an older export, another writer):
# every enterprise is covered.
NATIONAL_COMPLAINT_SOURCES_SCHEMA = pa.schema([pa.field("enterprise", pa.string(), nullable=False)])

SCHEMAS: Mapping[str, pa.Schema] = {
    LINES: NATIONAL_LINES_SCHEMA,
    COMPLAINTS: NATIONAL_COMPLAINTS_SCHEMA,
    INSPECTIONS: NATIONAL_INSPECTIONS_SCHEMA,
    COMPLAINT_SOURCES: NATIONAL_COMPLAINT_SOURCES_SCHEMA,
}


def _text(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return _text(t.value_type)
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _bytes(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)
    )


def _instant(t: pa.DataType) -> bool:
    # an instant, not a wall-clock reading (a naive timestamp's month would depend on a zone),
    # in a unit Spark reads (it refuses nanoseconds)
    return bool(pa.types.is_timestamp(t) and t.tz is not None and t.unit in ("ms", "us"))


# What a written file may use for each agreed type: writers differ (DuckDB writes blobs and
# strings plainly, pyarrow may keep dictionaries, Spark writes large offsets in some setups).
_COMPATIBLE: Mapping[pa.DataType, Callable[[pa.DataType], bool]] = {
    pa.string(): _text,
    pa.binary(): _bytes,
    pa.bool_(): pa.types.is_boolean,
    pa.date32(): pa.types.is_date,
    pa.timestamp("us", tz="UTC"): _instant,
}


@dataclass(frozen=True)
class NationalDataset:
    """Where each dataset's files are; all but `lines` may be absent."""

    root: Path
    lines: tuple[Path, ...]
    complaints: tuple[Path, ...] | None
    inspections: tuple[Path, ...] | None
    complaint_sources: tuple[Path, ...] | None = None

    def files(self) -> dict[str, tuple[Path, ...]]:
        """dataset name -> its files, for the datasets present."""
        out = {LINES: self.lines}
        if self.complaints is not None:
            out[COMPLAINTS] = self.complaints
        if self.inspections is not None:
            out[INSPECTIONS] = self.inspections
        if self.complaints is not None and self.complaint_sources is not None:
            out[COMPLAINT_SOURCES] = self.complaint_sources
        return out

    @property
    def size_bytes(self) -> int:
        """The files' size on disk."""
        return sum(f.stat().st_size for files in self.files().values() for f in files)

    def rows(self, name: str = LINES) -> int:
        """Rows in a dataset, from the footers."""
        return sum(pq.ParquetFile(f).metadata.num_rows for f in self.files()[name])


def _find(root: Path, name: str) -> tuple[Path, ...] | None:
    single = root / f"{name}.parquet"
    if single.is_file():
        return (single,)
    folder = root / name
    if folder.is_dir():
        return tuple(sorted(p for p in folder.rglob("*.parquet") if p.is_file()))
    return None


def check_schema(name: str, path: Path) -> None:
    """Refuse a file whose columns are not the agreed ones (extra columns are fine)."""
    try:
        found = pq.read_schema(path)
    except (OSError, pa.ArrowException) as error:
        raise NationalAnalyticsError(
            Code.DATASET_UNREADABLE, f"{name}: {path.name} is not a Parquet file"
        ) from error
    problems = []
    for field in SCHEMAS[name]:
        index = found.get_field_index(field.name)
        if index < 0:
            problems.append(f"{field.name} missing")
            continue
        written = found.field(index).type
        if not _COMPATIBLE[field.type](written):
            problems.append(f"{field.name} is {written}, expected {field.type}")
    if problems:
        raise NationalAnalyticsError(
            Code.DATASET_SCHEMA, f"{name} ({path.name}): " + "; ".join(problems)
        )


def open_dataset(root: Path) -> NationalDataset:
    """The dataset under `root`, every file's schema checked (footers only)."""
    if not root.is_dir():
        raise NationalAnalyticsError(Code.DATASET_NOT_FOUND, f"{root} is not a directory")
    found = {name: _find(root, name) for name in SCHEMAS}
    lines = found[LINES]
    if not lines:
        raise NationalAnalyticsError(
            Code.DATASET_NOT_FOUND, f"no {LINES}/*.parquet or {LINES}.parquet under {root}"
        )
    for name, files in found.items():
        for path in files or ():
            check_schema(name, path)
    return NationalDataset(
        root=root,
        lines=lines,
        complaints=found[COMPLAINTS] or None,
        inspections=found[INSPECTIONS] or None,
        complaint_sources=found[COMPLAINT_SOURCES] or None,
    )
