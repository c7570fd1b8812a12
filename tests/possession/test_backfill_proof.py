"""Proof of possession before a legacy line is back-filled, on both engines: no back-fill
without proof; one-time codes bound to line and channel, counted, voided, expiring, used once,
rate-limited; ICCID and usage proofs; no code in clear anywhere; failures in channel risk."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from realname.channels.models import RegistrationRefusal
from realname.channels.service import ChannelService
from realname.messaging.models import OutboxMessage
from realname.messaging.service import open_body
from realname.policy.schema import ChannelKind, Policy
from realname.possession.errors import PossessionError, PossessionErrorCode
from realname.possession.models import PossessionChallenge, PossessionFailure
from realname.possession.service import PossessionService
from realname.possession.usage import read_usage_csv
from realname.registry.check import run_integrity_check
from realname.registry.commands import (
    Actor,
    Context,
    Desk,
    IccidClaim,
    OtpClaim,
    Person,
    PossessionClaim,
    PossessionProof,
    UsageClaim,
)
from realname.registry.errors import RegistryError, RegistryErrorCode
from realname.registry.models import Line
from realname.security.vault import KeyRing
from tests.backfill.test_campaign import add_legacy
from tests.registry.conftest import NOW, World, build_world, china, keyring  # noqa: F401

P = PossessionErrorCode
HALL = ChannelKind.OWN_HALL


@pytest.fixture
def world(db_session: Session, keyring: KeyRing, china: Policy) -> World:  # noqa: F811
    return build_world(db_session, keyring, china)


def clerk(world: World, kind: ChannelKind = HALL) -> dict[str, int]:
    return {
        "enterprise_id": world.enterprise_id,
        "channel_id": world.channels[kind],
        "clerk_id": world.clerks[kind],
    }


def desk(world: World, kind: ChannelKind = HALL) -> Desk:
    return Desk(**clerk(world, kind))


def ctx(at_seconds: float = 0) -> Context:
    return Context(Actor("clerk", "1"), NOW + timedelta(seconds=at_seconds))


def attempt(
    world: World,
    line: Line,
    claim: PossessionClaim | None,
    *,
    at: float = 0,
    kind: ChannelKind = HALL,
    person: Person | None = None,
) -> Line:
    """A back-fill as the API runs it: a code's attempt counted and the code compared first,
    outside the savepoint (the endpoint's `before`), then proof and registration in a
    savepoint; a refusal is rolled back and its failure recorded (the endpoint's on_refusal)."""
    possession = world.possession()
    person = person or world.people[0]
    try:
        checked = possession.check_backfill_code(
            ctx(at), msisdn=line.msisdn, claim=claim, **clerk(world, kind)
        )
        with world.session.begin_nested():
            proof = possession.prove_for_backfill(
                ctx(at),
                msisdn=line.msisdn,
                claim=claim,
                checked=checked,
                **clerk(world, kind),
            )
            world.service.register(
                ctx(at),
                desk=desk(world, kind),
                msisdn=line.msisdn,
                person=person,
                possession=proof,
            )
    except PossessionError as error:
        if error.failure is not None:
            possession.record_failure(error.failure, ctx(at).at)
        raise
    return line


def failures(world: World) -> list[tuple[str, str]]:
    rows = world.session.execute(
        select(PossessionFailure.method, PossessionFailure.reason).order_by(PossessionFailure.id)
    )
    return [(m, r) for m, r in rows]


def test_no_backfill_without_proof(world: World) -> None:
    line = add_legacy(world, 1)[0]
    with pytest.raises(PossessionError) as refused:
        attempt(world, line, None)
    assert refused.value.code is P.POSSESSION_NOT_PROVEN
    assert (line.state, line.owner_identity_id) == ("legacy", None)
    assert failures(world) == [("none", "missing")]
    # The registry itself refuses a back-fill without a proof for this very line.
    other = add_legacy(world, 1)[0]
    for proof in (None, PossessionProof(line.id, "otp")):
        with pytest.raises(RegistryError) as direct, world.session.begin_nested():
            world.service.register(
                ctx(),
                desk=desk(world),
                msisdn=other.msisdn,
                person=world.people[0],
                possession=proof,
            )
        assert direct.value.code is RegistryErrorCode.POSSESSION_NOT_PROVEN


def test_a_code_read_back_proves_the_line_once(world: World, keyring: KeyRing) -> None:  # noqa: F811
    line = add_legacy(world, 1)[0]
    issued = world.possession().issue_backfill_code(ctx(), line_id=line.id, **clerk(world))
    attempt(world, line, OtpClaim(issued.challenge_id, issued.code), at=60)
    assert line.state == "active" and line.owner_identity_id is not None
    # The code went out by SMS, sealed in the outbox: no clear code in the database.
    message = world.session.scalars(select(OutboxMessage)).one()
    assert (message.destination, message.kind) == (line.msisdn, "otp.backfill")
    assert issued.code not in message.body and message.body.startswith("sealed:")
    assert issued.code in open_body(keyring, message.body)
    challenge = world.session.scalars(select(PossessionChallenge)).one()
    assert issued.code.encode() not in challenge.code_digest
    assert challenge.used_at is not None
    report = run_integrity_check(world.session, world.service.policy, keyring)
    assert report.ok, [r.violations for r in report.results]


def test_a_used_code_is_not_accepted_again(world: World) -> None:
    first = add_legacy(world, 1)[0]
    possession = world.possession()
    issued = possession.issue_backfill_code(ctx(), line_id=first.id, **clerk(world))
    claim = OtpClaim(issued.challenge_id, issued.code)
    proof = possession.prove_for_backfill(ctx(), msisdn=first.msisdn, claim=claim, **clerk(world))
    assert proof == PossessionProof(first.id, "otp")
    with pytest.raises(PossessionError) as replayed:
        possession.prove_for_backfill(ctx(), msisdn=first.msisdn, claim=claim, **clerk(world))
    assert replayed.value.code is P.CHALLENGE_INVALID


def test_a_code_for_one_line_does_not_prove_another(world: World) -> None:
    a, b = add_legacy(world, 2)
    issued = world.possession().issue_backfill_code(ctx(), line_id=a.id, **clerk(world))
    with pytest.raises(PossessionError) as refused:
        attempt(world, b, OtpClaim(issued.challenge_id, issued.code))
    assert refused.value.code is P.CHALLENGE_INVALID
    assert b.state == "legacy" and failures(world) == [("otp", "wrong_challenge")]
    # Nor at another channel of the enterprise.
    with pytest.raises(PossessionError):
        attempt(world, a, OtpClaim(issued.challenge_id, issued.code), kind=ChannelKind.PARTNER_HALL)
    attempt(world, a, OtpClaim(issued.challenge_id, issued.code))  # still good where it was asked
    assert a.state == "active"


def test_wrong_codes_are_counted_and_the_last_attempt_voids_the_code(world: World) -> None:
    line = add_legacy(world, 1)[0]
    issued = world.possession().issue_backfill_code(ctx(), line_id=line.id, **clerk(world))
    wrong = f"{(int(issued.code) + 1) % 10**6:06d}"
    limit = world.service.policy.possession.otp_max_attempts
    for _ in range(limit):
        with pytest.raises(PossessionError) as refused:
            attempt(world, line, OtpClaim(issued.challenge_id, wrong))
        assert refused.value.code is P.POSSESSION_NOT_PROVEN
    challenge = world.session.scalars(select(PossessionChallenge)).one()
    world.session.refresh(challenge)
    assert challenge.attempts == limit
    with pytest.raises(PossessionError) as void:
        attempt(world, line, OtpClaim(issued.challenge_id, issued.code))
    assert void.value.code is P.CHALLENGE_INVALID
    assert line.state == "legacy"
    assert failures(world) == [("otp", "wrong_code")] * limit + [("otp", "challenge_spent")]


def test_a_refused_registration_leaves_the_right_code_usable(world: World) -> None:
    line = add_legacy(world, 1)[0]
    issued = world.possession().issue_backfill_code(ctx(), line_id=line.id, **clerk(world))
    claim = OtpClaim(issued.challenge_id, issued.code)
    blurry = replace(world.people[0], face_score=0.1)
    with pytest.raises(RegistryError):
        attempt(world, line, claim, person=blurry)
    challenge = world.session.scalars(select(PossessionChallenge)).one()
    world.session.refresh(challenge)
    # The attempt is counted (before the code was compared), the code not used up.
    assert (challenge.attempts, challenge.used_at) == (1, None)
    assert failures(world) == []  # the proof did not fail
    attempt(world, line, claim, at=30)
    assert line.state == "active" and line.owner_identity_id is not None


def test_a_code_expires_by_the_clock(world: World) -> None:
    line = add_legacy(world, 1)[0]
    issued = world.possession().issue_backfill_code(ctx(), line_id=line.id, **clerk(world))
    ttl = world.service.policy.possession.otp_ttl_seconds
    assert issued.expires_at == NOW + timedelta(seconds=ttl)
    with pytest.raises(PossessionError) as expired:
        attempt(world, line, OtpClaim(issued.challenge_id, issued.code), at=ttl)
    assert expired.value.code is P.CHALLENGE_INVALID
    attempt(world, line, OtpClaim(issued.challenge_id, issued.code), at=ttl - 1)
    assert line.state == "active"


def test_codes_are_rate_limited_per_line_and_per_channel(world: World, china: Policy) -> None:  # noqa: F811
    line = add_legacy(world, 1)[0]
    possession = world.possession()
    per_line = china.possession.otp_per_line_per_hour
    for i in range(per_line):
        possession.issue_backfill_code(ctx(i), line_id=line.id, **clerk(world))
    with pytest.raises(PossessionError) as limited:
        possession.issue_backfill_code(ctx(60), line_id=line.id, **clerk(world))
    assert limited.value.code is P.CHALLENGE_RATE_LIMITED and limited.value.http_status == 429
    possession.issue_backfill_code(ctx(3601), line_id=line.id, **clerk(world))  # an hour on

    tight = china.with_changes(possession={"otp_per_requester_per_hour": 2})
    strict = PossessionService(
        world.session, policy=tight, keyring=world.service.keyring, registry=world.service
    )
    others = add_legacy(world, 3)
    channel = clerk(world, ChannelKind.PARTNER_HALL)
    strict.issue_backfill_code(ctx(), line_id=others[0].id, **channel)
    strict.issue_backfill_code(ctx(), line_id=others[1].id, **channel)
    with pytest.raises(PossessionError):
        strict.issue_backfill_code(ctx(), line_id=others[2].id, **channel)
    strict.issue_backfill_code(ctx(), line_id=others[2].id, **clerk(world, ChannelKind.SOCIAL))


def test_a_code_is_only_for_an_unregistered_legacy_line(world: World) -> None:
    registered = world.register(world.people[1])
    line = world.service.repo.line(registered)
    assert line is not None
    with pytest.raises(PossessionError) as refused:
        world.possession().issue_backfill_code(ctx(), line_id=line.id, **clerk(world))
    assert refused.value.code is P.CHALLENGE_NOT_APPLICABLE and refused.value.http_status == 409
    foreign = {**clerk(world), "enterprise_id": world.other_enterprise_id}
    with pytest.raises(RegistryError):
        world.possession().issue_backfill_code(ctx(), line_id=line.id, **foreign)


def test_the_sims_iccid_proves_the_line(world: World) -> None:
    right, wrong, missing = add_legacy(world, 3)
    right.iccid, wrong.iccid = "89860012345678901234", "89860012345678905678"
    world.session.flush()
    attempt(world, right, IccidClaim("89860012345678901234"))
    assert right.state == "active"
    with pytest.raises(PossessionError) as refused:
        attempt(world, wrong, IccidClaim("89860012345678901234"))
    assert refused.value.code is P.POSSESSION_NOT_PROVEN
    with pytest.raises(PossessionError) as unavailable:
        attempt(world, missing, IccidClaim("89860012345678901234"))
    assert unavailable.value.code is P.METHOD_UNAVAILABLE
    assert failures(world) == [("iccid", "wrong_iccid")]


def test_iccid_and_usage_guesses_lock_the_line_for_a_day(world: World, china: Policy) -> None:  # noqa: F811
    line = add_legacy(world, 1)[0]
    line.iccid = "89860012345678901234"
    world.session.flush()
    for i in range(china.possession.failed_proofs_per_line_per_day):
        with pytest.raises(PossessionError):
            attempt(world, line, IccidClaim(f"8986001234567890{i:04d}"), at=i)
    with pytest.raises(PossessionError) as locked:
        attempt(world, line, IccidClaim("89860012345678901234"), at=100)
    assert locked.value.code is P.PROOFS_LOCKED
    # A one-time code still works, and a day later so does the ICCID.
    issued = world.possession().issue_backfill_code(ctx(200), line_id=line.id, **clerk(world))
    proof = world.possession().prove_for_backfill(
        ctx(200),
        msisdn=line.msisdn,
        claim=OtpClaim(issued.challenge_id, issued.code),
        **clerk(world),
    )
    assert proof is not None
    later = world.possession().prove_for_backfill(
        ctx(86_400 + 100),
        msisdn=line.msisdn,
        claim=IccidClaim("89860012345678901234"),
        **clerk(world),
    )
    assert later == PossessionProof(line.id, "iccid")


def usage_csv(*rows: str) -> str:
    return "msisdn,last_used_at,last_topup_at,last_topup_minor,called_numbers\n" + "\n".join(rows)


def test_recent_usage_proves_the_line(world: World, keyring: KeyRing) -> None:  # noqa: F811
    line, stale = add_legacy(world, 2)
    text = usage_csv(
        f"{line.msisdn},2026-11-20T10:00:00+08:00,2026-11-01T09:00:00+08:00,5000,"
        "+8613900001111;13900002222",
        f"{stale.msisdn},2026-01-20T10:00:00+08:00,2026-01-01T09:00:00+08:00,3000,+8613900001111",
        "+8613999999999,2026-11-20T10:00:00+08:00,,5000,",  # not this enterprise's line
        f"{line.msisdn},yesterday,,5000,",
        f"{line.msisdn},2026-11-20T10:00:00+08:00,,50.00,",
        f"{line.msisdn},2026-11-20T10:00:00+08:00,,5000,10086",
    )
    result = world.possession().import_usage(world.enterprise_id, read_usage_csv(text), NOW)
    assert result.loaded == 2
    assert [n for n, _ in result.rejected] == [4, 5, 6, 7]
    assert (
        "last_used_at" in dict(result.rejected)[5] and "called_numbers" in dict(result.rejected)[7]
    )
    assert all(line.msisdn not in reason for _, reason in result.rejected)
    with pytest.raises(PossessionError) as wrong_amount:
        attempt(world, line, UsageClaim(4000, "+8613900001111"))
    assert wrong_amount.value.code is P.POSSESSION_NOT_PROVEN
    with pytest.raises(PossessionError):
        attempt(world, line, UsageClaim(5000, "+8613900009999"))  # a number it never called
    with pytest.raises(PossessionError) as too_old:
        attempt(world, stale, UsageClaim(3000, "+8613900001111"))
    assert too_old.value.code is P.METHOD_UNAVAILABLE
    attempt(world, line, UsageClaim(5000, "+86 139 0000 2222"))
    assert line.state == "active"
    assert failures(world) == [("usage", "wrong_usage")] * 2
    report = run_integrity_check(world.session, world.service.policy, keyring)
    assert report.ok, [r.violations for r in report.results]


def test_a_usage_feed_names_its_bad_rows_instead_of_crashing(world: World) -> None:
    """An instant before the first representable UTC raised OverflowError, a huge field
    csv.Error (both tracebacks); a number given twice loaded twice, the last row winning."""
    line = add_legacy(world, 1)[0]
    text = usage_csv(
        f"{line.msisdn},2026-11-20T10:00:00+08:00,,5000,",
        f"{line.msisdn},2026-11-21T10:00:00+08:00,,6000,",
        f"{line.msisdn},0001-01-01T00:00:00+01:00,,5000,",
    )
    result = world.possession().import_usage(world.enterprise_id, read_usage_csv(text), NOW)
    assert result.loaded == 1
    reasons = dict(result.rejected)
    assert reasons[3] == "msisdn given already on line 2" and "out of range" in reasons[4]
    with pytest.raises(ValueError, match="line 2: not readable as CSV"):
        list(read_usage_csv(usage_csv(f"{line.msisdn}," + "9" * 200_000 + ",,,")))


def test_the_policy_names_the_accepted_methods(world: World, china: Policy) -> None:  # noqa: F811
    line = add_legacy(world, 1)[0]
    line.iccid = "89860012345678901234"
    only_otp = PossessionService(
        world.session,
        policy=china.with_changes(possession={"backfill_methods": ["otp"]}),
        keyring=world.service.keyring,
        registry=world.service,
    )
    with pytest.raises(PossessionError) as refused:
        only_otp.prove_for_backfill(
            ctx(), msisdn=line.msisdn, claim=IccidClaim(line.iccid), **clerk(world)
        )
    assert refused.value.code is P.METHOD_NOT_ACCEPTED


def test_failed_proofs_show_in_channel_risk(world: World, china: Policy) -> None:  # noqa: F811
    lines = add_legacy(world, 8)
    social = ChannelKind.SOCIAL
    for line in lines[:6]:
        with pytest.raises(PossessionError):
            attempt(world, line, None, kind=social)
    for line in lines[6:]:
        proof = world.prove(line.msisdn, social)
        world.service.register(
            ctx(),
            msisdn=line.msisdn,
            person=replace(world.people[2]),
            possession=proof,
            desk=desk(world, social),
        )
    assessed = ChannelService(world.session, policy=china, registry=world.service).assess(
        world.enterprise_id, NOW + timedelta(hours=1)
    )
    risky = next(a for a in assessed if a.channel.id == world.channels[social])
    signal = next(s for s in risky.risk.signals if s.name == "failed_possession_proofs")
    assert signal.tripped and signal.value == pytest.approx(6 / 8)
    assert signal.evidence[0] == "none missing: 6"
    assert str(lines[0].id) in signal.evidence[1]
    honest = [a for a in assessed if a.channel.id == world.channels[HALL]]
    assert all(
        not s.tripped
        for a in honest
        for s in a.risk.signals
        if s.name == "failed_possession_proofs"
    )
    assert world.session.scalar(select(func.count()).select_from(RegistrationRefusal)) == 0
