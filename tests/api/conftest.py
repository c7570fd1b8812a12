"""An API on a database of its own (SQLite and PostgreSQL), with a small world and one
client per role, each holding a bearer token obtained through /oauth/token."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from realname.api.app import create_app
from realname.clock import FixedClock
from realname.config import Settings
from realname.db import migrate
from realname.db.engine import create_engine_from_settings
from realname.policy.loader import load_policy
from realname.policy.schema import ChannelKind
from realname.registry.commands import Person
from realname.security.clients import (
    DEFAULT_SCOPES,
    ClientRepository,
    ClientService,
    issue_device_token,
)
from realname.security.keys import keyring_from_settings
from realname.security.principals import Role
from tests.conftest import _postgres_database
from tests.registry.conftest import NOW, build_world


@dataclass
class Api:
    client: TestClient
    tokens: dict[str, str]
    secrets: dict[str, tuple[str, str]]
    people: list[Person]
    free_numbers: list[str]
    other_enterprise_numbers: list[str]
    partner_numbers: list[str]
    enterprise_id: int
    other_enterprise_id: int
    own_channel_id: int
    partner_channel_id: int
    clock: FixedClock
    used: set[str] = field(default_factory=set)

    def headers(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", **extra}

    def number(self) -> str:
        return self.free_numbers.pop()

    def device_headers(self, who: str, line_id: int, **extra: str) -> dict[str, str]:
        """A token bound to `line_id` by the operator's network authentication (the hand-off
        `issue_device_token` stands for), for client `who`."""
        rt = self.client.app.state.runtime  # type: ignore[attr-defined]
        with rt.transaction() as session:
            client = ClientRepository(session).by_client_id(self.secrets[who][0])
            assert client is not None
            token = issue_device_token(
                client, rt.token_keys, line_id, now=rt.clock.now()
            ).access_token
        return {"Authorization": f"Bearer {token}", **extra}


def token_for(client: TestClient, client_id: str, secret: str, scope: str | None = None) -> str:
    """A bearer token from /oauth/token, the way a machine client gets one (`scope`: narrowed
    to these scopes, space-separated)."""
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    form = "grant_type=client_credentials" + (f"&scope={scope}" if scope else "")
    response = client.post(
        "/oauth/token",
        content=form,
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def attest(app: object) -> None:
    """The test world's API clients are integrators whose own reader software attests their
    chip reads (`person_json` claims `chip_read`): China's preset wants the channel reader's
    read instead (`card_reads.chip_read_needs_reader`), which
    tests/registry/cardreads/test_api.py holds it to."""
    rt = app.state.runtime  # type: ignore[attr-defined]
    rules = rt.policy.card_reads.model_copy(update={"chip_read_needs_reader": False})
    rt.policy = rt.policy.model_copy(update={"card_reads": rules})


def person_json(person: Person, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "document": {"number": person.document_number},
        "name": person.name,
        "face_score": person.face_score,
        "entry_method": "chip_read",
    }
    body.update(changes)
    return body


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp("api")
    if request.param == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{tmp / 'api.db'}"])
    else:
        urls = _postgres_database()
    for url in urls:
        yield from _api(url, tmp)


def _api(url: str, tmp: Path, **settings_extra: object) -> Iterator[Api]:
    """`settings_extra`: more settings for the app (the Redis counters, ...)."""
    settings = Settings(
        database_url=url,
        key_file=str(tmp / "keys.json"),
        evidence_dir=str(tmp / "evidence"),
        **settings_extra,  # type: ignore[arg-type]
    )
    engine = create_engine_from_settings(settings)
    migrate.upgrade(engine)
    keyring = keyring_from_settings(settings)
    now = NOW
    secrets: dict[str, tuple[str, str]] = {}
    with Session(engine) as session, session.begin():
        world = build_world(session, keyring, load_policy("china"))
        free = world.stock(140, ChannelKind.OWN_HALL)
        partner = world.stock(3, ChannelKind.PARTNER_HALL)
        from realname.registry.commands import Kit

        other = []
        for i in range(3):
            kit = Kit(f"+86170001{i:05d}", f"89860077{i:012d}", f"46077{i:010d}")
            world.service.stock.stock_kits(
                world.ctx(), world.other_enterprise_id, world.other_channel_id, [kit]
            )
            other.append(kit.msisdn)
        clients = ClientService(session, keyring)
        specs = {
            "clerk": {
                "role": Role.CLERK,
                "enterprise_id": world.enterprise_id,
                "channel_id": world.channels[ChannelKind.OWN_HALL],
                "clerk_id": world.clerks[ChannelKind.OWN_HALL],
            },
            "partner_clerk": {
                "role": Role.CLERK,
                "enterprise_id": world.enterprise_id,
                "channel_id": world.channels[ChannelKind.PARTNER_HALL],
                "clerk_id": world.clerks[ChannelKind.PARTNER_HALL],
            },
            "social_clerk": {
                "role": Role.CLERK,
                "enterprise_id": world.enterprise_id,
                "channel_id": world.channels[ChannelKind.SOCIAL],
                "clerk_id": world.clerks[ChannelKind.SOCIAL],
            },
            "other_clerk": {
                "role": Role.CLERK,
                "enterprise_id": world.other_enterprise_id,
                "channel_id": world.other_channel_id,
                "clerk_id": world.other_clerk_id,
            },
            "admin": {"role": Role.ENTERPRISE_ADMIN, "enterprise_id": world.enterprise_id},
            "other_admin": {
                "role": Role.ENTERPRISE_ADMIN,
                "enterprise_id": world.other_enterprise_id,
            },
            "regulator": {"role": Role.REGULATOR},
            "regulator_inspector": {"role": Role.REGULATOR_INSPECTOR},
            "provincial": {
                "role": Role.PROVINCIAL_REGULATOR,
                "scopes": [*DEFAULT_SCOPES[Role.PROVINCIAL_REGULATOR], "province:11"],
            },
            "subscriber": {"role": Role.SUBSCRIBER, "enterprise_id": world.enterprise_id},
            "relying_party": {"role": Role.RELYING_PARTY},
            "monitor": {"role": Role.MONITOR},
            "complaint_centre": {"role": Role.COMPLAINT_CENTRE},
            "feed_client": {"role": Role.FEED_CLIENT, "enterprise_id": world.enterprise_id},
            # The own hall's card reader (the clerk's channel).
            "card_reader": {
                "role": Role.CARD_READER,
                "enterprise_id": world.enterprise_id,
                "channel_id": world.channels[ChannelKind.OWN_HALL],
            },
        }
        for name, spec in specs.items():
            client, secret = clients.create(at=now, **spec)  # type: ignore[arg-type]
            secrets[name] = (client.client_id, secret)
        enterprise_id, other_id = world.enterprise_id, world.other_enterprise_id
        own_channel = world.channels[ChannelKind.OWN_HALL]
        partner_channel = world.channels[ChannelKind.PARTNER_HALL]
        people = world.people
    clock = FixedClock(NOW)
    app = create_app(settings, clock=clock)
    attest(app)
    with TestClient(app, raise_server_exceptions=False) as client:
        tokens = {name: token_for(client, *pair) for name, pair in secrets.items()}
        yield Api(
            client,
            tokens,
            secrets,
            people,
            free,
            other,
            partner,
            enterprise_id,
            other_id,
            own_channel,
            partner_channel,
            clock,
        )
    engine.dispose()
