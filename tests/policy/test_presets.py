"""Every preset loads, and the reference preset says exactly what DESIGN.md §2 says."""

from __future__ import annotations

import tomllib
from importlib import resources

import pytest
from pydantic import ValidationError

from realname.identity.documents import DocumentType as D
from realname.policy import (
    BackfillPhase,
    CapScope,
    ChannelKind,
    Policy,
    available_presets,
    load_policy,
)

K = ChannelKind
P = BackfillPhase

EXPECTED = {"china", "india", "nigeria", "pakistan", "philippines"}


def test_presets_are_package_data() -> None:
    folder = resources.files("realname.policy") / "presets"
    names = {entry.name for entry in folder.iterdir()}
    assert {f"{name}.toml" for name in EXPECTED} <= names
    assert set(available_presets()) >= EXPECTED
    assert available_presets() == sorted(available_presets())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_preset_loads_and_is_named_after_its_file(name: str) -> None:
    policy = load_policy(name)
    assert policy.code == name
    assert set(policy.accepted_documents) == set(ChannelKind)
    assert policy.register_before_activation
    assert policy.legal_basis.strip()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_preset_file_is_plain_toml_without_surprises(name: str) -> None:
    """Only schema keys, so the loader's strictness is not what hides a typo."""
    raw = (resources.files("realname.policy") / "presets" / f"{name}.toml").read_text("utf-8")
    assert set(tomllib.loads(raw)) == set(Policy.model_fields)


def test_presets_are_cached_and_a_path_loads_the_same_policy() -> None:
    assert load_policy("china") is load_policy("china")
    path = resources.files("realname.policy") / "presets" / "china.toml"
    assert load_policy(str(path)) == load_policy("china")


def test_china_preset_values() -> None:
    china = load_policy("china")
    assert china.jurisdiction == "CN"
    assert china.cap(CapScope.ENTERPRISE) == 5
    assert china.cap(CapScope.NATIONAL) is None
    halls = {
        D.RESIDENT_ID,
        D.RESIDENCE_PERMIT,
        D.HOME_RETURN_PERMIT,
        D.TAIWAN_PERMIT,
        D.PASSPORT,
        D.PERMANENT_RESIDENCE,
        D.MILITARY,
        D.ORGANISATION,
    }
    assert china.accepted_documents == {
        K.OWN_HALL: halls,
        K.PARTNER_HALL: halls,
        K.SOCIAL: {D.RESIDENT_ID, D.RESIDENCE_PERMIT},
        K.ONLINE: {D.RESIDENT_ID, D.RESIDENCE_PERMIT},
    }
    assert china.minimum_age_years == 16
    assert china.face_match_threshold == pytest.approx(0.80)
    assert china.manual_entry_refused_at == {K.OWN_HALL, K.PARTNER_HALL, K.SOCIAL}
    assert china.authority_check_required
    assert china.register_before_activation
    assert china.cooling_days == 90
    assert china.reverification_deadline_hours == 24
    assert china.retention_after_termination_days == 730
    assert china.sim_swap_monitored_hours == 2400
    assert [(s.phase, s.days_after_start) for s in china.backfill_steps] == [
        (P.REMIND, 0),
        (P.BAR_OUTGOING, 60),
        (P.BAR_BOTH, 90),
        (P.TERMINATE, 120),
    ]


def test_other_jurisdictions() -> None:
    philippines = load_policy("philippines")
    assert philippines.jurisdiction == "PH"
    assert philippines.retention_after_termination_days == 3650
    assert philippines.line_caps == ()
    assert philippines.accepted_documents[K.OWN_HALL] >= {D.PASSPORT}

    nigeria = load_policy("nigeria")
    assert (nigeria.cap(CapScope.ENTERPRISE), nigeria.cap(CapScope.NATIONAL)) == (4, None)

    india = load_policy("india")
    assert (india.cap(CapScope.ENTERPRISE), india.cap(CapScope.NATIONAL)) == (None, 9)
    days = {s.phase: s.days_after_start for s in india.backfill_steps}
    assert (days[P.BAR_OUTGOING], days[P.BAR_BOTH], days[P.TERMINATE]) == (30, 45, 60)

    pakistan = load_policy("pakistan")
    assert (pakistan.cap(CapScope.ENTERPRISE), pakistan.cap(CapScope.NATIONAL)) == (None, 5)
    assert pakistan.face_match_threshold is None


def test_channel_kinds_know_which_are_physical() -> None:
    assert [kind for kind in ChannelKind if kind.is_physical] == [
        K.OWN_HALL,
        K.PARTNER_HALL,
        K.SOCIAL,
    ]


def test_a_policy_is_frozen_and_hashable() -> None:
    china = load_policy("china")
    with pytest.raises(ValidationError):
        china.cooling_days = 1
    twin = Policy.model_validate(china.model_dump())
    assert twin == china and hash(twin) == hash(china)
    assert len({china, twin, load_policy("india")}) == 2
