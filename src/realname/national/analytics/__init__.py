"""National analytics: the compliance figures over every enterprise's lines, computed from a
Parquet dataset (`dataset.py`) by SQL written once (`figures.py`) on DuckDB embedded or on
Apache Spark (`engines.py`)."""
