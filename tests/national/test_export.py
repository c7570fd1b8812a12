"""`realname national export`: the national index as the analytics' `national_lines` dataset,
with the columns the feeds and the analytics agreed on (both engines)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session

from realname.compliance.complaints.repository import ComplaintRepository
from realname.compliance.complaints.service import Intake
from realname.national.analytics.dataset import (
    NATIONAL_COMPLAINTS_SCHEMA,
    NATIONAL_LINES_SCHEMA,
    open_dataset,
)
from realname.national.analytics.engines import DuckDBEngine
from realname.national.analytics.service import national_figures
from realname.national.index.export import (
    export_all,
    export_lines,
    put_in_place,
    staging_directory,
)
from realname.registry.models import Enterprise, Line
from tests.compliance.conftest import centre, complaints_of, inspections, sector, store
from tests.compliance.figures.test_figures import populated
from tests.national.conftest import Nation
from tests.registry.conftest import NOW, World

__all__ = ["inspections", "populated", "sector", "store"]

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


def test_complaints_and_inspections_are_exported_for_the_analytics(
    populated: World, db_session: Session, tmp_path: Path
) -> None:
    """The regulator's own datasets beside the lines: each traced complaint (the seller's
    province and channel kind, the category, the month) and each visit of a round; the
    national report reads all three (complaints per 10,000 lines, violation rates)."""
    mvno_line = db_session.scalars(
        select(Line).where(Line.enterprise_id == populated.other_enterprise_id).order_by(Line.id)
    ).first()
    assert mvno_line is not None
    complaints_of(populated).take(centre(), Intake("fraud_call", mvno_line.msisdn, NOW))
    complaints_of(populated).take(centre(), Intake("spam_sms", "+8613912345678", NOW))
    db_session.flush()
    exported = export_all(db_session, tmp_path)
    assert [e.path.parent.name for e in exported] == [
        "national_lines",
        "national_complaints",
        "national_complaint_sources",
        "national_inspections",
    ]
    # The enterprises whose complaints are traced here: those whose lines this registry
    # holds (an enterprise without lines here, one that only feeds the platform, is not).
    db_session.add(
        Enterprise(code="FEEDONLY", name="远程", kind="mvno", status="active", created_at=NOW)
    )
    db_session.flush()
    holding = set(db_session.scalars(select(Enterprise.code).join(Line).distinct()))
    sources = pq.read_table(tmp_path / "national_complaint_sources" / "part-0.parquet")
    assert set(sources.column("enterprise").to_pylist()) == holding
    assert "FEEDONLY" not in holding and ComplaintRepository(
        db_session
    ).traced_enterprises() == sorted(holding)
    complaints = pq.read_table(tmp_path / "national_complaints" / "part-0.parquet")
    assert complaints.schema.names == NATIONAL_COMPLAINTS_SCHEMA.names
    # The unknown number traced to no enterprise: not in the dataset.
    assert complaints.to_pylist() == [
        {
            "enterprise": "MVNO1",
            "province": "31",
            "channel_kind": "own_hall",
            "category": "fraud_call",
            "month": date(2026, 11, 1),
        }
    ]
    visits = pq.read_table(tmp_path / "national_inspections" / "part-0.parquet").to_pylist()
    # The outlet not found is no inspection (as in the regulator's own rates).
    assert sorted((v["enterprise"], v["round"], v["violated"]) for v in visits) == [
        ("MVNO1", "MVNO-GD", False),
        ("MVNO1", "MVNO-GD", True),
    ]
    assert {v["province"] for v in visits} == {"44"}
    # What `realname report national` computes from them.
    engine = DuckDBEngine(threads=1)
    try:
        figures = national_figures(engine, open_dataset(tmp_path), None)
    finally:
        engine.close()
    (mvno,) = [g for g in figures.breakdowns["enterprise"] if g.group == "MVNO1"]
    assert mvno.complaints == 1  # (no feed was taken here: the index has no lines)
    assert mvno.inspection is not None and (mvno.inspection.hits, mvno.inspection.n) == (1, 2)


def test_a_platform_without_a_registry_writes_no_complaints_dataset(
    db_session: Session, tmp_path: Path
) -> None:
    """Nothing can be traced without a registry: an empty national_complaints read as 0.0
    complaints per 10,000 lines for every enterprise; without the file they read unknown."""
    exported = export_all(db_session, tmp_path)
    assert [e.path.parent.name for e in exported] == ["national_lines", "national_inspections"]


def test_an_export_replaces_the_last_one_whole(nation: Nation, tmp_path: Path) -> None:
    """Written beside the datasets first, then put in place (a failure before that leaves the
    last export as it was): a dataset the new export does not write is removed, so the
    directory never mixes two exports."""
    for envelope in nation.build(nation.cmcc):
        nation.take(envelope)
    stale = tmp_path / "national_complaints"
    stale.mkdir()
    (stale / "part-0.parquet").write_bytes(b"from an older export")
    staging = staging_directory(tmp_path)
    export_lines(nation.session, staging)
    put_in_place(staging, tmp_path)
    assert not stale.exists()
    assert pq.read_table(tmp_path / "national_lines" / "part-0.parquet").num_rows == len(
        nation.cmcc_lines
    )
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".export-")) == [
        staging.name
    ]  # the caller removes it (the CLI does, in a finally)
