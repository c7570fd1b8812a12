"""Small-cell suppression: every count below k withheld, and no withheld count derivable
from a published total minus the other published counts of its line (margins included)."""

from __future__ import annotations

from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realname.compliance.segments.suppression import ALL, Published, Why, suppress


def derivable(table: Published, values: list[list[str]]) -> list[tuple[str, ...]]:
    """Withheld keys an outsider recovers from one line: a published total whose line has
    exactly one withheld key."""
    found = []
    for total, count in table.counts.items():
        if count is None:
            continue
        for axis, value in enumerate(total):
            if value != ALL:
                continue
            line = [(*total[:axis], v, *total[axis + 1 :]) for v in values[axis]]
            hidden = [key for key in line if table.counts[key] is None]
            if len(hidden) == 1:
                found.append(hidden[0])
    return found


def test_a_small_cell_and_its_complement_are_withheld_and_totals_stay() -> None:
    # Two enterprises by sex: ENT-B has 3 women, which must not be published.
    values = [["ENT-A", "ENT-B"], ["F", "M"]]
    counts = {("ENT-A", "F"): 40, ("ENT-A", "M"): 55, ("ENT-B", "F"): 3, ("ENT-B", "M"): 30}
    table = suppress(["enterprise", "sex"], values, counts, k=10)
    assert table.why[("ENT-B", "F")] is Why.PRIMARY
    assert table.value(("ENT-B", "F")) is None
    # ENT-B's total (33) is published, so ENT-B/M (30) goes too; the F column's total (43)
    # is published, so ENT-A/F (40) goes too; then ENT-A's line has one withheld: ENT-A/M.
    assert table.value(("ENT-B", "M")) is None
    assert table.value(("ENT-A", "F")) is None
    assert table.value(("ENT-A", "M")) is None
    assert table.value(("ENT-B", ALL)) == 33
    assert table.value((ALL, ALL)) == 128
    assert derivable(table, values) == []


def test_nothing_is_withheld_when_every_count_reaches_k() -> None:
    values = [["a", "b"], ["x", "y"]]
    counts = {("a", "x"): 10, ("a", "y"): 12, ("b", "x"): 30, ("b", "y"): 11}
    table = suppress(["d1", "d2"], values, counts, k=10)
    assert table.why == {}
    assert table.value(("a", ALL)) == 22


def test_zero_cells_are_published_and_never_chosen_as_complements() -> None:
    values = [["a"], ["x", "y", "z"]]
    table = suppress(["d1", "d2"], values, {("a", "x"): 4, ("a", "y"): 50}, k=10)
    assert table.value(("a", "z")) == 0
    assert table.value(("a", "x")) is None and table.value(("a", "y")) is None


def test_a_line_with_nothing_else_to_give_withholds_its_total() -> None:
    values = [["a"], ["x", "y"]]
    table = suppress(["d1", "d2"], values, {("a", "x"): 4}, k=10)
    assert table.value(("a", "x")) is None
    assert table.value(("a", ALL)) is None  # 4 people in all: primary too


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        suppress(["d"], [["a"]], {("b",): 3})
    with pytest.raises(ValueError, match="reserved"):
        suppress(["d"], [["a", ALL]], {})
    with pytest.raises(ValueError, match="negative"):
        suppress(["d"], [["a"]], {("a",): -1})


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=30), min_size=12, max_size=12),
    st.integers(min_value=2, max_value=15),
)
def test_no_withheld_count_is_derivable_and_every_small_count_is_withheld(
    numbers: list[int], k: int
) -> None:
    values = [["a", "b", "c"], ["x", "y"], ["p", "q"]]
    cells = list(product(*values))
    counts = {cell: n for cell, n in zip(cells, numbers, strict=True) if n}
    table = suppress(["d1", "d2", "d3"], values, counts, k=k)
    for key, count in table.counts.items():
        true = sum(
            n
            for cell, n in counts.items()
            if all(v in (ALL, c) for v, c in zip(key, cell, strict=True))
        )
        if 0 < true < k:
            assert count is None  # primary
        if count is not None:
            assert count == true  # published counts are exact
    assert derivable(table, values) == []
