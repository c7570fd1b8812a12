"""`realname import legacy`: an enterprise's anonymous prepaid base, loaded in bulk.

Billing systems export millions of legacy lines (number, SIM, activation date, balance). The
file is streamed in chunks of about `chunk_rows` rows and every check is vectorised (pyarrow
compute and numpy, never a Python loop per row):

- the number is a mobile number of the policy's jurisdiction (libphonenumber's mobile pattern,
  run by RE2) and lies in one of the enterprise's number blocks (numpy `searchsorted`);
- the ICCID has 19 or 20 digits and a valid Luhn check digit, the IMSI 15 digits;
- `activated_at` is an ISO 8601 date or date-time (UTC when it has no offset), not in the
  future; the balance a non-negative amount in yuan with at most two decimals;
- the home region is a 6-digit region code, the channel one of the enterprise's channel codes;
- a number, ICCID or IMSI already seen earlier in the file rejects the later row.

Rejected rows go to a CSV beside the input (`<FILE>.rejects.csv`) with their line number, a
stable reason code, a readable message and the original fields; the good rows land anyway.

Each loaded row becomes a `line` in state `legacy`: no owner, no `line_event` rows. The import
batch (`legacy_import`) is every such line's first event, which `realname check` replays from.
On PostgreSQL a chunk is one COPY straight into `line` inside a SAVEPOINT; a chunk whose rows
may already be there (a re-run, a killed run resumed, an overlapping file) goes through a TEMP
staging table and `INSERT … SELECT … ON CONFLICT DO NOTHING` instead, counting the rows already
present. SQLite always takes the staging route (`INSERT OR IGNORE`). The session is committed
after every chunk, so a killed import holds no giant transaction and re-running the file is
idempotent: it loads what is missing and changes nothing else.

Phone numbers never reach a log line or an exception message; the reject file is an operator
artefact and holds the raw rows on purpose.
"""

from __future__ import annotations

import csv
import hashlib
import io
import queue
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy import CursorResult, Engine, bindparam, select, text, update
from sqlalchemy.orm import Session

from realname.backfill.errors import BackfillError, BackfillErrorCode
from realname.backfill.models import LegacyImport
from realname.db.types import UtcDateTime
from realname.identity.regions import region_table
from realname.numbering.msisdn import DEFAULT_REGION
from realname.registry.lifecycle import LineState
from realname.registry.models import Channel, Enterprise, NumberBlockRow
from realname.security.audit import append_audit
from realname.security.redact import redact_pii
from realname.security.vault import KeyRing

DEFAULT_CHUNK_ROWS = 100_000
DEFAULT_WORKERS = 2
FIELDS = ("msisdn", "iccid", "imsi", "activated_at", "balance", "home_region", "channel_code")
REQUIRED = ("msisdn", "activated_at")
# The columns of `line` an import fills, in COPY order; the rest stay NULL.
LINE_COLUMNS = (
    "msisdn",
    "iccid",
    "imsi",
    "enterprise_id",
    "state",
    "channel_id",
    "activated_at",
    "state_changed_at",
    "event_count",
    "home_region",
    "prepaid_balance_minor",
    "legacy_import_id",
)
STAGE_TABLE = "legacy_import_stage"
STAGE_COLUMNS = (
    "line_no",
    "msisdn",
    "iccid",
    "imsi",
    "channel_id",
    "activated_at",
    "home_region",
    "prepaid_balance_minor",
)

T = TypeVar("T")
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class ImportFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


class RejectReason(StrEnum):
    """Why a row was not loaded: stable codes, as written to the reject file."""

    ROW_MALFORMED = "row_malformed"
    NUMBER_INVALID = "number_invalid"
    NUMBER_NOT_ALLOCATED = "number_not_allocated"
    DUPLICATE_IN_FILE = "duplicate_in_file"
    ICCID_INVALID = "iccid_invalid"
    IMSI_INVALID = "imsi_invalid"
    ACTIVATED_AT_INVALID = "activated_at_invalid"
    BALANCE_INVALID = "balance_invalid"
    HOME_REGION_INVALID = "home_region_invalid"
    CHANNEL_UNKNOWN = "channel_unknown"
    KIT_IN_USE = "kit_in_use"


R = RejectReason
REJECT_MESSAGES: dict[RejectReason, str] = {
    R.ROW_MALFORMED: "The row does not have as many fields as the header.",
    R.NUMBER_INVALID: "The number is missing or is not a mobile number of this jurisdiction.",
    R.NUMBER_NOT_ALLOCATED: "The number is not in any block allocated to this enterprise.",
    R.DUPLICATE_IN_FILE: "The number, ICCID or IMSI already appeared on an earlier row.",
    R.ICCID_INVALID: "The ICCID must have 19 or 20 digits and a valid Luhn check digit.",
    R.IMSI_INVALID: "The IMSI must have 15 digits.",
    R.ACTIVATED_AT_INVALID: (
        "The activation time is missing, not an ISO 8601 date or date-time, or in the future."
    ),
    R.BALANCE_INVALID: "The balance must be a non-negative amount with at most 2 decimals.",
    R.HOME_REGION_INVALID: "The home region must be a known 6-digit region code.",
    R.CHANNEL_UNKNOWN: "The enterprise has no channel with this code.",
    R.KIT_IN_USE: "The ICCID or IMSI already belongs to another line.",
}
# Index 0 means "no reason": codes are stored as int8 positions in this tuple.
_REASONS: tuple[RejectReason, ...] = tuple(RejectReason)
_CODE = {reason: i + 1 for i, reason in enumerate(_REASONS)}

_DATE_RX = (
    r"^(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})"
    r"(?:[T ](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?"
    r"\s*(?:(?P<z>[Zz])|(?P<zs>[+-])(?P<zh>\d{2})(?::?(?P<zm>\d{2}))?)?)?$"
)
_BALANCE_RX = r"^(?P<i>\d{1,13})(?:\.(?P<f>\d{1,2}))?$"
_SEPARATORS_RX = r"[\s\-().]"
_ZEROS20 = "0" * 20
_LUHN_DOUBLE = np.array([0, 2, 4, 6, 8, 1, 3, 5, 7, 9], dtype=np.int64)
_DIGITS_RUN = re.compile(r"\+?\d[\d \-]{5,}\d")


@dataclass
class ImportProgress:
    """After each chunk: how far through the file (`done` of `total` `unit`s) and the counts."""

    done: int
    total: int
    unit: str  # "bytes" (CSV) or "rows" (Parquet)
    rows_read: int
    rows_loaded: int
    rows_present: int
    rows_rejected: int


@dataclass
class ImportReport:
    import_id: int
    enterprise_id: int
    enterprise_code: str
    source_name: str
    source_sha256: str
    reject_path: Path
    rows_read: int = 0
    rows_loaded: int = 0
    rows_present: int = 0
    rows_rejected: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    # The last finished import of the same file (same SHA-256) for this enterprise, if any.
    previous_import_id: int | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0


def import_legacy(
    session: Session,
    *,
    keyring: KeyRing,
    enterprise: str | int,
    path: str | Path,
    reject_path: str | Path | None = None,
    actor: str = "system:import",
    at: datetime,
    file_format: ImportFormat | str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    jurisdiction: str = DEFAULT_REGION,
    workers: int = DEFAULT_WORKERS,
    progress: Callable[[ImportProgress], None] | None = None,
) -> ImportReport:
    """Load the legacy lines in `path` for `enterprise` (its code, or its id).

    Commits `session` after the import record is created, after every chunk, and at the end;
    the caller passes a session with nothing pending. `at` is the import time (each line's
    `state_changed_at`); rows activated after it are rejected. Raises `BackfillError` for an
    unknown enterprise, a file that cannot be read or lacks required columns (before any line
    is loaded), or data that cannot be decoded (chunks before it stay loaded, the import
    record stays unfinished, and a re-run continues).

    On PostgreSQL with a session bound to an engine, `workers` connections load chunks side
    by side (each chunk its own transaction): the server's per-row work (indexes, foreign-key
    checks) is what bounds an import, and a second backend nearly doubles it. Otherwise the
    chunks load one after another in `session`.
    """
    started = time.perf_counter()
    at = at.astimezone(UTC)
    source_path = Path(path)
    fmt = _resolve_format(source_path, file_format)
    rejects_to = (
        Path(reject_path)
        if reject_path is not None
        else source_path.with_name(source_path.name + ".rejects.csv")
    )
    if not source_path.is_file():
        raise BackfillError(BackfillErrorCode.IMPORT_FILE_UNREADABLE, "no such file")
    if rejects_to.exists() and rejects_to.resolve() == source_path.resolve():
        raise ValueError("the reject file must not be the file being imported")
    found = _enterprise(session, enterprise)
    source: _Source = (
        _CsvSource(source_path, chunk_rows)
        if fmt is ImportFormat.CSV
        else _ParquetSource(source_path, chunk_rows)
    )
    missing = [c for c in REQUIRED if c not in source.columns]
    if missing:
        raise BackfillError(
            BackfillErrorCode.IMPORT_COLUMNS_MISSING, "missing: " + ", ".join(missing)
        )
    sha256 = _sha256(source_path)
    previous = session.scalar(
        select(LegacyImport.id)
        .where(
            LegacyImport.enterprise_id == found.id,
            LegacyImport.source_sha256 == sha256,
            LegacyImport.finished_at.is_not(None),
        )
        .order_by(LegacyImport.id.desc())
        .limit(1)
    )
    blocks = session.execute(
        select(NumberBlockRow.first, NumberBlockRow.last).where(
            NumberBlockRow.enterprise_id == found.id
        )
    ).all()
    channels = {
        str(code): int(channel_id)
        for code, channel_id in session.execute(
            select(Channel.code, Channel.id).where(Channel.enterprise_id == found.id)
        )
    }
    record = LegacyImport(
        enterprise_id=found.id,
        source_name=source_path.name[:200],
        source_sha256=sha256,
        actor=actor,
        started_at=at,
        rows_read=0,
        rows_loaded=0,
        rows_present=0,
        rows_rejected=0,
    )
    session.add(record)
    session.flush()
    report = ImportReport(
        import_id=record.id,
        enterprise_id=found.id,
        enterprise_code=found.code,
        source_name=record.source_name,
        source_sha256=sha256,
        reject_path=rejects_to,
        previous_import_id=previous,
    )
    session.commit()

    postgres = session.get_bind().dialect.name == "postgresql"
    validator = _Validator(
        jurisdiction=jurisdiction,
        blocks=[(str(first), str(last)) for first, last in blocks],
        channels=channels,
        at=at,
        enterprise_id=found.id,
        import_id=record.id,
        copy_csv=postgres,
    )
    bind = session.get_bind()
    if postgres and workers > 1 and isinstance(bind, Engine):
        loaders: list[_Loader] = [_PostgresLoader(Session(bind), validator) for _ in range(workers)]
    elif postgres:
        loaders = [_PostgresLoader(session, validator)]
    else:
        loaders = [_SqliteLoader(session, validator)]
    rejects = _RejectWriter(rejects_to, source.columns)
    try:
        with closing(_ahead((validator.prepare(c) for c in source), depth=2)) as chunks:
            for prepared, outcome in _load_all(loaders, chunks):
                rejects.write(
                    prepared.rejects, prepared.rejects_for(outcome.conflicts, R.KIT_IN_USE)
                )
                _tally(report, prepared, outcome)
                if progress is not None:
                    progress(
                        ImportProgress(
                            prepared.done,
                            source.total,
                            source.unit,
                            report.rows_read,
                            report.rows_loaded,
                            report.rows_present,
                            report.rows_rejected,
                        )
                    )
    except BaseException:
        session.rollback()
        raise
    finally:
        rejects.close()
        for loader in loaders:
            loader.close()
            if loader.session is not session:
                loader.session.close()

    report.seconds = time.perf_counter() - started
    finished = at + timedelta(seconds=report.seconds)
    record.finished_at = finished
    _count(record, report)
    append_audit(
        session,
        keyring,
        actor=actor,
        action="legacy.import",
        object_type="legacy_import",
        object_id=str(report.import_id),
        at=finished,
        detail={
            "enterprise": report.enterprise_code,
            "source": redact_pii(report.source_name),
            "sha256": sha256,
            "read": report.rows_read,
            "loaded": report.rows_loaded,
            "present": report.rows_present,
            "rejected": report.rows_rejected,
        },
    )
    session.commit()
    return report


def copy_payloads(
    path: str | Path,
    *,
    enterprise_id: int,
    import_id: int,
    blocks: list[tuple[str, str]],
    channels: dict[str, int],
    at: datetime,
    jurisdiction: str = DEFAULT_REGION,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    file_format: ImportFormat | str | None = None,
) -> Iterator[tuple[int, Any]]:
    """(rows, CSV buffer) per chunk: the COPY payloads an import of `path` sends to
    PostgreSQL, without a database. `realname bench import` times them loaded bare."""
    source_path = Path(path)
    fmt = _resolve_format(source_path, file_format)
    source = (
        _CsvSource(source_path, chunk_rows)
        if fmt is ImportFormat.CSV
        else _ParquetSource(source_path, chunk_rows)
    )
    validator = _Validator(
        jurisdiction=jurisdiction,
        blocks=blocks,
        channels=channels,
        at=at.astimezone(UTC),
        enterprise_id=enterprise_id,
        import_id=import_id,
        copy_csv=True,
    )
    for chunk in source:
        prepared = validator.prepare(chunk)
        yield prepared.good.num_rows, prepared.copy_csv


def _resolve_format(path: Path, given: ImportFormat | str | None) -> ImportFormat:
    if given is not None:
        try:
            return ImportFormat(str(given).lower())
        except ValueError:
            raise BackfillError(
                BackfillErrorCode.IMPORT_FILE_UNREADABLE, "format must be csv or parquet"
            ) from None
    return ImportFormat.PARQUET if path.suffix.lower() in {".parquet", ".pq"} else ImportFormat.CSV


def _enterprise(session: Session, key: str | int) -> Enterprise:
    column = Enterprise.id if isinstance(key, int) else Enterprise.code
    found = session.scalar(select(Enterprise).where(column == key))
    if found is None:
        raise BackfillError(BackfillErrorCode.ENTERPRISE_NOT_FOUND)
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _tally(report: ImportReport, prepared: _Prepared, outcome: _Outcome) -> None:
    conflicts = len(outcome.conflicts)
    report.rows_read += prepared.rows_read
    report.rows_loaded += outcome.loaded
    report.rows_present += outcome.present
    report.rows_rejected += prepared.rows_rejected + conflicts
    report.rejected_by_reason.update(prepared.rejected_by_reason)
    if conflicts:
        report.rejected_by_reason[str(R.KIT_IN_USE)] += conflicts


def _load_all(
    loaders: list[_Loader], chunks: Iterator[_Prepared]
) -> Iterator[tuple[_Prepared, _Outcome]]:
    """Each chunk loaded and committed by one of `loaders`; results in file order."""
    if len(loaders) == 1:
        for prepared in chunks:
            yield prepared, loaders[0].load_and_commit(prepared)
        return
    idle: queue.Queue[_Loader] = queue.Queue()
    for loader in loaders:
        idle.put(loader)

    def task(prepared: _Prepared) -> _Outcome:
        loader = idle.get()
        try:
            return loader.load_and_commit(prepared)
        finally:
            idle.put(loader)

    pending: deque[tuple[_Prepared, Future[_Outcome]]] = deque()
    with ThreadPoolExecutor(len(loaders), thread_name_prefix="legacy-import-load") as pool:
        try:
            for prepared in chunks:
                pending.append((prepared, pool.submit(task, prepared)))
                while len(pending) >= len(loaders):
                    done, future = pending.popleft()
                    yield done, future.result()
            while pending:
                done, future = pending.popleft()
                yield done, future.result()
        finally:
            for _, future in pending:
                future.cancel()


def _count(record: LegacyImport, report: ImportReport) -> None:
    record.rows_read = report.rows_read
    record.rows_loaded = report.rows_loaded
    record.rows_present = report.rows_present
    record.rows_rejected = report.rows_rejected


def _scrub(message: str) -> str:
    """An error text fit for a log: any run of digits long enough to be a number is hidden."""
    return _DIGITS_RUN.sub("…", message.strip().splitlines()[0] if message.strip() else "")[:200]


# --- reading -------------------------------------------------------------------------------


@dataclass
class _Chunk:
    fields: Any  # pa.Table: the file's columns (normalised names) as strings, one row per row
    lines: IntArray  # the 1-based line (CSV, header = line 1) or row (Parquet) of each row
    done: int  # bytes (CSV) or rows (Parquet) of the file consumed so far
    # CSV rows with the wrong number of fields: (line, fields as read).
    malformed: list[tuple[int, list[str]]] = field(default_factory=list)
    # Parquet columns kept in their own type (timestamps, numbers) for exact conversion.
    typed: dict[str, Any] = field(default_factory=dict)


class _Source:
    columns: list[str]
    total: int
    unit: str

    def __iter__(self) -> Iterator[_Chunk]:
        raise NotImplementedError


def _normalise(names: list[str]) -> list[str]:
    out = [name.strip().lower() for name in names]
    if len(set(out)) != len(out):
        raise BackfillError(BackfillErrorCode.IMPORT_FILE_UNREADABLE, "duplicate column names")
    return out


class _CsvSource(_Source):
    """Blocks of whole lines read in order, each parsed by pyarrow's multi-threaded reader.

    Reading the blocks ourselves keeps exact line numbers (pyarrow's streaming reader does not
    say which line a malformed row was on) at the cost of one `count(b"\\n")` per block.
    Fields must not contain line breaks; a block where they do gets its numbers from the
    Python csv module instead.
    """

    unit = "bytes"

    def __init__(self, path: Path, chunk_rows: int) -> None:
        self.path = path
        self.total = path.stat().st_size
        try:
            with path.open("rb") as handle:
                first = handle.readline()
                sample = handle.read(1 << 20)
            header = next(csv.reader([first.decode("utf-8-sig")]), [])
        except (UnicodeDecodeError, csv.Error):
            raise BackfillError(
                BackfillErrorCode.IMPORT_FILE_UNREADABLE, "the header is not UTF-8 CSV"
            ) from None
        if not header:
            raise BackfillError(BackfillErrorCode.IMPORT_FILE_UNREADABLE, "no header row")
        self.columns = _normalise(header)
        self.header_bytes = len(first)
        line_bytes = len(sample) / max(1, sample.count(b"\n"))
        self.block_bytes = max(1 << 16, int(chunk_rows * line_bytes))

    def __iter__(self) -> Iterator[_Chunk]:
        with self.path.open("rb") as handle:
            handle.seek(self.header_bytes)
            line, done = 2, self.header_bytes
            while block := handle.read(self.block_bytes):
                if not block.endswith(b"\n"):
                    block += handle.readline()
                done += len(block)
                chunk = self._parse(block, line, done)
                line += block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
                if chunk.fields.num_rows or chunk.malformed:
                    yield chunk

    def _parse(self, block: bytes, first_line: int, done: int) -> _Chunk:
        try:  # checked here: pyarrow's own decoding error would quote the row (names, numbers)
            block.decode("utf-8")
        except UnicodeDecodeError as error:
            bad_line = first_line + block[: error.start].count(b"\n")
            raise BackfillError(
                BackfillErrorCode.IMPORT_FILE_UNREADABLE,
                f"line {bad_line} is not UTF-8 text (convert a GBK export with iconv first)",
            ) from None
        invalid: list[str] = []

        def skip(row: Any) -> str:
            invalid.append(row.text)
            return "skip"

        try:
            table = pacsv.read_csv(
                pa.py_buffer(block),
                read_options=pacsv.ReadOptions(column_names=self.columns, use_threads=True),
                parse_options=pacsv.ParseOptions(
                    invalid_row_handler=skip, ignore_empty_lines=False
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(self.columns, pa.string()),
                    strings_can_be_null=True,
                    null_values=[""],
                ),
            )
        except pa.ArrowException:
            raise BackfillError(
                BackfillErrorCode.IMPORT_FILE_UNREADABLE,
                f"the CSV block from line {first_line} cannot be parsed",
            ) from None
        lines_in_block = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
        malformed: list[tuple[int, list[str]]] = []
        if not invalid and table.num_rows == lines_in_block:
            lines = np.arange(first_line, first_line + table.num_rows, dtype=np.int64)
        else:
            lines, malformed = self._locate(block, first_line, table.num_rows)
        blank = _blank(table)
        if blank.any():
            table, lines = table.filter(pa.array(~blank)), lines[~blank]
        return _Chunk(table, lines, done, malformed)

    def _locate(
        self, block: bytes, first_line: int, rows: int
    ) -> tuple[IntArray, list[tuple[int, list[str]]]]:
        """The rare block with malformed rows or quoted line breaks, numbered by the csv module."""
        reader = csv.reader(io.StringIO(block.decode("utf-8", errors="replace"), newline=""))
        good: list[int] = []
        malformed: list[tuple[int, list[str]]] = []
        start = 1
        for record in reader:
            line = first_line + start - 1
            start = reader.line_num + 1
            if record and len(record) != len(self.columns):
                malformed.append((line, record))
            else:
                good.append(line)
        if len(good) != rows:  # the two parsers disagree: fall back to row order
            good = list(range(first_line, first_line + rows))
        return np.asarray(good, dtype=np.int64), malformed


def _blank(table: Any) -> BoolArray:
    """Blank lines (every field empty) are not rows: they are neither loaded nor rejected."""
    blank = np.ones(table.num_rows, dtype=bool)
    for column in table.columns:
        blank &= _np_bool(pc.is_null(column))
    return blank


def _keeps_type(name: str, kind: Any) -> bool:
    """Parquet timestamps and amounts are converted from their own type, not from text."""
    if name == "activated_at":
        return bool(pa.types.is_timestamp(kind) or pa.types.is_date(kind))
    if name == "balance":
        return bool(
            pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
        )
    return False


class _ParquetSource(_Source):
    unit = "rows"

    def __init__(self, path: Path, chunk_rows: int) -> None:
        try:
            self.file = pq.ParquetFile(path)
        except (pa.ArrowException, OSError):
            raise BackfillError(
                BackfillErrorCode.IMPORT_FILE_UNREADABLE, "not a Parquet file"
            ) from None
        self.names = list(self.file.schema_arrow.names)
        self.columns = _normalise(self.names)
        self.total = self.file.metadata.num_rows
        self.chunk_rows = chunk_rows

    def __iter__(self) -> Iterator[_Chunk]:
        row = 1
        for batch in self.file.iter_batches(batch_size=self.chunk_rows):
            columns: dict[str, Any] = {}
            typed: dict[str, Any] = {}
            for name, array in zip(self.columns, batch.columns, strict=True):
                if _keeps_type(name, array.type):
                    typed[name] = array
                try:
                    columns[name] = pc.cast(array, pa.string())
                except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
                    if name in FIELDS:
                        raise BackfillError(
                            BackfillErrorCode.IMPORT_FILE_UNREADABLE,
                            f"column {name} has an unsupported type",
                        ) from None
                    columns[name] = pa.nulls(batch.num_rows, pa.string())
            table = pa.table(columns)
            lines = np.arange(row, row + batch.num_rows, dtype=np.int64)
            row += batch.num_rows
            blank = _blank(table)
            if blank.any():
                keep = pa.array(~blank)
                table, lines = table.filter(keep), lines[~blank]
                typed = {name: array.filter(keep) for name, array in typed.items()}
            yield _Chunk(table, lines, row - 1, typed=typed)


# --- validating ----------------------------------------------------------------------------


def _np_bool(array: Any) -> BoolArray:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def _np_int(array: Any) -> IntArray:
    """Digit strings (validated) as int64; null and "" become 0."""
    filled = pc.utf8_lpad(pc.fill_null(array, "0"), width=1, padding="0")
    return np.array(pc.cast(filled, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def _clean(array: Any) -> Any:
    """Trimmed strings, "" as null."""
    trimmed = pc.utf8_trim_whitespace(array)
    empty = pc.equal(pc.binary_length(trimmed), 0)
    if not pc.any(empty).as_py():
        return trimmed
    return pc.if_else(empty, pa.scalar(None, pa.string()), trimmed)


def _digit_matrix(strings: Any, width: int) -> npt.NDArray[np.int64]:
    """Strings of exactly `width` ASCII digits (no nulls) as an (n, width) array of digits."""
    array = strings.combine_chunks() if isinstance(strings, pa.ChunkedArray) else strings
    n = len(array)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[array.offset : array.offset + n + 1]
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)
    start = int(offsets[0]) if n else 0
    if n and int(offsets[-1]) - start != n * width:
        raise AssertionError("digit strings of unequal width")
    return data[start : start + n * width].reshape(n, width).astype(np.int64) - 48


class _SeenKeys:
    """Keys seen earlier in the file, as a few sorted numpy arrays merged like a binary
    counter: memory is 8 bytes a key, each chunk costs O(n log N)."""

    def __init__(self, dtype: Any) -> None:
        self.dtype = dtype
        self.levels: list[npt.NDArray[Any]] = []

    def duplicates(self, keys: npt.NDArray[Any]) -> BoolArray:
        """Which keys repeat an earlier one (earlier in this array or in an earlier call)."""
        dup = np.ones(len(keys), dtype=bool)
        if not len(keys):
            return dup
        unique, first = np.unique(keys, return_index=True)
        dup[first] = False
        fresh = np.ones(len(unique), dtype=bool)
        for level in self.levels:
            at = np.minimum(np.searchsorted(level, unique), len(level) - 1)
            fresh &= level[at] != unique
        dup[first[~fresh]] = True
        new = unique[fresh]
        while self.levels and len(self.levels[-1]) <= len(new):
            new = np.sort(np.concatenate([self.levels.pop(), new]), kind="stable")
        if len(new):
            self.levels.append(new)
        return dup


@dataclass
class _Prepared:
    """One chunk validated: the good rows ready to load, the rejects ready to write."""

    good: Any  # pa.Table with STAGE_COLUMNS
    good_fields: Any  # pa.Table: the original fields of the good rows, same order
    rejects: Any  # pa.Table: line, reason, message, original fields
    rows_read: int
    rows_rejected: int
    rejected_by_reason: Counter[str]
    done: int
    copy_csv: Any = None  # pa.Buffer: the good rows as CSV in LINE_COLUMNS order (PostgreSQL)

    def rejects_for(self, lines: IntArray, reason: RejectReason) -> Any:
        """Reject rows for good rows the database refused (identified by line number)."""
        if not len(lines):
            return None
        mask = np.isin(self.good.column("line_no").to_numpy(), lines)
        fields = self.good_fields.filter(pa.array(mask))
        return _reject_table(
            fields,
            np.asarray(self.good.column("line_no").to_numpy()[mask], dtype=np.int64),
            np.full(int(mask.sum()), _CODE[reason], dtype=np.int8),
        )


def _reject_table(fields: Any, lines: IntArray, codes: npt.NDArray[np.int8]) -> Any:
    names = pa.array([str(r) for r in _REASONS])
    messages = pa.array([REJECT_MESSAGES[r] for r in _REASONS])
    index = pa.array(codes.astype(np.int32) - 1)
    columns = [pa.array(lines, pa.int64()), pc.take(names, index), pc.take(messages, index)]
    return pa.Table.from_arrays(
        columns + list(fields.columns), names=["line", "reason", "message", *fields.column_names]
    )


class _Validator:
    def __init__(
        self,
        *,
        jurisdiction: str,
        blocks: list[tuple[str, str]],
        channels: dict[str, int],
        at: datetime,
        enterprise_id: int,
        import_id: int,
        copy_csv: bool,
    ) -> None:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(jurisdiction.upper())
        if metadata is None or metadata.mobile is None:
            raise ValueError(f"no phone-number metadata for {jurisdiction}")
        cc = str(metadata.country_code)
        trunk = f"|{re.escape(metadata.national_prefix)}" if metadata.national_prefix else ""
        # +86…, 0086… (the country's own international prefix: 009 in Nigeria), 86…, 0…
        dial_out = metadata.international_prefix or "00"
        self.number_rx = (
            rf"^(?:\+{cc}|(?:{dial_out}){cc}|{cc}{trunk})?"
            rf"(?P<nn>{metadata.mobile.national_number_pattern})$"
        )
        self.cc = cc
        lengths = set(metadata.mobile.possible_length or ())
        self.national_length = lengths.pop() if len(lengths) == 1 else None
        ordered = sorted((int(first), int(last)) for first, last in blocks)
        self.block_first = np.array([f for f, _ in ordered], dtype=np.int64)
        self.block_last = np.array([last for _, last in ordered], dtype=np.int64)
        self.channel_codes = pa.array(list(channels), pa.string())
        self.channel_ids = np.array(list(channels.values()) or [0], dtype=np.int64)
        self.regions = (
            pa.array(sorted(region_table()), pa.string()) if jurisdiction.upper() == "CN" else None
        )
        self.at = at
        self.at_us = int((at - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
        self.enterprise_id = enterprise_id
        self.import_id = import_id
        self.copy_csv = copy_csv
        self.seen = {
            "msisdn": _SeenKeys(np.int64),
            "iccid": _SeenKeys(np.uint64),
            "imsi": _SeenKeys(np.int64),
        }

    def prepare(self, chunk: _Chunk) -> _Prepared:
        fields = chunk.fields
        n = fields.num_rows
        reason = np.zeros(n, dtype=np.int8)

        def column(name: str) -> Any:
            if name in fields.column_names:
                return _clean(fields.column(name).combine_chunks())
            return pa.nulls(n, pa.string())

        def flag(bad: BoolArray, why: RejectReason) -> None:
            reason[(reason == 0) & bad] = _CODE[why]

        # The number: a mobile number of the jurisdiction, in one of the enterprise's blocks.
        national = self._national(column("msisdn"))
        number_ok = _np_bool(pc.is_valid(national))
        flag(~number_ok, R.NUMBER_INVALID)
        keys = _np_int(pc.binary_join_element_wise(self.cc, national, ""))
        if len(self.block_first):
            at = np.searchsorted(self.block_first, keys, side="right") - 1
            inside = (at >= 0) & (keys <= self.block_last[np.maximum(at, 0)])
        else:
            inside = np.zeros(n, dtype=bool)
        flag(number_ok & ~inside, R.NUMBER_NOT_ALLOCATED)
        self._duplicates("msisdn", keys, number_ok & inside, reason)

        # ICCID: 19 or 20 digits, Luhn; IMSI: 15 digits.
        iccid = column("iccid")
        iccid_given = _np_bool(pc.is_valid(iccid))
        iccid_ok = _np_bool(pc.match_substring_regex(iccid, r"^\d{19,20}$"))
        iccid_keys = np.zeros(n, dtype=np.uint64)
        if iccid_ok.any():
            padded = pc.utf8_lpad(
                pc.if_else(pa.array(iccid_ok), iccid, _ZEROS20), width=20, padding="0"
            )
            digits = _digit_matrix(padded, 20)
            doubled = _LUHN_DOUBLE[digits[:, 0::2]].sum(axis=1)
            iccid_ok &= (doubled + digits[:, 1::2].sum(axis=1)) % 10 == 0
            powers = 10 ** np.arange(18, -1, -1, dtype=np.uint64)
            iccid_keys = digits[:, :19].astype(np.uint64) @ powers
            short = _np_bool(pc.equal(pc.utf8_length(iccid), 19))
            iccid_keys[short] += np.uint64(10**19)
        flag(iccid_given & ~iccid_ok, R.ICCID_INVALID)
        self._duplicates("iccid", iccid_keys, iccid_ok, reason)

        imsi = column("imsi")
        imsi_given = _np_bool(pc.is_valid(imsi))
        imsi_ok = _np_bool(pc.match_substring_regex(imsi, r"^\d{15}$"))
        flag(imsi_given & ~imsi_ok, R.IMSI_INVALID)
        imsi_keys = _np_int(pc.if_else(pa.array(imsi_ok), imsi, "0"))
        self._duplicates("imsi", imsi_keys, imsi_ok, reason)

        # Activation: ISO 8601, UTC unless an offset says otherwise, not after the import.
        activated_us, activated_ok = self._activated(column("activated_at"), chunk)
        flag(~activated_ok, R.ACTIVATED_AT_INVALID)

        balance_minor, balance_given, balance_ok = self._balance(column("balance"), chunk)
        flag(balance_given & ~balance_ok, R.BALANCE_INVALID)

        region = column("home_region")
        region_given = _np_bool(pc.is_valid(region))
        region_ok = _np_bool(pc.match_substring_regex(region, r"^\d{6}$"))
        if self.regions is not None:
            region_ok &= _np_bool(pc.is_in(region, value_set=self.regions))
        flag(region_given & ~region_ok, R.HOME_REGION_INVALID)

        channel = column("channel_code")
        channel_given = _np_bool(pc.is_valid(channel))
        found = pc.index_in(channel, value_set=self.channel_codes)
        channel_ok = _np_bool(pc.is_valid(found))
        flag(channel_given & ~channel_ok, R.CHANNEL_UNKNOWN)
        channel_index = np.asarray(
            pc.fill_null(found, 0).to_numpy(zero_copy_only=False), dtype=np.int64
        )

        good = reason == 0
        mask = pa.array(good)
        e164 = pc.binary_join_element_wise(f"+{self.cc}", national, "")
        good_table = pa.table(
            {
                "line_no": pa.array(chunk.lines[good], pa.int64()),
                "msisdn": e164.filter(mask),
                "iccid": iccid.filter(mask),
                "imsi": imsi.filter(mask),
                "channel_id": pa.array(
                    self.channel_ids[channel_index[good]],
                    pa.int64(),
                    mask=~channel_given[good],
                ),
                "activated_at": pa.array(
                    activated_us[good].astype("datetime64[us]"), pa.timestamp("us")
                ),
                "home_region": region.filter(mask),
                "prepaid_balance_minor": pa.array(
                    balance_minor[good], pa.int64(), mask=~balance_given[good]
                ),
            }
        )
        bad = ~good
        rejects = _reject_table(fields.filter(pa.array(bad)), chunk.lines[bad], reason[bad])
        if chunk.malformed:
            rejects = pa.concat_tables([rejects, self._malformed(chunk, fields.column_names)])
            rejects = rejects.sort_by("line")
        by_reason: Counter[str] = Counter()
        codes, counts = np.unique(reason[bad], return_counts=True)
        for code, count in zip(codes.tolist(), counts.tolist(), strict=True):
            by_reason[str(_REASONS[code - 1])] += count
        if chunk.malformed:
            by_reason[str(R.ROW_MALFORMED)] += len(chunk.malformed)
        prepared = _Prepared(
            good=good_table,
            good_fields=fields.filter(mask),
            rejects=rejects,
            rows_read=n + len(chunk.malformed),
            rows_rejected=int(bad.sum()) + len(chunk.malformed),
            rejected_by_reason=by_reason,
            done=chunk.done,
        )
        if self.copy_csv:
            prepared.copy_csv = self.line_csv(good_table)
        return prepared

    def _national(self, raw: Any) -> Any:
        """The national significant number of each valid mobile number, else null."""
        plain = pc.utf8_is_digit(pc.utf8_ltrim(raw, characters="+"))
        if not pc.all(pc.or_(plain, pc.is_null(raw))).as_py():  # spaces, dashes, brackets
            raw = pc.replace_substring_regex(raw, _SEPARATORS_RX, "")
        if self.national_length is None:
            return pc.struct_field(pc.extract_regex(raw, self.number_rx), "nn")
        # One length (most countries): a DFA match, then the last digits are the number.
        valid = pc.match_substring_regex(raw, self.number_rx)
        national = pc.utf8_slice_codeunits(raw, -self.national_length)
        return pc.if_else(valid, national, pa.scalar(None, pa.string()))

    def _duplicates(
        self, name: str, keys: npt.NDArray[Any], valid: BoolArray, reason: npt.NDArray[np.int8]
    ) -> None:
        where = np.flatnonzero(valid)
        dup = self.seen[name].duplicates(keys[where])
        hit = np.zeros(len(reason), dtype=bool)
        hit[where[dup]] = True
        reason[(reason == 0) & hit] = _CODE[R.DUPLICATE_IN_FILE]

    def _activated(self, strings: Any, chunk: _Chunk) -> tuple[IntArray, BoolArray]:
        typed = chunk.typed.get("activated_at")
        if typed is not None:
            if pa.types.is_timestamp(typed.type) and typed.type.tz is not None:
                typed = pc.cast(typed, pa.timestamp("us", tz="UTC"), safe=False)
            else:  # a date, or a timestamp without zone: UTC
                typed = pc.cast(typed, pa.timestamp("us"), safe=False)
            valid = _np_bool(pc.is_valid(typed))
            micros = np.asarray(
                pc.fill_null(pc.cast(typed, pa.int64()), 0).to_numpy(zero_copy_only=False),
                dtype=np.int64,
            )
            return micros, valid & (micros <= self.at_us)
        year, month, day, hour, minute, second, micro, offset, matched = _date_parts(strings)
        leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
        month_days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
        last_day = month_days[np.clip(month, 1, 12) - 1] + ((month == 2) & leap)
        valid = (
            matched
            & (year >= 1900)
            & (month >= 1)
            & (month <= 12)
            & (day >= 1)
            & (day <= last_day)
            & (hour < 24)
            & (minute < 60)
            & (second < 60)
            & (np.abs(offset) <= 14 * 3600)
        )
        days = _days_from_civil(year, np.clip(month, 1, 12), day)
        seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset
        micros = np.where(valid, seconds * 1_000_000 + micro, 0)
        return micros, valid & (micros <= self.at_us)

    def _balance(self, strings: Any, chunk: _Chunk) -> tuple[IntArray, BoolArray, BoolArray]:
        typed = chunk.typed.get("balance")
        if typed is not None:
            given = _np_bool(pc.is_valid(typed))
            values = np.asarray(
                pc.fill_null(pc.cast(typed, pa.float64()), 0).to_numpy(zero_copy_only=False),
                dtype=np.float64,
            )
            cents = np.round(values * 100)
            ok = given & (values >= 0) & (np.abs(values * 100 - cents) < 1e-6) & (cents < 1e15)
            return np.where(ok, cents, 0).astype(np.int64), given, ok
        given = _np_bool(pc.is_valid(strings))
        parts = pc.extract_regex(strings, _BALANCE_RX)
        ok = _np_bool(pc.is_valid(parts))
        yuan = _np_int(pc.struct_field(parts, "i"))
        fen = _np_int(
            pc.utf8_rpad(pc.fill_null(pc.struct_field(parts, "f"), ""), width=2, padding="0")
        )
        return np.where(ok, yuan * 100 + fen, 0), given, ok

    def _malformed(self, chunk: _Chunk, names: list[str]) -> Any:
        width = len(names)
        rows = [(record + [""] * width)[:width] for _, record in chunk.malformed]
        fields = pa.table(
            {name: pa.array([r[i] for r in rows], pa.string()) for i, name in enumerate(names)}
        )
        lines = np.array([line for line, _ in chunk.malformed], dtype=np.int64)
        codes = np.full(len(rows), _CODE[R.ROW_MALFORMED], dtype=np.int8)
        return _reject_table(fields, lines, codes)

    def line_csv(self, good: Any) -> Any:
        """The good rows as COPY CSV in LINE_COLUMNS order (timestamps naive UTC)."""
        n = good.num_rows

        def constant(value: object) -> Any:  # as text: written once, copied n times
            return pa.repeat(pa.scalar(str(value)), n)

        table = pa.Table.from_arrays(
            [
                good.column("msisdn"),
                good.column("iccid"),
                good.column("imsi"),
                constant(self.enterprise_id),
                constant(LineState.LEGACY),
                good.column("channel_id"),
                good.column("activated_at"),
                constant(self.at.replace(tzinfo=None).isoformat(" ")),
                constant(0),
                good.column("home_region"),
                good.column("prepaid_balance_minor"),
                constant(self.import_id),
            ],
            names=list(LINE_COLUMNS),
        )
        return _csv_bytes(table)


def _csv_bytes(table: Any) -> Any:
    out = pa.BufferOutputStream()
    # Every value is digits, a timestamp or a fixed word: nothing needs quoting.
    pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    return out.getvalue()


_FAST_DATE_RX = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}:\d{2})?$"


def _date_parts(strings: Any) -> tuple[npt.NDArray[Any], ...]:
    """(year, month, day, hour, minute, second, microsecond, UTC offset in seconds, matched)
    of ISO 8601 strings, unchecked. `2019-03-04` and `2019-03-04T05:06:07` (the forms
    exports use) are cut at fixed places; the rest (fractions, offsets) go through RE2."""
    n = len(strings)
    fast = _np_bool(pc.match_substring_regex(strings, _FAST_DATE_RX))

    shaped = pc.if_else(pa.array(fast), strings, "0000-00-00 00:00:00")

    def cut(start: int, stop: int) -> IntArray:
        return _np_int(pc.utf8_slice_codeunits(shaped, start, stop))

    year, month, day = cut(0, 4), cut(5, 7), cut(8, 10)
    hour, minute, second = cut(11, 13), cut(14, 16), cut(17, 19)
    micro, offset = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    matched = fast.copy()
    slow = np.flatnonzero(~fast & _np_bool(pc.is_valid(strings)))
    if len(slow):
        parts = pc.extract_regex(pc.take(strings, pa.array(slow)), _DATE_RX)

        def part(name: str) -> IntArray:
            return _np_int(pc.struct_field(parts, name))

        year[slow], month[slow], day[slow] = part("y"), part("mo"), part("d")
        hour[slow], minute[slow], second[slow] = part("h"), part("mi"), part("s")
        fraction = pc.utf8_rpad(pc.fill_null(pc.struct_field(parts, "f"), ""), width=6, padding="0")
        micro[slow] = _np_int(pc.utf8_slice_codeunits(fraction, 0, 6))
        sign = np.where(_np_bool(pc.equal(pc.struct_field(parts, "zs"), "-")), -1, 1)
        tz_hour, tz_minute = part("zh"), part("zm")
        offset[slow] = sign * (tz_hour * 3600 + tz_minute * 60)
        matched[slow] = _np_bool(pc.is_valid(parts)) & (tz_minute < 60)
    return year, month, day, hour, minute, second, micro, offset, matched


def _days_from_civil(year: IntArray, month: IntArray, day: IntArray) -> IntArray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm)."""
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return np.asarray(era * 146097 + doe - 719468, dtype=np.int64)


def _ahead(items: Iterator[T], depth: int) -> Generator[T, None, None]:
    """`items`, produced in a thread up to `depth` ahead: the next chunk is read and
    validated (pyarrow and numpy release the GIL) while the database loads this one."""
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(("end", None))
        except BaseException as error:  # handed to the consumer, raised there
            slots.put(("error", error))

    worker = threading.Thread(target=produce, name="legacy-import-reader", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while worker.is_alive():
            with suppress(queue.Empty):
                slots.get(timeout=0.1)
        worker.join()


# --- loading -------------------------------------------------------------------------------


@dataclass
class _Outcome:
    loaded: int
    present: int
    conflicts: IntArray  # line numbers of good rows refused for an ICCID/IMSI in use


class _Loader:
    def __init__(self, session: Session, validator: _Validator) -> None:
        self.session = session
        self.validator = validator
        self.staged = False

    def load(self, prepared: _Prepared) -> _Outcome:
        raise NotImplementedError

    def load_and_commit(self, prepared: _Prepared) -> _Outcome:
        """The chunk's lines and the import record's counts, in one transaction."""
        session = self.session
        try:
            outcome = self.load(prepared)
            session.execute(
                update(LegacyImport)
                .where(LegacyImport.id == self.validator.import_id)
                .values(
                    rows_read=LegacyImport.rows_read + prepared.rows_read,
                    rows_loaded=LegacyImport.rows_loaded + outcome.loaded,
                    rows_present=LegacyImport.rows_present + outcome.present,
                    rows_rejected=LegacyImport.rows_rejected
                    + prepared.rows_rejected
                    + len(outcome.conflicts),
                )
            )
            session.commit()
        except BaseException:
            session.rollback()
            raise
        return outcome

    def close(self) -> None:
        if not self.staged:
            return
        try:
            self.session.execute(text(f"DROP TABLE IF EXISTS {STAGE_TABLE}"))
            self.session.commit()
        except Exception:  # a temp table goes with the connection anyway
            self.session.rollback()

    def _insert_staged(self, rows: int, insert: str) -> _Outcome:
        """Insert the staged rows not yet present; (loaded, present, refused) from the row
        count, and only when some did not go in, from one more look at the stage."""
        session = self.session
        result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            text(insert).bindparams(bindparam("at", type_=UtcDateTime())),
            {
                "enterprise_id": self.validator.enterprise_id,
                "state": str(LineState.LEGACY),
                "at": self.validator.at,
                "import_id": self.validator.import_id,
            },
        )
        loaded = int(result.rowcount)
        if loaded == rows:
            return _Outcome(loaded, 0, np.zeros(0, dtype=np.int64))
        missing = session.execute(text(_MISSING_SQL)).scalars().all()
        conflicts = np.asarray(missing, dtype=np.int64)
        return _Outcome(loaded, rows - loaded - len(conflicts), conflicts)


_LINE_NAMES = ", ".join(LINE_COLUMNS)
# Staged rows whose number has no line yet go in; one that still clashes (its ICCID or IMSI
# belongs to another line) is skipped by the conflict clause and reported as kit_in_use.
_INSERT_STAGED = (
    "{verb} INTO line (" + _LINE_NAMES + ") "  # noqa: S608 (constant names)
    "SELECT s.msisdn, s.iccid, s.imsi, :enterprise_id, :state, s.channel_id, {activated}, "
    ":at, 0, s.home_region, s.prepaid_balance_minor, :import_id "
    "FROM legacy_import_stage s "
    "WHERE NOT EXISTS (SELECT 1 FROM line l WHERE l.msisdn = s.msisdn){conflict}"
)
# After the insert: staged rows whose number still has no line.
_MISSING_SQL = (
    "SELECT s.line_no FROM legacy_import_stage s "
    "WHERE NOT EXISTS (SELECT 1 FROM line l WHERE l.msisdn = s.msisdn) ORDER BY s.line_no"
)


class _PostgresLoader(_Loader):
    """COPY into `line` under a SAVEPOINT, skipping the rows whose number is already there.

    Which numbers are there is asked (one index probe a row) for the first chunk and after
    any chunk that found some, so a re-run or a resumed run loads only what is missing and
    a fresh file goes straight in. A COPY that still hits a unique violation (an ICCID or
    IMSI already on another line, a concurrent import) is rolled back to its savepoint and
    the chunk goes through the staging table and `INSERT … ON CONFLICT DO NOTHING`. Probing
    first also keeps a re-run from making the server log unique violations, whose detail
    would quote a phone number.
    """

    def __init__(self, session: Session, validator: _Validator) -> None:
        super().__init__(session, validator)
        self.probe = True

    def load(self, prepared: _Prepared) -> _Outcome:
        good, payload = prepared.good, prepared.copy_csv
        present = 0
        if self.probe and good.num_rows:
            there = self._present(good.column("msisdn"))
            present = int(there.sum())
            if present:
                good = good.filter(pa.array(~there))
                payload = self.validator.line_csv(good)
        none = np.zeros(0, dtype=np.int64)
        if good.num_rows == 0:
            outcome = _Outcome(0, present, none)
        elif self._copy_into_line(payload):
            outcome = _Outcome(good.num_rows, present, none)
        else:
            staged = self._through_stage(good)
            outcome = _Outcome(staged.loaded, present + staged.present, staged.conflicts)
            present = -1  # something unexpected was there: probe the next chunk too
        self.probe = present != 0
        return outcome

    def _present(self, msisdns: Any) -> BoolArray:
        """Which of these numbers already have a line."""
        found = self.session.execute(
            text("SELECT msisdn FROM line WHERE msisdn = ANY(:numbers)"),
            {"numbers": msisdns.to_pylist()},
        ).scalars()
        return _np_bool(pc.is_in(msisdns, value_set=pa.array(list(found), pa.string())))

    def _driver(self) -> Any:
        driver = self.session.connection().connection.driver_connection
        assert driver is not None
        return driver

    def _copy(self, sql: str, data: Any) -> None:
        with self._driver().cursor() as cursor, cursor.copy(sql) as copy:
            copy.write(memoryview(data))

    def _copy_into_line(self, payload: Any) -> bool:
        """True when the rows went in; False (nothing changed) on a unique violation."""
        import psycopg

        session = self.session
        session.execute(text("SET LOCAL TIME ZONE 'UTC'"))  # the CSV has naive UTC times
        savepoint = session.begin_nested()
        try:
            self._copy(f"COPY line ({_LINE_NAMES}) FROM STDIN (FORMAT csv)", payload)
        except psycopg.errors.UniqueViolation:
            savepoint.rollback()  # its message quotes the row: never shown or logged here
            return False
        except psycopg.Error as error:
            savepoint.rollback()
            raise RuntimeError(f"COPY into line failed: {_scrub(str(error))}") from None
        savepoint.commit()
        return True

    def _through_stage(self, good: Any) -> _Outcome:
        import psycopg

        session = self.session
        if not self.staged:
            session.execute(
                text(
                    f"CREATE TEMP TABLE IF NOT EXISTS {STAGE_TABLE} (line_no bigint, "
                    "msisdn varchar(16), iccid varchar(22), imsi varchar(15), channel_id integer, "
                    "activated_at timestamp, home_region varchar(6), "
                    "prepaid_balance_minor bigint)"
                )
            )
            self.staged = True
        session.execute(text(f"TRUNCATE {STAGE_TABLE}"))
        try:
            self._copy(
                f"COPY {STAGE_TABLE} ({', '.join(STAGE_COLUMNS)}) FROM STDIN (FORMAT csv)",
                _csv_bytes(good.select(list(STAGE_COLUMNS))),
            )
        except psycopg.Error as error:
            raise RuntimeError(f"COPY into the stage failed: {_scrub(str(error))}") from None
        # Index probes, never a hash join over the whole of `line` for each chunk.
        session.execute(text("SET LOCAL enable_hashjoin = off"))
        session.execute(text("SET LOCAL enable_mergejoin = off"))
        insert = _INSERT_STAGED.format(
            verb="INSERT",
            activated="s.activated_at AT TIME ZONE 'UTC'",
            conflict=" ON CONFLICT DO NOTHING",
        )
        return self._insert_staged(good.num_rows, insert)


class _SqliteLoader(_Loader):
    """INSERT OR IGNORE from a TEMP staging table filled by executemany."""

    def load(self, prepared: _Prepared) -> _Outcome:
        good = prepared.good
        if good.num_rows == 0:
            return _Outcome(0, 0, np.zeros(0, dtype=np.int64))
        session = self.session
        connection = session.connection()
        if not self.staged:
            connection.exec_driver_sql(
                f"CREATE TEMP TABLE IF NOT EXISTS {STAGE_TABLE} (line_no INTEGER, "
                "msisdn VARCHAR(16), iccid VARCHAR(22), imsi VARCHAR(15), channel_id INTEGER, "
                "activated_at DATETIME, home_region VARCHAR(6), prepaid_balance_minor BIGINT)"
            )
            self.staged = True
        connection.exec_driver_sql(f"DELETE FROM {STAGE_TABLE}")  # noqa: S608 (constant)
        # SQLAlchemy stores SQLite datetimes as "YYYY-MM-DD HH:MM:SS.ffffff" text.
        activated = pc.strftime(good.column("activated_at"), format="%Y-%m-%d %H:%M:%S")
        columns = [
            good.column(name).to_pylist() if name != "activated_at" else activated.to_pylist()
            for name in STAGE_COLUMNS
        ]
        placeholders = ", ".join("?" for _ in STAGE_COLUMNS)
        connection.exec_driver_sql(
            f"INSERT INTO {STAGE_TABLE} ({', '.join(STAGE_COLUMNS)}) "  # noqa: S608 (constant)
            f"VALUES ({placeholders})",
            list(zip(*columns, strict=True)),
        )
        insert = _INSERT_STAGED.format(
            verb="INSERT OR IGNORE", activated="s.activated_at", conflict=""
        )
        return self._insert_staged(good.num_rows, insert)


# --- rejects -------------------------------------------------------------------------------


class _RejectWriter:
    """The reject CSV: created on the first reject (a stale one from an earlier run of the
    same path is removed first), rows in file order within each chunk."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.path = path
        self.schema = pa.schema(
            [("line", pa.int64()), ("reason", pa.string()), ("message", pa.string())]
            + [(name, pa.string()) for name in columns]
        )
        self.writer: Any = None
        path.unlink(missing_ok=True)

    def write(self, *tables: Any) -> None:
        present = [t for t in tables if t is not None and t.num_rows]
        if not present:
            return
        table = pa.concat_tables(
            [t.select(self.schema.names).cast(self.schema) for t in present]
        ).sort_by("line")
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pacsv.CSVWriter(str(self.path), self.schema)
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
