"""Load over real HTTP: a world to register into, the server as a child process, and a driver
that runs in a process of its own so the load does not share the server's interpreter.

Used by `realname bench register` and by the tests that need a real server (the cap boundary
over HTTP, the SIGKILL crash test). Everything targets loopback and is bounded in count and
time.
"""

from __future__ import annotations

import base64
import math
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy.orm import Session

from realname.api.listening import listening_sockets_expected
from realname.authority.simulated import SimulatedAuthority
from realname.bench.baresql import Run
from realname.bench.figures import Figures
from realname.identity.documents import parse_document
from realname.numbering.blocks import NumberBlock
from realname.policy.schema import ChannelKind, Policy
from realname.registry.commands import Actor, Context, Kit, Person
from realname.registry.service import RegistryService
from realname.security.clients import ClientService
from realname.security.principals import Role
from realname.security.vault import KeyRing
from realname.sim.documents import random_birth_date, random_resident_id
from realname.sim.people import random_citizen

PREFIX = "+86139"  # the load enterprise's block: 10^8 numbers


@dataclass
class Counter:
    """A front desk: its clerk's client credentials and the kits on its shelf."""

    channel_id: int
    clerk_id: int
    client_id: str
    secret: str
    msisdns: list[str] = field(default_factory=list)


@dataclass
class LoadWorld:
    enterprise_id: int
    counters: list[Counter]
    people: list[Person]

    def registrations(self, per_person: int) -> Iterator[tuple[int, dict[str, Any]]]:
        """(counter index, body) for every kit on every shelf, people taken in turn so nobody
        passes `per_person` lines; raises if there are too few people for the kits."""
        shelves = [(i, m) for i, c in enumerate(self.counters) for m in c.msisdns]
        if len(shelves) > per_person * len(self.people):
            raise ValueError("not enough people for that many registrations under the cap")
        for n, (counter, msisdn) in enumerate(shelves):
            yield (
                counter,
                {"msisdn": msisdn, "customer": person_body(self.people[n % len(self.people)])},
            )

    def registration_runs(
        self, sizes: Sequence[int], per_person: int
    ) -> list[list[tuple[int, dict[str, Any]]]]:
        """Disjoint runs of (counter index, body): each run its own kits (taken from the
        counters in turn, so every counter serves every run) and its own people (each taken
        in turn within the run, so nobody passes `per_person` lines and each run sees the
        same mix of first and repeat registrations). Raises if the world is too small."""
        depth = max((len(c.msisdns) for c in self.counters), default=0)
        shelves = [
            (i, c.msisdns[k])
            for k in range(depth)
            for i, c in enumerate(self.counters)
            if k < len(c.msisdns)
        ]
        runs: list[list[tuple[int, dict[str, Any]]]] = []
        kit = person = 0
        for size in sizes:
            crowd = self.people[person : person + math.ceil(size / per_person)]
            if kit + size > len(shelves) or (size and len(crowd) * per_person < size):
                raise ValueError("not enough kits or people for these runs")
            runs.append(
                [
                    (shelves[kit + n][0], {
                        "msisdn": shelves[kit + n][1],
                        "customer": person_body(crowd[n % len(crowd)]),
                    })
                    for n in range(size)
                ]
            )  # fmt: skip
            kit += size
            person += len(crowd)
        return runs


def person_body(person: Person) -> dict[str, Any]:
    return {
        "document": {"number": person.document_number},
        "name": person.name,
        "face_score": person.face_score,
        "entry_method": "chip_read",
    }


def build_load_world(
    session: Session,
    keyring: KeyRing,
    policy: Policy,
    *,
    counters: int,
    kits_per_counter: int,
    people: int,
    at: datetime,
    seed: int = 7,
    first_serial: int = 0,
) -> LoadWorld:
    """One operator with `counters` own halls, each with a clerk client and a shelf of kits,
    and `people` adults known to the identity authority, as of `at`. The caller owns the
    transaction."""
    ctx = Context(Actor("system", "bench"), at)
    authority = SimulatedAuthority(session, keyring)
    service = RegistryService(session, policy=policy, keyring=keyring, authority=authority)
    enterprise = service.admin.create_enterprise(
        ctx, code=f"LOAD{seed}", name="负载测试运营商", kind="mno"
    )
    service.admin.allocate_block(ctx, enterprise.id, NumberBlock.from_prefix(PREFIX))
    clients = ClientService(session, keyring, "system:bench")
    desks: list[Counter] = []
    serial = first_serial
    for n in range(counters):
        channel = service.admin.create_channel(
            ctx,
            enterprise.id,
            code=f"LOAD-{seed}-{n}",
            name=f"营业厅 {n}",
            kind=ChannelKind.OWN_HALL,
            region_code="110105",
        )
        clerk = service.admin.create_clerk(
            ctx, enterprise.id, channel.id, code=f"K-{seed}-{n}", name="营业员"
        )
        client, secret = clients.create(
            role=Role.CLERK,
            at=at,
            enterprise_id=enterprise.id,
            channel_id=channel.id,
            clerk_id=clerk.id,
            description="load test counter",
        )
        kits = []
        for _ in range(kits_per_counter):
            serial += 1
            kits.append(Kit(f"{PREFIX}{serial:08d}", f"8986{serial:016d}", f"46000{serial:010d}"))
        for start in range(0, len(kits), 1000):
            service.stock.stock_kits(ctx, enterprise.id, channel.id, kits[start : start + 1000])
        desks.append(
            Counter(channel.id, clerk.id, client.client_id, secret, [k.msisdn for k in kits])
        )
    rng = random.Random(seed)
    crowd: list[Person] = []
    for _ in range(people):
        born = random_birth_date(rng, oldest=80, youngest=20, today=at.date())
        number = random_resident_id(rng, today=at.date(), born=born)
        name = random_citizen(rng, at.date()).name
        crowd.append(Person(document_number=number, name=name, face_score=0.95))
    authority.enrol((parse_document(p.document_number, today=at.date()), p.name) for p in crowd)
    session.flush()
    return LoadWorld(enterprise.id, desks, crowd)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """`realname serve` as a child process in its own process group (so SIGKILL takes the
    Uvicorn supervisor and its workers at once), on loopback, ready when /readyz says so."""

    def __init__(
        self,
        database_url: str,
        key_file: Path,
        *,
        workers: int = 1,
        port: int | None = None,
        log_file: Path | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log_file = log_file
        self.env = {
            **os.environ,
            "REALNAME_DATABASE_URL": database_url,
            "REALNAME_KEY_FILE": str(key_file),
            "REALNAME_LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> ServerProcess:
        command = [
            sys.executable, "-m", "realname", "serve",
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers),
        ]  # fmt: skip
        # The child keeps its own copy of the log's descriptor; ours closes at once.
        sink = open(self.log_file, "ab") if self.log_file else nullcontext(subprocess.DEVNULL)  # noqa: SIM115
        with sink as output:
            self.process = subprocess.Popen(  # noqa: S603 (our own CLI, argv list, no shell)
                command, env=self.env, stdout=output, stderr=output, start_new_session=True
            )
        try:
            self._wait_until_ready(self.process, timeout)
        except BaseException:
            # Whatever stopped the wait (a timeout, a bug, Ctrl-C), the server goes with it:
            # `with ServerProcess(...)` never reaches `__exit__` when the start raises, and
            # servers left behind kept their ports, workers and connections.
            self.stop()
            raise
        return self

    def _wait_until_ready(self, process: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}")
            try:
                ready = httpx.get(f"{self.base_url}/readyz", timeout=1.0).status_code == 200
            except httpx.HTTPError:
                ready = False
            # Every worker's own socket too: /readyz answers as soon as the FIRST worker
            # listens, and a load whose keep-alive connections opened then stayed on that
            # worker for the whole run while the others, started later, got nothing.
            if ready and listening_sockets(self.port) >= listening_sockets_expected(self.workers):
                return
            time.sleep(0.1)
        raise RuntimeError("the server did not become ready in time")

    def kill(self) -> None:
        """SIGKILL the whole group: no shutdown hooks, no flushing, like a power cut."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def listening_sockets(port: int) -> int:
    """How many TCP sockets listen on `port` on this host (Linux: /proc/net/tcp and tcp6;
    SO_REUSEPORT sockets are one line each). Elsewhere 1, taken on trust."""
    count = 0
    found_table = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        found_table = True
        for line in lines:
            fields = line.split()
            local, state = fields[1], fields[3]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                count += 1
    return count if found_table else 1


def fetch_token(base_url: str, client_id: str, secret: str) -> str:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = httpx.post(
        f"{base_url}/oauth/token",
        content="grant_type=client_credentials",
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        timeout=10.0,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


@dataclass(frozen=True)
class Outcome:
    """One request as the client saw it: status 0 means no answer (connection lost)."""

    job: int
    status: int
    seconds: float
    body: dict[str, Any] | None


class KeepAlive:
    """A minimal HTTP/1.1 client on one keep-alive connection: POST a JSON body, read the
    status and the Content-Length body. The load generator shares the 2 cores with the server
    and PostgreSQL: httpx took about a third of a core at a few hundred requests a second,
    which the server then did not have (the calibration drives its load with wrk, ~5 % of a
    core per 1,000 requests a second). Loopback only; a lost connection is reopened on the
    next request."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        url = httpx.URL(base_url)
        self.host, self.port = url.host, url.port or 80
        self.timeout = timeout
        self._socket: socket.socket | None = None
        self._buffer = b""

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """(status, body); raises OSError or ValueError when no complete answer came."""
        if self._socket is None:
            self._socket = socket.create_connection((self.host, self.port), self.timeout)
            self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._buffer = b""
        lines = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        try:
            self._socket.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            return self._answer()
        except (OSError, ValueError):
            self.close()
            raise

    def _answer(self) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self._buffer:
            self._receive()
        head, _, rest = self._buffer.partition(b"\r\n\r\n")
        status_line, *fields = head.split(b"\r\n")
        parts = status_line.split()
        if len(parts) < 2 or not parts[1].isdigit():
            raise ValueError("not an HTTP status line")
        status = int(parts[1])
        length, closing = 0, False
        for field_line in fields:
            name, _, value = field_line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                raise ValueError("chunked answers are not expected from the API")
            elif name == b"connection" and b"close" in value.lower():
                closing = True
        self._buffer = rest
        while len(self._buffer) < length:
            self._receive()
        payload, self._buffer = self._buffer[:length], self._buffer[length:]
        if closing:
            self.close()
        return status, payload

    def _receive(self) -> None:
        assert self._socket is not None
        chunk = self._socket.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self._buffer += chunk

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def drive(
    base_url: str,
    tokens: Sequence[str],
    jobs: Sequence[tuple[int, dict[str, Any]]],
    *,
    concurrency: int,
    time_limit: float,
    path: str = "/v1/registrations",
    idempotency_prefix: str | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """POST every job (token index, body) with `concurrency` keep-alive connections, until
    done or `time_limit` seconds have passed. Meant to run in a process of its own."""
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    cursor = iter(range(len(jobs)))
    deadline = time.monotonic() + time_limit

    def worker() -> None:
        client = KeepAlive(base_url)
        try:
            while time.monotonic() < deadline:
                with lock:
                    n = next(cursor, None)
                if n is None:
                    return
                token_index, body = jobs[n]
                headers = {"Authorization": f"Bearer {tokens[token_index]}"}
                if idempotency_prefix is not None:
                    headers["Idempotency-Key"] = f"{idempotency_prefix}-{n}"
                payload = orjson.dumps(body)
                started = time.perf_counter()
                try:
                    status, answer = client.post(path, payload, headers)
                except (OSError, ValueError):  # no complete answer: status 0
                    status, answer = 0, b""
                try:  # an answer that is not JSON keeps its status
                    parsed = orjson.loads(answer) if answer else None
                except ValueError:
                    parsed = None
                elapsed = time.perf_counter() - started
                outcome = Outcome(n, status, elapsed, parsed)
                with lock:
                    outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
        finally:
            client.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(time_limit + 35.0)
    return outcomes


Progress = Callable[[str], object]
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by a process and its living descendants (the
    server's Uvicorn supervisor and workers), from Linux's /proc; 0.0 where there is none.
    The server's CPU per request is a figure that a busy machine disturbs much less than
    the rate: a neighbour's load slows the requests, it does not add to their CPU time."""
    stats: dict[int, tuple[int, float]] = {}  # pid -> (parent, cpu seconds)
    for entry in Path("/proc").iterdir() if Path("/proc/self/stat").exists() else ():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (command) "
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS)
    total, wanted = 0.0, [pid]
    while wanted:
        current = wanted.pop()
        total += stats.get(current, (0, 0.0))[1]
        wanted += [child for child, (parent, _) in stats.items() if parent == current]
    return total


def serve_and_drive(
    database_url: str,
    work_dir: Path,
    credentials: Sequence[tuple[str, str]],
    warmup: Sequence[tuple[int, dict[str, Any]]],
    jobs: Sequence[tuple[int, dict[str, Any]]],
    *,
    workers: int,
    concurrency: int,
    time_limit: float,
    path: str,
    progress: Progress | None = None,
    server_env: dict[str, str] | None = None,
) -> tuple[float, list[Outcome], float]:
    """Start `realname serve` (with `server_env` added to its environment), get a token per
    client, warm up, then time `jobs` driven from a separate (spawned) process: (seconds,
    outcomes, the server's CPU seconds over the timed run)."""
    say = progress or (lambda _text: None)
    spawn = multiprocessing.get_context("spawn")
    say(f"starting the server ({workers} workers)")
    with (
        ServerProcess(
            database_url,
            work_dir / "keys.json",
            workers=workers,
            log_file=work_dir / "server.log",
            extra_env=server_env,
        ) as server,
        ProcessPoolExecutor(max_workers=1, mp_context=spawn) as load_process,
    ):
        tokens = [fetch_token(server.base_url, *pair) for pair in credentials]
        options: dict[str, Any] = {
            "concurrency": concurrency, "time_limit": time_limit, "path": path,
        }  # fmt: skip
        say("warming up")
        load_process.submit(drive, server.base_url, tokens, warmup, **options).result()
        say(f"{len(jobs):,} requests over HTTP ({concurrency} clients, at most {time_limit:.0f} s)")
        assert server.process is not None
        cpu_before = process_tree_cpu_seconds(server.process.pid)
        started = time.perf_counter()
        outcomes = load_process.submit(drive, server.base_url, tokens, jobs, **options).result()
        seconds = time.perf_counter() - started
        return seconds, outcomes, process_tree_cpu_seconds(server.process.pid) - cpu_before


@dataclass(frozen=True)
class HttpBenchResult:
    """One HTTP run against the bare-SQL baseline run in the same process, on the same
    database, at the same concurrency (DESIGN.md §7), with any further rows beside it."""

    path: str
    success_status: int
    concurrency: int
    workers: int
    http_seconds: float
    outcomes: list[Outcome]
    bare_sql: Run  # the baseline the ratio is against
    others: tuple[Run, ...] = ()  # more rows for the table (and `extra`)
    extra: dict[str, Any] = field(default_factory=dict)
    server_cpu_seconds: float | None = None  # the server's CPU over the timed run

    @property
    def statuses(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for outcome in self.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        return dict(sorted(counts.items()))

    @property
    def ok(self) -> list[float]:
        return [o.seconds for o in self.outcomes if o.status == self.success_status]

    @property
    def errors(self) -> int:
        return len(self.outcomes) - len(self.ok)

    def figures(self) -> Figures:
        """The headline: the HTTP path, its ratio to the bare SQL; the rest in `extra`."""
        extra: dict[str, Any] = {"workers": self.workers, "concurrency": self.concurrency}
        for run in (self.bare_sql, *self.others):
            extra.update(run.as_extra())
        del extra["bare_sql_rate_per_s"]  # a headline key of its own
        extra.update(self.extra)
        if self.server_cpu_seconds is not None and self.outcomes:
            # CPU ms of the server's processes (supervisor and workers) per request sent
            extra["server_cpu_ms_per_request"] = round(
                self.server_cpu_seconds * 1000 / len(self.outcomes), 3
            )
        return Figures.from_latencies(
            self.path,
            self.ok,
            seconds=self.http_seconds,
            errors=self.errors,
            bare_sql_rate_per_s=self.bare_sql.rate_per_s,
            extra=extra,
        )
