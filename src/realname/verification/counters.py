"""The relying parties' counters: per-number calls and mismatches, and per-client unanswered
calls, each in a window that ends at midnight UTC.

Two stores, one behaviour to a caller:

- `DatabaseCounters`: the `quota_counter` table, in the request's transaction (an upsert per
  increment). A refusal that must count commits its transaction before it is answered (the
  service marks it `keep_changes`); the daily job purges expired rows. For SQLite-only
  deployments, and the default.
- `RedisCounters` (`REALNAME_REDIS_URL`), and `AsyncRedisCounters` for the async KYC Match
  route (the same scripts and keys on `redis.asyncio`): one Lua script per call does the
  gate's counting atomically in one round trip (the unanswered budget read, then the
  per-number calls incremented, or the unanswered count when the call is refused, the
  mismatches read, and KYC Match's mismatch counted: the answer is decided before the count,
  so a call is counted whole, once).
  An increment is applied by Redis before the service answers, so no answer goes out without
  its count; a key expires when its window ends, so nothing needs purging. The time to live
  is reckoned by the process clock (`expires_at - at`), not by Redis's: a drill clock
  (REALNAME_CLOCK_START) far from the machine's would otherwise expire keys at once. Counts
  survive a Redis restart only as far as its persistence does (docs/verification.md).

Keys hold a blind index of the number, never the number. In Redis they are prefixed
(`REALNAME_REDIS_KEY_PREFIX`) and carry the client in a hash tag, so one client's keys share a
Redis Cluster slot (the script's keys must).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from realname.verification.repository import VerificationRepository


@dataclass(frozen=True)
class Spent:
    """What the gate's counting found: the client's unanswered budget already spent (nothing
    else was counted), or the counts after this call."""

    budget_spent: bool
    calls: int = 0  # this number's calls today, this one included (0 when refused)
    # This number's mismatches today before this call (when asked for): the call's own
    # mismatch, if it had one, was counted only when this is under the budget.
    mismatches: int = 0


@dataclass(frozen=True)
class GateKeys:
    """The keys of one call: the client's unanswered budget, and the number's calls and
    mismatches (None when the call reached no number it may ask about)."""

    unanswered: str
    calls: str | None
    mismatches: str | None
    budget: int  # unanswered calls allowed per client per window
    at: datetime  # the call's time, by the process clock
    expires_at: datetime  # the window's end
    # KYC Match decides its answer before it counts: `mismatch` says the answer is one, and
    # the count takes it (in the same atomic step as the call's) only while the number's
    # mismatches are under `mismatch_budget` and the call is within `calls_budget`. A call
    # refused for either never adds a mismatch, and concurrent calls can never together get
    # more mismatch answers than the budget.
    mismatch: bool = False
    mismatch_budget: int | None = None
    calls_budget: int | None = None

    def counts_mismatch(self, calls: int, mismatches: int) -> bool:
        """Whether this call's mismatch is counted, given the counts the gate found."""
        return (
            self.mismatch
            and self.mismatches is not None
            and (self.calls_budget is None or calls <= self.calls_budget)
            and (self.mismatch_budget is None or mismatches < self.mismatch_budget)
        )


def ttl_seconds(at: datetime, expires_at: datetime) -> int:
    """Seconds a key lives: to the window's end by the process clock, at least one."""
    return max(1, math.ceil((expires_at - at).total_seconds()))


class Counters(Protocol):
    def spend(self, keys: GateKeys) -> Spent:
        """The client's unanswered budget checked; if not spent, the number's calls
        incremented (or, when `keys.calls` is None, the unanswered count), its mismatches
        read, and the call's mismatch counted (`GateKeys.counts_mismatch`), all in one step.
        Counted before it returns."""


class DatabaseCounters:
    """`quota_counter` rows, written in the caller's transaction. The number's calls row is
    incremented first: its row lock (held to the commit) queues every other call about the
    same number by the same client behind this one, so the mismatches read next are exact on
    PostgreSQL too (READ COMMITTED reads each statement afresh)."""

    def __init__(self, repo: VerificationRepository) -> None:
        self.repo = repo

    def spend(self, keys: GateKeys) -> Spent:
        if self.repo.count(keys.unanswered) >= keys.budget:
            return Spent(budget_spent=True)
        if keys.calls is None:
            return Spent(False, self.repo.increment(keys.unanswered, keys.expires_at))
        calls = self.repo.increment(keys.calls, keys.expires_at)
        mismatches = self.repo.count(keys.mismatches) if keys.mismatches else 0
        if keys.mismatches and keys.counts_mismatch(calls, mismatches):
            self.repo.increment(keys.mismatches, keys.expires_at)
        return Spent(False, calls, mismatches)


# KEYS: unanswered, calls, mismatches (the unanswered key again where there is none: one
# slot). ARGV: budget, time to live (seconds), count calls 1/0, read mismatches 1/0, count
# this call's mismatch 1/0, mismatch budget ('' for none), calls budget ('' for none).
# Returns {budget spent 0/1, calls (or the unanswered count), mismatches before this call}.
# The mismatch condition is `GateKeys.counts_mismatch`'s.
GATE_SCRIPT = """
local spent = tonumber(redis.call('GET', KEYS[1]) or '0')
if spent >= tonumber(ARGV[1]) then
  return {1, 0, 0}
end
if ARGV[3] == '0' then
  local n = redis.call('INCR', KEYS[1])
  if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
  return {0, n, 0}
end
local calls = redis.call('INCR', KEYS[2])
if calls == 1 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
local mismatches = 0
if ARGV[4] == '1' then
  mismatches = tonumber(redis.call('GET', KEYS[3]) or '0')
  if ARGV[5] == '1'
      and (ARGV[7] == '' or calls <= tonumber(ARGV[7]))
      and (ARGV[6] == '' or mismatches < tonumber(ARGV[6])) then
    local n = redis.call('INCR', KEYS[3])
    if n == 1 then redis.call('EXPIRE', KEYS[3], ARGV[2]) end
  end
end
return {0, calls, mismatches}
"""


def redis_key(prefix: str, key: str) -> str:
    """`kind:client:rest` -> `<prefix>q:{client}:kind:rest` (the client as hash tag)."""
    kind, _, rest = key.partition(":")
    client, _, tail = rest.partition(":")
    return f"{prefix}q:{{{client}}}:{kind}:{tail}"


def _gate_call(prefix: str, keys: GateKeys) -> tuple[list[str], list[int | str]]:
    """The gate script's KEYS and ARGV for one call."""
    unanswered = redis_key(prefix, keys.unanswered)
    names = [
        unanswered,
        redis_key(prefix, keys.calls) if keys.calls else unanswered,
        redis_key(prefix, keys.mismatches) if keys.mismatches else unanswered,
    ]
    flags = [
        int(keys.calls is not None),
        int(keys.mismatches is not None),
        int(keys.mismatch and keys.mismatches is not None),
    ]
    budget = "" if keys.mismatch_budget is None else str(keys.mismatch_budget)
    ttl = ttl_seconds(keys.at, keys.expires_at)
    calls_budget = "" if keys.calls_budget is None else str(keys.calls_budget)
    return names, [keys.budget, ttl, *flags, budget, calls_budget]


class _RedisScripts:
    """A Redis client (redis-py's, sync or asyncio) with the counters' scripts registered:
    both kinds run the same scripts on the same keys, so the two KYC paths share one quota."""

    def __init__(self, client: Any, prefix: str = "realname:") -> None:
        self.client = client
        self.prefix = prefix
        self._gate = client.register_script(GATE_SCRIPT)

    def key(self, key: str) -> str:
        return redis_key(self.prefix, key)


def _spent(raw: Sequence[Any]) -> Spent:
    """The gate script's answer: {budget spent, calls, mismatches before this call}."""
    spent, calls, mismatches = raw
    return Spent(bool(spent), int(calls), int(mismatches))


class RedisCounters(_RedisScripts):
    """The same counts in Redis: one script call (one round trip) per operation. Thread-safe
    (redis-py's connection pool), one per worker process."""

    @classmethod
    def from_url(cls, url: str, prefix: str = "realname:") -> RedisCounters:
        import redis

        return cls(redis.Redis.from_url(url, socket_timeout=2.0), prefix)

    def spend(self, keys: GateKeys) -> Spent:
        names, args = _gate_call(self.prefix, keys)
        return _spent(self._gate(keys=names, args=args))

    def count(self, key: str) -> int:
        """The current count (tests and operators; the gate reads through `spend`)."""
        value = self.client.get(self.key(key))
        return int(value) if value is not None else 0

    def close(self) -> None:
        self.client.close()


class _Call(NamedTuple):
    """One KYC Match call's script, waiting for its pipeline: its keys, arguments and answer."""

    names: list[str]
    args: list[int | str]
    answer: asyncio.Future[Any]


class AsyncRedisCounters(_RedisScripts):
    """`RedisCounters` for the async KYC Match route (`redis.asyncio`, one per worker, used
    from its event loop): the same scripts, keys and counts, so the two paths share one
    quota. One script call per call, its mismatch included.

    The calls that ask in the same turn of the event loop (requests whose subject reads came
    back together) go to Redis in one pipeline: one write and one read for all of them, where
    each call's own round trip cost a socket write that py-spy put at a tenth of a worker's
    Python time (docs/benchmarks.md). Each call still runs its own script, atomically, and
    gets its own answer or error; none is answered before Redis has counted it."""

    def __init__(self, client: Any, prefix: str = "realname:") -> None:
        super().__init__(client, prefix)
        self._waiting: list[_Call] = []
        self._sending: set[asyncio.Task[None]] = set()
        self.pipelines = 0  # sent with more than one call

    @classmethod
    def from_url(cls, url: str, prefix: str = "realname:") -> AsyncRedisCounters:
        import redis.asyncio

        return cls(redis.asyncio.Redis.from_url(url, socket_timeout=2.0), prefix)

    async def spend(self, keys: GateKeys) -> Spent:
        names, args = _gate_call(self.prefix, keys)
        loop = asyncio.get_running_loop()
        call = _Call(names, args, loop.create_future())
        if not self._waiting:
            loop.call_soon(self._send_waiting)
        self._waiting.append(call)
        return _spent(await call.answer)

    def _send_waiting(self) -> None:
        # a request that went away before its call was sent is not counted (as before: its
        # own round trip would not have been made)
        calls = [call for call in self._waiting if not call.answer.cancelled()]
        self._waiting = []
        if not calls:
            return
        task = asyncio.ensure_future(self._send(calls))
        self._sending.add(task)  # held until done (the loop keeps only weak references)
        task.add_done_callback(self._sending.discard)

    async def _send(self, calls: list[_Call]) -> None:
        try:
            if len(calls) == 1:
                answers: list[Any] = [await self._gate(keys=calls[0].names, args=calls[0].args)]
            else:
                answers = await self._pipelined(calls)
        except Exception as error:  # every call of the pipeline fails; none is answered
            for call in calls:
                if not call.answer.done():
                    call.answer.set_exception(error)
            return
        except BaseException:  # cancelled (the loop is stopping): so are the calls
            for call in calls:
                call.answer.cancel()
            raise
        for call, value in zip(calls, answers, strict=True):
            if call.answer.done():  # its request went away (cancelled); Redis counted it
                continue
            if isinstance(value, Exception):
                call.answer.set_exception(value)
            else:
                call.answer.set_result(value)

    async def _pipelined(self, calls: list[_Call]) -> list[Any]:
        """The calls' scripts in one pipeline, by their hash. A Redis that lost its scripts
        (restarted, flushed) answers NOSCRIPT: it is sent the script once, and only the calls
        it did not run are sent again (a pipeline is not atomic: the others ran, and counted)."""
        from redis.exceptions import NoScriptError

        self.pipelines += 1
        answers = await self._evalsha(calls)
        missed = [n for n, answer in enumerate(answers) if isinstance(answer, NoScriptError)]
        if missed:
            self._gate.sha = await self.client.script_load(GATE_SCRIPT)
            again = await self._evalsha([calls[n] for n in missed])
            for n, answer in zip(missed, again, strict=True):
                answers[n] = answer
        return answers

    async def _evalsha(self, calls: list[_Call]) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for call in calls:
            pipe.execute_command(
                "EVALSHA", self._gate.sha, len(call.names), *call.names, *call.args
            )
        answers: list[Any] = await pipe.execute(raise_on_error=False)
        return answers

    async def close(self) -> None:
        await self.client.aclose()
