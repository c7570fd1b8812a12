"""REALNAME_DATABASE_POOL_SIZE bounds the async KYC Match route's connections: its reads'
pool and its audit writer's together, even at 1 (two pools of one opened 2 connections)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from realname.api.app import async_connections
from tests.api.conftest import Api, _api
from tests.conftest import _postgres_database
from tests.verification.conftest import REDIS_URL, Camara, redis_prefix
from tests.verification.test_camara_api import MATCH, _customer


@pytest.mark.parametrize("pool_size", range(1, 13))
def test_the_two_pools_share_the_setting_and_never_exceed_it(pool_size: int) -> None:
    reads, audit = async_connections(pool_size)
    assert reads + audit <= pool_size
    assert reads >= 1 and audit >= 0
    assert (audit == 0) is (pool_size == 1)  # a writer's pool of its own wherever one fits


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The async route's app on PostgreSQL with Redis, one connection allowed per pool."""
    tmp = tmp_path_factory.mktemp("api-pool-1")
    for prefix in redis_prefix():
        for url in _postgres_database():
            yield from _api(
                url,
                tmp,
                redis_url=REDIS_URL,
                redis_key_prefix=prefix,
                database_pool_size=1,
            )


@pytest.mark.postgres
def test_with_a_pool_size_of_one_the_route_opens_one_connection(camara: Camara) -> None:
    """Reads and audit writes through one shared pool of one: the calls are answered and
    audited, and PostgreSQL was asked for one connection, not one per pool."""
    state = camara.api.client.app.state  # type: ignore[attr-defined]
    writer = state.verification_audit_async
    assert state.verification_kyc is not None and writer is not None  # the async route
    msisdn, document, _ = _customer(camara)
    before = writer.batches
    for _ in range(3):
        response = camara.post(MATCH, {"phoneNumber": msisdn, "idDocument": document})
        assert response.status_code == 200, response.text
    assert writer.batches > before  # the audit entries went through the writer
    pools = {id(pool): pool for pool in (state.verification_kyc.reads.pool, writer.pool)}
    assert sum(pool.max_size for pool in pools.values()) == 1
    opened = sum(pool.get_stats().get("connections_num", 0) for pool in pools.values())
    assert opened == 1
