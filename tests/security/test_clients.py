"""API clients: tenant checks at creation, tokens under their own keys (kid, rotation, the
injected clock), the per-process client status cache, and the failed-login throttle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from realname.policy.loader import load_policy
from realname.policy.schema import ChannelKind
from realname.security.audit_keys import AuditKeys
from realname.security.clients import (
    ClientService,
    ClientStatusCache,
    InvalidToken,
    client_is_active,
    issue_device_token,
    issue_line_token,
    issue_token,
    principal_from_token,
)
from realname.security.keys import TokenKeys
from realname.security.models import ApiClient, LoginThrottle
from realname.security.principals import Role
from realname.security.throttle import LoginThrottler, ThrottlePolicy, throttle_key
from realname.security.vault import KeyRing, generate_key
from tests.registry.conftest import World, build_world

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
KEYS = TokenKeys({"t1": generate_key()}, "t1")


@pytest.fixture
def world(db_session: Session) -> World:
    keyring = KeyRing({"k1": generate_key()}, "k1", generate_key(), audit=AuditKeys.generate())
    return build_world(db_session, keyring, load_policy("china"))


KEYRING = KeyRing({"k1": generate_key()}, "k1", generate_key(), audit=AuditKeys.generate())


def regulator(session: Session) -> ApiClient:
    client, _secret = ClientService(session, KEYRING).create(role=Role.REGULATOR, at=NOW)
    return client


# --- tenant checks -------------------------------------------------------------------------


def test_a_clerk_client_must_name_a_clerk_of_its_channel(world: World) -> None:
    service = ClientService(world.session, world.service.keyring)
    own, partner = world.channels[ChannelKind.OWN_HALL], world.channels[ChannelKind.PARTNER_HALL]
    clerk_at_own = world.clerks[ChannelKind.OWN_HALL]
    with pytest.raises(ValueError, match=f"clerk {clerk_at_own} works at channel {own}"):
        service.create(
            role=Role.CLERK,
            at=NOW,
            enterprise_id=world.enterprise_id,
            channel_id=partner,
            clerk_id=clerk_at_own,
        )
    client, _ = service.create(
        role=Role.CLERK,
        at=NOW,
        enterprise_id=world.enterprise_id,
        channel_id=own,
        clerk_id=clerk_at_own,
    )
    assert client.clerk_id == clerk_at_own


def test_a_card_reader_is_bound_to_one_channel_of_its_enterprise(world: World) -> None:
    service = ClientService(world.session, world.service.keyring)
    own = world.channels[ChannelKind.OWN_HALL]
    with pytest.raises(ValueError, match="card_reader client needs a channel"):
        service.create(role=Role.CARD_READER, at=NOW, enterprise_id=world.enterprise_id)
    with pytest.raises(ValueError, match="card_reader client needs a channel"):
        service.create(
            role=Role.CARD_READER,
            at=NOW,
            enterprise_id=world.enterprise_id,
            channel_id=own,
            clerk_id=world.clerks[ChannelKind.OWN_HALL],
        )
    with pytest.raises(ValueError, match="does not belong"):
        service.create(
            role=Role.CARD_READER,
            at=NOW,
            enterprise_id=world.other_enterprise_id,
            channel_id=own,
        )
    reader, _ = service.create(
        role=Role.CARD_READER, at=NOW, enterprise_id=world.enterprise_id, channel_id=own
    )
    principal = principal_from_token(
        issue_token(reader, KEYS, 60, now=NOW).access_token, KEYS, now=NOW
    )
    assert principal.channel_id == own and principal.scopes == frozenset({"cardreads:write"})


@pytest.mark.parametrize("case", ["other_enterprise_channel", "no_channel", "no_clerk", "no_ent"])
def test_enterprise_channel_and_clerk_must_exist_and_belong_together(
    world: World, case: str
) -> None:
    spec: dict[str, int] = {
        "enterprise_id": world.enterprise_id,
        "channel_id": world.channels[ChannelKind.OWN_HALL],
        "clerk_id": world.clerks[ChannelKind.OWN_HALL],
    }
    if case == "other_enterprise_channel":
        spec |= {"channel_id": world.other_channel_id, "clerk_id": world.other_clerk_id}
        expected = "does not belong"
    elif case == "no_channel":
        spec["channel_id"] = 9_999_999
        expected = "no channel"
    elif case == "no_clerk":
        spec["clerk_id"] = 9_999_999
        expected = "no clerk"
    else:
        spec["enterprise_id"] = 9_999_999
        expected = "no enterprise"
    with pytest.raises(ValueError, match=expected):
        ClientService(world.session, world.service.keyring).create(role=Role.CLERK, at=NOW, **spec)


def test_tenant_fields_a_role_ignores_are_refused(world: World) -> None:
    """Only a clerk acts at a channel; only clerks, admins and subscribers act for an
    enterprise (a review found `--role regulator --enterprise X` accepted)."""
    service = ClientService(world.session, world.service.keyring)
    with pytest.raises(ValueError, match="acts for no channel or clerk"):
        service.create(role=Role.REGULATOR, at=NOW, channel_id=world.channels[ChannelKind.OWN_HALL])
    with pytest.raises(ValueError, match="acts for no enterprise"):
        service.create(role=Role.REGULATOR, at=NOW, enterprise_id=world.enterprise_id)
    with pytest.raises(ValueError, match="acts for no channel or clerk"):
        service.create(
            role=Role.ENTERPRISE_ADMIN,
            at=NOW,
            enterprise_id=world.enterprise_id,
            clerk_id=world.clerks[ChannelKind.OWN_HALL],
        )


# --- tokens --------------------------------------------------------------------------------


def test_a_token_names_its_key_and_verifies_only_under_it(db_session: Session) -> None:
    client = regulator(db_session)
    token = issue_token(client, KEYS, 900, now=NOW).access_token
    assert jwt.get_unverified_header(token)["kid"] == "t1"
    assert principal_from_token(token, KEYS, NOW).client_id == client.client_id

    same_id_other_key = TokenKeys({"t1": generate_key()}, "t1")
    with pytest.raises(InvalidToken):
        principal_from_token(token, same_id_other_key, NOW)
    with pytest.raises(InvalidToken):  # the kid is unknown here, whatever the keys
        principal_from_token(token, TokenKeys({"t2": KEYS.keys["t1"]}, "t2"), NOW)


def test_a_token_signed_with_the_blind_index_key_is_refused(db_session: Session) -> None:
    """The old scheme: the signing key derived from the blind-index key, no kid. Anyone
    holding the blind-index key could mint these; they must not verify any more."""
    client = regulator(db_session)
    keyring = KeyRing({"k1": generate_key()}, "k1", generate_key(), audit=AuditKeys.generate())
    derived = keyring.blind_index("jwt-signing-key", "realname.tokens")
    claims = {
        "iss": "realname",
        "sub": client.client_id,
        "role": "regulator",
        "scope": "registry:read registry:reveal",
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 900,
    }
    forged = jwt.encode(claims, derived, algorithm="HS256")
    with pytest.raises(InvalidToken):
        principal_from_token(forged, KEYS, NOW)
    # …nor with the derived key given the active kid
    forged_kid = jwt.encode(claims, derived, algorithm="HS256", headers={"kid": "t1"})
    with pytest.raises(InvalidToken):
        principal_from_token(forged_kid, KEYS, NOW)


def test_rotation_old_tokens_verify_until_their_key_is_removed(db_session: Session) -> None:
    client = regulator(db_session)
    old_token = issue_token(client, KEYS, 900, now=NOW).access_token
    rotated = TokenKeys({**KEYS.keys, "t2": generate_key()}, "t2")
    new_token = issue_token(client, rotated, 900, now=NOW).access_token
    assert jwt.get_unverified_header(new_token)["kid"] == "t2"
    assert principal_from_token(old_token, rotated, NOW).client_id == client.client_id
    assert principal_from_token(new_token, rotated, NOW).client_id == client.client_id
    retired = TokenKeys({"t2": rotated.keys["t2"]}, "t2")
    assert principal_from_token(new_token, retired, NOW).client_id == client.client_id
    with pytest.raises(InvalidToken):
        principal_from_token(old_token, retired, NOW)


def test_token_lifetime_is_judged_by_the_injected_clock(db_session: Session) -> None:
    """Issued and checked far from the machine's date: only the given `now` counts."""
    client = regulator(db_session)
    long_ago = datetime(2001, 1, 1, tzinfo=UTC)
    token = issue_token(client, KEYS, 900, now=long_ago).access_token
    assert principal_from_token(token, KEYS, long_ago + timedelta(seconds=899)).role is (
        Role.REGULATOR
    )
    with pytest.raises(InvalidToken):
        principal_from_token(token, KEYS, long_ago + timedelta(seconds=900))
    with pytest.raises(InvalidToken):  # issued "in the future" of the verifier
        principal_from_token(token, KEYS, long_ago - timedelta(minutes=5))
    device = issue_device_token(client, KEYS, 7, now=long_ago).access_token
    assert principal_from_token(device, KEYS, long_ago).line_id == 7
    with pytest.raises(InvalidToken):
        principal_from_token(device, KEYS, long_ago + timedelta(seconds=300))


def test_a_code_login_token_is_bound_to_its_line_and_short_lived(db_session: Session) -> None:
    client = regulator(db_session)
    token = issue_line_token(client, KEYS, 7, 3, 10_000, now=NOW)
    assert token.expires_in == 900  # capped, whatever is asked
    principal = principal_from_token(token.access_token, KEYS, NOW)
    assert (principal.line_id, principal.enterprise_id, principal.amr) == (7, 3, {"otp"})
    with pytest.raises(InvalidToken):
        principal_from_token(token.access_token, KEYS, NOW + timedelta(seconds=900))
    # A `line` claim without a line-binding method binds nothing.
    claims = jwt.decode(token.access_token, options={"verify_signature": False})
    forged = jwt.encode({**claims, "amr": ["pwd"]}, KEYS.signing_key, headers={"kid": KEYS.active})
    assert principal_from_token(forged, KEYS, NOW).line_id is None


@pytest.mark.parametrize("garbage", ["", "x", "a.b.c", "e30.e30.", "eyJhbGciOiJub25lIn0.e30."])
def test_garbage_tokens_are_invalid(garbage: str) -> None:
    with pytest.raises(InvalidToken):
        principal_from_token(garbage, KEYS, NOW)


def test_token_keys_never_show_their_bytes() -> None:
    keys = TokenKeys({"t1": b"\x01" * 32}, "t1")
    assert "\\x01" not in repr(keys) and "AQEB" not in repr(keys)


# --- client status -------------------------------------------------------------------------


def test_a_revoked_client_is_inactive(db_session: Session) -> None:
    client = regulator(db_session)
    assert client_is_active(db_session, client.client_id)
    assert ClientService(db_session, KEYRING).revoke(client.client_id, NOW)
    db_session.flush()
    assert not client_is_active(db_session, client.client_id)
    assert not client_is_active(db_session, "no-such-client")


def test_the_status_cache_looks_up_at_most_once_per_window() -> None:
    looked: list[str] = []
    status = {"c": True}

    def lookup(client_id: str) -> bool:
        looked.append(client_id)
        return status[client_id]

    cache = ClientStatusCache(2.0)
    assert cache.is_active("c", NOW, lookup)
    status["c"] = False
    assert cache.is_active("c", NOW + timedelta(seconds=1.9), lookup)  # still cached
    assert not cache.is_active("c", NOW + timedelta(seconds=2), lookup)
    assert looked == ["c", "c"]
    assert not cache.is_active("c", NOW - timedelta(hours=1), lookup)  # clock went back
    assert len(looked) == 3

    never = ClientStatusCache(0)
    for _ in range(3):
        never.is_active("c", NOW, lookup)
    assert len(looked) == 6


# --- failed-login throttle -------------------------------------------------------------------


def test_failed_logins_lock_the_client_and_the_source_out(fresh_engine: Engine) -> None:
    throttle = LoginThrottler(
        ThrottlePolicy(
            max_failures_per_client=3, max_failures_per_source=5, window=timedelta(minutes=5)
        )
    )

    def fail(client_id: str, source: str, at: datetime) -> None:
        with Session(fresh_engine) as session, session.begin():
            throttle.record_failure(session, client_id, source, at)

    def state(client_id: str, source: str, at: datetime) -> int | None:
        with Session(fresh_engine) as session:
            return throttle.state(session, client_id, source, at).retry_after

    for n in range(3):
        assert state("victim", "10.0.0.1", NOW) is None
        fail("victim", "10.0.0.1", NOW + timedelta(seconds=n))
    at = NOW + timedelta(seconds=3)
    assert state("victim", "10.0.0.1", at) == 299  # locked 5 min from the third failure
    assert state("victim", "10.9.9.9", at) == 299  # the client, from anywhere
    assert state("bystander", "10.0.0.2", at) is None
    later = NOW + timedelta(seconds=2) + timedelta(minutes=5)
    assert state("victim", "10.0.0.1", later) is None  # the window passed
    fail("victim", "10.0.0.1", later)  # a new window: one failure, no lockout
    assert state("victim", "10.0.0.1", later) is None

    for n in range(5):  # a spray of client ids from one address
        fail(f"guess-{n}", "10.6.6.6", NOW + timedelta(seconds=n))
    assert state("anyone", "10.6.6.6", NOW + timedelta(seconds=5)) is not None
    assert state("guess-0", "10.0.0.3", NOW + timedelta(seconds=5)) is None

    with Session(fresh_engine) as session, session.begin():
        throttle.record_success(session, "victim")
    with Session(fresh_engine) as session:
        keys = set(session.scalars(select(LoginThrottle.key)))
        kinds = set(session.scalars(select(LoginThrottle.kind)))
    assert throttle_key("client", "victim") not in keys
    assert all(len(k) == 64 for k in keys) and "guess-0" not in str(keys)  # only hashes
    assert kinds <= {"client", "source"}


def test_a_regulator_client_made_narrow_stays_narrow(db_session: Session) -> None:
    """Its tokens carry the scopes it was made with: every regulator token was given the
    compliance and enforcement scopes whatever its row said, so a client made to read
    figures could take enforcement actions. Only rows marked by migration 0025 (made before
    those scopes existed) still get them."""
    reader, _ = ClientService(db_session, KEYRING).create(
        role=Role.REGULATOR, at=NOW, scopes=["compliance:read"]
    )
    assert issue_token(reader, KEYS, 900, now=NOW).scope == "compliance:read"
    asked = issue_token(reader, KEYS, 900, ["compliance:read", "enforcement:write"], now=NOW)
    assert asked.scope == "compliance:read"
    old, _ = ClientService(db_session, KEYRING).create(
        role=Role.REGULATOR, at=NOW, scopes=["registry:read"]
    )
    old.implied_role_scopes = True  # as 0025 marks a client made before compliance existed
    assert set(issue_token(old, KEYS, 900, now=NOW).scope.split()) == {
        "registry:read",
        "compliance:read",
        "compliance:write",
        "enforcement:write",
    }


def test_scopes_narrow_a_role_and_never_add_to_it(db_session: Session) -> None:
    """`realname clients add --scopes` takes fewer scopes than the role's; one the role does
    not have is refused with what the role may hold."""
    from realname.cli.clients import _scopes

    service = ClientService(db_session, KEYRING)
    with pytest.raises(ValueError, match="may hold only") as refused:
        service.create(
            role=Role.MONITOR, at=NOW, scopes=_scopes(Role.MONITOR, "registry:reveal", None)
        )
    assert "registry:reveal" in str(refused.value)
    with pytest.raises(ValueError, match="enforcement:write"):
        service.create(role=Role.REGULATOR_INSPECTOR, at=NOW, scopes=["enforcement:write"])
    reader, _ = service.create(
        role=Role.REGULATOR,
        at=NOW,
        scopes=_scopes(Role.REGULATOR, "compliance:read, registry:read", None),
    )
    assert issue_token(reader, KEYS, 900, now=NOW).scope == "compliance:read registry:read"
    assert _scopes(Role.PROVINCIAL_REGULATOR, None, "44") == [
        "compliance:read",
        "compliance:write",
        "province:44",
    ]
