"""The shapes the import's stages hand each other: a chunk as read, the columns loaded.

Shared by the readers (`sources`), the validator (`validate`) and the loaders (`loaders`),
so none of them imports another for a type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow.compute as pc

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# The columns of `line` an import fills, in COPY order; the rest stay NULL.
LINE_COLUMNS = (
    "msisdn",
    "iccid",
    "imsi",
    "enterprise_id",
    "state",
    "channel_id",
    "activated_at",
    "state_changed_at",
    "event_count",
    "home_region",
    "prepaid_balance_minor",
    "legacy_import_id",
)
# The good rows of a chunk, as validated and as staged before an insert.
STAGE_COLUMNS = (
    "line_no",
    "msisdn",
    "iccid",
    "imsi",
    "channel_id",
    "activated_at",
    "home_region",
    "prepaid_balance_minor",
)


@dataclass
class Chunk:
    fields: Any  # pa.Table: the file's columns (normalised names) as strings, one row per row
    lines: IntArray  # the 1-based line (CSV, header = line 1) or row (Parquet) of each row
    done: int  # bytes (CSV) or rows (Parquet) of the file consumed so far
    # CSV rows with the wrong number of fields: (line, fields as read).
    malformed: list[tuple[int, list[str]]] = field(default_factory=list)
    # Parquet columns kept in their own type (timestamps, numbers) for exact conversion.
    typed: dict[str, Any] = field(default_factory=dict)


def np_bool(array: Any) -> BoolArray:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)
