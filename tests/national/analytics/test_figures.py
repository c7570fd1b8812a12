"""The national figures on DuckDB against values computed by hand from conftest's dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from realname.national.analytics.dataset import open_dataset
from realname.national.analytics.engines import DuckDBEngine
from realname.national.analytics.figures import GroupFigures, NationalFigures
from realname.national.analytics.service import national_figures
from tests.national.analytics.conftest import write_dataset


def _figures(root: Path, cap: int | None = 3) -> NationalFigures:
    engine = DuckDBEngine(threads=1)
    try:
        return national_figures(engine, open_dataset(root), cap)
    finally:
        engine.close()


def _rows(figures: NationalFigures, by: str) -> dict[str, GroupFigures]:
    return {g.group: g for g in figures.breakdowns[by]}


def _counts(g: GroupFigures) -> tuple[object, ...]:
    inspection = None if g.inspection is None else (g.inspection.hits, g.inspection.n)
    return (g.lines, g.real_name, g.active, g.complaints, inspection)


def test_per_enterprise_mnos_first_with_kinds(hand_dataset: Path) -> None:
    figures = _figures(hand_dataset)
    rows = figures.breakdowns["enterprise"]
    assert [(g.group, g.kind) for g in rows] == [
        ("CMCC", "mno"),
        ("CUCC", "mno"),
        ("SNAIL", "mvno"),
        ("YUANTE", "mvno"),  # inspected, no lines in the dataset: its kind from the visits
    ]
    by = _rows(figures, "enterprise")
    # lines in service: not the cancelled line 4 nor the cooling line 9
    assert _counts(by["CMCC"]) == (3, 2, 2, 2, (1, 2))
    assert _counts(by["CUCC"]) == (1, 1, 1, 0, (0, 0))
    assert _counts(by["SNAIL"]) == (4, 3, 2, 3, (2, 3))
    assert _counts(by["YUANTE"]) == (0, 0, 0, 0, (1, 1))
    assert figures.lines_total == 8
    assert by["CMCC"].real_name_rate == pytest.approx(2 / 3)
    assert by["SNAIL"].complaints_per_10k == pytest.approx(7500.0)
    assert by["CUCC"].complaints_per_10k == 0.0
    assert by["YUANTE"].complaints_per_10k is None  # no lines: no rate
    assert by["YUANTE"].real_name_rate is None


def test_wilson_interval_is_the_compliance_one(hand_dataset: Path) -> None:
    cmcc = _rows(_figures(hand_dataset), "enterprise")["CMCC"].inspection
    assert cmcc is not None
    # 1 of 2: Wilson 95 % is 9.45 % to 90.55 % (the normal interval would leave [0, 1])
    assert (cmcc.rate, round(cmcc.low or 0, 4), round(cmcc.high or 0, 4)) == (0.5, 0.0945, 0.9055)
    cucc = _rows(_figures(hand_dataset), "enterprise")["CUCC"].inspection
    assert cucc is not None and (cucc.n, cucc.rate, cucc.low) == (0, None, None)


def test_mnos_and_mvnos_side_by_side(hand_dataset: Path) -> None:
    kinds = _rows(_figures(hand_dataset), "enterprise_kind")
    assert list(kinds) == ["mno", "mvno"]
    assert _counts(kinds["mno"]) == (4, 3, 3, 2, (1, 2))
    assert _counts(kinds["mvno"]) == (4, 3, 2, 3, (3, 4))
    assert kinds["mvno"].complaints_per_10k == pytest.approx(7500.0)


def test_per_province_channel_kind_and_month(hand_dataset: Path) -> None:
    figures = _figures(hand_dataset)
    provinces = _rows(figures, "province")
    assert list(provinces) == ["11", "31", "44"]  # line 9's null province is not in service
    assert _counts(provinces["44"]) == (4, 4, 3, 3, (2, 3))
    assert _counts(provinces["11"]) == (4, 2, 2, 2, (1, 2))
    assert _counts(provinces["31"]) == (0, 0, 0, 0, (1, 1))
    kinds = _rows(figures, "channel_kind")
    assert _counts(kinds["own_hall"]) == (2, 2, 2, 2, (1, 2))
    assert _counts(kinds["social"]) == (4, 3, 2, 2, (2, 3))
    assert _counts(kinds["online"]) == (1, 0, 0, 1, (1, 1))
    assert _counts(kinds["partner_hall"]) == (1, 1, 1, 0, (0, 0))
    months = _rows(figures, "month")
    assert list(months) == ["2026-01", "2026-02", "2026-03", "unregistered"]
    # inspections have rounds, not months: no inspection measure on month rows
    assert _counts(months["2026-01"]) == (2, 2, 2, 1, None)
    assert _counts(months["2026-02"]) == (2, 2, 1, 3, None)
    assert _counts(months["2026-03"]) == (2, 2, 2, 1, None)
    assert _counts(months["unregistered"]) == (2, 0, 0, 0, None)
    # a month's complaints over every line in service (8)
    assert months["2026-02"].complaints_per_10k == pytest.approx(3 * 10_000 / 8)


def test_identities_over_the_national_cap(hand_dataset: Path) -> None:
    who = _figures(hand_dataset, cap=3).identities
    # K1 holds lines 1, 2, 5 and 8 (two enterprises); K2 and K3 one each
    assert (who.identities, who.over_cap, who.lines_over_cap, who.most_lines) == (3, 1, 4, 4)
    assert _figures(hand_dataset, cap=4).identities.over_cap == 0
    no_cap = _figures(hand_dataset, cap=None).identities
    assert (no_cap.identities, no_cap.over_cap, no_cap.most_lines) == (3, None, 4)


def test_without_complaints_or_inspections_their_measures_are_left_out(tmp_path: Path) -> None:
    figures = _figures(write_dataset(tmp_path, complaints=False, inspections=False))
    cmcc = _rows(figures, "enterprise")["CMCC"]
    assert (cmcc.lines, cmcc.complaints, cmcc.complaints_per_10k, cmcc.inspection) == (
        3,
        None,
        None,
        None,
    )
    assert "YUANTE" not in _rows(figures, "enterprise")
    assert _rows(figures, "enterprise_kind")["mno"].complaints is None


def test_complaints_of_an_enterprise_not_covered_are_unknown_not_zero(tmp_path: Path) -> None:
    """The export covers the enterprises of its own registry (CMCC and SNAIL here); CUCC runs
    its own instance and only feeds the platform. Before, CUCC read 0 complaints, 0.0 per
    10,000 lines, and its lines diluted every province's and the MNOs' rates."""
    figures = _figures(write_dataset(tmp_path, sources=["CMCC", "SNAIL"]))
    by = _rows(figures, "enterprise")
    assert (by["CUCC"].complaints, by["CUCC"].complaints_per_10k) == (None, None)
    assert (by["CMCC"].complaints, by["CMCC"].complaint_lines) == (2, 3)
    assert by["SNAIL"].complaints_per_10k == pytest.approx(7500.0)
    # MNOs: CMCC's complaints over CMCC's lines, not over CMCC's and CUCC's
    mno = _rows(figures, "enterprise_kind")["mno"]
    assert (mno.lines, mno.complaints, mno.complaint_lines) == (4, 2, 3)
    assert mno.complaints_per_10k == pytest.approx(2 * 10_000 / 3)
    # Province 11: four lines in service, three of them covered (CUCC's line 10 is not)
    eleven = _rows(figures, "province")["11"]
    assert (eleven.lines, eleven.complaints, eleven.complaint_lines) == (4, 2, 3)
    assert eleven.complaints_per_10k == pytest.approx(2 * 10_000 / 3)
    # a channel kind only CUCC sells through: unknown
    partner = _rows(figures, "channel_kind")["partner_hall"]
    assert (partner.lines, partner.complaints, partner.complaints_per_10k) == (1, None, None)
    # a month's complaints over the covered lines in service (7, not 8)
    assert _rows(figures, "month")["2026-02"].complaints_per_10k == pytest.approx(3 * 10_000 / 7)


def test_complaints_that_cover_every_enterprise_read_as_without_the_list(tmp_path: Path) -> None:
    covered = _figures(
        write_dataset(tmp_path / "listed", sources=["CMCC", "CUCC", "SNAIL", "YUANTE"])
    )
    unlisted = _figures(write_dataset(tmp_path / "unlisted"))
    assert covered.as_json() == unlisted.as_json()


def test_a_covered_enterprise_without_lines_has_no_complaints_not_unknown(tmp_path: Path) -> None:
    """YUANTE is in the sources (its registry is here) but has no line in service: its
    complaints are known to be 0 (no rate), unlike CUCC's, which are not covered."""
    by = _rows(_figures(write_dataset(tmp_path, sources=["CMCC", "SNAIL", "YUANTE"])), "enterprise")
    assert (by["YUANTE"].complaints, by["YUANTE"].complaints_per_10k) == (0, None)
    assert by["CUCC"].complaints is None
