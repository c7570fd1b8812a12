"""`realname bench backfill`: the back-fill sweep against bare SQL doing the same writes.

On a scratch PostgreSQL database: two enterprises, each with N unregistered legacy lines (as
`realname import legacy` leaves them) and a back-fill campaign under the policy's ladder.
Both campaigns get their first reminders (day 0, our sweep, timed as `remind`). Then, on the
day of the first bar:

- the sweep (`CampaignService.sweep`, batch by batch, one transaction each, as the daily job
  runs it) bars the first enterprise's lines: timed per batch;
- the baseline, psycopg directly with no ORM, does the same writes per batch on the second
  enterprise's lines: the campaign row locked, the due lines read locked (keyset), ONE
  `UPDATE line … FROM unnest(…)` RETURNING the event counts, the events COPYed in, the
  schedules' next dates updated, the SMS notices inserted (ON CONFLICT DO NOTHING), the
  campaign's cursor moved and one audit entry appended (head row locked).

The baseline writes a fixed MAC on its events and a dummy hash on its audit entry: the SQL,
not our Python, is what it measures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from realname.backfill.models import BackfillCampaign, LegacyImport
from realname.backfill.phases import reminder_text
from realname.backfill.service import campaign_dates
from realname.bench.baresql import fresh_statistics
from realname.bench.figures import Figures, percentile
from realname.config import Settings
from realname.db import migrate
from realname.db.dialect import bulk_insert
from realname.db.engine import create_engine_from_settings, create_session_factory
from realname.db.uow import UnitOfWork
from realname.policy.loader import load_policy
from realname.policy.schema import BackfillPhase, Policy
from realname.registry.commands import Actor, Context
from realname.registry.models import Enterprise, Line
from realname.security.audit_keys import AuditKeys
from realname.security.vault import KeyRing, generate_key
from realname.wiring import services

Progress = Callable[[str], object]
PATH = "backfill sweep (bar outgoing)"
DEFAULT_BATCH = 2000
BARE_CHAIN = 2_000_000_000  # an audit chain of its own for the baseline's entries


@dataclass
class SweepTimes:
    lines: int = 0
    seconds: float = 0.0
    batches: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0


def _scratch_keyring() -> KeyRing:
    return KeyRing({"k1": generate_key()}, "k1", generate_key(), audit=AuditKeys.generate())


def _legacy_lines(session: Session, enterprise_id: int, first: int, n: int, at: datetime) -> None:
    batch = LegacyImport(
        enterprise_id=enterprise_id,
        source_name="bench.csv",
        source_sha256="0" * 64,
        actor="system:bench",
        started_at=at,
        finished_at=at,
        rows_read=n,
        rows_loaded=n,
        rows_present=0,
        rows_rejected=0,
    )
    session.add(batch)
    session.flush()
    rows = [
        {
            "msisdn": f"+86139{first + i:08d}",
            "enterprise_id": enterprise_id,
            "state": "legacy",
            "activated_at": at - timedelta(days=3000),
            "state_changed_at": at,
            "event_count": 0,
            "home_region": ("110105", "310101", "440305")[i % 3],
            "prepaid_balance_minor": 1250 if i % 3 else 0,
            "legacy_import_id": batch.id,
        }
        for i in range(n)
    ]
    bulk_insert(session, Line.__table__, rows)  # type: ignore[arg-type]


def _sweep(
    uow: UnitOfWork,
    settings: Settings,
    keyring: KeyRing,
    policy: Policy,
    campaign_id: int,
    at: datetime,
    batch: int,
    say: Progress,
) -> SweepTimes:
    """The daily job's loop for one campaign: one transaction per batch."""
    ctx = Context(Actor("system", "backfill"), at)
    times = SweepTimes()
    started = time.perf_counter()
    while True:
        begun = time.perf_counter()
        with uow.transaction() as session:
            result = services(session, settings, keyring, policy).campaigns.sweep(
                ctx, campaign_id, batch
            )
        times.batches.append(time.perf_counter() - begun)
        times.lines += sum(result.moves.values()) or result.reminders
        say(f"sweep: {times.lines:,} lines")
        if result.done:
            break
    times.seconds = time.perf_counter() - started
    return times


_DUE = """
SELECT l.id, l.msisdn, l.event_count FROM line l
LEFT JOIN backfill_line b ON b.line_id = l.id AND b.campaign_id = %(campaign)s
WHERE l.enterprise_id = %(enterprise)s AND l.state IN ('legacy', 'restricted', 'suspended')
  AND l.owner_identity_id IS NULL AND l.id > %(after)s
  AND ((b.line_id IS NULL AND l.state_changed_at <= %(at)s) OR b.next_on <= %(today)s)
ORDER BY l.id LIMIT %(limit)s FOR UPDATE OF l
"""
_MOVE = """
UPDATE line l SET state = 'restricted', barring_reason = 'backfill',
  state_changed_at = %(at)s, event_count = l.event_count + 1
FROM unnest(%(ids)s::bigint[]) AS v(id)
WHERE l.id = v.id AND l.state = 'legacy' AND l.owner_identity_id IS NULL
RETURNING l.id, l.event_count
"""
_EVENTS = (
    "COPY line_event (line_id, seq, operation, from_state, to_state, actor, reason, detail, "
    "occurred_at, mac_key_id, mac) FROM STDIN"
)
_SCHEDULES = """
UPDATE backfill_line b SET next_on = %(next_on)s
FROM unnest(%(ids)s::bigint[]) AS v(id)
WHERE b.line_id = v.id AND b.campaign_id = %(campaign)s
"""
_NOTICES = """
INSERT INTO outbox_message (dedupe_key, enterprise_id, line_id, destination, kind, body,
  status, attempts, next_attempt_at, created_at)
SELECT k, %(enterprise)s, i, d, 'backfill.bar_outgoing', %(body)s, 'pending', 0, %(at)s, %(at)s
FROM unnest(%(keys)s::text[], %(ids)s::bigint[], %(destinations)s::text[]) AS v(k, i, d)
ON CONFLICT (dedupe_key) DO NOTHING
"""
_HEAD = """
UPDATE audit_chain_head SET position = position + 1, head_hash = %(hash)s
WHERE chain = %(chain)s RETURNING position
"""
_AUDIT = """
INSERT INTO audit_log (chain, position, key_id, occurred_at, actor, action, object_type,
  object_id, correlation_id, detail, prev_hash, hash)
VALUES (%(chain)s, %(position)s, 'bare', %(at)s, 'system:backfill', 'backfill.sweep',
  'backfill_campaign', %(campaign)s, NULL, %(detail)s, %(hash)s, %(hash)s)
"""


def _bare_sweep(
    engine: Engine,
    enterprise_id: int,
    campaign_id: int,
    at: datetime,
    body: str,
    next_on: Any,
    batch: int,
    say: Progress,
) -> SweepTimes:
    """The same writes per batch with psycopg and nothing else (see the module's doc)."""
    from psycopg.types.json import Jsonb

    times = SweepTimes()
    raw = engine.raw_connection()
    mac, digest = b"\x00" * 32, b"\x01" * 32
    try:
        conn: Any = raw.driver_connection
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO audit_chain_head (chain, position, head_hash) VALUES (%s, 0, %s) "
                "ON CONFLICT DO NOTHING",
                (BARE_CHAIN, digest),
            )
            conn.commit()
            after = 0
            started = time.perf_counter()
            while True:
                begun = time.perf_counter()
                cur.execute(
                    "SELECT id FROM backfill_campaign WHERE id = %s FOR UPDATE", (campaign_id,)
                )
                due = cur.execute(
                    _DUE,
                    {
                        "campaign": campaign_id,
                        "enterprise": enterprise_id,
                        "after": after,
                        "at": at,
                        "today": at.date(),
                        "limit": batch,
                    },
                ).fetchall()
                ids = [row[0] for row in due]
                moved = cur.execute(_MOVE, {"at": at, "ids": ids}).fetchall()
                with cur.copy(_EVENTS) as copy:
                    for line_id, seq in moved:
                        copy.write_row(
                            (
                                line_id,
                                seq,
                                "backfill_restrict",
                                "legacy",
                                "restricted",
                                "system:backfill",
                                "backfill_unregistered",
                                Jsonb({"barring": "backfill"}),
                                at,
                                "bare",
                                mac,
                            )
                        )
                cur.execute(_SCHEDULES, {"next_on": next_on, "ids": ids, "campaign": campaign_id})
                cur.execute(
                    _NOTICES,
                    {
                        "enterprise": enterprise_id,
                        "body": body,
                        "at": at,
                        "keys": [f"backfill:{campaign_id}:{i}:bar_outgoing" for i in ids],
                        "ids": ids,
                        "destinations": [row[1] for row in due],
                    },
                )
                if ids:
                    after = ids[-1]
                    cur.execute(
                        "UPDATE backfill_campaign SET sweep_on = %s, sweep_after_line_id = %s "
                        "WHERE id = %s",
                        (at.date(), after, campaign_id),
                    )
                    (position,) = cur.execute(
                        _HEAD, {"hash": digest, "chain": BARE_CHAIN}
                    ).fetchone()
                    cur.execute(
                        _AUDIT,
                        {
                            "chain": BARE_CHAIN,
                            "position": position,
                            "at": at,
                            "campaign": str(campaign_id),
                            "detail": Jsonb(
                                {
                                    "phase": "bar_outgoing",
                                    "lines": str(len(ids)),
                                    "backfill_restrict": str(len(moved)),
                                    "line_ids": f"{ids[0]}:{ids[-1]}",
                                }
                            ),
                            "hash": digest,
                        },
                    )
                conn.commit()
                times.batches.append(time.perf_counter() - begun)
                times.lines += len(moved)
                say(f"bare SQL: {times.lines:,} lines")
                if len(ids) < batch:
                    break
            times.seconds = time.perf_counter() - started
    finally:
        raw.close()
    return times


def run_backfill_bench(
    database_url: str,
    *,
    lines: int,
    batch: int = DEFAULT_BATCH,
    progress: Progress | None = None,
) -> Figures:
    """Everything on `database_url`, an empty PostgreSQL database the caller drops."""
    say = progress or (lambda _message: None)
    settings = Settings(database_url=database_url)
    engine = create_engine_from_settings(settings)
    try:
        migrate.upgrade(engine)
        policy = load_policy(settings.policy)
        keyring = _scratch_keyring()
        uow = UnitOfWork(create_session_factory(engine))
        now = settings.clock().now()
        admin = Context(Actor("system", "bench"), now)
        campaigns: list[tuple[int, int]] = []
        for code, first in (("BENCH-A", 0), ("BENCH-B", 50_000_000)):
            say(f"loading {lines:,} legacy lines for {code}")
            with uow.transaction() as session:
                enterprise = Enterprise(
                    code=code, name=code, kind="mno", status="active", created_at=now
                )
                session.add(enterprise)
                session.flush()
                _legacy_lines(session, enterprise.id, first, lines, now)
                campaign = services(session, settings, keyring, policy).campaigns.create_campaign(
                    admin, enterprise.id, starts_on=now.date()
                )
                campaigns.append((enterprise.id, campaign.id))
        fresh_statistics(engine)
        remind_at = now + timedelta(minutes=1)
        remind = _sweep(uow, settings, keyring, policy, campaigns[0][1], remind_at, batch, say)
        _sweep(uow, settings, keyring, policy, campaigns[1][1], remind_at, batch, say)
        with uow.transaction(readonly=True) as session:
            stored = session.get(BackfillCampaign, campaigns[0][1])
            assert stored is not None
            dates = campaign_dates(stored)
        bar_day = dates[BackfillPhase.BAR_OUTGOING]
        bar_at = datetime.combine(bar_day, now.timetz()) + timedelta(hours=1)
        fresh_statistics(engine, checkpoint=True)
        ours = _sweep(uow, settings, keyring, policy, campaigns[0][1], bar_at, batch, say)
        language = "zh" if policy.jurisdiction == "CN" else "en"
        body = reminder_text(BackfillPhase.BAR_OUTGOING, dates, language)
        later = [d for d in dates.values() if d > bar_day]
        with engine.begin() as connection:
            connection.exec_driver_sql("CHECKPOINT")
        bare = _bare_sweep(
            engine, campaigns[1][0], campaigns[1][1], bar_at, body, min(later), batch, say
        )
        with uow.transaction(readonly=True) as session:
            barred = session.scalar(
                select(func.count())
                .select_from(Line)
                .where(Line.enterprise_id == campaigns[0][0], Line.state == "restricted")
            )
        return Figures(
            path=PATH,
            n=ours.lines,
            errors=lines - int(barred or 0),
            seconds=ours.seconds,
            p50_ms=percentile(ours.batches, 0.5) * 1000,
            p99_ms=percentile(ours.batches, 0.99) * 1000,
            bare_sql_rate_per_s=bare.rate,
            extra={
                "batch": batch,
                "batches": len(ours.batches),
                "bare_sql_p50_ms": round(percentile(bare.batches, 0.5) * 1000, 3),
                "bare_sql_p99_ms": round(percentile(bare.batches, 0.99) * 1000, 3),
                "bare_sql_lines": bare.lines,
                "remind_rate_per_s": round(remind.rate, 1),
            },
        )
    finally:
        engine.dispose()
