"""The national tests' world: the registry tests' two enterprises (CMCC, an MNO; MVNO1) with
lines registered to citizens at both, and the keys of a platform and of the enterprises."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.testclient import TestClient
from nacl.public import PrivateKey
from sqlalchemy.orm import Session

from realname.api.app import create_app
from realname.clock import FixedClock
from realname.config import Settings
from realname.db import migrate
from realname.db.engine import create_engine_from_settings
from realname.national.feeds.envelope import Envelope
from realname.national.feeds.keys import FeedSigningKey, PlatformKeys
from realname.national.feeds.repository import FeedRepository
from realname.national.feeds.service import FeedIngest, FeedPublisher, Taken, envelope_of
from realname.policy.loader import load_policy
from realname.policy.schema import Policy
from realname.registry.commands import Desk, Kit
from realname.security.clients import ClientService
from realname.security.keys import keyring_from_settings
from realname.security.principals import Role
from realname.security.vault import KeyRing
from tests.registry.conftest import NOW, World, build_world, china, keyring

__all__ = ["NOW", "china", "keyring"]


def platform() -> PlatformKeys:
    return PlatformKeys({"n1": PrivateKey.generate()}, "n1", secrets.token_bytes(32))


def signing(enterprise: str) -> FeedSigningKey:
    return FeedSigningKey(enterprise, "f1", Ed25519PrivateKey.generate())


def register_at_mvno(world: World, person_index: int, n: int) -> str:
    msisdn = f"+86170001{n:05d}"
    kit = Kit(msisdn, f"89860077{n:012d}", f"46077{n:010d}")
    world.service.stock.stock_kits(
        world.ctx(), world.other_enterprise_id, world.other_channel_id, [kit]
    )
    world.service.register(
        world.ctx(),
        desk=Desk(world.other_enterprise_id, world.other_channel_id, world.other_clerk_id),
        msisdn=msisdn,
        person=world.people[person_index],
    )
    return msisdn


@dataclass
class Nation:
    """A registry world, the platform's keys, each enterprise's signing key, registered."""

    world: World
    keyring: KeyRing
    keys: PlatformKeys
    cmcc: FeedSigningKey
    mvno: FeedSigningKey
    cmcc_lines: list[str]
    mvno_lines: list[str]

    @property
    def session(self) -> Session:
        return self.world.session

    def build(
        self, signer: FeedSigningKey, *, batch_size: int = 1000, snapshot: bool = False
    ) -> list[Envelope]:
        high = FeedRepository(self.session).high_water_mark()
        publisher = FeedPublisher(
            self.session,
            keyring=self.keyring,
            signing=signer,
            sealing=self.keys.public,
            batch_size=batch_size,
        )
        return [envelope_of(p) for p in publisher.prepare(high, NOW, snapshot=snapshot)]

    def take(self, envelope: Envelope | None) -> Taken:
        return FeedIngest(self.session, self.keys).take(envelope, at=NOW, transport="local")


def build_nation(session: Session, keyring: KeyRing, policy: Policy) -> Nation:
    world = build_world(session, keyring, policy)
    cmcc_lines = [world.register(world.people[0]), world.register(world.people[0])]
    cmcc_lines.append(world.register(world.people[1]))
    mvno_lines = [register_at_mvno(world, 0, 1), register_at_mvno(world, 2, 2)]
    keys = platform()
    nation = Nation(world, keyring, keys, signing("CMCC"), signing("MVNO1"), cmcc_lines, mvno_lines)
    ingest = FeedIngest(session, keys)
    for signer in (nation.cmcc, nation.mvno):
        ingest.register_key(signer.enterprise, signer.key_id, signer.public_raw, NOW)
    session.flush()
    return nation


@pytest.fixture
def nation(db_session: Session, keyring: KeyRing, china: Policy) -> Nation:
    return build_nation(db_session, keyring, china)


@pytest.fixture
def fed(nation: Nation) -> Nation:
    """The nation with both enterprises' feeds taken: the national index holds their lines."""
    for signer in (nation.cmcc, nation.mvno):
        for envelope in nation.build(signer):
            nation.take(envelope)
    return nation


PLATFORM_FLOOR_MS = 300


@dataclass
class PlatformApp:
    """The platform's API in process (SQLite, committed), fed by both enterprises; CMCC's
    feed_client."""

    app: FastAPI
    nation: Nation
    feed_client: tuple[str, str]
    cmcc_batches: list[Envelope]  # taken already

    def feed_headers(self, client: TestClient) -> dict[str, str]:
        answer = client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=self.feed_client
        )
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def ask(self, person: int = 0, **over: str) -> dict[str, str]:
        who = self.nation.world.people[person]
        body = {
            "document_type": "resident_id",
            "document_number": who.document_number,
            "name": who.name,
            "msisdn": self.nation.cmcc_lines[0],
        }
        body.update(over)
        return body


@pytest.fixture(scope="module")
def platform_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformApp]:
    tmp: Path = tmp_path_factory.mktemp("lookup")
    settings = Settings(
        database_url=f"sqlite:///{tmp / 'platform.db'}",
        key_file=str(tmp / "keys.json"),
        evidence_dir=str(tmp / "evidence"),
        national_lookup_floor_ms=PLATFORM_FLOOR_MS,
        national_lookup_per_source_per_hour=2,
        national_lookup_per_identity_per_day=50,
        trusted_proxies="10.0.0.0/8",
    )
    engine = create_engine_from_settings(settings)
    migrate.upgrade(engine)
    with Session(engine) as session, session.begin():
        nation = build_nation(session, keyring_from_settings(settings), load_policy("china"))
        batches = {signer.enterprise: nation.build(signer) for signer in (nation.cmcc, nation.mvno)}
        for envelope in [*batches["CMCC"], *batches["MVNO1"]]:
            nation.take(envelope)
        client, secret = ClientService(session, nation.keyring).create(
            role=Role.FEED_CLIENT, at=NOW, enterprise_id=nation.world.enterprise_id
        )
        feed_client = (client.client_id, secret)
    app = create_app(settings, clock=FixedClock(NOW))
    # The routes ask the runtime for the platform's keys: these tests' own (the key file's
    # would be the same keys only by the fixture's choice of file).
    runtime = app.state.runtime
    runtime.providers = {**runtime.providers, PlatformKeys: lambda: nation.keys}
    yield PlatformApp(app, nation, feed_client, batches["CMCC"])
    engine.dispose()
