"""The import run: the file read and validated a chunk ahead in a thread, chunks loaded (side
by side on PostgreSQL) and committed one by one, the rejects written, the record finished."""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine

from realname.backfill.errors import BackfillError, BackfillErrorCode
from realname.backfill.importing.loaders import (
    Loader,
    Outcome,
    PostgresLoader,
    RejectWriter,
    SqliteLoader,
)
from realname.backfill.importing.repository import ImportCounts, ImportRepository
from realname.backfill.importing.sources import (
    REQUIRED,
    ImportFormat,
    open_source,
    resolve_format,
)
from realname.backfill.importing.validate import Prepared, RejectReason, Validator
from realname.db.uow import UnitOfWork
from realname.numbering.msisdn import DEFAULT_REGION
from realname.security.audit import append_audit
from realname.security.redact import redact_pii
from realname.security.vault import KeyRing

DEFAULT_CHUNK_ROWS = 100_000
DEFAULT_WORKERS = 2
T = TypeVar("T")


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
    uow: UnitOfWork,
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

    The import owns its transactions, each a unit of `uow` (the loaders' chunk transactions
    are on sessions of their own from `uow.sessions`, committed by the loader per chunk): the
    import record is committed first, then every chunk with the record's counts, then the
    finished record with its audit entry; a killed import holds no giant transaction (and
    the caller must hold none open: on SQLite each of these takes the write lock). `at`
    is the import time (each line's `state_changed_at`); rows activated after it are
    rejected. Raises `BackfillError` for an unknown enterprise, a file that cannot be read
    or lacks required columns (before anything is written), or data that cannot be decoded
    (chunks before it stay loaded, the import record stays unfinished, and a re-run
    continues).

    On PostgreSQL with sessions bound to an engine, `workers` connections load chunks side
    by side (each chunk its own transaction): the server's per-row work (indexes, foreign-key
    checks) is what bounds an import, and a second backend nearly doubles it. Otherwise
    (SQLite, or sessions sharing one connection) the chunks load one after another.
    """
    started = time.perf_counter()
    at = at.astimezone(UTC)
    source_path = Path(path)
    fmt = resolve_format(source_path, file_format)
    rejects_to = (
        Path(reject_path)
        if reject_path is not None
        else source_path.with_name(source_path.name + ".rejects.csv")
    )
    if not source_path.is_file():
        raise BackfillError(BackfillErrorCode.IMPORT_FILE_UNREADABLE, "no such file")
    if rejects_to.exists() and rejects_to.resolve() == source_path.resolve():
        raise ValueError("the reject file must not be the file being imported")
    with uow.transaction() as session:
        repository = ImportRepository(session)
        found = repository.enterprise(enterprise)
        if found is None:
            raise BackfillError(BackfillErrorCode.ENTERPRISE_NOT_FOUND)
        target = repository.target(found)
    source = open_source(source_path, fmt, chunk_rows)
    missing = [c for c in REQUIRED if c not in source.columns]
    if missing:
        raise BackfillError(
            BackfillErrorCode.IMPORT_COLUMNS_MISSING, "missing: " + ", ".join(missing)
        )
    sha256 = _sha256(source_path)
    with uow.transaction() as session:
        repository = ImportRepository(session)
        previous = repository.previous_import(target.enterprise_id, sha256)
        record = repository.start(target.enterprise_id, source_path.name, sha256, actor, at)
        report = ImportReport(
            import_id=record.id,
            enterprise_id=target.enterprise_id,
            enterprise_code=target.enterprise_code,
            source_name=record.source_name,
            source_sha256=sha256,
            reject_path=rejects_to,
            previous_import_id=previous,
        )
        bind = session.get_bind()

    postgres = bind.dialect.name == "postgresql"
    validator = Validator(
        jurisdiction=jurisdiction,
        blocks=target.blocks,
        channels=target.channels,
        at=at,
        enterprise_id=target.enterprise_id,
        import_id=report.import_id,
        copy_csv=postgres,
    )
    # Side by side only on connections of their own: sessions bound to one connection (a
    # test's) would interleave on it.
    side_by_side = workers if postgres and isinstance(bind, Engine) else 1
    kind = PostgresLoader if postgres else SqliteLoader
    loaders: list[Loader] = [kind(uow.sessions(), validator) for _ in range(side_by_side)]
    rejects = RejectWriter(rejects_to, source.columns)
    try:
        with closing(_ahead((validator.prepare(c) for c in source), depth=2)) as chunks:
            for prepared, outcome in _load_all(loaders, chunks):
                rejects.write(
                    prepared.rejects,
                    prepared.rejects_for(outcome.conflicts, RejectReason.KIT_IN_USE),
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
    finally:
        rejects.close()
        for loader in loaders:
            loader.close()
            loader.session.close()

    report.seconds = time.perf_counter() - started
    finished = at + timedelta(seconds=report.seconds)
    with uow.transaction() as session:
        ImportRepository(session).finish(
            report.import_id,
            finished,
            ImportCounts(
                read=report.rows_read,
                loaded=report.rows_loaded,
                present=report.rows_present,
                rejected=report.rows_rejected,
            ),
        )
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
    fmt = resolve_format(source_path, file_format)
    source = open_source(source_path, fmt, chunk_rows)
    validator = Validator(
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _tally(report: ImportReport, prepared: Prepared, outcome: Outcome) -> None:
    conflicts = len(outcome.conflicts)
    report.rows_read += prepared.rows_read
    report.rows_loaded += outcome.loaded
    report.rows_present += outcome.present
    report.rows_rejected += prepared.rows_rejected + conflicts
    report.rejected_by_reason.update(prepared.rejected_by_reason)
    if conflicts:
        report.rejected_by_reason[str(RejectReason.KIT_IN_USE)] += conflicts


def _load_all(
    loaders: list[Loader], chunks: Iterator[Prepared]
) -> Iterator[tuple[Prepared, Outcome]]:
    """Each chunk loaded and committed by one of `loaders`; results in file order."""
    if len(loaders) == 1:
        for prepared in chunks:
            yield prepared, loaders[0].load_and_commit(prepared)
        return
    idle: queue.Queue[Loader] = queue.Queue()
    for loader in loaders:
        idle.put(loader)

    def task(prepared: Prepared) -> Outcome:
        loader = idle.get()
        try:
            return loader.load_and_commit(prepared)
        finally:
            idle.put(loader)

    pending: deque[tuple[Prepared, Future[Outcome]]] = deque()
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
