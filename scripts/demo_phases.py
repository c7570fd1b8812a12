"""`realname demo`'s phases timed one by one: wall, this process's CPU and its children's CPU
(the sealing and checking workers) for each phase and each status line of the finish.

    REALNAME_CLOCK_START=2026-11-30T10:00:00+00:00 \\
        flock /tmp/bench.lock .venv/bin/python scripts/demo_phases.py 200000 sqlite:////tmp/d.db

Each printed line is the phase that *started* at the previous mark. On a shared machine
compare the CPU columns; wall time follows the load. Used for docs/benchmarks.md (issue 14).
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import realname.sim.demo as demo_module
import realname.sim.world as world_module
from realname.config import get_settings
from realname.sim.demo import prepare_demo


def _cpu() -> tuple[float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime


class Marks:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.last = (self.t0, *_cpu())
        self.label = "start"

    def __call__(self, label: str) -> None:
        now = time.perf_counter()
        mine, children = _cpu()
        wall, cpu, kids = now - self.last[0], mine - self.last[1], children - self.last[2]
        with open("/proc/loadavg") as f:
            load = f.read().split()[0]
        print(
            f"[{now - self.t0:7.1f}] {self.label:<55} wall {wall:6.1f} cpu {cpu:6.1f} "
            f"children {kids:6.1f}  load {load}",
            flush=True,
        )
        self.last, self.label = (now, mine, children), label


def _timed(module: ModuleType, name: str, label: str, mark: Marks) -> None:
    function: Callable[..., Any] = getattr(module, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        mark(label)
        result = function(*args, **kwargs)
        mark(f"after {label}")
        return result

    setattr(module, name, timed)


def main() -> None:
    lines, url = int(sys.argv[1]), sys.argv[2]
    mark = Marks()
    _timed(world_module, "load_citizens", "citizens enrolled", mark)
    _timed(world_module, "load_lines", "lines bulk-loaded", mark)
    _timed(world_module, "stream_operations", "operations", mark)
    _timed(demo_module, "run_compliance", "compliance", mark)
    _timed(demo_module, "run_national", "national", mark)
    _timed(demo_module, "run_integrity_check", "check", mark)
    with prepare_demo(
        get_settings(), lines=lines, seed=7, operations=None, database_url=url
    ) as run:
        mark("enterprises, citizens generated")
        world = run.build(None)
        report = run.finish(world, mark)
    mark("end")
    national = report.national
    print(
        f"built {report.built_seconds:.1f} s, checked {report.checked_seconds:.1f} s, "
        f"clean {report.integrity.ok}; national {national.batches} batches, {national.items} "
        f"records ({national.sealed_ahead} sealed ahead); {report.reminders_sent} reminders"
    )


if __name__ == "__main__":
    main()
