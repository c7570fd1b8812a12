"""Test citizens, a stub authority on a loopback port, and throwaway certificates for mTLS."""

from __future__ import annotations

import ipaddress
import random
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from realname.authority.citizens import Citizen
from realname.authority.stub import StubBehaviour, StubServer, StubTls, stub_app
from realname.identity.documents import parse_document
from realname.registry.commands import Person
from realname.security.audit_keys import AuditKeys
from realname.security.vault import KeyRing, generate_key
from realname.sim.documents import random_resident_id
from tests.registry.conftest import NAMES, NOW


@pytest.fixture(scope="session")
def keyring() -> KeyRing:
    return KeyRing({"k1": generate_key()}, "k1", generate_key(), audit=AuditKeys.generate())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def people(count: int, seed: int = 11) -> list[Person]:
    rng = random.Random(seed)
    return [
        Person(
            document_number=random_resident_id(
                rng, today=NOW.date(), born=datetime(1950 + i % 50, 3, 9).date()
            ),
            name=NAMES[i % len(NAMES)],
            face_score=0.93,
        )
        for i in range(count)
    ]


def citizens_of(persons: list[Person], revoked: int = -1) -> list[Citizen]:
    return [
        Citizen(parse_document(p.document_number, today=NOW.date()), p.name, i == revoked)
        for i, p in enumerate(persons)
    ]


@pytest.fixture
def persons() -> list[Person]:
    return people(4)


@pytest.fixture
def stub(persons: list[Person]) -> Iterator[StubServer]:
    """Citizens 0-2 known, 3 revoked (the revoked one is in the register)."""
    server = StubServer(
        stub_app(citizens_of(persons, revoked=3), StubBehaviour(seed=1)), free_port()
    )
    server.start()
    yield server
    server.stop()


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_client_cert: Path  # signed by a CA the server does not trust
    other_client_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None,
    issuer_key: ec.EllipticCurvePrivateKey | None,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer_key or key, hashes.SHA256())


def _write_cert(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA, a server certificate for 127.0.0.1, and client certificates."""
    tmp = tmp_path_factory.mktemp("pki")
    ca_key, rogue_key = _key(), _key()
    ca = _cert("test authority CA", ca_key, None, None, ca=True)
    rogue = _cert("rogue CA", rogue_key, None, None, ca=True)
    server_key, client_key, other_key = _key(), _key(), _key()
    server = _cert("127.0.0.1", server_key, ca.subject, ca_key, server=True)
    client = _cert("realname", client_key, ca.subject, ca_key)
    other = _cert("intruder", other_key, rogue.subject, rogue_key)
    return Pki(
        ca=_write_cert(tmp / "ca.pem", ca),
        server_cert=_write_cert(tmp / "server.pem", server),
        server_key=_write_key(tmp / "server.key", server_key),
        client_cert=_write_cert(tmp / "client.pem", client),
        client_key=_write_key(tmp / "client.key", client_key),
        other_client_cert=_write_cert(tmp / "other.pem", other),
        other_client_key=_write_key(tmp / "other.key", other_key),
    )


@pytest.fixture
def tls_stub(persons: list[Person], pki: Pki) -> Iterator[StubServer]:
    """The stub over https, requiring a client certificate signed by the test CA."""
    server = StubServer(
        stub_app(citizens_of(persons, revoked=3)),
        free_port(),
        tls=StubTls(str(pki.server_cert), str(pki.server_key), str(pki.ca)),
    )
    server.start()
    yield server
    server.stop()
