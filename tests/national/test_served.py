"""Feeds against a real `realname serve` of the platform, its own database apart from the
enterprise's, on both engines: the HTTP push, the Parquet file drop taken by the platform's
CLI, and a platform killed (SIGKILL) while batches are pushed: no loss, no double count."""

from __future__ import annotations

import os
import re
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from realname.bench.load import ServerProcess
from realname.cli.national import publish_feed
from realname.config import Settings
from realname.db import migrate
from realname.db.engine import create_engine_from_settings
from realname.national.feeds.keys import feed_signing_key, platform_keys
from realname.national.feeds.models import NationalFeed, NationalFeedBatch, NationalPublication
from realname.national.feeds.service import FeedIngest, feed_status
from realname.national.index.models import NationalLine
from realname.policy.loader import load_policy
from realname.registry.commands import Actor, Context
from realname.registry.models import Enterprise, Line
from realname.registry.service import RegistryService
from realname.security.clients import ClientService
from realname.security.keys import keyring_from_settings
from realname.security.models import AuditLog
from realname.security.principals import Role
from realname.wiring import Process
from tests.conftest import _postgres_database
from tests.national.conftest import register_at_mvno
from tests.registry.conftest import NOW, build_world

LINES_PER_PERSON = 4


@dataclass
class Sites:
    enterprise: Settings  # the enterprise instance (CMCC and MVNO1's registry)
    platform: Settings  # the national platform, its own database
    enterprise_engine: Engine
    platform_engine: Engine
    client: tuple[str, str]  # the platform's feed_client of CMCC
    tmp: Path

    def server(self) -> ServerProcess:
        return ServerProcess(
            self.platform.database_url,
            Path(self.platform.key_file),
            workers=1,
            log_file=self.tmp / "platform.log",
            extra_env={"REALNAME_CLOCK_START": NOW.isoformat()},
        )

    def publisher(self, url: str, **extra: object) -> Settings:
        return self.enterprise.model_copy(
            update={
                "national_platform_url": url,
                "national_feed_client_id": self.client[0],
                "national_feed_client_secret": self.client[1],
                **extra,
            }
        )


def _urls(request: pytest.FixtureRequest, tmp: Path) -> Iterator[tuple[str, str]]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp / 'enterprise.db'}", f"sqlite:///{tmp / 'platform.db'}"
        return
    for first in _postgres_database():
        for second in _postgres_database():
            yield first, second


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def sites(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Sites]:
    for enterprise_url, platform_url in _urls(request, tmp_path):
        enterprise = Settings(
            database_url=enterprise_url,
            key_file=str(tmp_path / "enterprise-keys.json"),
            national_feed_batch_size=3,
        )
        platform = Settings(
            database_url=platform_url, key_file=str(tmp_path / "platform-keys.json")
        )
        e_engine = create_engine_from_settings(enterprise)
        p_engine = create_engine_from_settings(platform)
        migrate.upgrade(e_engine)
        migrate.upgrade(p_engine)
        policy = load_policy("china")
        with Session(e_engine) as session, session.begin():
            world = build_world(session, keyring_from_settings(enterprise), policy)
            for person in range(10):
                for _ in range(LINES_PER_PERSON):
                    world.register(world.people[person])
            register_at_mvno(world, 0, 1)
        # The platform licenses the enterprises under the same codes, registers CMCC's key
        # and gives its feed a client.
        p_keyring = keyring_from_settings(platform)
        with Session(p_engine) as session, session.begin():
            registry = RegistryService(session, policy=policy, keyring=p_keyring, authority=None)  # type: ignore[arg-type]
            ctx = Context(Actor("system", "setup"), NOW)
            cmcc = registry.admin.create_enterprise(ctx, code="CMCC", name="中国移动", kind="mno")
            registry.admin.create_enterprise(ctx, code="MVNO1", name="某虚拟运营商", kind="mvno")
            session.flush()
            signer = feed_signing_key(enterprise, "CMCC")
            FeedIngest(session, platform_keys(platform)).register_key(
                "CMCC", signer.key_id, signer.public_raw, NOW
            )
            client, secret = ClientService(session, p_keyring).create(
                role=Role.FEED_CLIENT, at=NOW, enterprise_id=cmcc.id
            )
            client_id = client.client_id
        yield Sites(enterprise, platform, e_engine, p_engine, (client_id, secret), tmp_path)
        e_engine.dispose()
        p_engine.dispose()


def _expected(sites: Sites) -> dict[str, int]:
    """CMCC's lines in service with the number of their last event."""
    with Session(sites.enterprise_engine) as session:
        rows = session.execute(
            select(Line.msisdn, Line.event_count)
            .join(Enterprise, Enterprise.id == Line.enterprise_id)
            .where(Line.state.not_in(("pooled", "stocked")), Enterprise.code == "CMCC")
        ).all()
    return {str(m): int(n) for m, n in rows}


def _platform_lines(sites: Sites) -> dict[str, int]:
    with Session(sites.platform_engine) as session:
        rows = session.execute(select(NationalLine.msisdn, NationalLine.seq)).all()
    return {str(m): int(s) for m, s in rows}


def _cmcc(session: Session) -> int:
    return int(session.scalar(select(Enterprise.id).where(Enterprise.code == "CMCC")) or 0)


def _assert_whole_and_counted_once(sites: Sites) -> None:
    expected = _expected(sites)
    assert len(expected) == 10 * LINES_PER_PERSON
    assert _platform_lines(sites) == expected  # no loss, the latest change of each line
    with Session(sites.platform_engine) as session:
        numbers = session.scalars(
            select(NationalFeedBatch.number).order_by(NationalFeedBatch.number)
        ).all()
        items = session.scalar(select(func.sum(NationalFeedBatch.items)))
        feed = session.scalars(
            select(NationalFeed).where(NationalFeed.enterprise_id == _cmcc(session))
        ).one()
    with Session(sites.enterprise_engine) as session:
        built = session.scalars(
            select(NationalPublication).where(NationalPublication.enterprise_id == _cmcc(session))
        ).all()
    assert numbers == list(range(1, len(built) + 1))  # every batch once, none skipped
    assert all(p.acked_at is not None for p in built)
    assert items == feed.items == sum(p.items for p in built)  # no double count
    assert feed.next_batch == len(built) + 1


def test_the_feed_is_pushed_over_http_to_a_served_platform(sites: Sites) -> None:
    with sites.server() as server, Process(sites.publisher(server.base_url)) as process:
        report = publish_feed(process, "CMCC")
        assert report.refused is None and report.sent == report.built > 5
        again = publish_feed(process, "CMCC")  # nothing new, nothing sent
        assert again.built == 0 and again.sent == 0
        with Session(sites.platform_engine) as session:
            states = {s.enterprise: s.status for s in feed_status(session, NOW, timedelta(hours=1))}
        assert states == {"CMCC": "ok"}
        # MVNO1's batches through CMCC's client: refused, and reported against the client's
        # own feed (a client cannot mark another enterprise's feed broken).
        refused = publish_feed(process, "MVNO1")
        assert refused.refused == "FEED_NOT_YOURS"
    with Session(sites.platform_engine) as session:
        states = {s.enterprise: s.status for s in feed_status(session, NOW, timedelta(hours=1))}
    assert states == {"CMCC": "broken"}
    _assert_whole_and_counted_once(sites)


def test_a_platform_killed_mid_push_loses_nothing_and_counts_nothing_twice(
    sites: Sites, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The platform is SIGKILLed while the publisher is pushing: after four batches are
    taken, the fifth push waits until the kill (the test polled for the fourth and raced a
    fast publisher, which sometimes finished first), then meets a dead platform."""
    from realname.national.feeds.transport import HttpPush

    four_taken, killed = threading.Event(), threading.Event()
    pushes = 0
    push = HttpPush.push

    def gated(self: HttpPush, envelope: Any) -> Any:
        nonlocal pushes
        pushes += 1
        if pushes == 5:
            four_taken.set()
            assert killed.wait(timeout=60)
        return push(self, envelope)

    monkeypatch.setattr(HttpPush, "push", gated)
    server = sites.server().start()
    try:
        reports = []
        publisher = threading.Thread(
            target=lambda: reports.append(
                publish_feed(Process(sites.publisher(server.base_url)), "CMCC")
            )
        )
        publisher.start()
        assert four_taken.wait(timeout=60)
        server.kill()  # SIGKILL, like a power cut, while the publisher keeps pushing
        killed.set()
        publisher.join(timeout=60)
        assert reports and reports[0].refused == "FEED_PLATFORM_UNREACHABLE"
        with Session(sites.platform_engine) as session:
            taken_before = session.scalar(select(func.count()).select_from(NationalFeedBatch))
        assert taken_before == 4
        monkeypatch.undo()
        server = sites.server().start()
        with Process(sites.publisher(server.base_url)) as process:
            resumed = publish_feed(process, "CMCC")
        assert resumed.refused is None
    finally:
        killed.set()
        server.stop()
    _assert_whole_and_counted_once(sites)


def test_a_file_drop_is_taken_by_the_platform(sites: Sites) -> None:
    drop = sites.tmp / "drop"
    with sites.server() as server:
        with Process(sites.publisher(server.base_url)) as process:
            report = publish_feed(process, "CMCC", drop=drop, snapshot=True)
        assert report.sent == report.built > 1
        files = sorted(p.name for p in drop.glob("*.parquet"))
        assert files[0] == "CMCC-000000001.parquet"
        env = {
            **os.environ,
            "REALNAME_DATABASE_URL": sites.platform.database_url,
            "REALNAME_KEY_FILE": sites.platform.key_file,
        }
        taken = subprocess.run(  # noqa: S603 (our own CLI)
            [sys.executable, "-m", "realname", "national", "take-drop", str(drop)],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert taken.returncode == 0, taken.stdout + taken.stderr
        assert len(list((drop / "done").glob("*.parquet"))) == len(files)
        # The same files dropped again are duplicates: nothing changes.
        for done in (drop / "done").glob("*.parquet"):
            done.rename(drop / done.name)
        again = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "realname", "national", "take-drop", str(drop)],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert again.returncode == 0 and "already there" in again.stdout
    _assert_whole_and_counted_once(sites)


def test_lookup_over_http_answers_alike_for_strangers_and_wrong_codes(sites: Sites) -> None:
    """一证通查 on the served platform: a code to the held number (read off the outbox, as the
    phone would), the answer; a stranger and a wrong code get the same refusal."""
    import httpx

    from realname.messaging.models import OutboxMessage
    from realname.messaging.service import open_body

    with Session(sites.enterprise_engine) as session:
        msisdn = session.scalars(
            select(Line.msisdn).where(Line.state == "active").order_by(Line.id).limit(1)
        ).one()
    with sites.server() as server, Process(sites.publisher(server.base_url)) as process:
        publish_feed(process, "CMCC")
        with Session(sites.enterprise_engine) as session:
            owner = session.scalars(select(Line).where(Line.msisdn == msisdn)).one()
            from realname.registry.identities import opened
            from realname.registry.models import Identity

            identity = session.get(Identity, owner.owner_identity_id)
            assert identity is not None
            clear = opened(keyring_from_settings(sites.enterprise), identity)
        ask = {
            "document_type": identity.doc_type,
            "document_number": clear.document_number,
            "name": clear.name,
            "msisdn": msisdn,
        }
        url = server.base_url + "/v1/national/lookup"
        asked = httpx.post(f"{url}/codes", json=ask, timeout=10)
        stranger = httpx.post(
            f"{url}/codes", json={**ask, "document_number": "11010519491231002X"}, timeout=10
        )
        assert asked.status_code == stranger.status_code == 202
        assert set(asked.json()) == set(stranger.json()) == {"challenge_id", "expires_at"}
        with Session(sites.platform_engine) as session:
            message = session.scalars(select(OutboxMessage)).one()  # the stranger got none
        text = open_body(keyring_from_settings(sites.platform), message.body)
        found = re.search(r"[0-9]{6}", text)
        assert found is not None
        code = found.group()
        refusals = [
            httpx.post(f"{url}/answers", json={"challenge_id": c, "code": code}, timeout=10)
            for c in (stranger.json()["challenge_id"],)
        ] + [
            httpx.post(
                f"{url}/answers",
                json={"challenge_id": asked.json()["challenge_id"], "code": "000000"
                      if code != "000000" else "111111"},
                timeout=10,
            )
        ]  # fmt: skip
        assert [r.status_code for r in refusals] == [403, 403]
        assert {r.json()["code"] for r in refusals} == {"REALNAME.LOOKUP_NOT_PROVED"}
        answer = httpx.post(
            f"{url}/answers",
            json={"challenge_id": asked.json()["challenge_id"], "code": code},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["total"] == LINES_PER_PERSON and body["enterprises"][0]["enterprise"] == "CMCC"
        assert msisdn not in answer.text
        # "Not mine": CMCC's registry is the enterprise's own instance, so the platform
        # forwards the dispute; the enterprise pulls it into a complaint case of its own and
        # posts the case's handling back, which the subscriber sees by the reference.
        line_ref = body["enterprises"][0]["lines"][0]["line_ref"]
        disputed = httpx.post(
            f"{url}/disputes",
            json={"challenge_id": asked.json()["challenge_id"], "line_ref": line_ref},
            timeout=10,
        )
        assert disputed.status_code == 201, disputed.text
        reference = disputed.json()["reference"]
        assert disputed.json()["status"] == "forwarded"
        _pull_disputes_and_follow(sites, server.base_url, reference, url)


def _pull(sites: Sites, base_url: str) -> dict[str, Any]:
    """`realname national disputes pull --json` at the enterprise, in process."""
    import json

    from typer.testing import CliRunner

    from realname.cli import app
    from realname.config import get_settings

    settings = sites.publisher(base_url)
    env = {
        "REALNAME_DATABASE_URL": settings.database_url,
        "REALNAME_KEY_FILE": settings.key_file,
        "REALNAME_NATIONAL_PLATFORM_URL": base_url,
        "REALNAME_NATIONAL_FEED_CLIENT_ID": sites.client[0],
        "REALNAME_NATIONAL_FEED_CLIENT_SECRET": sites.client[1],
        "REALNAME_CLOCK_START": NOW.isoformat(),
        "REALNAME_CLOCK_ANCHOR": ANCHOR.isoformat(),
    }
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["national", "disputes", "pull", "--json"], env=env)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.stdout
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def _pull_disputes_and_follow(sites: Sites, base_url: str, reference: str, url: str) -> None:
    import httpx

    from realname.compliance.complaints.models import Complaint
    from realname.compliance.complaints.service import ComplaintService
    from realname.wiring import complaint_service

    first = _pull(sites, base_url)
    assert (first["pulled"], first["opened"], first["refused"]) == (1, 1, [])
    with Session(sites.enterprise_engine) as session:
        (case,) = session.scalars(select(Complaint).where(Complaint.centre_ref == reference))
        assert case.category == "not_mine" and case.status != "open"  # traced to the owner
        status = case.status
    state = httpx.get(f"{url}/disputes/{reference}", timeout=10).json()
    assert state["status"] == status and first["posted"] == 1
    again = _pull(sites, base_url)  # idempotent: no second case, nothing posted again
    assert (again["pulled"], again["opened"], again["posted"]) == (1, 0, 0)
    with Process(sites.enterprise) as process, process.uow.transaction() as session:
        service: ComplaintService = complaint_service(process.services(session))
        ctx = Context(Actor("staff", "test"), process.clock.now())
        service.close(ctx, case.id, "line_cancelled")
    closed = _pull(sites, base_url)
    assert (closed["opened"], closed["posted"]) == (0, 1)
    state = httpx.get(f"{url}/disputes/{reference}", timeout=10).json()
    assert (state["status"], state["outcome"]) == ("closed", "line_cancelled")
    assert _pull(sites, base_url)["pulled"] == 0  # a closed dispute is not listed


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, its own CA (the publisher's REALNAME_NATIONAL_CA_FILE)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "national platform test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "platform.pem", folder / "platform.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_the_feed_is_pushed_over_tls(sites: Sites) -> None:
    """`realname serve` with REALNAME_TLS_CERT_FILE/_KEY_FILE; the publisher trusts the
    platform's CA (REALNAME_NATIONAL_CA_FILE) and refuses a platform it cannot verify."""
    import httpx

    cert, key = _self_signed(sites.tmp)
    server = sites.server()
    server.env |= {"REALNAME_TLS_CERT_FILE": str(cert), "REALNAME_TLS_KEY_FILE": str(key)}
    base = f"https://127.0.0.1:{server.port}"
    server.base_url = base
    command = [sys.executable, "-m", "realname", "serve", "--host", "127.0.0.1",
               "--port", str(server.port), "--workers", "1"]  # fmt: skip
    server.process = subprocess.Popen(  # noqa: S603 (our own CLI)
        command, env=server.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                trust = ssl.create_default_context(cafile=str(cert))
                if httpx.get(f"{base}/readyz", verify=trust, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        untrusted = Process(sites.publisher(base))
        with untrusted as process:
            assert publish_feed(process, "CMCC").refused == "FEED_PLATFORM_UNREACHABLE"
        with Process(sites.publisher(base, national_ca_file=str(cert))) as process:
            report = publish_feed(process, "CMCC")
        assert report.refused is None and report.sent == report.built
    finally:
        server.stop()
    _assert_whole_and_counted_once(sites)


# Every CLI process of a test reads one clock: NOW at this instant of the machine's, running
# (a refusal and the batch after it are ordered by their times).
ANCHOR = datetime.now(UTC)


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "REALNAME_DATABASE_URL": settings.database_url,
        "REALNAME_KEY_FILE": settings.key_file,
        "REALNAME_CLOCK_START": NOW.isoformat(),
        "REALNAME_CLOCK_ANCHOR": ANCHOR.isoformat(),
    }
    return subprocess.run(  # noqa: S603 (our own CLI)
        [sys.executable, "-m", "realname", "national", *args],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_the_cli_runs_the_platform_in_the_same_instance(sites: Sites) -> None:
    """REALNAME_NATIONAL_PLATFORM_URL unset: the enterprise's own instance is the platform.
    keys show -> keys register -> publish -> feeds -> cap -> export -> keys retire."""
    import json

    import pyarrow.parquet as pq

    settings = sites.enterprise
    shown = _cli(settings, "keys", "show", "--enterprise", "CMCC")
    assert shown.returncode == 0, shown.stderr
    key = json.loads(shown.stdout)
    unregistered = _cli(settings, "publish", "--enterprise", "CMCC")
    assert unregistered.returncode == 1 and "FEED_KEY_UNKNOWN" in unregistered.stdout
    registered = _cli(
        settings, "keys", "register", "--enterprise", "CMCC",
        "--key-id", key["key_id"], "--public-key", key["public_key"],
    )  # fmt: skip
    assert registered.returncode == 0, registered.stdout + registered.stderr
    published = _cli(settings, "publish", "--enterprise", "CMCC", "--json")
    assert published.returncode == 0, published.stdout + published.stderr
    report = json.loads(published.stdout)
    assert report["refused"] is None and report["sent"] > 0
    feeds = json.loads(_cli(settings, "feeds", "--json").stdout)
    # The refused first attempt was batch 1 (kept, then sent again once the key was known).
    assert [(f["enterprise"], f["status"], f["refusals"]) for f in feeds] == [("CMCC", "ok", 1)]
    assert "no national cap" in _cli(settings, "cap").stdout  # China: caps per enterprise
    out = sites.tmp / "export"
    assert _cli(settings, "export", "--to", str(out)).returncode == 0
    lines = pq.read_table(out / "national_lines" / "part-0.parquet")
    assert lines.num_rows == 10 * LINES_PER_PERSON
    engine = create_engine_from_settings(settings)  # the export is on the audit trail
    with Session(engine) as session:
        exports = session.scalars(
            select(AuditLog).where(AuditLog.action == "national.export")
        ).all()
    engine.dispose()
    assert [(e.object_id, e.detail) for e in exports] == [
        (
            "national",
            {
                "national_lines": str(10 * LINES_PER_PERSON),
                "national_complaints": "0",
                "national_complaint_sources": "2",  # the two enterprises whose lines it holds
                "national_inspections": "0",
            },
        )
    ]
    # The platform's sealing key, as an enterprise pins it.
    pinned = _cli(settings, "sealing-key")
    assert pinned.returncode == 0 and ":" in pinned.stdout.strip(), pinned.stderr
    # 一证通查 by hand: a code to a held number (read off the outbox, as the phone would).
    from realname.messaging.models import OutboxMessage
    from realname.messaging.service import open_body
    from realname.registry.identities import opened
    from realname.registry.models import Identity

    keyring = keyring_from_settings(settings)
    with Session(sites.enterprise_engine) as session:
        line = session.scalars(
            select(Line).where(Line.state == "active").order_by(Line.id).limit(1)
        ).one()
        identity = session.get(Identity, line.owner_identity_id)
        assert identity is not None
        clear = opened(keyring, identity)
        before = session.scalar(select(func.count()).select_from(OutboxMessage)) or 0
    asked = _cli(
        settings, "lookup", "ask", "--msisdn", line.msisdn,
        "--document-number", clear.document_number, "--name", clear.name,
    )  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    challenge = json.loads(asked.stdout)["challenge_id"]
    assert clear.document_number not in asked.stdout + asked.stderr
    with Session(sites.enterprise_engine) as session:
        (message,) = session.scalars(
            select(OutboxMessage).order_by(OutboxMessage.id).offset(before)
        ).all()
    code = re.search(r"[0-9]{6}", open_body(keyring, message.body))
    assert code is not None
    wrong = "000000" if code.group() != "000000" else "111111"
    refused = _cli(settings, "lookup", "answer", "--challenge", challenge, "--code", wrong)
    assert refused.returncode == 2 and "LOOKUP_NOT_PROVED" in refused.stdout
    answered = _cli(settings, "lookup", "answer", "--challenge", challenge, "--code", code.group())
    assert answered.returncode == 0, answered.stdout + answered.stderr
    assert "CMCC" in answered.stdout and line.msisdn not in answered.stdout  # masked
    # Retiring the key (a rotation): the platform refuses what it signs from now on.
    retired = _cli(settings, "keys", "retire", "--enterprise", "CMCC", "--key-id", key["key_id"])
    assert retired.returncode == 0 and "retired" in retired.stdout, retired.stderr
