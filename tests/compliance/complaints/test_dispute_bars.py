"""A "not mine" dispute bars the line through the one barring rule (BARS and the reason kept
aside beneath a suspension), not a copy of it: BARS[DISPUTE_OWNER] was never consulted."""

from __future__ import annotations

import pytest

from realname.registry.errors import RegistryError
from realname.registry.lifecycle import BARS, BarringReason, Operation
from realname.registry.models import Line
from tests.registry.conftest import World


def _dispute(world: World, msisdn: str) -> Line:
    return world.service.dispute_owner(world.ctx("regulator"), world.enterprise_id, msisdn, "C-1")


def test_the_dispute_asks_the_barring_rule(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    msisdn = world.register(world.people[0])
    monkeypatch.setitem(BARS, Operation.DISPUTE_OWNER, frozenset())
    with pytest.raises(RegistryError) as refused:
        _dispute(world, msisdn)
    assert str(refused.value.code) == "ILLEGAL_TRANSITION"


def test_a_disputed_restricted_line_keeps_its_restriction_beneath(world: World) -> None:
    msisdn = world.register(world.people[0])
    world.service.barring.bar(
        world.ctx("enterprise_admin"),
        world.enterprise_id,
        msisdn,
        Operation.RESTRICT,
        BarringReason.ENFORCEMENT,
        "",
    )
    line = _dispute(world, msisdn)
    assert (line.state, line.barring_reason, line.restriction_reason) == (
        "suspended",
        "disputed",
        "enforcement",
    )
    assert line.owner_identity_id is None
