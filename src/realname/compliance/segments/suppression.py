"""Small-cell suppression for published counts: nobody singled out by a table.

A count below `k` (but not zero) could point at someone (the two 80-year-old women of one
MVNO in one province), so it is not published: **primary** suppression. A withheld count
must not be recoverable from what is published beside it either. The table publishes every
margin (totals over any of its dimensions, up to the grand total), so every published total
is the sum of a line of keys (the keys that differ from it on one collapsed axis); a line
whose total is published and that holds exactly one withheld count would give it away
(total minus the others). So a second key of that line is withheld too, the smallest
(least information lost): **complementary** suppression; when the line has nothing else to
give, its total is withheld instead. Withholding a key touches the other lines it lies on,
so this repeats until no line gives a count away.

This is the hypercube heuristic: no withheld count is derivable from any single line,
margins included. It is not a linear-programming audit against combinations of lines, which
tables of a few dimensions rarely need. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import product

Cell = tuple[str, ...]  # one value per dimension
ALL = "*"  # the value of a collapsed dimension in a total's key


class Why(StrEnum):
    PRIMARY = "primary"  # 0 < count < k
    COMPLEMENTARY = "complementary"  # would give a primary cell away through a total


@dataclass(frozen=True)
class Published:
    """A table as it may be published: every cell of the cross-product of the dimensions'
    values (zeros included) and every margin (a total over one or more dimensions, whose
    value there is `ALL`), up to the grand total; a withheld count is None, with the reason
    in `why`."""

    dimensions: tuple[str, ...]
    counts: dict[Cell, int | None]
    why: dict[Cell, Why]

    def value(self, cell: Cell) -> int | None:
        return self.counts.get(cell)


def suppress(
    dimensions: Sequence[str],
    values: Sequence[Sequence[str]],
    counts: Mapping[Cell, int],
    k: int = 10,
) -> Published:
    """`values[i]` are dimension i's values in display order; `counts` the non-zero cells."""
    if len(dimensions) != len(values) or not dimensions:
        raise ValueError("one list of values per dimension, at least one dimension")
    if k < 1:
        raise ValueError("k must be at least 1")
    if any(ALL in vals for vals in values):
        raise ValueError(f"{ALL!r} is reserved for totals")
    inner = set(product(*values))
    unknown = set(counts) - inner
    if unknown:
        raise ValueError(f"{len(unknown)} counted cells are outside the dimensions' values")
    width = len(dimensions)
    full: dict[Cell, int] = {}
    for cell in product(*[[*vals, ALL] for vals in values]):
        full[cell] = 0
    for cell, n in counts.items():
        if n < 0:
            raise ValueError("counts are never negative")
        for mask in product((False, True), repeat=width):  # the cell and every margin over it
            key = tuple(ALL if collapse else v for v, collapse in zip(cell, mask, strict=True))
            full[key] += int(n)
    why: dict[Cell, Why] = {key: Why.PRIMARY for key, n in full.items() if 0 < n < k}
    lines = _lines(full, values)
    changed = True
    while changed:
        changed = False
        for total, members in lines:
            if total in why:  # the total is withheld: the line gives nothing away
                continue
            hidden = [c for c in members if c in why and full[c] > 0]
            if len(hidden) != 1:
                continue
            spare = [c for c in members if c not in why and full[c] > 0]
            if spare:
                why[min(spare, key=lambda c: (full[c], c))] = Why.COMPLEMENTARY
            else:
                why[total] = Why.COMPLEMENTARY
            changed = True
    published = {key: (None if key in why else n) for key, n in full.items()}
    return Published(tuple(dimensions), published, why)


def _lines(
    keys: Mapping[Cell, int], values: Sequence[Sequence[str]]
) -> list[tuple[Cell, list[Cell]]]:
    """Every line of the table with its margins: a total (ALL on some axis) and the keys that
    add up to it along that axis."""
    lines: list[tuple[Cell, list[Cell]]] = []
    for total in keys:
        for axis, value in enumerate(total):
            if value == ALL:
                members = [(*total[:axis], v, *total[axis + 1 :]) for v in values[axis]]
                lines.append((total, members))
    lines.sort()
    return lines
