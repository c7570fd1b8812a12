"""Loading validated chunks into `line`, and writing the rejected rows.

On PostgreSQL a chunk is one COPY straight into `line` inside a SAVEPOINT; a chunk whose rows
may already be there goes through a TEMP staging table and `INSERT … SELECT … ON CONFLICT DO
NOTHING` instead. SQLite always takes the staging route (`INSERT OR IGNORE`). Each chunk and
the import record's counts are one transaction. The SQL here is bulk-load mechanics (COPY,
the stage) that an ORM repository cannot express.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import CursorResult, bindparam, text
from sqlalchemy.orm import Session

from realname.backfill.importing.repository import ImportCounts, ImportRepository
from realname.backfill.importing.types import (
    LINE_COLUMNS,
    STAGE_COLUMNS,
    BoolArray,
    IntArray,
    np_bool,
)
from realname.backfill.importing.validate import Prepared, Validator, csv_bytes
from realname.db.types import UtcDateTime
from realname.registry.lifecycle import LineState

STAGE_TABLE = "legacy_import_stage"
_DIGITS_RUN = re.compile(r"\+?\d[\d \-]{5,}\d")


def _scrub(message: str) -> str:
    """An error text fit for a log: any run of digits long enough to be a number is hidden."""
    return _DIGITS_RUN.sub("…", message.strip().splitlines()[0] if message.strip() else "")[:200]


@dataclass
class Outcome:
    loaded: int
    present: int
    conflicts: IntArray  # line numbers of good rows refused for an ICCID/IMSI in use


class Loader:
    def __init__(self, session: Session, validator: Validator) -> None:
        self.session = session
        self.validator = validator
        self.staged = False

    def load(self, prepared: Prepared) -> Outcome:
        raise NotImplementedError

    def load_and_commit(self, prepared: Prepared) -> Outcome:
        """The chunk's lines and the import record's counts, in one transaction."""
        session = self.session
        try:
            outcome = self.load(prepared)
            ImportRepository(session).add_counts(
                self.validator.import_id,
                ImportCounts(
                    read=prepared.rows_read,
                    loaded=outcome.loaded,
                    present=outcome.present,
                    rejected=prepared.rows_rejected + len(outcome.conflicts),
                ),
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

    def _insert_staged(self, rows: int, insert: str) -> Outcome:
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
            return Outcome(loaded, 0, np.zeros(0, dtype=np.int64))
        missing = session.execute(text(_MISSING_SQL)).scalars().all()
        conflicts = np.asarray(missing, dtype=np.int64)
        return Outcome(loaded, rows - loaded - len(conflicts), conflicts)


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


class PostgresLoader(Loader):
    """COPY into `line` under a SAVEPOINT, skipping the rows whose number is already there.

    Which numbers are there is asked (one index probe a row) for the first chunk and after
    any chunk that found some, so a re-run or a resumed run loads only what is missing and
    a fresh file goes straight in. A COPY that still hits a unique violation (an ICCID or
    IMSI already on another line, a concurrent import) is rolled back to its savepoint and
    the chunk goes through the staging table and `INSERT … ON CONFLICT DO NOTHING`. Probing
    first also keeps a re-run from making the server log unique violations, whose detail
    would quote a phone number.
    """

    def __init__(self, session: Session, validator: Validator) -> None:
        super().__init__(session, validator)
        self.probe = True

    def load(self, prepared: Prepared) -> Outcome:
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
            outcome = Outcome(0, present, none)
        elif self._copy_into_line(payload):
            outcome = Outcome(good.num_rows, present, none)
        else:
            staged = self._through_stage(good)
            outcome = Outcome(staged.loaded, present + staged.present, staged.conflicts)
            present = -1  # something unexpected was there: probe the next chunk too
        self.probe = present != 0
        return outcome

    def _present(self, msisdns: Any) -> BoolArray:
        """Which of these numbers already have a line."""
        found = self.session.execute(
            text("SELECT msisdn FROM line WHERE msisdn = ANY(:numbers)"),
            {"numbers": msisdns.to_pylist()},
        ).scalars()
        return np_bool(pc.is_in(msisdns, value_set=pa.array(list(found), pa.string())))

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

    def _through_stage(self, good: Any) -> Outcome:
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
                csv_bytes(good.select(list(STAGE_COLUMNS))),
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


class SqliteLoader(Loader):
    """INSERT OR IGNORE from a TEMP staging table filled by executemany."""

    def load(self, prepared: Prepared) -> Outcome:
        good = prepared.good
        if good.num_rows == 0:
            return Outcome(0, 0, np.zeros(0, dtype=np.int64))
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


class RejectWriter:
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
