"""`realname audit checkpoint` and `realname check --checkpoint`: exit codes a cron job and an
auditor rely on (issue 11 part 4)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from realname.cli import app

runner = CliRunner()


def test_checkpoints_are_signed_and_check_exits_1_on_tampering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from realname.config import get_settings

    url = f"sqlite:///{tmp_path}/demo.db"
    checkpoints = tmp_path / "checkpoints.jsonl"
    monkeypatch.setenv("REALNAME_KEY_FILE", str(tmp_path / "keys.json"))
    monkeypatch.setenv("REALNAME_CHECKPOINT_FILE", str(checkpoints))
    get_settings.cache_clear()
    try:
        demo = runner.invoke(
            app, ["demo", "--lines", "300", "--operations", "60", "--database-url", url]
        )
        assert demo.exit_code == 0, demo.stdout
        monkeypatch.setenv("REALNAME_DATABASE_URL", url)
        get_settings.cache_clear()
        made = runner.invoke(app, ["audit", "checkpoint"])
        assert made.exit_code == 0, made.stdout
        assert len(checkpoints.read_text().splitlines()) == 1
        assert runner.invoke(app, ["check"]).exit_code == 0  # reads the default file
        # The signing key rotates; old checkpoints still verify, new ones use the new key.
        rotated = runner.invoke(app, ["audit", "rotate-key", "--signing"])
        assert rotated.exit_code == 0 and "c2" in rotated.stdout
        assert runner.invoke(app, ["audit", "checkpoint"]).exit_code == 0
        assert '"kid":"c2"' in checkpoints.read_text().splitlines()[1]
        assert runner.invoke(app, ["check"]).exit_code == 0
        public = runner.invoke(app, ["audit", "public-key"])
        assert '"c1"' in public.stdout and '"c2"' in public.stdout
        # Truncation: the newest audit entry deleted, its chain's head rewound.
        database = sqlite3.connect(tmp_path / "demo.db")
        with database:
            chain, position, prev = database.execute(
                "SELECT chain, position, prev_hash FROM audit_log ORDER BY id DESC LIMIT 1"
            ).fetchone()
            database.execute(
                "DELETE FROM audit_log WHERE chain = ? AND position = ?", (chain, position)
            )
            database.execute(
                "UPDATE audit_chain_head SET position = ?, head_hash = ? WHERE chain = ?",
                (position - 1, prev, chain),
            )
        database.close()
        truncated = runner.invoke(app, ["check", "--checkpoint", str(checkpoints)])
        assert truncated.exit_code == 1
        assert "truncated" in truncated.stdout
        missing = runner.invoke(app, ["check", "--checkpoint", str(tmp_path / "nope.jsonl")])
        assert missing.exit_code == 2
    finally:
        get_settings.cache_clear()


def test_check_exits_1_on_an_edited_event_and_on_pii_in_a_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from realname.config import get_settings

    url = f"sqlite:///{tmp_path}/demo.db"
    monkeypatch.setenv("REALNAME_KEY_FILE", str(tmp_path / "keys.json"))
    monkeypatch.setenv("REALNAME_CHECKPOINT_FILE", str(tmp_path / "none.jsonl"))
    get_settings.cache_clear()
    try:
        demo = runner.invoke(
            app, ["demo", "--lines", "300", "--operations", "60", "--database-url", url]
        )
        assert demo.exit_code == 0, demo.stdout
        monkeypatch.setenv("REALNAME_DATABASE_URL", url)
        get_settings.cache_clear()
        # A path longer than the console is wide: each violation stays on one line, whole,
        # as a saved report is grepped (it was wrapped at 80 columns).
        log = tmp_path / ("logs-of-the-front-desk-" * 4) / "access.log"
        log.parent.mkdir()
        log.write_text('{"route": "/v1/lines", "request_id": "tel-139.0000.0266"}\n')
        logged = runner.invoke(app, ["check", "--log", str(log)])
        assert logged.exit_code == 1
        assert f"{log}:1 holds an ID or phone number" in logged.stdout.splitlines()[-2]
        database = sqlite3.connect(tmp_path / "demo.db")
        with database:
            database.execute("UPDATE line_event SET actor = 'clerk:1' WHERE id = 1")
        database.close()
        edited = runner.invoke(app, ["check"])
        assert edited.exit_code == 1
        assert "line event 1 was altered" in edited.stdout
    finally:
        get_settings.cache_clear()


def test_checkpoints_at_a_cadence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--every` keeps signing checkpoints (a service, not only cron); `--times` bounds it."""
    from realname.config import get_settings

    url = f"sqlite:///{tmp_path}/demo.db"
    checkpoints = tmp_path / "checkpoints.jsonl"
    monkeypatch.setenv("REALNAME_KEY_FILE", str(tmp_path / "keys.json"))
    monkeypatch.setenv("REALNAME_CHECKPOINT_FILE", str(checkpoints))
    get_settings.cache_clear()
    try:
        demo = runner.invoke(
            app, ["demo", "--lines", "100", "--operations", "30", "--database-url", url]
        )
        assert demo.exit_code == 0, demo.stdout
        monkeypatch.setenv("REALNAME_DATABASE_URL", url)
        get_settings.cache_clear()
        run = runner.invoke(app, ["audit", "checkpoint", "--every", "0.01", "--times", "3"])
        assert run.exit_code == 0, run.stdout
        assert len(checkpoints.read_text().splitlines()) == 3
        assert runner.invoke(app, ["check"]).exit_code == 0
    finally:
        get_settings.cache_clear()


def test_check_sequences_pending_entries_and_audit_sequence_refuses_an_altered_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deferred mode from the command line: `check --no-sequence` counts pending entries
    (not a violation), `check` chains them first, and an altered pending entry is refused by
    `audit sequence` (exit 1) and reported by `check` (exit 1)."""
    from datetime import UTC, datetime

    from realname.config import Settings, get_settings
    from realname.db import migrate
    from realname.db.engine import create_engine_from_settings
    from realname.security.audit import append_audit
    from realname.security.keys import keyring_from_settings
    from realname.wiring import Process

    url = f"sqlite:///{tmp_path}/audit.db"
    for name, value in {
        "REALNAME_DATABASE_URL": url,
        "REALNAME_KEY_FILE": str(tmp_path / "keys.json"),
        "REALNAME_CHECKPOINT_FILE": str(tmp_path / "none.jsonl"),
        "REALNAME_AUDIT_SEQUENCING": "deferred",
        "REALNAME_CLOCK_START": "2026-11-30T12:00:30+00:00",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        settings = Settings()
        engine = create_engine_from_settings(settings)
        migrate.upgrade(engine)
        engine.dispose()
        keyring = keyring_from_settings(settings)
        process = Process(settings)
        with process.uow.transaction() as session:
            for i in range(3):
                append_audit(
                    session,
                    keyring,
                    actor="system:test",
                    action="test.entry",
                    object_type="test",
                    object_id=str(i),
                    at=datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
                )
        process.engine.dispose()  # a process that died before it could chain them
        read_only = runner.invoke(app, ["check", "--no-sequence"])
        assert read_only.exit_code == 0, read_only.stdout
        assert "3 audit entries pending" in " ".join(read_only.stdout.split())
        database = sqlite3.connect(tmp_path / "audit.db")
        with database:
            database.execute("UPDATE audit_log SET actor = 'forged' WHERE object_id = '1'")
        database.close()
        sequenced = runner.invoke(app, ["audit", "sequence"])
        assert sequenced.exit_code == 1
        assert "chained 2 pending entries" in " ".join(sequenced.stdout.split())
        assert "refused" in sequenced.stdout
        checked = runner.invoke(app, ["check"])
        assert checked.exit_code == 1
        assert "refused by the sequencer: content altered" in " ".join(checked.stdout.split())
    finally:
        get_settings.cache_clear()
