"""`realname national export`: the national index as the analytics' `national_lines` dataset,
with the columns the feeds and the analytics agreed on (both engines)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from realname.national.analytics.dataset import NATIONAL_LINES_SCHEMA
from realname.national.index.export import export_lines
from tests.national.conftest import Nation

AGREED = [
    "enterprise",
    "enterprise_kind",
    "province",
    "channel_kind",
    "state",
    "real_name",
    "identity_key",
    "registered_month",
    "activated_at",
]


def test_the_export_has_the_agreed_columns_and_every_line(nation: Nation, tmp_path: Path) -> None:
    for signer in (nation.cmcc, nation.mvno):
        for envelope in nation.build(signer):
            nation.take(envelope)
    exported = export_lines(nation.session, tmp_path, chunk=2)
    table = pq.read_table(exported.path)
    assert table.schema.names == AGREED == NATIONAL_LINES_SCHEMA.names
    assert exported.rows == table.num_rows == len(nation.cmcc_lines) + len(nation.mvno_lines)
    rows = table.to_pylist()
    assert {r["enterprise"] for r in rows} == {"CMCC", "MVNO1"}
    assert {r["enterprise_kind"] for r in rows} == {"mno", "mvno"}
    assert all(r["real_name"] and len(r["identity_key"]) == 32 for r in rows)
    assert all(r["registered_month"].day == 1 for r in rows)
    assert {r["province"] for r in rows} == {"11", "31"}  # Beijing's halls, Shanghai's
    # The enterprise's own index of the owner is not what is exported.
    person = nation.world.people[0]
    national = nation.keys.identity_key("resident_id", person.document_number)
    assert national in {r["identity_key"] for r in rows}
