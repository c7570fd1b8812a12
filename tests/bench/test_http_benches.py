"""`realname bench register|verify` end to end at a tiny size: the HTTP path, the bare-SQL
baselines (psycopg against the tables of Alembic's head) and the JSON headline. The bare
statements are written by hand, so this is what keeps them in step with the schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from realname.bench.baresql import Run, run_concurrently
from realname.bench.load import Counter, HttpBenchResult, LoadWorld, Outcome
from realname.cli import app
from realname.registry.commands import Person

runner = CliRunner()
HEADLINE = {
    "path", "rate_per_s", "p50_ms", "p99_ms", "bare_sql_rate_per_s", "ratio_to_bare_sql",
    "n", "errors", "workers", "concurrency", "bare_sql_p50_ms", "bare_sql_p99_ms",
}  # fmt: skip


def _bench(*args: str) -> dict[str, Any]:
    from tests.conftest import POSTGRES_URL, _postgres_or_skip

    _postgres_or_skip()
    result = runner.invoke(
        app,
        ["bench", *args, "--concurrency", "2", "--workers", "1", "--time-limit", "60",
         "--admin-url", POSTGRES_URL, "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "bare SQL" in result.output
    figures: dict[str, Any] = json.loads(result.output.strip().splitlines()[-1])
    assert set(figures) >= HEADLINE
    assert figures["workers"] == 1 and figures["concurrency"] == 2
    assert figures["errors"] == 0 and figures["bare_sql_errors"] == 0
    assert figures["service_errors"] == 0
    assert figures["rate_per_s"] > 0 and figures["bare_sql_rate_per_s"] > 0
    ratio = figures["rate_per_s"] / figures["bare_sql_rate_per_s"]
    assert figures["ratio_to_bare_sql"] == pytest.approx(ratio, rel=1e-2, abs=1e-3)
    return figures


@pytest.mark.postgres
def test_bench_register_runs_http_and_bare_sql_and_the_bare_run_wrote_every_row() -> None:
    figures = _bench("register", "--registrations", "60")
    assert figures["path"] == "register+activate over HTTP"
    assert figures["n"] == 60 and figures["bare_sql_n"] == 60 and figures["service_n"] == 60
    # Each bare transaction really registered its line: owned and active, one registration
    # event, one audit entry, one line in its person's holding.
    assert figures["bare_sql_lines_active"] == 60
    assert figures["bare_sql_line_events"] == 60
    assert figures["bare_sql_audit_entries"] == 60
    assert figures["bare_sql_held_lines"] == 60


@pytest.mark.postgres
def test_bench_verify_runs_http_and_the_bare_read_with_and_without_the_writes() -> None:
    figures = _bench("verify", "--requests", "60")
    assert figures["path"] == "KYC Match over HTTP"
    assert figures["n"] == 60 and figures["bare_sql_n"] == 60
    assert figures["bare_sql_with_writes_n"] == 60
    assert figures["bare_sql_with_writes_errors"] == 0


def _world(counters: int, kits: int, people: int) -> LoadWorld:
    desks = [
        Counter(n, n, f"c{n}", "s", [f"+8613900{n:02d}{k:04d}" for k in range(kits)])
        for n in range(counters)
    ]
    crowd = [Person(document_number=f"doc{n}", name=f"name{n}") for n in range(people)]
    return LoadWorld(1, desks, crowd)


def test_registration_runs_give_each_run_its_own_kits_and_people_under_the_cap() -> None:
    world = _world(counters=3, kits=10, people=8)
    runs = world.registration_runs([9, 0, 4, 9], per_person=4)
    assert [len(run) for run in runs] == [9, 0, 4, 9]
    msisdns = [body["msisdn"] for run in runs for _, body in run]
    assert len(set(msisdns)) == len(msisdns)
    seen: list[set[str]] = []
    for run in runs:
        people = [body["customer"]["document"]["number"] for _, body in run]
        assert all(people.count(p) <= 4 for p in people)
        assert not any(set(people) & earlier for earlier in seen)
        seen.append(set(people))
        if len(run) >= 3:  # the counters are taken in turn
            assert {counter for counter, _ in run[:3]} == {0, 1, 2}
    with pytest.raises(ValueError, match="not enough"):
        world.registration_runs([20, 20], per_person=4)


def test_run_concurrently_times_each_call_and_counts_failures() -> None:
    def call(worker: list[int], item: int) -> None:
        if item % 5 == 0:
            raise RuntimeError("refused")
        worker.append(item)

    run = run_concurrently(
        "t", "test", list(range(20)), concurrency=3, open_worker=list,
        call=call, close_worker=lambda _worker: None,
    )  # fmt: skip
    assert run.n == 16 and run.errors == 4
    assert run.first_error is not None and "refused" in run.first_error
    assert run.seconds > 0 and run.rate_per_s > 0
    assert set(run.as_extra()) == {"t_rate_per_s", "t_p50_ms", "t_p99_ms", "t_n", "t_errors"}


def test_http_result_headline_is_against_the_bare_sql_row_and_keeps_the_others_in_extra() -> None:
    bare = Run("bare_sql", "bare SQL", [0.001] * 4, 0, 0.5, 2)
    service = Run("service", "our service, no HTTP", [0.02] * 2, 1, 1.0, 2)
    result = HttpBenchResult(
        "register", 201, 2, 1, 1.0,
        [Outcome(0, 201, 0.010, None), Outcome(1, 201, 0.030, None), Outcome(2, 0, 0.5, None)],
        bare, (service,), {"bare_sql_lines_active": 4},
    )  # fmt: skip
    data = json.loads(result.figures().as_json())
    assert data["n"] == 2 and data["errors"] == 1
    assert data["bare_sql_rate_per_s"] == 8.0 and data["ratio_to_bare_sql"] == 0.25
    assert data["bare_sql_p50_ms"] == 1.0 and data["bare_sql_n"] == 4
    assert data["service_rate_per_s"] == 2.0 and data["service_errors"] == 1
    assert data["workers"] == 1 and data["concurrency"] == 2
    assert data["bare_sql_lines_active"] == 4


@pytest.mark.parametrize("policy", ["china", "india", "philippines"])
def test_the_verify_bench_policy_lifts_only_the_per_client_rate(policy: str, tmp_path: Any) -> None:
    """The bench's one relying party would be refused past ~100 calls/s by the deployment's
    per-client rate: its policy lifts that limit, and only that."""
    from realname.bench.verify import BENCH_CALLS_PER_CLIENT_PER_MINUTE, bench_policy_file
    from realname.policy.loader import load_policy

    written = load_policy(bench_policy_file(policy, tmp_path))
    preset = load_policy(policy)
    rules = written.verification
    assert rules.calls_per_client_per_minute == BENCH_CALLS_PER_CLIENT_PER_MINUTE
    lifted = preset.verification.model_copy(
        update={"calls_per_client_per_minute": BENCH_CALLS_PER_CLIENT_PER_MINUTE}
    )
    assert written == preset.model_copy(update={"verification": lifted})
