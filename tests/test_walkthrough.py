"""README's "First real registration" walkthrough, run exactly as written, on both engines.

The test reads the README's code block and runs it with bash (`set -euo pipefail`) in a copy
of the repository's `examples/`, with `realname` on the PATH, a fresh database, a free port
and a pinned clock. The block is split at its `# (authority step: see below)` line: there the
test makes the citizen known to the simulated authority (SimulatedAuthority.enrol), the one
step without a command yet. So the README and this test cannot drift apart.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from realname.authority.simulated import SimulatedAuthority
from realname.config import Settings
from realname.db.engine import create_engine_from_settings
from realname.identity.documents import parse_document
from realname.registry.models import Line
from realname.security.keys import keyring_from_settings
from tests.conftest import _postgres_database

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
AUTHORITY_STEP = "# (authority step: see below)"
CLOCK_START = "2026-11-23T09:30:00+08:00"


def walkthrough() -> tuple[str, str]:
    """The README block before and after the authority step."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## First real registration", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None, "the walkthrough has no ```sh block"
    before, marker, after = block.group(1).partition(AUTHORITY_STEP)
    assert marker, "the walkthrough lost its authority-step placeholder"
    return before, after


def test_the_walkthrough_is_about_ten_commands() -> None:
    before, after = walkthrough()
    commands = [line for line in (before + after).splitlines() if line and line[0] != "#"]
    assert 6 <= len(commands) <= 12, commands
    assert not any("demo" in line for line in commands)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'walkthrough.db'}"
    else:
        yield from _postgres_database()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_readme_walkthrough_registers_a_customer(database_url: str, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("REALNAME_") or key == "REALNAME_TEST_POSTGRES_URL"
    }
    env |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "REALNAME_DATABASE_URL": database_url,
        "REALNAME_KEY_FILE": str(tmp_path / "keys.json"),
        "REALNAME_PORT": str(_free_port()),
        "REALNAME_CLOCK_START": CLOCK_START,
        "REALNAME_LOG_LEVEL": "WARNING",
    }
    before, after = walkthrough()

    def run(script: str) -> subprocess.CompletedProcess[str]:
        out, err = tmp_path / "stdout", tmp_path / "stderr"
        with out.open("w") as stdout, err.open("w") as stderr:
            process = subprocess.Popen(  # noqa: S603 (our own README block)
                ["bash", "-c", "set -euo pipefail\n" + script],  # noqa: S607
                cwd=tmp_path,
                env=env,
                stdout=stdout,
                stderr=stderr,
                text=True,
                start_new_session=True,  # `realname serve &` joins this group; killed below
            )
            try:
                process.wait(timeout=180)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        return subprocess.CompletedProcess(
            process.args, process.returncode, out.read_text(), err.read_text()
        )

    first = run(before)
    assert first.returncode == 0, first.stdout + first.stderr

    # The authority step: the citizen the README registers, known to the simulated authority.
    settings = Settings(database_url=database_url, key_file=str(tmp_path / "keys.json"))
    engine = create_engine_from_settings(settings)
    with Session(engine) as session, session.begin():
        authority = SimulatedAuthority(session, keyring_from_settings(settings))
        document = parse_document("11010519491231002X", today=date(2026, 11, 23))
        authority.enrol([(document, "李秀英")])

    second = run(after)
    assert second.returncode == 0, second.stdout + second.stderr
    line = json.loads(second.stdout.strip().splitlines()[-1])
    assert line["state"] == "active"
    assert line["msisdn"] == "+8617010000000"
    assert line["owner"]["name"] != "李秀英"  # masked
    with Session(engine) as session:
        stored = session.scalars(select(Line).where(Line.msisdn == "+8617010000000")).one()
        assert stored.state == "active" and stored.owner_identity_id is not None
    engine.dispose()
    # What the walkthrough wrote keeps the integrity audit clean (no PII in clear, MACs, chain).
    check = run("realname check")
    assert check.returncode == 0, check.stdout + check.stderr
