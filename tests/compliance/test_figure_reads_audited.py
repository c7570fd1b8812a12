"""Every figure the regulator reads over HTTP is audited, as its reveals are: who, which
figure, which scope (both engines). Before, the figure routes read in read-only units and
left no trace."""

from __future__ import annotations

from sqlalchemy import select

from realname.compliance.reads import FIGURE_READ
from realname.security.models import AuditLog
from tests.api.conftest import Api, api

__all__ = ["api"]


def _reads(api: Api, correlator: str) -> list[AuditLog]:
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.transaction() as session:
        return list(
            session.scalars(
                select(AuditLog).where(
                    AuditLog.action == FIGURE_READ, AuditLog.correlation_id == correlator
                )
            )
        )


def test_each_figure_read_leaves_an_entry_with_its_scope(api: Api) -> None:
    for path, who, figure, scope in (
        ("/v1/regulator/figures?period=2026-11", "regulator", "compliance", "national"),
        ("/v1/regulator/segments?by=enterprise,sex", "regulator", "segments", "national"),
        ("/v1/regulator/segments", "provincial", "segments", "province:"),
        ("/v1/complaints/counts", "regulator", "complaint_counts", "national"),
    ):
        correlator = f"read-{figure}-{who}"
        response = api.client.get(path, headers=api.headers(who, **{"x-correlator": correlator}))
        assert response.status_code == 200, (path, response.text)
        (entry,) = _reads(api, correlator)
        assert entry.actor.startswith(f"{who.replace('provincial', 'provincial_regulator')}:")
        assert entry.object_type == "figure" and entry.object_id == figure
        assert entry.detail["scope"].startswith(scope), entry.detail
    (figures,) = _reads(api, "read-compliance-regulator")
    assert figures.detail["period"] == "2026-11"
    # An enterprise reads its own rows only, and the entry says so (it said "national").
    own = api.client.get(
        "/v1/complaints/counts", headers=api.headers("admin", **{"x-correlator": "read-own"})
    )
    assert own.status_code == 200, own.text
    (entry,) = _reads(api, "read-own")
    assert entry.detail["scope"] == f"enterprise:{api.enterprise_id}", entry.detail


def test_a_refused_read_leaves_none(api: Api) -> None:
    refused = api.client.get(
        "/v1/regulator/segments?k=3",
        headers=api.headers("regulator", **{"x-correlator": "read-refused"}),
    )
    assert refused.status_code == 400
    assert _reads(api, "read-refused") == []
