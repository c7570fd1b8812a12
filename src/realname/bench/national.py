"""`realname bench national`: generate N lines of national feed data in the analytics'
schema (national/analytics/dataset.py), write it as Parquet, compute the national figures on
DuckDB or Spark, and time each figure.

Generation is vectorised (numpy draws, Arrow arrays, one Parquet file per chunk, two chunks
at a time) and reproducible from the seed: chunk i draws from its own stream (seed, i), so a
chunk's rows do not depend on the chunk size of the others or on the threads.

The synthetic country, stated so the figures can be judged (docs/benchmarks.md):
- 3 MNOs with 96 % of the lines (CMCC 58 %, CUCC 21 %, CTCC 17 %), 39 MVNOs sharing 4 % by
  a Zipf law (seed 002: 42 pilot MVNOs, 39 issuing numbers);
- 31 provinces weighted by population; channel kinds own hall 30 %, partner hall 30 %,
  social 30 %, online 10 %;
- states active 80 %, restricted 3 %, suspended 2 %, legacy 5 %, cancelled 8 %, cooling 2 %;
  active lines have an owner, half the restricted and 80 % of the suspended ones do;
- owners: 0.55 identities per line drawn uniformly (about 1.5 held lines each), plus 2 % of
  the owned lines on one identity in 2,000 (about 90 lines each: the dealers the national
  cap is for); the identity key is a 32-byte value mixed from the identity's number
  (splitmix64), as incompressible as the real HMAC blind index;
- complaints: one per 1,000 lines, over the twelve months before October 2026; secret
  inspections: one visit per 10,000 lines (200 to 5,000), violating at the propensities of
  the 2016 rounds the demo uses (sim/compliance.py: MVNO 33.9 %, MNO 11.8 %).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter, process_time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from realname.bench.load import process_tree_cpu_seconds
from realname.national.analytics.dataset import (
    COMPLAINTS,
    INSPECTIONS,
    LINES,
    NATIONAL_COMPLAINTS_SCHEMA,
    NATIONAL_INSPECTIONS_SCHEMA,
    NATIONAL_LINES_SCHEMA,
    open_dataset,
)
from realname.national.analytics.engines import DuckDBEngine, Engine, SparkEngine, spark_session
from realname.national.analytics.figures import NationalFigures
from realname.national.analytics.service import national_figures

CHUNK_ROWS = 4_000_000
ROW_GROUP_ROWS = 1_000_000
MARKER = ".realname-bench.json"
GENERATOR_VERSION = 1
NATIONAL_CAP = 5  # the Pakistani preset's cap (policy/presets/pakistan.toml)

MNOS = (("CMCC", 0.58), ("CUCC", 0.21), ("CTCC", 0.17))
MVNO_SHARE = 0.04
MVNO_CODES = ("SNAIL", "YUANTE", "XIAOMI", *(f"MVNO{i:02d}" for i in range(4, 40)))
PROVINCES = {  # GB/T 2260 province -> population, millions (2020 census, rounded)
    "11": 22, "12": 14, "13": 75, "14": 35, "15": 24, "21": 43, "22": 24, "23": 32,
    "31": 25, "32": 85, "33": 65, "34": 61, "35": 42, "36": 45, "37": 102, "41": 99,
    "42": 58, "43": 66, "44": 127, "45": 50, "46": 10, "50": 32, "51": 84, "52": 39,
    "53": 47, "54": 4, "61": 40, "62": 25, "63": 6, "64": 7, "65": 26,
}  # fmt: skip
CHANNEL_KINDS = {"own_hall": 0.30, "partner_hall": 0.30, "social": 0.30, "online": 0.10}
STATES = {
    "active": 0.80,
    "restricted": 0.03,
    "suspended": 0.02,
    "legacy": 0.05,
    "cancelled": 0.08,
    "cooling": 0.02,
}
OWNED_SHARE = {"active": 1.0, "restricted": 0.5, "suspended": 0.8}
IDENTITIES_PER_LINE = 0.55
DEALER_SHARE = 0.02  # of the owned lines, on one identity in DEALER_EVERY
DEALER_EVERY = 2000
COMPLAINT_CATEGORIES = ("spam_sms", "fraud_call", "harassment_call", "not_mine", "other")
VIOLATION = {"mno": 0.118, "mvno": 0.339}
FIRST_ACTIVATION = np.datetime64("2008-01-01T00:00:00", "us")
DATASET_END = np.datetime64("2026-10-01T00:00:00", "us")  # fixed: the bench reads no clock
LAST_MONTH = np.datetime64("2026-09", "M")


def _enterprises() -> tuple[list[str], list[str], np.ndarray]:
    codes = [c for c, _ in MNOS] + list(MVNO_CODES)
    kinds = ["mno"] * len(MNOS) + ["mvno"] * len(MVNO_CODES)
    zipf = 1 / np.arange(1, len(MVNO_CODES) + 1)
    weights = np.concatenate([[s for _, s in MNOS], MVNO_SHARE * zipf / zipf.sum()])
    return codes, kinds, weights / weights.sum()


def _pick(rng: np.random.Generator, weights: dict[str, float] | dict[str, int], n: int) -> Any:
    """n draws of the keys of `weights`, as dictionary-encoded strings (the indices only)."""
    p = np.array(list(weights.values()), dtype=float)
    return rng.choice(len(p), size=n, p=p / p.sum()).astype(np.int32)


def _dictionary(indices: np.ndarray, values: list[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(indices), pa.array(values))


def _splitmix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijection of uint64, so distinct identities keep distinct
    keys, and its output passes for random bytes."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    mixed: np.ndarray = x ^ (x >> np.uint64(31))
    return mixed


def identity_keys(identity: np.ndarray, owned: np.ndarray, seed: int) -> pa.Array:
    """32 bytes per row mixed from the identity's number (null where `owned` is false)."""
    offset = np.uint64((seed * 0x9E3779B97F4A7C15) % 2**64)  # the seed's own key space
    base = identity.astype(np.uint64) * np.uint64(4) + offset
    lanes = np.empty((len(identity), 4), dtype=np.uint64)
    for lane in range(4):
        lanes[:, lane] = _splitmix(base + np.uint64(lane))
    validity = pa.array(owned).buffers()[1]
    fixed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(32), len(identity), [validity, pa.py_buffer(lanes.tobytes())]
    )
    return fixed.cast(pa.binary())


def lines_chunk(n: int, total: int, seed: int, index: int) -> pa.Table:
    """Chunk `index` of a dataset of `total` lines: n rows in NATIONAL_LINES_SCHEMA."""
    rng = np.random.default_rng([seed, index])
    codes, kinds, weights = _enterprises()
    enterprise = rng.choice(len(codes), size=n, p=weights).astype(np.int32)
    kind_of = np.array([0 if k == "mno" else 1 for k in kinds], dtype=np.int32)
    state = _pick(rng, STATES, n)
    names = list(STATES)
    owned_share = np.array([OWNED_SHARE.get(s, 0.0) for s in names])
    owned = rng.random(n) < owned_share[state]
    population = max(1, int(total * IDENTITIES_PER_LINE))
    dealers = max(1, population // DEALER_EVERY)
    identity = np.where(
        rng.random(n) < DEALER_SHARE,
        rng.integers(0, dealers, size=n),
        rng.integers(0, population, size=n),
    )
    span = int((DATASET_END - FIRST_ACTIVATION).astype(np.int64))
    # more lines activated recently than in 2008 (the base grew)
    activated = FIRST_ACTIVATION + (span * rng.random(n) ** 0.6).astype(np.int64).astype(
        "timedelta64[us]"
    )
    delay = np.where(rng.random(n) < 0.85, 0, rng.integers(1, 36, size=n))
    registered = np.minimum(
        activated.astype("datetime64[M]") + delay.astype("timedelta64[M]"), LAST_MONTH
    )
    columns = [
        _dictionary(enterprise, codes),
        _dictionary(kind_of[enterprise], ["mno", "mvno"]),
        _dictionary(_pick(rng, PROVINCES, n), list(PROVINCES)),
        _dictionary(_pick(rng, CHANNEL_KINDS, n), list(CHANNEL_KINDS)),
        _dictionary(state, names),
        pa.array(owned),
        identity_keys(identity, owned, seed),
        pa.array(registered.astype("datetime64[D]"), type=pa.date32(), mask=~owned),
        pa.array(activated, type=pa.timestamp("us", tz="UTC")),
    ]
    return pa.Table.from_arrays(columns, names=NATIONAL_LINES_SCHEMA.names)


def complaints_table(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng([seed, 1_000_001])
    codes, _, weights = _enterprises()
    # MVNO lines draw complaints at three times the MNOs' rate (the seeds' story)
    boosted = weights * np.array([1.0] * len(MNOS) + [3.0] * len(MVNO_CODES))
    months = LAST_MONTH - rng.integers(0, 12, size=n).astype("timedelta64[M]")
    return pa.Table.from_arrays(
        [
            pa.array(np.array(codes)[rng.choice(len(codes), size=n, p=boosted / boosted.sum())]),
            pa.array(np.array(list(PROVINCES))[_pick(rng, PROVINCES, n)]),
            pa.array(np.array(list(CHANNEL_KINDS))[_pick(rng, CHANNEL_KINDS, n)]),
            pa.array(np.array(COMPLAINT_CATEGORIES)[rng.integers(0, 5, size=n)]),
            pa.array(months.astype("datetime64[D]"), type=pa.date32()),
        ],
        schema=NATIONAL_COMPLAINTS_SCHEMA,
    )


def inspections_table(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng([seed, 1_000_002])
    codes, kinds, _ = _enterprises()
    # outlets are sampled per enterprise, not per line: every enterprise gets visits
    enterprise = rng.integers(0, len(codes), size=n)
    kind = np.array(kinds)[enterprise]
    violated = rng.random(n) < np.where(kind == "mvno", VIOLATION["mvno"], VIOLATION["mno"])
    return pa.Table.from_arrays(
        [
            pa.array(np.array(codes)[enterprise]),
            pa.array(kind),
            pa.array(np.array(list(PROVINCES))[_pick(rng, PROVINCES, n)]),
            pa.array(np.array(list(CHANNEL_KINDS))[_pick(rng, CHANNEL_KINDS, n)]),
            pa.array(np.where(rng.random(n) < 0.5, "2026-R1", "2026-R2")),
            pa.array(violated),
        ],
        schema=NATIONAL_INSPECTIONS_SCHEMA,
    )


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # store_schema=False: readers see plain strings, not the generator's dictionaries
    pq.write_table(table, path, row_group_size=ROW_GROUP_ROWS, store_schema=False)


def generate(
    root: Path,
    lines: int,
    seed: int = 7,
    threads: int = 2,
    progress: Callable[[str], None] = lambda _: None,
) -> None:
    """Write the three datasets under `root` (DIR/national_lines/part-00000.parquet, …)."""
    chunks = [
        (i, min(CHUNK_ROWS, lines - start)) for i, start in enumerate(range(0, lines, CHUNK_ROWS))
    ]

    def one(chunk: tuple[int, int]) -> None:
        index, n = chunk
        _write(lines_chunk(n, lines, seed, index), root / LINES / f"part-{index:05d}.parquet")

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for done, _ in enumerate(pool.map(one, chunks), start=1):
            progress(f"generated {min(done * CHUNK_ROWS, lines):,} of {lines:,} lines")
    _write(complaints_table(max(10, lines // 1000), seed), root / COMPLAINTS / "part-00000.parquet")
    visits = min(5000, max(200, lines // 10_000))
    _write(inspections_table(visits, seed), root / INSPECTIONS / "part-00000.parquet")
    marker = {"lines": lines, "seed": seed, "generator": GENERATOR_VERSION}
    (root / MARKER).write_text(json.dumps(marker), encoding="utf-8")


def _generated(root: Path, lines: int, seed: int) -> bool:
    try:
        marker = json.loads((root / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(marker == {"lines": lines, "seed": seed, "generator": GENERATOR_VERSION})


@dataclass(frozen=True)
class NationalBenchResult:
    lines: int
    engine: str
    seconds: float  # the figures, from registering the files to the last answer
    # CPU time over those seconds, the figure a shared machine does not distort: this
    # process's threads (DuckDB's), plus the JVM's on Spark
    cpu_seconds: float
    generate_seconds: float | None  # None: an earlier run's dataset was reused
    engine_start_seconds: float
    dataset_bytes: int
    figures: NationalFigures
    load_before: float
    load_after: float

    @property
    def rows_per_s(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "engine": self.engine,
            "seconds": round(self.seconds, 3),
            "rows_per_s": round(self.rows_per_s),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "figure_seconds": {k: round(v, 3) for k, v in self.figures.seconds.items()},
            "figure_cpu_seconds": {k: round(v, 3) for k, v in self.figures.cpu_seconds.items()},
            "generate_seconds": (
                None if self.generate_seconds is None else round(self.generate_seconds, 3)
            ),
            "engine_start_seconds": round(self.engine_start_seconds, 3),
            "dataset_bytes": self.dataset_bytes,
            "bytes_per_line": round(self.dataset_bytes / self.lines, 2),
            "lines_in_service": self.figures.lines_total,
            "identities": self.figures.identities.identities,
            "identities_over_cap": self.figures.identities.over_cap,
            "national_cap": self.figures.identities.cap,
            "load_average_before": round(self.load_before, 2),
            "load_average_after": round(self.load_after, 2),
            "cpus": os.cpu_count(),
        }

    def as_json(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"))


def jvm_cpu_seconds(session: Any) -> float | None:
    """CPU seconds the Spark session's JVM has used (Linux /proc; None where unreadable), so
    Spark's work is counted like DuckDB's in-process threads. The gateway's process handle is
    pyspark's, not a public API: a bench may read it, the product does not."""
    try:
        pid = int(session.sparkContext._gateway.proc.pid)
    except (AttributeError, TypeError, ValueError):
        return None
    return process_tree_cpu_seconds(pid)  # the JVM and any process it started


class BenchDirectoryError(Exception):
    """`--dir` cannot hold the bench's dataset; the message says why (no path contents)."""


@contextmanager
def _workdir(given: Path | None) -> Iterator[Path]:
    if given is not None:
        try:
            given.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise BenchDirectoryError(f"cannot use {given}: {error.strerror}") from None
        yield given
        return
    made = Path(tempfile.mkdtemp(prefix="realname-bench-national-"))
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)


def run_national_bench(
    lines: int,
    engine: str = "duckdb",
    directory: Path | None = None,
    seed: int = 7,
    spark_memory: str = "4g",
    progress: Callable[[str], None] = lambda _: None,
) -> NationalBenchResult:
    """Generate (or reuse `directory`'s dataset of the same size and seed), then time the
    figures on `engine`. Without `directory` the dataset is written to a temporary directory
    and removed."""
    with _workdir(directory) as root:
        generate_seconds = None
        if not _generated(root, lines, seed):
            # Only a dataset this bench wrote (its marker is there) is replaced: the same
            # folder names hold a real `realname national export`.
            found = [name for name in (LINES, COMPLAINTS, INSPECTIONS) if (root / name).exists()]
            if found and not (root / MARKER).exists():
                raise BenchDirectoryError(
                    f"{root} holds {', '.join(found)} that this bench did not write (a national "
                    "export?); give an empty or new directory"
                )
            for name in found:
                shutil.rmtree(root / name, ignore_errors=True)
            started = perf_counter()
            generate(root, lines, seed, progress=progress)
            generate_seconds = perf_counter() - started
        dataset = open_dataset(root)
        progress(f"starting {engine}")
        started = perf_counter()
        runner: Engine
        session = None
        if engine == "spark":
            session = spark_session(driver_memory=spark_memory)
            runner = SparkEngine(session)
        else:
            runner = DuckDBEngine(temp_directory=root / ".duckdb-spill")
        engine_start = perf_counter() - started
        progress(f"computing the national figures on {engine}")
        load_before = os.getloadavg()[0]
        jvm_before = None if session is None else jvm_cpu_seconds(session)
        started, cpu = perf_counter(), process_time()
        try:
            figures = national_figures(runner, dataset, NATIONAL_CAP)
        finally:
            runner.close()
        seconds, cpu = perf_counter() - started, process_time() - cpu
        jvm_after = None if session is None else jvm_cpu_seconds(session)
        if jvm_before is not None and jvm_after is not None:
            cpu += jvm_after - jvm_before
        return NationalBenchResult(
            lines=lines,
            engine=engine,
            seconds=seconds,
            cpu_seconds=cpu,
            generate_seconds=generate_seconds,
            engine_start_seconds=engine_start,
            dataset_bytes=dataset.size_bytes,
            figures=figures,
            load_before=load_before,
            load_after=os.getloadavg()[0],
        )
