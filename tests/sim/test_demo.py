"""The demo without its printing: what `realname demo` shows is in the report `sim/demo.py`
returns, so it can be asserted on directly (the CLI test checks the printed form)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from realname.config import Settings
from realname.sim.demo import prepare_demo


def test_the_demo_report_holds_what_the_cli_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the demo's SMS file is ./var/demo-sms.jsonl
    base = Settings(
        key_file=str(tmp_path / "keys.json"),
        clock_start=datetime(2026, 11, 30, 10, tzinfo=UTC),
    )
    url = f"sqlite:///{tmp_path}/demo.db"
    with prepare_demo(base, lines=400, seed=7, operations=120, database_url=url) as demo:
        assert demo.revision is not None  # migrated to head before anything is built
        world = demo.build()
        report = demo.finish(world)
    assert report.integrity.ok, [r.violations for r in report.integrity.results if not r.ok]
    assert world.lines == 400 and world.citizens == 160 and world.operations == 120
    totals: Counter[str] = Counter()
    for (code, _state), n in report.lines_by_state.items():
        totals[code] += n
    assert sum(totals.values()) >= 400
    assert report.largest == totals.most_common(1)[0][0]
    assert [day.date().isoformat() for day, _ in report.backfill_runs] == [
        "2026-10-01",
        "2026-11-30",
    ]
    assert report.reminders_sent > 0 and report.sms_file.is_file()
    assert report.channels > 0 and report.clerks > 0
    assert report.risk  # every channel of the largest enterprise, riskiest first
    compliance = report.compliance
    assert compliance.complaints > 0 and [c for _, c in compliance.refused_rows] == [
        "CATEGORY_INVALID"
    ]
    assert compliance.outcomes["line_disputed"] == 1
    assert compliance.outcomes["reverification_requested"] >= 1
    # The sweep proposes from the demo's own two rounds; the regulator takes one enterprise
    # up the ladder to the card that shuts its violating outlets, and a sale there is refused.
    assert [rung for rung, _ in compliance.steps] == [
        "sweep",
        "notice",
        "interview",
        "rectification",
        "follow-up",
        "yellow_1",
        "yellow_3",
    ]
    assert compliance.refusal == "CHANNEL_NOT_AUTHORISED"
    assert len(compliance.inspection_rounds) == 2
    latest = {code: rate for code, _, visited, _, rate, *_ in compliance.inspection_rates}
    assert latest[compliance.enterprise] > 0.10
    assert compliance.previous_rates[compliance.enterprise] > 0.10
    assert all(code != compliance.enterprise for code, *_ in compliance.pending)
    # One national secret-inspection round, measured per enterprise, MNOs first, each rate
    # inside its Wilson interval; the round's own visits, not the propensity the demo drew.
    rates = compliance.inspection_rates
    assert rates and [kind for _, kind, *_ in rates] == sorted(
        (kind for _, kind, *_ in rates), key=lambda kind: kind != "mno"
    )
    for _, _, visited, violating, rate, low, high in rates:
        assert visited > 0 and 0 <= violating <= visited
        assert rate == violating / visited and low <= rate <= high
    # Every enterprise fed the platform; its picture is the registry's, enterprise by enterprise.
    national = report.national
    # (the pilots that issue no numbers feed too: an empty feed, and no line in the picture)
    fed = {f.enterprise for f in national.feeds}
    assert set(totals) <= fed and {p.code for p in national.picture} <= set(totals)
    assert {
        f.enterprise: f.status for f in national.feeds if f.enterprise in totals
    } == dict.fromkeys(totals, "ok")
    in_service = {
        code: sum(n for (c, state), n in report.lines_by_state.items()
                  if c == code and state in ("active", "restricted", "suspended", "legacy"))
        for code in totals
    }  # fmt: skip
    assert {p.code: p.in_service for p in national.picture} == {
        code: n for code, n in in_service.items() if n
    }
    assert set(national.by_kind()) == {"mno", "mvno"}
    answer = national.answer
    assert answer is not None and national.citizen_enterprises >= 2
    assert len(answer.enterprises) == national.citizen_enterprises
    assert answer.total == sum(e.active_lines for e in answer.enterprises)


def test_the_check_finds_the_same_in_worker_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo runs the row checks in two worker processes (committed world); they find
    what the single-process check finds, an edit included."""
    from sqlalchemy import select, update
    from sqlalchemy.orm import Session

    from realname.db.engine import readonly
    from realname.registry.check import run_integrity_check
    from realname.registry.models import Identity, LineEvent

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("realname.sim.base.SEAL_IN_POOL_FROM", 0)  # identities sealed in a pool
    base = Settings(
        key_file=str(tmp_path / "keys.json"),
        clock_start=datetime(2026, 11, 30, 10, tzinfo=UTC),
    )
    url = f"sqlite:///{tmp_path}/demo.db"
    with prepare_demo(base, lines=300, seed=3, operations=60, database_url=url) as demo:
        demo.build()
        with Session(readonly(demo.engine)) as session:
            clean = run_integrity_check(session, demo.policy, demo.keyring, workers=2)
        assert clean.ok, [r.violations for r in clean.results if not r.ok]
        with Session(demo.engine) as session, session.begin():
            last = session.scalar(select(LineEvent.id).order_by(LineEvent.id.desc()).limit(1))
            session.execute(
                update(LineEvent).where(LineEvent.id.in_([1, last])).values(reason="lost")
            )
            session.execute(update(Identity).where(Identity.id == 2).values(sex="X"))

        def run(workers: int) -> list[tuple[str, int, list[str]]]:
            with Session(readonly(demo.engine)) as session:
                report = run_integrity_check(session, demo.policy, demo.keyring, workers=workers)
            return [(r.name, r.examined, r.violations) for r in report.results]

        alone, beside = run(0), run(2)
    assert beside == alone
    found = {name: violations for name, _n, violations in alone if violations}
    assert found["line events carry their keyed MAC and no PII"] == [
        "line event 1 was altered (MAC mismatch)",
        f"line event {last} was altered (MAC mismatch)",
    ]
    assert found["identities carry their keyed MAC"] == ["identity 2 was altered (MAC mismatch)"]


def test_the_demo_escalates_under_a_policy_that_also_rates_complaints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a complaint-rate rule the sweep also proposes a card for the enterprise the demo
    takes up the ladder (seed 1: CTCC); the demo picks the failed follow-up's card (it crashed
    on two)."""
    monkeypatch.chdir(tmp_path)
    base = Settings(
        key_file=str(tmp_path / "keys.json"),
        clock_start=datetime(2026, 11, 30, 10, tzinfo=UTC),
    )
    url = f"sqlite:///{tmp_path}/demo.db"
    with prepare_demo(base, lines=400, seed=1, operations=120, database_url=url) as demo:
        rules = demo.policy.enforcement.model_copy(update={"complaints_per_10k": 0.01})
        demo = replace(demo, policy=demo.policy.model_copy(update={"enforcement": rules}))
        report = demo.finish(demo.build())
    compliance = report.compliance
    assert [rung for rung, _ in compliance.steps][-2:] == ["yellow_1", "yellow_3"]
    assert compliance.refusal == "CHANNEL_NOT_AUTHORISED"
    assert any(rule == "complaint_rate" for _, _, rule, _ in compliance.pending)


def test_feeds_sealed_ahead_in_another_process_give_the_platform_the_same_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo seals the feeds' owners in a forked process a few batches ahead of the
    publisher; the platform ends with the index that sealing them inline gives."""
    import sqlite3

    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from realname.db.engine import create_engine_from_settings
    from realname.national.index.models import NationalIdentity, NationalLine
    from realname.sim.national import run_national

    monkeypatch.chdir(tmp_path)
    base = Settings(
        key_file=str(tmp_path / "keys.json"),
        clock_start=datetime(2026, 11, 30, 10, tzinfo=UTC),
        national_feed_batch_size=37,  # many batches per enterprise
    )
    url = f"sqlite:///{tmp_path}/demo.db"
    with prepare_demo(base, lines=400, seed=7, operations=60, database_url=url) as demo:
        demo.build()
        settings, keyring, policy, now = demo.settings, demo.keyring, demo.policy, demo.now
    with sqlite3.connect(tmp_path / "demo.db") as source, sqlite3.connect(tmp_path / "b.db") as to:
        source.backup(to)

    def index(database: str, ahead: bool) -> tuple[int, list[tuple[object, ...]]]:
        monkeypatch.setattr("realname.sim.national.SEAL_AHEAD_FROM", 0 if ahead else 10**9)
        s = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path}/{database}"})
        engine = create_engine_from_settings(s)
        try:
            national = run_national(engine, s, keyring, policy, now)
            assert national.batches > 20 and national.items > 0
            with Session(engine) as session:
                rows = session.execute(
                    select(
                        NationalLine.enterprise_id,
                        NationalLine.msisdn,
                        NationalLine.state,
                        NationalLine.batch,
                        NationalLine.name_key,
                        NationalIdentity.identity_key,
                    )
                    .outerjoin(NationalIdentity, NationalIdentity.id == NationalLine.identity_id)
                    .order_by(NationalLine.enterprise_id, NationalLine.msisdn)
                ).all()
        finally:
            engine.dispose()
        return national.sealed_ahead, [tuple(r) for r in rows]

    with sqlite3.connect(tmp_path / "demo.db") as source, sqlite3.connect(tmp_path / "c.db") as to:
        source.backup(to)
    (inline, alone), (ahead, beside) = index("demo.db", False), index("b.db", True)
    assert inline == 0 and ahead > 20  # every batch with owners, sealed in the other process
    assert sum(1 for r in alone if r[-1] is not None) > 100
    assert beside == alone
    # The sealer process failing (it raised out of the demo's publish): each batch is sealed
    # here instead, and the index is the same.
    monkeypatch.setattr("realname.sim.national._seal_batch", _failing_seal)
    failed, after_failure = index("c.db", True)
    assert failed == 0 and after_failure == alone


def _failing_seal(*_args: object) -> object:
    raise RuntimeError("the sealer process failed")
