"""The checks of `realname check` that look at one row at a time (row MACs, sealed PII, PII
in text columns), and the worker processes that can run them beside the rest
(registry/check.py runs them all, in order).

Each reads driver tuples (check_rows.py), so a million rows cost what the MAC and the scan
cost, not what building a million SQLAlchemy rows costs. In a worker a check opens its own
connection on the committed database: it sees each row as committed, which for a check of
one row at a time differs from the caller's snapshot only by rows committed meanwhile.
"""

from __future__ import annotations

import json
import multiprocessing
import re
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, LargeBinary, String, Table, Text, cast, func, select
from sqlalchemy.orm import Session

from realname.db.base import Base
from realname.policy.schema import Policy
from realname.registry.check_rows import CheckRepository, converters
from realname.registry.identities import NAME_CONTEXT, NUMBER_CONTEXT, opened_fields
from realname.registry.integrity import (
    EVENT_COLUMNS,
    EVENT_DOMAIN,
    IDENTITY_COLUMNS,
    IDENTITY_DOMAIN,
    IDENTITY_PURGED_COLUMNS,
    IDENTITY_PURGED_DOMAIN,
    PURGED_KEY_ID,
    verify_row,
)
from realname.registry.models import Identity, LineEvent
from realname.registry.replay import mask_line
from realname.security.audit_keys import AuditKeys
from realname.security.redact import contains_pii
from realname.security.vault import KeyRing, VaultError

EVENT_TEXT_COLUMNS = (
    "operation",
    "from_state",
    "to_state",
    "actor",
    "reason",
    "detail",
    "correlation_id",
)
_DIGEST = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")

# Columns that hold numbers by design (the line's own number and SIM, block bounds, an SMS's
# destination, a cached API answer about a line); every other text column is scanned.
NUMBER_COLUMNS = {
    ("line", "msisdn"),
    ("line", "iccid"),
    ("line", "imsi"),
    ("number_block", "first"),
    ("number_block", "last"),
    ("outbox_message", "destination"),
    ("complaint", "msisdn"),  # the number complained about, as the line row keeps it
    ("national_line", "msisdn"),  # the national index's copy of each enterprise's line
    ("idempotent_request", "response"),
    ("api_client", "secret_hash"),
}


@dataclass
class CheckResult:
    name: str
    examined: int = 0
    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # worth saying, not a violation

    @property
    def ok(self) -> bool:
        return not self.violations


EVENT_MACS = "line events carry their keyed MAC and no PII"
OWNERS = "held lines have verified owners"
# The checks a worker process can run on its own connection: each looks at one row at a time,
# so a row committed meanwhile is only one more row examined. The event MACs, the largest,
# are split in id ranges between the workers.
_ROW_CHECKS: dict[str, str] = {
    OWNERS: "held_lines_owners",
    EVENT_MACS: "event_macs",
    "identities carry their keyed MAC": "identity_macs",
    "PII is sealed and opens": "sealed_pii",
    "no text column holds an ID or phone number": "text_columns",
}
# What a forked worker inherits (the key ring's ciphers cannot be pickled): set before the
# pool forks, read in the worker.
_FORKED: dict[str, Any] = {}


def start_workers(
    session: Session, policy: Policy, keyring: KeyRing, workers: int
) -> dict[str, list[Future[CheckResult]]]:
    url = session.get_bind().engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return {}  # nothing another process could open
    low, high = session.execute(select(func.min(LineEvent.id), func.max(LineEvent.id))).one()
    low, high = int(low or 0) - 1, int(high or 0)
    shares = max(1, workers)
    cuts = [low + (high - low) * i // shares for i in range(shares + 1)]
    _FORKED.update(url=url, policy=policy, keyring=keyring)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))
    try:
        futures: dict[str, list[Future[CheckResult]]] = {}
        for name, function in _ROW_CHECKS.items():
            if name == EVENT_MACS:
                futures[name] = [
                    pool.submit(_worker_step, function, (cuts[i], cuts[i + 1]))
                    for i in range(shares)
                ]
            else:
                futures[name] = [pool.submit(_worker_step, function, None)]
    finally:
        pool.shutdown(wait=False)
    return futures


def _worker_step(function: str, ids: tuple[int, int] | None) -> CheckResult:
    """One row check in a worker process, on a connection of its own."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(_FORKED["url"], poolclass=NullPool)
    try:
        with Session(engine) as session:
            step = globals()[function]
            repo = CheckRepository(session)
            if ids is not None:
                return step(repo, _FORKED["policy"], _FORKED["keyring"], session, ids)  # type: ignore[no-any-return]
            return step(repo, _FORKED["policy"], _FORKED["keyring"], session)  # type: ignore[no-any-return]
    finally:
        engine.dispose()


def held_lines_owners(
    repo: CheckRepository, policy: Policy, keyring: KeyRing, s: Session
) -> CheckResult:
    """Each line in service has an owner, and its owner was verified (a line and its owner's
    row at a time)."""
    result = CheckResult("")
    rows = repo.unverified_owners_of_held_lines()
    result.examined = sum(repo.held_counts().values())
    for msisdn, owner in rows:
        why = "no owner" if owner is None else f"owner identity {owner} never verified"
        result.violations.append(f"line {mask_line(msisdn)} is in service with {why}")
    return result


def audit_keys_or_violation(keyring: KeyRing, result: CheckResult) -> AuditKeys | None:
    try:
        return keyring.audit
    except VaultError as error:
        result.violations.append(str(error))
        return None


def event_macs(
    repo: CheckRepository,
    policy: Policy,
    keyring: KeyRing,
    s: Session,
    ids: tuple[int, int] | None = None,
) -> CheckResult:
    """Driver tuples (check_rows.py); the PII scan of an event's text columns is computed
    once per distinct combination of their values (events share a handful of them)."""
    result = CheckResult("")
    keys = audit_keys_or_violation(keyring, result)
    if keys is None:
        return result
    width = len(EVENT_COLUMNS)
    columns = ("id", *EVENT_COLUMNS, "mac_key_id", "mac")
    table = table_of(LineEvent)
    convert = [(i + 1, f) for i, f in enumerate(converters(s, table, EVENT_COLUMNS)) if f]
    texts = [i + 1 for i, c in enumerate(EVENT_COLUMNS) if c in EVENT_TEXT_COLUMNS]
    scanned: dict[Any, bool] = {}
    examined = 0
    violations = result.violations
    for raw in repo.raw_rows(table, columns, ids=ids):
        examined += 1
        row = list(raw)
        for i, f in convert:
            row[i] = f(row[i])
        problem = verify_row(keys, EVENT_DOMAIN, row[1 : width + 1], row[-2], row[-1])
        if problem is not None:
            violations.append(f"line event {row[0]} {problem}")
        # The text scan of line_event happens here, on the rows already read.
        seen: Any = tuple(raw[i] for i in texts)
        try:
            holds = scanned.get(seen)
        except TypeError:  # a parsed JSON document (PostgreSQL) is not hashable: its text is
            seen = "\x00".join(_as_text(row[i]) for i in texts)
            holds = scanned.get(seen)
        if holds is None:
            text = seen if isinstance(seen, str) else "\x00".join(_as_text(row[i]) for i in texts)
            holds = contains_pii(text)
            if len(scanned) < 100_000:
                scanned[seen] = holds
        if holds:
            violations.append(f"line event {row[0]} holds an ID or phone number")
    result.examined = examined
    return result


def table_of(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def identity_macs(
    repo: CheckRepository, policy: Policy, keyring: KeyRing, s: Session
) -> CheckResult:
    result = CheckResult("")
    keys = audit_keys_or_violation(keyring, result)
    if keys is None:
        return result
    width = len(IDENTITY_COLUMNS)
    columns = ("id", *IDENTITY_PURGED_COLUMNS, "mac_key_id", "mac")
    table = table_of(Identity)
    convert = [(i + 1, f) for i, f in enumerate(converters(s, table, IDENTITY_PURGED_COLUMNS)) if f]
    # The encoder's tag for bytes ("B" + hex), applied here rather than in its callback.
    binary = [i + 1 for i, c in enumerate(IDENTITY_PURGED_COLUMNS) if c in _BINARY_IDENTITY]
    examined = 0
    for raw in repo.raw_rows(table, columns):
        examined += 1
        row = list(raw)
        for i, f in convert:
            row[i] = f(row[i])
        for i in binary:
            value = row[i]
            if isinstance(value, bytes):
                row[i] = "B" + value.hex()
        # A purged row (purged_at set) is MAC'd under its own domain, over purged_at too.
        if row[width + 1] is None:
            problem = verify_row(keys, IDENTITY_DOMAIN, row[1 : width + 1], row[-2], row[-1])
        else:
            problem = verify_row(keys, IDENTITY_PURGED_DOMAIN, row[1 : width + 2], row[-2], row[-1])
        if problem is not None:
            result.violations.append(f"identity {row[0]} {problem}")
    result.examined = examined
    return result


_BINARY_IDENTITY = ("number_index", "name_index", "number_sealed", "name_sealed", "address_sealed")


def sealed_pii(repo: CheckRepository, policy: Policy, keyring: KeyRing, s: Session) -> CheckResult:
    """Every sealed value opens, and both blind indexes match what it opens to (a number or a
    name swapped between two identities fails here). A purged identity holds exactly nothing
    of its record (registry/retention.py) and no line names it as owner; a row with part of
    its record gone, or purged in part, is reported."""
    result = CheckResult("")
    for (
        identity_id,
        key_id,
        number_sealed,
        name_sealed,
        address_sealed,
        number_index,
        name_index,
        purged_at,
        birth_date,
    ) in repo.iter_sealed_identities():
        result.examined += 1
        record = (number_sealed, name_sealed, address_sealed, number_index, name_index)
        if purged_at is not None:
            if any(v is not None for v in (*record, birth_date)) or key_id != PURGED_KEY_ID:
                result.violations.append(f"identity {identity_id} is purged only in part")
            continue
        if None in (number_sealed, name_sealed, number_index, name_index):
            result.violations.append(
                f"identity {identity_id} lost part of its record but is not marked purged"
            )
            continue
        try:
            clear = opened_fields(keyring, key_id, number_sealed, name_sealed, address_sealed)
        except VaultError:
            result.violations.append(f"identity {identity_id}: a sealed value does not open")
            continue
        if keyring.blind_index(clear.document_number or "", NUMBER_CONTEXT) != number_index:
            result.violations.append(f"identity {identity_id}: blind index does not match")
        elif keyring.blind_index(clear.name or "", NAME_CONTEXT) != name_index:
            result.violations.append(f"identity {identity_id}: name index does not match")
    for identity_id, msisdn in repo.purged_identities_holding_lines():
        result.violations.append(
            f"identity {identity_id} is purged but line {mask_line(msisdn)} names it as owner"
        )
    return result


def text_columns(
    repo: CheckRepository, policy: Policy, keyring: KeyRing, s: Session
) -> CheckResult:
    """Every String, Text and JSON column of every table the entry point loaded (the CLI
    loads them all), with the redactor's normaliser. Set-based: each column's distinct values
    are read once (`GROUP BY`) and tested once (most columns hold a handful: states, codes,
    regions); the rows that carry a value that fails are then fetched by key. A value is
    tested alone, as it was after a row's joined values failed (no number spans two
    columns)."""
    result = CheckResult("")
    found: list[tuple[tuple[Any, ...], int, str]] = []
    for table in list(Base.metadata.tables.values()):
        columns = [
            c
            for c in table.columns
            if isinstance(c.type, String | Text | JSON)
            and not isinstance(c.type, LargeBinary)
            and (table.name, c.name) not in NUMBER_COLUMNS
        ]
        if not columns or table.name == "line_event":  # scanned with its MACs
            continue
        result.examined += int(s.scalar(select(func.count()).select_from(table)) or 0)
        key = list(table.primary_key.columns)
        found.clear()
        for index, column in enumerate(columns):
            # JSON compared as its text (PostgreSQL's `json` has no equality), parsed as the
            # ORM would have parsed it before it is tested.
            document = isinstance(column.type, JSON)
            value = cast(column, Text) if document else column
            bad = []
            for (distinct,) in s.execute(select(value).where(value.is_not(None)).distinct()):
                text = _as_text(json.loads(distinct) if document else distinct)
                if text and contains_pii(text):
                    bad.append(distinct)
            for distinct in bad:
                for row in s.execute(select(*key).where(value == distinct)):
                    found.append((tuple(row), index, column.name))
        for pk, _index, name in sorted(found, key=lambda f: (f[0], f[1])):
            where = "/".join(str(v) for v in pk)
            result.violations.append(f"{table.name} {where}: {name} holds an ID or phone number")
    return result


def _as_text(value: Any) -> str:
    """A column value as one string: JSON as written without escapes (so full-width digits
    stay visible), digests (64 hex digits: a sealed note's SHA-256, an import file's), whose
    random digit runs are no one's number, left out."""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return _DIGEST.sub("#", value) if len(value) >= 64 else value
