"""A load world in a fresh database and `realname serve` over it, for the tests that run the
real server as a process (tests/api/test_server.py, tests/cli/test_serve.py): one builder, so
the two cannot drift apart in how the world, the keys or the server's settings are made."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from realname.bench.load import LoadWorld, ServerProcess, build_load_world
from realname.config import Settings
from realname.db import migrate
from realname.db.engine import create_engine_from_settings
from realname.policy.loader import load_policy, with_attested_chip_reads
from realname.registry.check import run_integrity_check
from realname.security.keys import keyring_from_settings
from tests.registry.conftest import NOW


@dataclass
class Served:
    settings: Settings
    engine: Engine
    world: LoadWorld
    key_file: Path
    log: Path

    def server(self, workers: int = 2, extra_env: Mapping[str, str] | None = None) -> ServerProcess:
        return ServerProcess(
            self.settings.database_url,
            self.key_file,
            workers=workers,
            log_file=self.log,
            # The server's calendar starts where the world's does, whatever the machine's date;
            # its clients attest their own chip reads (the load's bodies claim chip_read):
            # China's preset wants the channel's reader's read.
            extra_env={
                "REALNAME_CLOCK_START": NOW.isoformat(),
                "REALNAME_POLICY": str(with_attested_chip_reads("china", self.key_file.parent)),
                **(extra_env or {}),
            },
        )

    def check_is_clean(self) -> None:
        keyring = keyring_from_settings(self.settings)
        with Session(self.engine) as session, session.begin():
            report = run_integrity_check(session, load_policy("china"), keyring)
        # which checks failed, and how (the message read a `violations` the report lacks)
        failed = [(r.name, [str(v) for v in r.violations][:5]) for r in report.results if not r.ok]
        assert report.ok, failed


S = TypeVar("S", bound=Served)


def served_world(url: str, tmp_path: Path, kind: type[S]) -> Iterator[S]:
    """A migrated database at `url` with a load world (4 counters of 60 kits, 60 people) and
    keys in `tmp_path`, as `kind`; its engine is disposed after the test."""
    key_file = tmp_path / "keys.json"
    settings = Settings(database_url=url, key_file=str(key_file))
    engine = create_engine_from_settings(settings)
    migrate.upgrade(engine)
    with Session(engine) as session, session.begin():
        world = build_load_world(
            session,
            keyring_from_settings(settings),
            load_policy("china"),
            counters=4,
            kits_per_counter=60,
            people=60,
            at=NOW,
        )
    yield kind(settings, engine, world, key_file, tmp_path / "server.log")
    engine.dispose()
