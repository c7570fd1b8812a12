"""What every `realname bench …` reports, as one shape: the path's rate and latencies, the
bare-SQL baseline's rate measured in the same process and run, and the ratio between them.

`--json` prints `Figures.as_json()` as the last line of the output, so a script reads one
object whatever the bench (docs/benchmarks.md records the figures with the command).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (0 < fraction <= 1) of `values`; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class Figures:
    """One bench's headline: `rate_per_s` of the measured path, its latencies (NaN where the
    path is measured as a whole, e.g. a sweep), the bare-SQL baseline doing the same writes
    in the same run, and anything bench-specific in `extra` (plain JSON values)."""

    path: str
    n: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    bare_sql_rate_per_s: float
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def rate_per_s(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else 0.0

    @property
    def ratio_to_bare_sql(self) -> float:
        bare = self.bare_sql_rate_per_s
        return self.rate_per_s / bare if bare > 0 else math.nan

    @classmethod
    def from_latencies(
        cls,
        path: str,
        latencies_s: Sequence[float],
        *,
        seconds: float,
        errors: int,
        bare_sql_rate_per_s: float,
        extra: Mapping[str, Any] | None = None,
    ) -> Figures:
        """From the successful calls' latencies (seconds) and the run's wall time."""
        return cls(
            path=path,
            n=len(latencies_s),
            errors=errors,
            seconds=seconds,
            p50_ms=percentile(latencies_s, 0.50) * 1000,
            p99_ms=percentile(latencies_s, 0.99) * 1000,
            bare_sql_rate_per_s=bare_sql_rate_per_s,
            extra=dict(extra or {}),
        )

    def as_dict(self) -> dict[str, Any]:
        def plain(value: float) -> float | None:
            return None if math.isnan(value) else round(value, 3)

        return {
            "path": self.path,
            "rate_per_s": plain(self.rate_per_s),
            "p50_ms": plain(self.p50_ms),
            "p99_ms": plain(self.p99_ms),
            "bare_sql_rate_per_s": plain(self.bare_sql_rate_per_s),
            "ratio_to_bare_sql": plain(self.ratio_to_bare_sql),
            "n": self.n,
            "errors": self.errors,
            "seconds": plain(self.seconds),
            **dict(self.extra),
        }

    def as_json(self) -> str:
        """One line of JSON (NaN becomes null, which JSON has and NaN is not)."""
        return json.dumps(self.as_dict(), sort_keys=False, separators=(",", ":"))
