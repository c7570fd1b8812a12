"""A complaints file shows its progress and has a row cap: a file over it is refused whole
with a clear code before anything is written (both engines)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from realname.compliance.complaints.errors import ComplaintError
from realname.compliance.complaints.models import Complaint, ComplaintImport
from realname.compliance.complaints.service import ComplaintService
from tests.compliance.conftest import centre
from tests.registry.conftest import NOW, World


def _file(msisdn: str, rows: int) -> bytes:
    at = (NOW + timedelta(hours=1)).isoformat()
    lines = ["category,msisdn,occurred_at,content_sha256,centre_ref"]
    lines += [f"spam_sms,{msisdn},{at},,CAP-{n}" for n in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def test_a_file_over_the_cap_is_refused_whole(
    world: World, complaints: ComplaintService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("realname.compliance.complaints.service.MAX_IMPORT_ROWS", 3)
    msisdn = world.register(world.people[0])
    with pytest.raises(ComplaintError) as refused:
        complaints.import_csv(centre(NOW + timedelta(hours=2)), _file(msisdn, 4))
    assert refused.value.code == "FILE_TOO_MANY_ROWS" and refused.value.http_status == 413
    assert "split" in refused.value.message
    for table in (Complaint, ComplaintImport):
        assert world.session.scalar(select(func.count()).select_from(table)) == 0
    # At the cap it is taken.
    report = complaints.import_csv(centre(NOW + timedelta(hours=2)), _file(msisdn, 3))
    assert report.rows == 3 and len(report.accepted) == 3


def test_the_import_reports_its_progress(
    world: World, complaints: ComplaintService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("realname.compliance.complaints.service.PROGRESS_EVERY", 2)
    msisdn = world.register(world.people[0])
    heard: list[tuple[int, int]] = []
    complaints.import_csv(
        centre(NOW + timedelta(hours=2)),
        _file(msisdn, 5),
        progress=lambda done, total: heard.append((done, total)),
    )
    assert heard == [(2, 5), (4, 5), (5, 5)]


def test_a_field_past_the_csv_modules_limit_is_a_bad_file_not_a_crash(
    world: World, complaints: ComplaintService
) -> None:
    """csv.Error escaped the importer: a 500 over HTTP, a traceback at the command line."""
    huge = b'category,msisdn,occurred_at,content_sha256,centre_ref\n"' + b"x" * 140_000 + b'"\n'
    with pytest.raises(ComplaintError) as refused:
        complaints.import_csv(centre(NOW + timedelta(hours=2)), huge)
    assert refused.value.code == "FILE_INVALID" and "line" in str(refused.value.detail or "")
    assert world.session.scalar(select(func.count()).select_from(ComplaintImport)) == 0
