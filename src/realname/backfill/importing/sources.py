"""Reading a billing export in chunks: CSV (exact line numbers) and Parquet (row numbers).

Every field is handed on as a string column, blank lines dropped; Parquet timestamps and
amounts also keep their own type for an exact conversion.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from realname.backfill.errors import BackfillError, BackfillErrorCode
from realname.backfill.importing.types import BoolArray, Chunk, IntArray, np_bool

FIELDS = ("msisdn", "iccid", "imsi", "activated_at", "balance", "home_region", "channel_code")
REQUIRED = ("msisdn", "activated_at")


class ImportFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


def resolve_format(path: Path, given: ImportFormat | str | None) -> ImportFormat:
    if given is not None:
        try:
            return ImportFormat(str(given).lower())
        except ValueError:
            raise BackfillError(
                BackfillErrorCode.IMPORT_FILE_UNREADABLE, "format must be csv or parquet"
            ) from None
    return ImportFormat.PARQUET if path.suffix.lower() in {".parquet", ".pq"} else ImportFormat.CSV


def open_source(path: Path, file_format: ImportFormat, chunk_rows: int) -> Source:
    if file_format is ImportFormat.CSV:
        return CsvSource(path, chunk_rows)
    return ParquetSource(path, chunk_rows)


class Source:
    columns: list[str]
    total: int
    unit: str

    def __iter__(self) -> Iterator[Chunk]:
        raise NotImplementedError


def _normalise(names: list[str]) -> list[str]:
    out = [name.strip().lower() for name in names]
    if len(set(out)) != len(out):
        raise BackfillError(BackfillErrorCode.IMPORT_FILE_UNREADABLE, "duplicate column names")
    return out


class CsvSource(Source):
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

    def __iter__(self) -> Iterator[Chunk]:
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

    def _parse(self, block: bytes, first_line: int, done: int) -> Chunk:
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
        return Chunk(table, lines, done, malformed)

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
        blank &= np_bool(pc.is_null(column))
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


class ParquetSource(Source):
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

    def __iter__(self) -> Iterator[Chunk]:
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
            yield Chunk(table, lines, row - 1, typed=typed)
