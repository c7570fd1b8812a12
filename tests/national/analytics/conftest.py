"""A small national dataset whose figures are computed by hand in test_figures.py, and one
Spark session for the whole test session (starting a JVM costs seconds)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from realname.national.analytics.dataset import (
    NATIONAL_COMPLAINT_SOURCES_SCHEMA,
    NATIONAL_COMPLAINTS_SCHEMA,
    NATIONAL_INSPECTIONS_SCHEMA,
    NATIONAL_LINES_SCHEMA,
)
from realname.national.analytics.engines import java_available, spark_session

K1, K2, K3 = (bytes([n]) * 32 for n in (1, 2, 3))
JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)
AT = datetime(2025, 12, 31, 23, 30, tzinfo=UTC)

# enterprise, kind, province, channel kind, state, real_name, identity key, registered month
LINES = [
    ("CMCC", "mno", "44", "own_hall", "active", True, K1, JAN),  # 1
    ("CMCC", "mno", "44", "own_hall", "active", True, K1, JAN),  # 2
    ("CMCC", "mno", "11", "social", "restricted", False, None, None),  # 3
    ("CMCC", "mno", "11", "online", "cancelled", False, None, None),  # 4: not in service
    ("SNAIL", "mvno", "44", "social", "active", True, K1, FEB),  # 5
    ("SNAIL", "mvno", "44", "social", "suspended", True, K2, FEB),  # 6
    ("SNAIL", "mvno", "11", "online", "legacy", False, None, None),  # 7
    ("SNAIL", "mvno", "11", "social", "active", True, K1, MAR),  # 8: K1's fourth held line
    ("SNAIL", "mvno", None, "online", "cooling", False, None, None),  # 9: not in service
    ("CUCC", "mno", "11", "partner_hall", "active", True, K3, MAR),  # 10
]
COMPLAINTS = [
    ("CMCC", "44", "own_hall", "spam_sms", JAN),
    ("CMCC", "44", "own_hall", "fraud_call", FEB),
    ("SNAIL", "44", "social", "spam_sms", FEB),
    ("SNAIL", "11", "online", "not_mine", FEB),
    ("SNAIL", "11", "social", "other", MAR),
]
INSPECTIONS = [
    ("CMCC", "mno", "44", "own_hall", "2026-R1", False),
    ("CMCC", "mno", "44", "own_hall", "2026-R1", True),
    ("SNAIL", "mvno", "44", "social", "2026-R1", True),
    ("SNAIL", "mvno", "11", "online", "2026-R1", True),
    ("SNAIL", "mvno", "11", "social", "2026-R2", False),
    ("YUANTE", "mvno", "31", "social", "2026-R2", True),  # an enterprise with no lines here
]


def table(rows: list[tuple[Any, ...]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in rows], schema)


def write_dataset(
    root: Path,
    *,
    complaints: bool = True,
    inspections: bool = True,
    sources: list[str] | None = None,
) -> Path:
    """The hand dataset under `root`: lines in two files (one per enterprise group), the
    complaints and the inspections one file each; `sources`, the enterprises the complaints
    cover (none written: all)."""
    lines = [(*r, AT) for r in LINES]
    (root / "national_lines").mkdir(parents=True)
    pq.write_table(table(lines[:4], NATIONAL_LINES_SCHEMA), root / "national_lines/a.parquet")
    pq.write_table(table(lines[4:], NATIONAL_LINES_SCHEMA), root / "national_lines/b.parquet")
    if complaints:
        pq.write_table(
            table(COMPLAINTS, NATIONAL_COMPLAINTS_SCHEMA), root / "national_complaints.parquet"
        )
    if sources is not None:
        pq.write_table(
            table([(code,) for code in sources], NATIONAL_COMPLAINT_SOURCES_SCHEMA),
            root / "national_complaint_sources.parquet",
        )
    if inspections:
        (root / "national_inspections").mkdir()
        pq.write_table(
            table(INSPECTIONS, NATIONAL_INSPECTIONS_SCHEMA),
            root / "national_inspections/round.parquet",
        )
    return root


@pytest.fixture
def hand_dataset(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "national")


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session (local[2], two shuffle partitions) for every Spark test. In CI
    Java must be there (.ci/run installs it), so the Spark tests run rather than skip."""
    if not java_available():
        if os.environ.get("CI"):
            pytest.fail("Java 17 is missing: .ci/run installs openjdk-17-jre-headless")
        pytest.skip("no Java here: the Spark tests need Java 17")
    session = spark_session(master="local[2]", driver_memory="1g", shuffle_partitions=2)
    yield session
    session.stop()
