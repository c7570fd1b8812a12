"""The world's base sealed in worker processes (identities sealed, events MAC'd beside the
loader) is the base sealed inline: the same lines, events (their MACs included) and
identities, and `realname check` finds it clean."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from realname.config import Settings
from realname.registry.check import run_integrity_check
from realname.sim.demo import prepare_demo

# The identity's sealed columns (and their MAC) differ between any two seals: random nonces.
IDENTITY = "id, doc_type, number_index, name_index, key_id, birth_date, sex, region_code"


def _base(tmp_path: Path, name: str, in_pool: bool, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr("realname.sim.base.SEAL_IN_POOL_FROM", 0 if in_pool else 10**9)
    base = Settings(
        key_file=str(tmp_path / "keys.json"), clock_start=datetime(2026, 11, 30, 10, tzinfo=UTC)
    )
    path = tmp_path / name
    with prepare_demo(base, lines=600, seed=7, operations=0, database_url=f"sqlite:///{path}") as d:
        d.build()
        if in_pool:
            with Session(d.engine) as session:
                report = run_integrity_check(session, d.policy, d.keyring, workers=0)
            assert report.ok, report
    return path


def _rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as db:
        return {
            table: db.execute(f"SELECT {columns} FROM {table} ORDER BY id").fetchall()  # noqa: S608
            for table, columns in (("line", "*"), ("line_event", "*"), ("identity", IDENTITY))
        }


def test_the_base_sealed_in_workers_is_the_base_sealed_inline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    inline = _rows(_base(tmp_path, "inline.db", False, monkeypatch))
    pooled = _rows(_base(tmp_path, "pooled.db", True, monkeypatch))
    assert len(inline["line_event"]) >= 600 and len(inline["identity"]) > 100
    assert pooled == inline
