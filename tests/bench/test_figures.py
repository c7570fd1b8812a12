import json
import math

from realname.bench.figures import Figures, percentile


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert math.isnan(percentile([], 0.5))


def test_figures_json_has_the_agreed_keys_and_the_ratio() -> None:
    figures = Figures.from_latencies(
        "http register",
        [0.010] * 98 + [0.050, 0.090],
        seconds=0.5,
        errors=3,
        bare_sql_rate_per_s=400.0,
        extra={"workers": 2},
    )
    data = json.loads(figures.as_json())
    assert data["path"] == "http register"
    assert data["n"] == 100
    assert data["errors"] == 3
    assert data["rate_per_s"] == 200.0
    assert data["ratio_to_bare_sql"] == 0.5
    assert data["p50_ms"] == 10.0
    assert data["p99_ms"] == 50.0
    assert data["workers"] == 2


def test_a_missing_baseline_gives_null_not_nan() -> None:
    figures = Figures("sweep", 10, 0, 1.0, math.nan, math.nan, 0.0)
    text = figures.as_json()
    assert "NaN" not in text
    assert json.loads(text)["ratio_to_bare_sql"] is None
