"""The whole schema is loaded by every entry point, whatever a command happened to import."""

from __future__ import annotations

import subprocess
import sys

import pytest

RESOLVE_EVERY_FOREIGN_KEY = """
from realname.db.base import Base
for table in Base.metadata.tables.values():
    for fk in table.foreign_keys:
        fk.column  # NoReferencedTableError when the target's domain was never imported
print(sorted(Base.metadata.tables))
"""

ENTRY_POINTS = {
    "migrations": "from realname.config import Settings\n"
    "from realname.db import migrate\n"
    "from realname.db.engine import create_engine_from_settings\n"
    "migrate.upgrade(create_engine_from_settings(Settings(database_url='sqlite://')))\n",
    "load_all_models": "from realname.tables import load_all_models\nload_all_models()\n",
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_an_entry_point_loads_every_table(entry: str) -> None:
    """A fresh process that imports only the security models (as `clients revoke` did) and
    goes through an entry point can resolve every foreign key: `api_client.clerk_id` ->
    `clerk`, `outbox_message.line_id` -> `line`."""
    code = "import realname.security.clients\n" + ENTRY_POINTS[entry] + RESOLVE_EVERY_FOREIGN_KEY
    done = subprocess.run(  # noqa: S603 (our own code)
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    tables = done.stdout
    for table in ("api_client", "clerk", "channel", "line", "outbox_message", "login_throttle"):
        assert f"'{table}'" in tables
