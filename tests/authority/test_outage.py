"""The registry with the http authority: an outage refuses with AUTHORITY_UNAVAILABLE and leaves
nothing behind, the authority is asked before any row lock, and an outage in the middle of a
load of registrations through the API never lets one through unverified (both engines)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from realname.api.app import create_app
from realname.authority.http import HttpAuthority, HttpAuthorityConfig
from realname.authority.stub import StubBehaviour, StubServer, stub_app
from realname.channels.models import RegistrationRefusal
from realname.clock import FixedClock
from realname.config import Settings
from realname.db.engine import readonly
from realname.identity.authority import AuthorityVerdict
from realname.identity.documents import ParsedDocument
from realname.policy.loader import load_policy
from realname.policy.schema import ChannelKind
from realname.registry.check import run_integrity_check
from realname.registry.errors import RegistryError, RegistryErrorCode
from realname.registry.identities import NUMBER_CONTEXT
from realname.registry.models import Holding, Identity, Line, LineEvent
from realname.registry.service import RegistryService
from realname.security.clients import ClientService
from realname.security.keys import keyring_from_settings
from realname.security.models import AuditLog
from realname.security.principals import Role
from tests.api.conftest import attest, person_json, token_for
from tests.authority.conftest import citizens_of, free_port, people
from tests.registry.conftest import NOW, World, build_world


def _counts(session: Session) -> tuple[int, ...]:
    return tuple(
        int(session.scalar(select(func.count()).select_from(table)) or 0)
        for table in (Identity, Holding, LineEvent, AuditLog, RegistrationRefusal)
    )


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server = StubServer(stub_app(citizens_of(people(40)), StubBehaviour(seed=2)), free_port())
    server.start()
    yield server
    server.stop()


def _service(world: World, authority: Any) -> RegistryService:
    return RegistryService(
        world.session,
        policy=world.service.policy,
        keyring=world.service.keyring,
        authority=authority,
    )


def test_an_outage_refuses_registration_and_owner_operations_leaving_nothing(
    db_session: Session, keyring: Any, stub: StubServer
) -> None:
    world = build_world(db_session, keyring, load_policy("china"))
    citizen = people(40)[0]
    http = HttpAuthority(HttpAuthorityConfig(url=stub.url, retries=0, breaker_failures=100))
    world.service = _service(world, http)
    owned = world.register(citizen)
    number = world.stock(1)[0]
    stub.stop()
    before = _counts(db_session)
    with pytest.raises(RegistryError) as raised:
        world.register(citizen, number)
    assert raised.value.code is RegistryErrorCode.AUTHORITY_UNAVAILABLE
    assert raised.value.http_status == 503 and raised.value.retry_after
    assert raised.value.transient
    assert citizen.document_number not in str(raised.value)
    with pytest.raises(RegistryError) as raised:
        world.service.lock(world.ctx(), world.enterprise_id, owned, citizen)
    assert raised.value.code is RegistryErrorCode.AUTHORITY_UNAVAILABLE
    db_session.expire_all()
    assert _counts(db_session) == before
    line = db_session.scalars(select(Line).where(Line.msisdn == number)).one()
    assert line.state == "stocked" and line.owner_identity_id is None
    stub.start()
    world.register(citizen, number)  # back: the same request goes through


class LockProbe:
    """An authority that, while asked, checks from another connection that the line is not
    row-locked (PostgreSQL: NOWAIT fails at once on a locked row)."""

    def __init__(self, engine: Engine, msisdn: str) -> None:
        self.engine, self.msisdn, self.locked_while_asked = engine, msisdn, None

    def verify(self, document: ParsedDocument, name: str) -> AuthorityVerdict:
        with self.engine.connect() as other:
            try:
                other.execute(
                    text("SELECT id FROM line WHERE msisdn = :m FOR UPDATE NOWAIT"),
                    {"m": self.msisdn},
                )
                self.locked_while_asked = False
            except Exception:
                self.locked_while_asked = True
            other.rollback()
        return AuthorityVerdict.CONFIRMED


def test_the_authority_is_asked_before_the_line_is_locked(fresh_engine: Engine) -> None:
    if fresh_engine.dialect.name != "postgresql":
        pytest.skip("SQLite locks the whole database for a transaction, not rows")
    from realname.security.audit_keys import AuditKeys
    from realname.security.vault import KeyRing, generate_key

    keyring = KeyRing({"k1": generate_key()}, "k1", generate_key(), audit=AuditKeys.generate())
    with Session(fresh_engine) as session, session.begin():
        world = build_world(session, keyring, load_policy("china"))
        owned = world.register(world.people[0])
        number = world.stock(1)[0]
    with Session(fresh_engine) as session, session.begin():
        world.session = session
        probe = LockProbe(fresh_engine, number)
        world.service = _service(world, probe)
        world.register(world.people[1], number)
        assert probe.locked_while_asked is False
        probe.msisdn = owned
        world.service.lock(world.ctx(), world.enterprise_id, owned, world.people[0])
        assert probe.locked_while_asked is False


# --- an outage in the middle of a load, through the API ---------------------------------------


@dataclass
class Setup:
    client: TestClient
    token: str
    numbers: list[str]
    engine: Engine
    settings: Settings


@pytest.fixture
def api_on_stub(fresh_engine: Engine, tmp_path: Path, stub: StubServer) -> Iterator[Setup]:
    url = fresh_engine.url.render_as_string(hide_password=False)
    settings = Settings(
        database_url=url,
        key_file=str(tmp_path / "keys.json"),
        authority="http",
        authority_url=stub.url,
        authority_retries=1,
        authority_timeout_seconds=2,
        authority_breaker_failures=3,
        authority_breaker_reset_seconds=0.3,
    )
    keyring = keyring_from_settings(settings)
    with Session(fresh_engine) as session, session.begin():
        world = build_world(session, keyring, load_policy("china"))
        numbers = world.stock(200, ChannelKind.OWN_HALL)
        client, secret = ClientService(session, keyring).create(
            at=NOW,
            role=Role.CLERK,
            enterprise_id=world.enterprise_id,
            channel_id=world.channels[ChannelKind.OWN_HALL],
            clerk_id=world.clerks[ChannelKind.OWN_HALL],
        )
        client_id = client.client_id
    app = create_app(settings, clock=FixedClock(NOW))
    attest(app)  # its clerk's bodies claim chip_read, attested by its own reader software
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield Setup(
            test_client, token_for(test_client, client_id, secret), numbers, fresh_engine, settings
        )


def test_an_outage_in_the_middle_of_a_load(api_on_stub: Setup, stub: StubServer) -> None:
    citizens = people(40)[:30]
    fabricated = people(5, seed=4242)  # not known to the authority
    crowd = citizens + fabricated
    attempts = [(api_on_stub.numbers[i], crowd[i % len(crowd)]) for i in range(200)]
    done = 0
    lock = threading.Lock()
    phases: list[str] = []

    def register(i: int) -> tuple[int, int, dict[str, Any], str | None, str]:
        nonlocal done
        number, person = attempts[i]
        response = api_on_stub.client.post(
            "/v1/registrations",
            json={"msisdn": number, "customer": person_json(person)},
            headers={"Authorization": f"Bearer {api_on_stub.token}"},
        )
        with lock:
            done += 1
            if done == 60:
                stub.stop()  # the authority goes down
                phases.append("down")
            elif done == 120:
                stub.start()  # and comes back
                phases.append("up")
                # Refusals while the breaker is open take a millisecond: on a quiet machine
                # the last 80 ran out inside its 0.3 s and none probed. Hold the others
                # (they wait on this lock) until the breaker lets a probe through.
                time.sleep(api_on_stub.settings.authority_breaker_reset_seconds + 0.05)
        return (
            i,
            response.status_code,
            response.json(),
            response.headers.get("retry-after"),
            person.document_number,
        )

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(register, range(200)))
    assert phases == ["down", "up"]
    statuses = Counter(status for _, status, _, _, _ in results)
    assert set(statuses) <= {201, 409, 422, 503}, statuses  # never a 500
    assert statuses[503] > 0 and statuses[201] > 0
    assert any(status == 201 for i, status, *_ in results if i >= 150)  # recovered
    for _, status, body, retry_after, _ in results:
        if status == 503:
            assert body["code"] == "REALNAME.AUTHORITY_UNAVAILABLE" and retry_after
        if status == 409:
            assert body["code"] == "REALNAME.CAP_EXCEEDED"
        if status == 422:
            assert body["code"] == "REALNAME.AUTHORITY_UNKNOWN_DOCUMENT"
    fake_numbers = {p.document_number for p in fabricated}
    assert not [r for r in results if r[1] == 201 and r[4] in fake_numbers]
    assert stub.state.answered.get("confirmed", 0) >= statuses[201]

    keyring = keyring_from_settings(api_on_stub.settings)
    # One snapshot, as `realname check` reads (the app's audit sequencer may be committing).
    with Session(readonly(api_on_stub.engine)) as session:
        registered = session.scalar(
            select(func.count())
            .select_from(Line)
            .where(Line.msisdn.in_(api_on_stub.numbers), Line.owner_identity_id.is_not(None))
        )
        assert registered == statuses[201]
        owned = dict(
            session.execute(
                select(Line.owner_identity_id, func.count())
                .where(Line.owner_identity_id.is_not(None))
                .group_by(Line.owner_identity_id)
            ).all()
        )
        for holding in session.scalars(select(Holding)):
            assert holding.active_count == owned.get(holding.identity_id, 0) <= 5  # caps exact
        fake_indexes = {keyring.blind_index(n, NUMBER_CONTEXT) for n in fake_numbers}
        indexes = set(session.scalars(select(Identity.number_index)))
        assert not indexes & fake_indexes  # nobody unverified became an identity
        refusals = Counter(session.scalars(select(RegistrationRefusal.code)))
        assert refusals["AUTHORITY_UNAVAILABLE"] == 0  # not the channel's fault
        assert sum(refusals.values()) == statuses[409] + statuses[422]
        assert run_integrity_check(session, load_policy("china"), keyring).ok


def test_an_idempotent_retry_after_an_outage_runs_again(
    api_on_stub: Setup, stub: StubServer
) -> None:
    person = people(40)[0]
    body = {"msisdn": api_on_stub.numbers[0], "customer": person_json(person)}
    headers = {"Authorization": f"Bearer {api_on_stub.token}", "Idempotency-Key": "outage-1"}
    stub.stop()
    first = api_on_stub.client.post("/v1/registrations", json=body, headers=headers)
    assert first.status_code == 503 and first.headers["retry-after"]
    assert first.json()["code"] == "REALNAME.AUTHORITY_UNAVAILABLE"
    zh = api_on_stub.client.post(
        "/v1/registrations", json=body, headers=headers | {"Accept-Language": "zh-CN"}
    )
    assert zh.status_code == 503 and "公安核验" in zh.json()["message"]
    stub.start()
    import time

    time.sleep(0.35)  # the breaker's reset
    second = api_on_stub.client.post("/v1/registrations", json=body, headers=headers)
    assert second.status_code == 201, second.text
    assert second.headers.get("idempotent-replay") is None
