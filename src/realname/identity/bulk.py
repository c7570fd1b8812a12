"""Resident-ID validation for a whole column at once (legacy imports, batch re-checks).

Clean rows (18 ASCII characters, the overwhelming majority of a real file) are checked as one
NumPy matrix: digits, the MOD 11-2 check character, the birth date and the region code, with
no Python per row. Rows that need normalising (15-digit numbers, full-width digits, spaces)
and rows whose date is not in the precomputed table fall back to `resident_id_error`, so the
verdicts are exactly those of the single-number path.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import numpy.typing as npt

from realname.identity import resident_id as single
from realname.identity.errors import DocumentErrorCode

_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int32)
_DATE_PLACES = np.array([10**k for k in range(7, -1, -1)], dtype=np.int64)
_REGION_PLACES = np.array([10**k for k in range(5, -1, -1)], dtype=np.int64)
_OK, _CHECKSUM, _SLOW = 0, 1, 2


class _Sorted:
    dates: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)
    regions: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)

    @classmethod
    def ensure(cls) -> None:
        if cls.regions.size == 0:
            single.resident_id_error("", date.min)  # builds the single-path tables
            cls.dates = np.array(sorted(int(d) for d in single._DATES), dtype=np.int64)
            cls.regions = np.array(sorted(int(r) for r in single._REGIONS), dtype=np.int64)


def _member(values: npt.NDArray[np.int64], table: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    positions = np.searchsorted(table, values).clip(0, table.size - 1)
    found: npt.NDArray[np.bool_] = table[positions] == values
    return found


def _classify(matrix: npt.NDArray[np.uint8], today: date) -> npt.NDArray[np.int64]:
    """One verdict per row of an (n, 18) matrix of ASCII codes: _OK, _CHECKSUM or _SLOW."""
    digits = matrix.astype(np.int32) - 48
    body = digits[:, :17]
    body_ok = ((body >= 0) & (body <= 9)).all(axis=1)
    last = matrix[:, 17]
    last = np.where(last == ord("x"), ord("X"), last)
    last_ok = ((last >= ord("0")) & (last <= ord("9"))) | (last == ord("X"))
    check = (12 - (body @ _WEIGHTS) % 11) % 11
    expected = np.where(check == 10, ord("X"), check + ord("0"))
    born = body[:, 6:14] @ _DATE_PLACES
    date_ok = _member(born, _Sorted.dates) & (born <= int(single.date_key(today)))
    region_ok = _member(body[:, :6] @ _REGION_PLACES, _Sorted.regions)
    # Rows with anything but digits may only need normalising (a space, a full stop): the
    # single path decides those, as it does dates outside the table.
    return np.select(
        [~(body_ok & last_ok), last != expected, ~(date_ok & region_ok)],
        [_SLOW, _CHECKSUM, _SLOW],
        _OK,
    )


def validate_column(numbers: Sequence[str], today: date) -> list[DocumentErrorCode | None]:
    """One result per input, in order: None where valid, else the error code."""
    _Sorted.ensure()
    count = len(numbers)
    results: list[DocumentErrorCode | None] = [None] * count
    lengths = np.fromiter(map(len, numbers), dtype=np.int64, count=count)
    clean = np.flatnonzero(lengths == 18)
    slow = np.flatnonzero(lengths != 18).tolist()
    if clean.size:
        rows = [numbers[i] for i in clean.tolist()] if clean.size != count else list(numbers)
        joined = "".join(rows)
        if joined.isascii():
            matrix = np.frombuffer(joined.encode("ascii"), dtype=np.uint8).reshape(-1, 18)
            verdicts = _classify(matrix, today)
            for index, verdict in zip(
                clean[verdicts != _OK].tolist(), verdicts[verdicts != _OK].tolist(), strict=True
            ):
                if verdict == _SLOW:
                    slow.append(index)
                else:
                    results[index] = DocumentErrorCode.CHECKSUM
        else:
            slow.extend(clean.tolist())
    for index in slow:
        results[index] = single.resident_id_error(numbers[index], today)
    return results
