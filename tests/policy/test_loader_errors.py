"""A broken policy file fails with one PolicyError that names the file and the field."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from realname.policy import PolicyError, load_policy

CHINA = (resources.files("realname.policy") / "presets" / "china.toml").read_text("utf-8")


def variant(tmp_path: Path, old: str, new: str) -> Path:
    assert old in CHINA, f"fixture drifted: {old!r} no longer in china.toml"
    path = tmp_path / "variant.toml"
    path.write_text(CHINA.replace(old, new, 1), encoding="utf-8")
    return path


def problem(path: Path) -> PolicyError:
    with pytest.raises(PolicyError) as raised:
        load_policy(str(path))
    error = raised.value
    assert isinstance(error, ValueError)
    assert str(path) in str(error)
    return error


def test_unchanged_copy_loads(tmp_path: Path) -> None:
    assert load_policy(str(variant(tmp_path, "", ""))) == load_policy("china")


def test_missing_field(tmp_path: Path) -> None:
    error = problem(variant(tmp_path, "cooling_days = 90\n", ""))
    assert error.fields == ("cooling_days",)
    assert "cooling_days: missing" in str(error)


def test_unknown_document_type(tmp_path: Path) -> None:
    error = problem(variant(tmp_path, 'social = ["resident_id"', 'social = ["library_card"'))
    assert error.fields == ("accepted_documents.social.0",)
    assert "'library_card'" in str(error)


def test_unknown_channel_kind(tmp_path: Path) -> None:
    error = problem(variant(tmp_path, "\nsocial = [", "\nkiosk = ["))
    assert error.fields == ("accepted_documents.kiosk",)
    assert "'kiosk'" in str(error)


def test_channel_kind_left_out(tmp_path: Path) -> None:
    error = problem(variant(tmp_path, 'online = ["resident_id", "residence_permit"]\n', ""))
    assert error.fields == ("accepted_documents",)
    assert "missing: online" in str(error)


def test_backfill_steps_out_of_order(tmp_path: Path) -> None:
    error = problem(variant(tmp_path, 'phase = "bar_both"', 'phase = "remind"'))
    assert error.fields == ("backfill_steps",)
    assert "step 3 (remind) comes after bar_outgoing" in str(error)


def test_backfill_must_remind_before_any_bar(tmp_path: Path) -> None:
    error = problem(variant(tmp_path, 'phase = "remind"', 'phase = "bar_outgoing"'))
    assert error.fields == ("backfill_steps",)
    assert "the first step must be 'remind'" in str(error)
    no_notice = problem(variant(tmp_path, "days_after_start = 60", "days_after_start = 0"))
    assert "at least a day after the reminder" in str(no_notice)


def test_backfill_days_going_back(tmp_path: Path) -> None:
    error = problem(variant(tmp_path, "days_after_start = 90", "days_after_start = 30"))
    assert error.fields == ("backfill_steps",)
    assert "day 30, before step 2 (bar_outgoing) on day 60" in str(error)


def test_two_caps_of_one_scope(tmp_path: Path) -> None:
    cap = '[[line_caps]]\nscope = "enterprise"\nmax_active_lines = 5\n'
    error = problem(variant(tmp_path, cap, cap + "\n" + cap.replace("5", "7")))
    assert error.fields == ("line_caps",)
    assert "more than one cap with scope 'enterprise'" in str(error)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("face_match_threshold = 0.80", "face_match_threshold = 1.5", "face_match_threshold"),
        ("max_active_lines = 5", "max_active_lines = 0", "line_caps.0.max_active_lines"),
        ('jurisdiction = "CN"', 'jurisdiction = "China"', "jurisdiction"),
        ('"own_hall", "partner_hall", "social"]', '"own_hall", "shop"]', ""),
        ("cooling_days = 90", "cooling_days = 90\ncooldown_days = 90", "cooldown_days"),
    ],
)
def test_out_of_range_and_misspelt_values(tmp_path: Path, old: str, new: str, field: str) -> None:
    error = problem(variant(tmp_path, old, new))
    if field:
        assert error.fields == (field,)
    else:
        assert error.fields[0].startswith("manual_entry_refused_at")


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    path = variant(tmp_path, "cooling_days = 90\n", "")
    path.write_text(path.read_text("utf-8").replace("retention_after", "retained_after"))
    fields = set(problem(path).fields)
    assert {"cooling_days", "retention_after_termination_days"} <= fields


def test_face_match_can_be_switched_off_only_explicitly(tmp_path: Path) -> None:
    off = load_policy(str(variant(tmp_path, "= 0.80", '= "none"')))
    assert off.face_match_threshold is None
    assert problem(variant(tmp_path, "face_match_threshold = 0.80\n", "")).fields == (
        "face_match_threshold",
    )


def test_not_toml(tmp_path: Path) -> None:
    error = problem(variant(tmp_path, "cooling_days = 90", "cooling_days = = 90"))
    assert "not valid TOML" in str(error) and "line" in str(error)


def test_unreadable_file(tmp_path: Path) -> None:
    problem(tmp_path / "absent.toml")


def test_unknown_preset_lists_the_available_ones() -> None:
    with pytest.raises(PolicyError, match=r"no such preset; available: .*china"):
        load_policy("atlantis")
    with pytest.raises(PolicyError):
        load_policy("..")
