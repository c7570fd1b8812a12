"""The two engines the national figures run on, behind one small interface: register a
dataset's Parquet files as a view, run a statement, get plain tuples back.

- DuckDB, embedded: the default. It reads the Parquet files in place (no load step), in
  parallel over row groups, and spills to disk past its memory limit.
- Apache Spark, local mode here (`local[2]`), a cluster in production (docs/scale.md): the same
  statements through Spark SQL. It needs Java 17 (Debian: openjdk-17-jre-headless).

Both run in UTC, so a month is the same month on both.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from realname.national.analytics.errors import NationalAnalyticsError
from realname.national.analytics.errors import NationalAnalyticsErrorCode as Code

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

ENGINES = ("duckdb", "spark")


class Engine(Protocol):
    name: str

    def register(self, view: str, files: Sequence[Path]) -> None:
        """Make `view` read these Parquet files."""

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """The statement's rows; an unreadable dataset raises NationalAnalyticsError."""

    def close(self) -> None: ...


def _quoted(text: str | Path) -> str:
    """A SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


class DuckDBEngine:
    """An in-memory DuckDB database whose views read the Parquet files."""

    name = "duckdb"

    def __init__(
        self,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_directory: Path | None = None,
    ) -> None:
        import duckdb

        self._error: type[Exception] = duckdb.Error
        self._out_of_memory: type[Exception] = duckdb.OutOfMemoryException
        self.connection = duckdb.connect()
        settings = {
            "TimeZone": "'UTC'",
            # the figures are aggregates: no order to keep, less memory to keep it
            "preserve_insertion_order": "false",
            "enable_progress_bar": "false",
        }
        if threads is not None:
            settings["threads"] = str(int(threads))
        if memory_limit is not None:
            settings["memory_limit"] = _quoted(memory_limit)
        if temp_directory is not None:
            settings["temp_directory"] = _quoted(temp_directory)
        for key, value in settings.items():
            try:
                self.connection.execute(f"SET {key} = {value}")
            except duckdb.Error as error:  # e.g. a memory limit DuckDB cannot read
                self.connection.close()
                raise NationalAnalyticsError(
                    Code.ENGINE_UNAVAILABLE, f"duckdb: the setting {key} was refused"
                ) from error

    def register(self, view: str, files: Sequence[Path]) -> None:
        listed = ", ".join(_quoted(f) for f in files)
        self._run(
            f"CREATE OR REPLACE VIEW {view} AS "  # noqa: S608 (quoted paths)
            f"SELECT * FROM read_parquet([{listed}], union_by_name = true)"
        )

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self._run(sql)

    def _run(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            return [tuple(row) for row in self.connection.execute(sql).fetchall()]
        except self._out_of_memory as error:  # not the dataset's fault: say what to change
            raise NationalAnalyticsError(Code.ENGINE_OUT_OF_MEMORY, "duckdb") from error
        except self._error as error:
            raise NationalAnalyticsError(
                Code.DATASET_UNREADABLE, f"duckdb: {type(error).__name__}"
            ) from error

    def close(self) -> None:
        self.connection.close()


def java_available() -> bool:
    home = os.environ.get("JAVA_HOME")
    return bool(shutil.which("java") or (home and (Path(home) / "bin" / "java").exists()))


def spark_session(
    master: str = "local[2]", driver_memory: str = "2g", shuffle_partitions: int = 8
) -> SparkSession:
    """The process's Spark session (created once; later calls get the same one): UTC, no web
    UI, few shuffle partitions (the figures' groups are small; adaptive execution coalesces
    them further)."""
    if not java_available():
        raise NationalAnalyticsError(
            Code.ENGINE_UNAVAILABLE,
            "Spark needs Java 17: apt-get install openjdk-17-jre-headless (or set JAVA_HOME)",
        )
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master(master)
        .appName("realname-national-figures")
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


@contextmanager
def spark_for_one_call() -> Iterator[SparkSession]:
    """A Spark session for one report: the process's running one if there is one (left
    running), else a new one, stopped after the call (one report, one JVM)."""
    if not java_available():
        spark_session()  # raises ENGINE_UNAVAILABLE with the hint
    from pyspark.sql import SparkSession

    running = SparkSession.getActiveSession()
    session = running or spark_session()
    try:
        yield session
    finally:
        if running is None:
            session.stop()


class SparkEngine:
    """Spark SQL over temporary views of the Parquet files. The session is the caller's: it
    outlives the engine (starting a JVM costs seconds), `close` only drops the views."""

    name = "spark"

    def __init__(self, session: SparkSession) -> None:
        self.session = session
        self._views: list[str] = []

    def register(self, view: str, files: Sequence[Path]) -> None:
        try:
            frame = self.session.read.parquet(*(str(f) for f in files))
        except Exception as error:  # the JVM's errors come as several Python classes
            raise NationalAnalyticsError(
                Code.DATASET_UNREADABLE, f"spark: {type(error).__name__} reading {view}"
            ) from error
        frame.createOrReplaceTempView(view)
        self._views.append(view)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            return [tuple(row) for row in self.session.sql(sql).collect()]
        except Exception as error:  # a corrupt file surfaces only when rows are read
            raise NationalAnalyticsError(
                Code.DATASET_UNREADABLE, f"spark: {type(error).__name__}"
            ) from error

    def close(self) -> None:
        for view in self._views:
            self.session.catalog.dropTempView(view)
        self._views.clear()
