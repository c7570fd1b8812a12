"""Channel risk signals: each one trips on its pattern and stays quiet on ordinary trade."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from realname.channels.risk import Registration, assess_channels, over_threshold, ranked
from realname.channels.service import ChannelService
from realname.policy.schema import ChannelKind, Policy, RiskRules
from realname.registry.errors import RegistryError
from realname.security.vault import KeyRing
from tests.registry.conftest import NOW, World, build_world, china, keyring  # noqa: F401

RULES = RiskRules(min_registrations=10)
DAY = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00 in Beijing


def ordinary(channel: int, count: int, first_identity: int = 1000) -> list[Registration]:
    """One line per identity, spread over the day."""
    return [
        Registration(
            channel, first_identity + i, first_identity + i, DAY + timedelta(minutes=23 * i)
        )
        for i in range(count)
    ]


def signals(report: dict[int, object], channel: int) -> dict[str, bool]:
    return {s.name: s.tripped for s in report[channel].signals}  # type: ignore[attr-defined]


def test_ordinary_trade_trips_nothing() -> None:
    report = assess_channels(RULES, ordinary(1, 30), [(1, "CAP_EXCEEDED")], [])
    assert not any(signals(report, 1).values())
    assert report[1].score == 0


def test_one_identity_many_lines_in_a_short_window() -> None:
    bulk = [Registration(1, 7, 9000 + i, DAY + timedelta(hours=i * 5)) for i in range(3)]
    report = assess_channels(RULES, ordinary(1, 15) + bulk, [], [])  # 1 identity in 16
    signal = next(s for s in report[1].signals if s.name == "one_identity_many_lines")
    assert signal.tripped and signal.evidence[0].startswith("identity 7: 3 lines")
    spaced = [Registration(1, 7, 9000 + i, DAY + timedelta(hours=i * 30)) for i in range(3)]
    assert not signals(assess_channels(RULES, ordinary(1, 15) + spaced, [], []), 1)[
        "one_identity_many_lines"
    ]


def test_one_identity_at_many_channels_counts_against_each() -> None:
    roaming = [Registration(c, 7, 9000 + c, DAY + timedelta(days=c)) for c in (1, 2, 3)]
    everyone = ordinary(1, 12) + ordinary(2, 12, 2000) + ordinary(3, 12, 3000) + roaming
    report = assess_channels(RULES, everyone, [], [])
    assert all(signals(report, c)["one_identity_many_channels"] for c in (1, 2, 3))


def test_night_bursts_in_local_time() -> None:
    night = DAY.replace(hour=18, minute=5)  # 02:05 in Beijing
    burst = [Registration(1, 5000 + i, 5000 + i, night + timedelta(minutes=i)) for i in range(5)]
    report = assess_channels(RULES, ordinary(1, 20) + burst, [], [])
    signal = next(s for s in report[1].signals if s.name == "night_bursts")
    assert signal.tripped and "02:00 local" in signal.evidence[0]
    daytime = [Registration(1, 5000 + i, 5000 + i, DAY + timedelta(minutes=i)) for i in range(5)]
    assert not signals(assess_channels(RULES, ordinary(1, 20) + daytime, [], []), 1)["night_bursts"]


def test_authority_rejections_and_disputed_lines_are_shares() -> None:
    refusals = [(1, "AUTHORITY_NAME_MISMATCH")] * 3 + [(1, "CAP_EXCEEDED")] * 5
    report = assess_channels(RULES, ordinary(1, 30), refusals, [1000, 1001])
    tripped = signals(report, 1)
    assert tripped["authority_rejections"] and tripped["disputed_lines"]
    assert report[1].score == 2 and over_threshold(RULES, report[1])


def test_too_few_registrations_are_not_judged_on_shares() -> None:
    report = assess_channels(RULES, ordinary(1, 3), [], [1000])
    disputed = next(s for s in report[1].signals if s.name == "disputed_lines")
    assert not disputed.judged and not disputed.tripped


def test_riskiest_first() -> None:
    refusals = [(2, "AUTHORITY_UNKNOWN_DOCUMENT")] * 5
    report = assess_channels(RULES, ordinary(1, 20) + ordinary(2, 20, 3000), refusals, [3000])
    assert [r.channel_id for r in ranked(report)] == [2, 1]


@pytest.fixture
def world(db_session: Session, keyring: KeyRing, china: Policy) -> World:  # noqa: F811
    return build_world(db_session, keyring, china)


def test_a_channel_over_the_threshold_is_suspended_with_its_evidence(
    world: World,
    china: Policy,  # noqa: F811
) -> None:
    policy = china.with_changes(risk={**china.risk.model_dump(), "min_registrations": 3})
    service = ChannelService(world.session, policy=policy, registry=world.service)
    social = world.channels[ChannelKind.SOCIAL]
    # One identity registers three lines within minutes at the kiosk; another is disowned.
    for _ in range(3):
        world.register(world.people[0], kind=ChannelKind.SOCIAL)
    disowned = world.register(world.people[1], kind=ChannelKind.SOCIAL)
    world.service.complain(world.ctx("admin"), world.enterprise_id, disowned, "not_mine")
    assessed = {
        a.channel.id: a for a in service.assess(world.enterprise_id, NOW + timedelta(hours=1))
    }
    assert assessed[social].over_threshold
    with pytest.raises(RegistryError) as not_risky:
        service.suspend(
            world.ctx("admin"), world.enterprise_id, world.channels[ChannelKind.OWN_HALL], None
        )
    assert not_risky.value.code == "CHANNEL_NOT_RISKY"
    channel = service.suspend(
        world.ctx("admin", NOW + timedelta(hours=1)), world.enterprise_id, social, None
    )
    assert channel.status == "suspended"
    assert channel.status_reason == "risk:one_identity_many_lines,disputed_lines"
    with pytest.raises(RegistryError) as refused:
        world.register(world.people[2], kind=ChannelKind.SOCIAL)
    assert refused.value.code == "CHANNEL_NOT_AUTHORISED"
    service.resume(world.ctx("admin"), world.enterprise_id, social, "rectified")
    world.register(world.people[2], kind=ChannelKind.SOCIAL)


def test_a_suspension_reason_with_a_number_in_it_is_stored_masked(
    world: World,
    china: Policy,  # noqa: F811
    keyring: KeyRing,  # noqa: F811
) -> None:
    from realname.registry.check import run_integrity_check

    service = ChannelService(world.session, policy=china, registry=world.service)
    channel = service.suspend(
        world.ctx("admin"),
        world.enterprise_id,
        world.channels[ChannelKind.SOCIAL],
        "clerk sold 13800138000 to a reseller",
    )
    assert "13800138000" not in (channel.status_reason or "")
    assert run_integrity_check(world.session, china, keyring).ok
