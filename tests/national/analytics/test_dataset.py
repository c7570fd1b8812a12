"""A bad dataset directory or a wrong schema is refused with a code, before any engine runs."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from realname.national.analytics.dataset import NATIONAL_LINES_SCHEMA, open_dataset
from realname.national.analytics.errors import NationalAnalyticsError
from tests.national.analytics.conftest import LINES, write_dataset


def _code(root: Path) -> str:
    with pytest.raises(NationalAnalyticsError) as refused:
        open_dataset(root)
    return str(refused.value.code)


def test_the_hand_dataset_opens_with_its_three_parts(hand_dataset: Path) -> None:
    dataset = open_dataset(hand_dataset)
    assert [p.name for p in dataset.lines] == ["a.parquet", "b.parquet"]
    assert dataset.complaints is not None and dataset.inspections is not None
    assert dataset.rows() == len(LINES)


def test_a_missing_directory_or_lines_dataset_is_not_found(tmp_path: Path) -> None:
    assert _code(tmp_path / "nowhere") == "NATIONAL_DATASET_NOT_FOUND"
    (tmp_path / "empty" / "national_lines").mkdir(parents=True)
    assert _code(tmp_path / "empty") == "NATIONAL_DATASET_NOT_FOUND"


def test_a_missing_column_or_a_wrong_type_names_the_column(tmp_path: Path) -> None:
    root = tmp_path / "short"
    (root / "national_lines").mkdir(parents=True)
    table = pa.table({"enterprise": ["CMCC"], "state": [1]})
    pq.write_table(table, root / "national_lines" / "x.parquet")
    with pytest.raises(NationalAnalyticsError) as refused:
        open_dataset(root)
    detail = refused.value.detail or ""
    assert refused.value.code == "NATIONAL_DATASET_SCHEMA"
    assert "real_name missing" in detail and "state is int64, expected string" in detail


def test_a_naive_or_nanosecond_timestamp_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "naive"
    (root / "national_lines").mkdir(parents=True)
    schema = NATIONAL_LINES_SCHEMA.set(
        NATIONAL_LINES_SCHEMA.get_field_index("activated_at"),
        pa.field("activated_at", pa.timestamp("ns", tz="UTC")),
    )
    pq.write_table(schema.empty_table(), root / "national_lines" / "x.parquet")
    assert _code(root) == "NATIONAL_DATASET_SCHEMA"


def test_a_file_that_is_not_parquet_is_unreadable(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "national")
    (root / "national_lines" / "c.parquet").write_bytes(b"not parquet at all")
    assert _code(root) == "NATIONAL_DATASET_UNREADABLE"
