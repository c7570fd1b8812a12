"""`realname bench import`: the legacy import against a bare COPY of the same rows.

On a scratch PostgreSQL database: one enterprise with a block of 10^8 numbers and a few
channels, and a synthetic billing export of N rows (numbers written three ways, ICCIDs with
Luhn check digits, dates and date-times, balances, regions, channel codes) with a few percent
of bad rows mixed in. Then, each on a freshly checkpointed server:

- bare COPY: the exact CSV payloads the import sends (prepared beforehand, untimed) COPYed
  into a copy of `line` with the same indexes (`LIKE line INCLUDING ALL`), and into one that
  also has `line`'s foreign keys, since every row the import writes pays their checks;
- the import of the file (read, validate, reject, load, commit per chunk), with its
  default of two connections loading chunks side by side (`--workers` to change);
- the same import again: every good row already present, nothing changes.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from realname.backfill.importing.pipeline import (
    DEFAULT_CHUNK_ROWS,
    DEFAULT_WORKERS,
    ImportProgress,
    ImportReport,
    copy_payloads,
    import_legacy,
)
from realname.backfill.importing.types import LINE_COLUMNS
from realname.backfill.models import LegacyImport
from realname.bench.figures import Figures
from realname.config import Settings
from realname.db import migrate
from realname.db.engine import create_engine_from_settings, create_session_factory
from realname.db.uow import UnitOfWork
from realname.numbering.blocks import NumberBlock
from realname.registry.models import Channel, Enterprise, NumberBlockRow
from realname.security.audit_keys import AuditKeys
from realname.security.vault import KeyRing, generate_key

Progress = Callable[[str], object]
BLOCK = "+86139"  # 10^8 numbers
CHANNELS = ("HALL-01", "HALL-02", "AGENT-01", "AGENT-02", "ONLINE")
REGIONS = ("110105", "310101", "440305", "510107", "330106")
GENERATE_ROWS = 250_000
# An odd multiplier not divisible by 5: i -> (a*i + b) mod 10^8 is a bijection on the block.
SCATTER = 7_919_333
BAD_KINDS = 7


@dataclass
class ImportBenchResult:
    rows: int
    bad_rows: int
    file_bytes: int
    workers: int
    copy_rows: int
    copy_plain_seconds: float  # COPY into LIKE line INCLUDING ALL (indexes, no foreign keys)
    copy_seconds: float  # COPY into LIKE line INCLUDING ALL plus line's foreign keys
    first: ImportReport
    rerun: ImportReport

    @property
    def copy_plain_per_second(self) -> float:
        return self.copy_rows / self.copy_plain_seconds

    @property
    def copy_per_second(self) -> float:
        return self.copy_rows / self.copy_seconds

    @property
    def ratio(self) -> float:
        """Import / bare COPY with the same indexes and foreign keys, same rows loaded."""
        return self.copy_seconds / self.first.seconds

    @property
    def ratio_plain(self) -> float:
        """Import / bare COPY into `LIKE line INCLUDING ALL` (no foreign keys)."""
        return self.copy_plain_seconds / self.first.seconds

    def figures(self) -> Figures:
        """The headline: the import's rows/s (rows read: good and bad) against the bare COPY
        of the loaded rows into a copy of `line` with its indexes and foreign keys."""
        first = self.first
        return Figures(
            path="legacy import (CSV -> PostgreSQL)",
            n=first.rows_read,
            errors=0,
            seconds=first.seconds,
            p50_ms=math.nan,
            p99_ms=math.nan,
            bare_sql_rate_per_s=self.copy_per_second,
            extra={
                "rows_loaded": first.rows_loaded,
                "rows_rejected": first.rows_rejected,
                "bad_rows": self.bad_rows,
                "workers": self.workers,
                "bare_copy_no_fk_rate_per_s": round(self.copy_plain_per_second, 1),
                "ratio_to_bare_copy_no_fk": round(self.ratio_plain, 3),
                "rerun_rate_per_s": round(self.rerun.rows_per_second, 1),
                "rerun_rows_present": self.rerun.rows_present,
            },
        )


def write_synthetic_file(
    path: Path,
    rows: int,
    *,
    block: NumberBlock,
    channel_codes: tuple[str, ...] = CHANNELS,
    bad_share: float = 0.03,
    seed: int = 7,
    now: datetime,
) -> int:
    """A billing export of `rows` legacy lines in `block`; returns how many rows are bad
    (each is rejected by the import for exactly one reason)."""
    rng = np.random.default_rng(seed)
    first, size = int(block.first), block.size
    offset = int(rng.integers(size))
    cc_digits = len(block.first) - 11
    end = int((now - timedelta(days=30)).timestamp())
    start = int(datetime(2005, 1, 1, tzinfo=UTC).timestamp())
    bad_total = 0
    with path.open("wb") as out:
        out.write(b"msisdn,iccid,imsi,activated_at,balance,home_region,channel_code\n")
        for begin in range(0, rows, GENERATE_ROWS):
            n = min(GENERATE_ROWS, rows - begin)
            index = np.arange(begin, begin + n, dtype=np.int64)
            numbers = first + (index * SCATTER + offset) % size
            national = pc.utf8_slice_codeunits(pc.cast(pa.array(numbers), pa.string()), cc_digits)
            style = rng.integers(0, 10, n)
            msisdn = pc.if_else(
                pa.array(style < 6),
                national,
                pc.if_else(
                    pa.array(style < 9),
                    pc.binary_join_element_wise("+86", national, ""),
                    pc.binary_join_element_wise("86", national, ""),
                ),
            )
            body = pc.binary_join_element_wise(
                "898600", _zero_padded(index + 10**11, 13), ""
            )  # 19 digits
            iccid = pc.binary_join_element_wise(body, _luhn_digit(body), "")
            imsi = pc.binary_join_element_wise("46000", _zero_padded(index, 10), "")
            seconds = rng.integers(start, end, n).astype("datetime64[s]")
            stamps = pa.array(seconds, pa.timestamp("s"))
            form = rng.integers(0, 10, n)
            activated = pc.if_else(
                pa.array(form < 5),
                pc.strftime(stamps, format="%Y-%m-%d"),
                pc.if_else(
                    pa.array(form < 9),
                    pc.strftime(stamps, format="%Y-%m-%dT%H:%M:%S"),
                    pc.binary_join_element_wise(
                        pc.strftime(stamps, format="%Y-%m-%d %H:%M:%S"), "+08:00", ""
                    ),
                ),
            )
            fen = rng.integers(0, 50_000, n)
            balance = pc.binary_join_element_wise(
                pc.cast(pa.array(fen // 100), pa.string()), _zero_padded(fen % 100, 2), "."
            )
            balance = _some_empty(balance, rng, 0.2)
            region = _some_empty(_pick(REGIONS, rng, n), rng, 0.3)
            channel = _some_empty(_pick(channel_codes, rng, n), rng, 0.4)

            bad = rng.random(n) < bad_share
            kind = np.where(bad, rng.integers(0, BAD_KINDS, n), -1)
            # A duplicate repeats the row before it, which must keep its own number.
            kind[0] = -1 if kind[0] == 6 else kind[0]
            kind[1:][(kind[1:] == 6) & (kind[:-1] == 6)] = -1
            bad_total += int((kind >= 0).sum())
            previous = pa.array(np.maximum(np.arange(n) - 1, 0))
            msisdn = _where(kind == 0, "1234567", msisdn)
            moved = pc.binary_join_element_wise("137", pc.utf8_slice_codeunits(national, 3), "")
            msisdn = _where(kind == 1, moved, msisdn)
            msisdn = _where(kind == 6, pc.take(msisdn, previous), msisdn)
            wrong = pc.binary_join_element_wise(body, _luhn_digit(body, wrong=True), "")
            iccid = _where(kind == 2, wrong, iccid)
            activated = _where(kind == 3, "2019-02-30", activated)
            balance = _where(kind == 4, "-5.00", balance)
            channel = _where(kind == 5, "NO-SUCH-CHANNEL", channel)
            table = pa.table(
                {
                    "msisdn": msisdn,
                    "iccid": iccid,
                    "imsi": imsi,
                    "activated_at": activated,
                    "balance": balance,
                    "home_region": region,
                    "channel_code": channel,
                }
            )
            pacsv.write_csv(
                table, out, pacsv.WriteOptions(include_header=False, quoting_style="none")
            )
    return bad_total


def _zero_padded(values: Any, width: int) -> Any:
    return pc.utf8_lpad(pc.cast(pa.array(values), pa.string()), width=width, padding="0")


def _luhn_digit(body: Any, *, wrong: bool = False) -> Any:
    """The Luhn check digit of 19-digit strings (or a wrong one)."""
    raw = np.frombuffer(body.buffers()[2], dtype=np.uint8)
    offsets = np.frombuffer(body.buffers()[1], dtype=np.int32)[body.offset]
    digits = raw[offsets : offsets + 19 * len(body)].reshape(-1, 19).astype(np.int64) - 48
    doubled = np.array([0, 2, 4, 6, 8, 1, 3, 5, 7, 9])[digits[:, 0::2]].sum(axis=1)
    check = (10 - (doubled + digits[:, 1::2].sum(axis=1)) % 10) % 10
    if wrong:
        check = (check + 1) % 10
    return pc.cast(pa.array(check), pa.string())


def _pick(values: tuple[str, ...], rng: np.random.Generator, n: int) -> Any:
    return pc.take(pa.array(values), pa.array(rng.integers(0, len(values), n)))


def _some_empty(values: Any, rng: np.random.Generator, share: float) -> Any:
    return _where(rng.random(len(values)) < share, pa.scalar(None, pa.string()), values)


def _where(mask: Any, value: Any, otherwise: Any) -> Any:
    return pc.if_else(pa.array(mask), value, otherwise)


def run_import_bench(
    database_url: str,
    *,
    rows: int,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    workers: int = DEFAULT_WORKERS,
    bad_share: float = 0.03,
    seed: int = 7,
    work_dir: Path | None = None,
    progress: Progress | None = None,
    revision: str = "head",
) -> ImportBenchResult:
    """Everything on `database_url`, an empty database the caller drops afterwards.
    `revision`: the schema to measure on (an older one shows what a migration changed)."""
    say = progress or (lambda _message: None)
    work = work_dir or Path(tempfile.mkdtemp(prefix="realname-bench-"))
    settings = Settings(database_url=database_url)
    engine = create_engine_from_settings(settings)
    try:
        migrate.upgrade(engine, revision)
        now = settings.clock().now()
        block = NumberBlock.from_prefix(BLOCK)
        with Session(engine) as session, session.begin():
            enterprise = Enterprise(
                code="BENCH", name="bench MNO", kind="mno", status="active", created_at=now
            )
            session.add(enterprise)
            session.flush()
            session.add(
                NumberBlockRow(
                    enterprise_id=enterprise.id,
                    first=block.first,
                    last=block.last,
                    allocated_at=now,
                )
            )
            for code in CHANNELS:
                session.add(
                    Channel(
                        enterprise_id=enterprise.id,
                        code=code,
                        name=code,
                        kind="own_hall",
                        region_code="110105",
                        status="active",
                        created_at=now,
                    )
                )
            session.flush()
            channels = {c.code: c.id for c in session.query(Channel)}
            enterprise_id = enterprise.id
        path = work / "legacy.csv"
        say(f"writing {rows:,} synthetic rows")
        bad = write_synthetic_file(path, rows, block=block, bad_share=bad_share, seed=seed, now=now)

        plain_rows, plain_seconds = _bare_copy(
            engine, path, enterprise_id, channels, block, now, chunk_rows, "plain", say
        )
        copy_rows, copy_seconds = _bare_copy(
            engine, path, enterprise_id, channels, block, now, chunk_rows, "foreign keys", say
        )
        assert plain_rows == copy_rows

        def show(label: str) -> Callable[[ImportProgress], None]:
            def update(p: ImportProgress) -> None:
                say(f"{label}: {p.done / max(p.total, 1):.0%}, {p.rows_read:,} rows read")

            return update

        # A scratch database: throw-away keys for its audit entry.
        scratch_keys = KeyRing(
            {"k1": generate_key()}, "k1", generate_key(), audit=AuditKeys.generate()
        )
        _checkpoint(engine)
        first = import_legacy(
            UnitOfWork(create_session_factory(engine)),
            keyring=scratch_keys,
            enterprise="BENCH",
            path=path,
            at=now,
            chunk_rows=chunk_rows,
            workers=workers,
            progress=show("import"),
            actor="system:bench",
        )
        _checkpoint(engine)
        rerun = import_legacy(
            UnitOfWork(create_session_factory(engine)),
            keyring=scratch_keys,
            enterprise="BENCH",
            path=path,
            at=now,
            chunk_rows=chunk_rows,
            workers=workers,
            progress=show("re-run"),
            actor="system:bench",
        )
        return ImportBenchResult(
            rows=rows,
            bad_rows=bad,
            file_bytes=path.stat().st_size,
            workers=workers,
            copy_rows=copy_rows,
            copy_plain_seconds=plain_seconds,
            copy_seconds=copy_seconds,
            first=first,
            rerun=rerun,
        )
    finally:
        engine.dispose()
        for leftover in (work / "legacy.csv", work / "legacy.csv.rejects.csv"):
            leftover.unlink(missing_ok=True)
        if work_dir is None:
            work.rmdir()


def _bare_copy(
    engine: Engine,
    path: Path,
    enterprise_id: int,
    channels: dict[str, int],
    block: NumberBlock,
    now: datetime,
    chunk_rows: int,
    variant: str,
    say: Progress,
) -> tuple[int, float]:
    """COPY the import's own payloads into a fresh copy of `line`: (rows, seconds of COPY
    and commit only; preparing the payloads is not timed)."""
    with Session(engine) as session, session.begin():
        dummy = LegacyImport(
            enterprise_id=enterprise_id,
            source_name="bench baseline",
            source_sha256="-",
            actor="system:bench",
            started_at=now,
            rows_read=0,
            rows_loaded=0,
            rows_present=0,
            rows_rejected=0,
        )
        session.add(dummy)
        session.flush()
        import_id = dummy.id
        session.execute(text("CREATE TABLE line_bare (LIKE line INCLUDING ALL)"))
        if variant == "foreign keys":
            keys = session.execute(
                text(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = 'line'::regclass AND contype = 'f'"
                )
            ).scalars()
            for definition in list(keys):
                session.execute(text(f"ALTER TABLE line_bare ADD {definition}"))
    _checkpoint(engine)
    loaded, seconds = 0, 0.0
    sql = f"COPY line_bare ({', '.join(LINE_COLUMNS)}) FROM STDIN (FORMAT csv)"
    raw = engine.raw_connection()
    try:
        driver: Any = raw.driver_connection
        with driver.cursor() as cursor:
            for count, payload in copy_payloads(
                path,
                enterprise_id=enterprise_id,
                import_id=import_id,
                blocks=[(block.first, block.last)],
                channels=channels,
                at=now,
                chunk_rows=chunk_rows,
            ):
                started = time.perf_counter()
                cursor.execute("SET LOCAL TIME ZONE 'UTC'")
                with cursor.copy(sql) as copy:
                    copy.write(memoryview(payload))
                driver.commit()
                seconds += time.perf_counter() - started
                loaded += count
                say(f"bare COPY ({variant}): {loaded:,} rows")
    finally:
        raw.close()
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE line_bare"))
    return loaded, seconds


def _checkpoint(engine: Engine) -> None:
    """Start each measured run without the previous run's dirty pages (when allowed)."""
    try:
        with engine.connect() as connection:
            connection.execute(text("CHECKPOINT"))
            connection.commit()
    except DBAPIError:
        pass
