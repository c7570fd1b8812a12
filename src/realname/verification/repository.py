"""Every query of the verification domain.

The gate's reads are SQLAlchemy Core on the tables (rows, no ORM objects): the relying party
in one statement, cached per worker (`parties.PartyCache`), and the subject (line, owner and
the party's live consents) in one statement per call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Select, Table, and_, bindparam, delete, func, or_, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from realname.db.dialect import increment_counter
from realname.db.types import UtcDateTime
from realname.registry.models import Identity, Line, LineEvent
from realname.verification.models import Consent, QuotaCounter, RelyingParty


def _table(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


LINE, IDENTITY, CONSENT, PARTY = (_table(m) for m in (Line, Identity, Consent, RelyingParty))
LINE_COLUMNS = (
    LINE.c.id,
    LINE.c.msisdn,
    LINE.c.state,
    LINE.c.owner_identity_id,
    LINE.c.owner_since,
    LINE.c.legacy_import_id,
    LINE.c.prepaid_balance_minor,
)
OWNER_COLUMNS = (
    IDENTITY.c.id.label("owner_id"),
    IDENTITY.c.doc_type,
    IDENTITY.c.key_id,
    IDENTITY.c.number_sealed,
    IDENTITY.c.name_sealed,
    IDENTITY.c.address_sealed,
    IDENTITY.c.birth_date,
    IDENTITY.c.sex,
    IDENTITY.c.nationality,
    IDENTITY.c.verified_at,
)


def _subject_statement(by_number: bool, with_consents: bool) -> Select[Any]:
    joined = LINE.outerjoin(IDENTITY, IDENTITY.c.id == LINE.c.owner_identity_id)
    columns: list[Any] = [*LINE_COLUMNS, *OWNER_COLUMNS]
    if with_consents:
        at = bindparam("at", type_=CONSENT.c.expires_at.type)
        joined = joined.outerjoin(
            CONSENT,
            and_(
                CONSENT.c.line_id == LINE.c.id,
                CONSENT.c.relying_party_id == bindparam("party_id"),
                CONSENT.c.owner_identity_id == LINE.c.owner_identity_id,
                CONSENT.c.revoked_at.is_(None),
                or_(CONSENT.c.expires_at.is_(None), CONSENT.c.expires_at > at),
            ),
        )
        columns += [CONSENT.c.id.label("consent_id"), CONSENT.c.apis.label("consent_apis")]
    where = LINE.c.msisdn == bindparam("key") if by_number else LINE.c.id == bindparam("key")
    return select(*columns).select_from(joined).where(where)


# (by number, with consents) -> the gate's statement, built once.
_SUBJECT = {(n, c): _subject_statement(n, c) for n in (True, False) for c in (True, False)}
_PARTY = select(PARTY.c.id, PARTY.c.status, PARTY.c.apis).where(
    PARTY.c.client_id == bindparam("client_id")
)


def _psycopg_text(statement: Select[Any]) -> str:
    """The statement as PostgreSQL text with psycopg's named placeholders: the async read
    runs the very statements the service runs, without SQLAlchemy per call."""
    dialect = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]
    return str(statement.compile(dialect=dialect))


@dataclass(frozen=True)
class SubjectLine:
    id: int
    msisdn: str
    state: str
    owner_identity_id: int | None
    owner_since: datetime | None
    legacy_import_id: int | None
    prepaid_balance_minor: int | None


@dataclass(frozen=True)
class SubjectOwner:
    """The line's owner as the answers need it: sealed values stay sealed until opened."""

    id: int
    doc_type: str
    key_id: str
    number_sealed: bytes | None
    name_sealed: bytes | None
    address_sealed: bytes | None
    birth_date: date | None
    sex: str | None
    nationality: str | None
    verified_at: datetime | None


@dataclass(frozen=True)
class Subject:
    """The line asked about (None: no line has that number or id), its owner, and the APIs
    of each live consent of the relying party for this line and this owner (an empty list
    in a consent: every API)."""

    line: SubjectLine | None
    owner: SubjectOwner | None
    consents: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class PartyRow:
    id: int
    client_id: str
    status: str
    apis: frozenset[str]


class VerificationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def relying_party(self, client_id: str) -> RelyingParty | None:
        return self.session.scalars(
            select(RelyingParty).where(RelyingParty.client_id == client_id)
        ).first()

    def party(self, client_id: str) -> PartyRow | None:
        """The relying party registered for this client, as a row (the gate's read)."""
        row = self.session.execute(_PARTY, {"client_id": client_id}).first()
        if row is None:
            return None
        return PartyRow(row.id, client_id, row.status, frozenset(row.apis or ()))

    def subject(
        self,
        *,
        msisdn: str | None = None,
        line_id: int | None = None,
        party_id: int,
        at: datetime,
        with_consents: bool,
    ) -> Subject:
        """The line by number (or by id), its owner and the party's live consents, in one
        statement. A consent counts only for the owner who gave it: a transfer ends it.
        The four statements are built once (their cache keys and compiled forms are kept)
        and run on the session's connection: no ORM work per call."""
        statement = _SUBJECT[(line_id is None, with_consents)]
        params: dict[str, Any] = {"key": msisdn if line_id is None else line_id}
        if with_consents:
            params.update(party_id=party_id, at=at)
        rows = self.session.connection().execute(statement, params).all()
        return _subject_of([tuple(row) for row in rows], with_consents)

    def add(self, row: RelyingParty | Consent) -> None:
        self.session.add(row)

    def consent(self, consent_id: int) -> Consent | None:
        return self.session.get(Consent, consent_id)

    def live_consents(
        self, relying_party_id: int, line_id: int, owner_identity_id: int, at: datetime
    ) -> list[Consent]:
        """Consents for this party, line and owner that are neither revoked nor expired."""
        return list(
            self.session.scalars(
                select(Consent).where(
                    Consent.relying_party_id == relying_party_id,
                    Consent.line_id == line_id,
                    Consent.owner_identity_id == owner_identity_id,
                    Consent.revoked_at.is_(None),
                    or_(Consent.expires_at.is_(None), Consent.expires_at > at),
                )
            )
        )

    def latest_event_at(self, line_id: int, operations: Iterable[str]) -> datetime | None:
        return self.session.scalar(
            select(func.max(LineEvent.occurred_at)).where(
                LineEvent.line_id == line_id, LineEvent.operation.in_(list(operations))
            )
        )

    def count(self, key: str) -> int:
        """The count as the database holds it now (a statement, never the session's identity
        map: the increments are Core upserts, which a cached row would not see)."""
        count = self.session.scalar(select(QuotaCounter.count).where(QuotaCounter.key == key))
        return count or 0

    def increment(self, key: str, expires_at: datetime) -> int:
        table = QuotaCounter.__table__
        assert isinstance(table, Table)
        return increment_counter(
            self.session, table, "key", "count", {"key": key, "expires_at": expires_at}
        )

    def purge_expired_counters(self, at: datetime) -> int:
        result = self.session.execute(delete(QuotaCounter).where(QuotaCounter.expires_at <= at))
        return int(getattr(result, "rowcount", 0) or 0)


_OWNER_AT = len(LINE_COLUMNS)
_CONSENT_AT = len(LINE_COLUMNS) + len(OWNER_COLUMNS)


def _subject_of(rows: list[tuple[Any, ...]], with_consents: bool) -> Subject:
    """The subject statement's rows (one per live consent, at least one per line)."""
    if not rows:
        return Subject(None, None, ())
    first = rows[0]
    line = SubjectLine(*first[:_OWNER_AT])
    owner = SubjectOwner(*first[_OWNER_AT:_CONSENT_AT]) if first[_OWNER_AT] is not None else None
    consents = (
        tuple(tuple(row[_CONSENT_AT + 1] or ()) for row in rows if row[_CONSENT_AT] is not None)
        if with_consents
        else ()
    )
    return Subject(line, owner, consents)


def _utc(value: Any) -> Any:
    """What `UtcDateTime` makes of a timestamp read without SQLAlchemy: aware, in UTC."""
    return value.astimezone(UTC) if isinstance(value, datetime) else value


# The columns of the subject's rows that hold timestamps (UtcDateTime on the ORM's side).
_TIMESTAMPS = tuple(
    i
    for i, column in enumerate([*LINE_COLUMNS, *OWNER_COLUMNS])
    if isinstance(column.type, UtcDateTime)
)


class AsyncVerificationReads:
    """The gate's two reads for the async KYC Match route, on an async psycopg pool
    (PostgreSQL, autocommit): the relying party (on a cache miss) and the subject (line,
    owner and the party's live consents) in ONE statement, the same text the service runs
    (compiled from the Core statements above), prepared on each connection (psycopg
    prepares a statement on its first use with `prepare=True`): one round trip per call."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool
        self._party = _psycopg_text(_PARTY)
        self._subject = {key: _psycopg_text(s) for key, s in _SUBJECT.items() if key[1]}

    async def party(self, client_id: str) -> PartyRow | None:
        async with self.pool.connection() as connection:
            cursor = await connection.execute(self._party, {"client_id": client_id}, prepare=True)
            row = await cursor.fetchone()
        if row is None:
            return None
        return PartyRow(row[0], client_id, row[1], frozenset(row[2] or ()))

    async def subject(
        self, *, msisdn: str | None = None, line_id: int | None = None, party_id: int, at: datetime
    ) -> Subject:
        """As `VerificationRepository.subject(..., with_consents=True)`."""
        params = {"key": msisdn if line_id is None else line_id, "party_id": party_id, "at": at}
        async with self.pool.connection() as connection:
            cursor = await connection.execute(
                self._subject[(line_id is None, True)], params, prepare=True
            )
            rows = await cursor.fetchall()
        fixed = []
        for row in rows:
            values = list(row)
            for i in _TIMESTAMPS:
                values[i] = _utc(values[i])
            fixed.append(tuple(values))
        return _subject_of(fixed, with_consents=True)
