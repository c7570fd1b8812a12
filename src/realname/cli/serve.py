"""`realname serve`: the HTTP API under Uvicorn, refused at start when its keys or identity
authority settings cannot work."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import typer
from rich.console import Console

from realname.config import get_settings

console = Console()


def serve(
    host: Annotated[str | None, typer.Option(help="Default: REALNAME_HOST.")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Default: REALNAME_PORT.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="Default: REALNAME_WORKERS.")
    ] = None,
) -> None:
    """Serve the HTTP API (Uvicorn): /v1, /oauth/token, /docs, /healthz, /readyz, /metrics."""
    import os

    import uvicorn

    from realname.api.coalescing import CoalescingHttpToolsProtocol
    from realname.api.listening import reuseport_balances
    from realname.api.middleware import configure_logging, logging_config
    from realname.security.keys import keyring_from_settings, token_keys_from_settings

    settings = get_settings()
    # Refuse a key misconfiguration here, with a message, rather than in every worker. The
    # audit keys too: without them every write would be a 500 (each write appends to the chain).
    _ = keyring_from_settings(settings).audit
    token_keys_from_settings(settings)
    _check_authority(settings)
    if (settings.tls_cert_file is None) != (settings.tls_key_file is None):
        console.print(
            "[red]TLS:[/red] REALNAME_TLS_CERT_FILE and REALNAME_TLS_KEY_FILE go together"
        )
        raise typer.Exit(1)
    _check_tls(settings.tls_cert_file, settings.tls_key_file)
    configure_logging(settings.log_level)
    workers = workers if workers is not None else settings.workers
    # Each worker builds its app from the environment: it must know how many share the
    # per-client rate limit (the limit is divided among them).
    os.environ["REALNAME_WORKERS"] = str(workers)
    options: dict[str, Any] = {
        "access_log": False,  # our middleware logs route templates, never raw paths
        "log_level": settings.log_level.lower(),
        "log_config": logging_config(settings.log_level),  # applied in each worker too
        "ssl_certfile": settings.tls_cert_file,
        "ssl_keyfile": settings.tls_key_file,
        # X-Forwarded-For from REALNAME_TRUSTED_PROXIES when set, so the server and the app
        # agree on who the caller is (realname/http/sources.py); unset: uvicorn's own
        # FORWARDED_ALLOW_IPS, or loopback
        "forwarded_allow_ips": trusted_proxies(settings.trusted_proxies),
        # uvicorn's httptools protocol, each answer's head and body in one write
        "http": CoalescingHttpToolsProtocol,
    }
    host = host if host is not None else settings.host
    port = port if port is not None else settings.port
    if workers > 1 and reuseport_balances():
        # One audit sequencer for the server, in a process of its own beside the workers
        # (deferred mode): in each worker it was a thread taking a fifth of the worker's
        # Python time under load (docs/benchmarks.md). A single-process serve keeps the
        # thread: it is the server's one sequencer there.
        sequencer = runs_sequencer_process(settings)
        if sequencer:
            os.environ["REALNAME_AUDIT_SEQUENCER"] = "external"
        serve_reuseport(host, port, workers, options, sequencer=sequencer)
        return
    uvicorn.run(APP, factory=True, host=host, port=port, workers=workers, **options)


APP = "realname.api.app:create_app"
DRAIN_SECONDS = 30  # how long stopping workers may finish their requests before a SIGKILL


def runs_sequencer_process(settings: Any) -> bool:
    """Whether `serve`'s supervisor runs the audit sequencer process: in deferred mode
    (security/audit_sequencer.py), decided from the database URL without connecting."""
    from sqlalchemy.engine import make_url

    from realname.wiring import audit_sequencing_on

    dialect = make_url(settings.database_url).get_backend_name()
    return audit_sequencing_on(settings, dialect) == "deferred"


def _supervised() -> Any:
    """A supervised child's start (the sequencer, the final pass): Ctrl-C reaches the whole
    process group, but the supervisor decides when this one stops, so SIGINT is ignored; it
    dies with its supervisor; it logs as the workers do. Its settings."""
    import signal

    from realname.api.middleware import configure_logging

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    settings = get_settings()
    configure_logging(settings.log_level)
    return settings


def _sequencer() -> None:
    """The server's audit sequencer process: chains what every worker appends, every
    REALNAME_AUDIT_SEQUENCE_INTERVAL_MS while there is work, until SIGTERM (its supervisor
    stops it after the workers have drained), then chains what is left; exits 1 when it could
    not (its supervisor then runs `final_chaining_pass`). Killed half-way, its batch's
    transaction rolls back: the entries stay pending, intact, for the next pass (the
    supervisor restarts it)."""
    import signal
    import threading

    from realname.wiring import Process

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signal, _frame: stopping.set())
    process = Process(_supervised())
    try:
        process.start_audit_sequencer(standalone=True)
        while not stopping.wait(1.0):
            pass
    finally:
        drained = process.close()  # stops the thread and chains what is left
    if not drained:
        raise SystemExit(1)


def final_chaining_pass() -> None:
    """Chain every pending audit entry once (`Process.sequence_audit`, as the sequencer's own
    last pass does): the supervisor's, when its sequencer process did not stop cleanly, run in
    a process of its own so the supervisor can bound it (a database that hangs holds this
    process, not the shutdown). A failure is logged, never raised: the entries stay pending,
    intact, for the next sequencer (and `check` flags them after
    REALNAME_AUDIT_PENDING_ALARM_SECONDS)."""
    from realname.wiring import Process

    settings = _supervised()
    log = logging.getLogger("realname.serve")
    try:
        with Process(settings) as process:
            done = process.sequence_audit()
    except Exception:
        log.exception("final audit chaining pass failed; entries left pending")
        return
    log.info(
        "final audit chaining pass: %s entries chained, %s refused", done.chained, done.refused
    )


def _worker(host: str, port: int, options: dict[str, Any]) -> None:
    import uvicorn

    from realname.api.listening import reuseport_socket

    _die_with_parent()
    sock = reuseport_socket(host, port)
    config = uvicorn.Config(APP, factory=True, host=host, port=port, **options)
    uvicorn.Server(config).run(sockets=[sock])


def _die_with_parent() -> None:
    """A worker whose supervisor is gone (killed, crashed) stops too: with SO_REUSEPORT an
    orphan would go on taking a share of the port's connections beside a new `serve`, with
    old code and settings and no sign of it. Linux: SIGTERM on the parent's death (prctl);
    elsewhere, a thread that watches the parent's pid."""
    import ctypes
    import os
    import signal
    import sys
    import threading
    import time

    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
        if os.getppid() != parent:  # it died before the call took effect
            os.kill(os.getpid(), signal.SIGTERM)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def serve_reuseport(
    host: str, port: int, workers: int, options: dict[str, Any], *, sequencer: bool = False
) -> None:
    """Each worker its own listening socket on the port (SO_REUSEPORT): the kernel deals the
    connections out among them. Behind one shared socket (uvicorn's `--workers`), the worker
    whose event loop wakes first accepts every connection waiting (asyncio accepts up to the
    backlog at once): a keep-alive client's 16 connections all landed on one worker in some
    runs, which then did all the work (docs/benchmarks.md). This process supervises: it
    restarts a worker that dies and, on SIGTERM or SIGINT, stops them all (each drains).
    With `sequencer` it also runs the server's one audit sequencer process (`_sequencer`),
    restarted whenever it dies (after a pause that grows while it keeps dying at once) and
    stopped last, once the workers have drained, so it chains their last entries too; if it
    is not running then (dead, awaiting its restart) or does not stop cleanly, the supervisor
    chains them itself (`final_chaining_pass`)."""
    import multiprocessing
    import os
    import signal
    import time

    context = multiprocessing.get_context("spawn")
    stopping = failed = False
    # what the supervisor tells of its processes, as JSON like the workers' logs (serve has
    # configured the `realname` logger)
    log = logging.getLogger("realname.serve")

    started: dict[int, float] = {}

    def start() -> Any:
        process = context.Process(target=_worker, args=(host, port, options), daemon=False)
        process.start()
        started[id(process)] = time.monotonic()
        return process

    processes: list[Any] = []
    chainer: Any = None  # the sequencer process
    chainer_started = chainer_due = 0.0
    chainer_pause = 1.0

    def start_chainer() -> None:
        nonlocal chainer, chainer_started
        chainer = context.Process(target=_sequencer, name="realname-audit-sequencer")
        chainer.start()
        chainer_started = time.monotonic()
        log.info("audit sequencer %s started", chainer.pid)

    def stop(_signal: int, _frame: object) -> None:
        nonlocal stopping
        if stopping:  # asked twice: stop now, without waiting for the workers to drain
            for process in [*processes, chainer]:
                if process is not None and process.is_alive():
                    process.kill()
            raise SystemExit(1)
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if sequencer:
        start_chainer()
    processes.extend(start() for _ in range(workers))
    while not stopping:
        time.sleep(0.25)
        for i, process in enumerate(processes):
            if not process.is_alive() and not stopping:
                if time.monotonic() - started[id(process)] < 10:  # it could not start
                    log.error("a worker failed to start (%s)", process.exitcode)
                    stopping, failed = True, True
                    break
                log.warning("worker %s ended (%s); restarting", process.pid, process.exitcode)
                processes[i] = start()
        if chainer is not None and not chainer.is_alive() and not stopping:
            # Its entries wait, pending and intact, meanwhile (`check` alarms after
            # REALNAME_AUDIT_PENDING_ALARM_SECONDS); a sequencer that cannot start is retried
            # at a slower pace, never given up on.
            now = time.monotonic()
            if not chainer_due:
                quick = now - chainer_started < 10
                chainer_pause = min(chainer_pause * 2, 30.0) if quick else 1.0
                chainer_due = now + (chainer_pause if quick else 0.0)
                log.warning(
                    "audit sequencer %s ended (%s); restarting", chainer.pid, chainer.exitcode
                )
            if now >= chainer_due:
                chainer_due = 0.0
                start_chainer()
    for process in processes:
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + DRAIN_SECONDS
    for process in processes:
        process.join(timeout=max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():  # did not drain in time: it would outlive its supervisor
            log.error("worker %s did not stop; killed", process.pid)
            process.kill()
            process.join(timeout=5)
    chained_last = False  # the sequencer process chained what the workers left, and ended
    if chainer is not None and chainer.is_alive() and chainer.pid is not None:
        os.kill(chainer.pid, signal.SIGTERM)  # last: it chains what the workers left
        chainer.join(timeout=DRAIN_SECONDS)
        if chainer.is_alive():  # its batch rolls back: the entries stay pending, intact
            log.error("audit sequencer %s did not stop; killed", chainer.pid)
            chainer.kill()
            chainer.join(timeout=5)
        chained_last = chainer.exitcode == 0
    if sequencer and not chained_last:
        # No sequencer chained the workers' last entries (it had died and was not restarted
        # yet, was killed, or could not chain them): the supervisor has them chained, rather
        # than leave them until next start, within DRAIN_SECONDS.
        finisher = context.Process(target=final_chaining_pass, name="realname-audit-final-pass")
        finisher.start()
        finisher.join(timeout=DRAIN_SECONDS)
        if finisher.is_alive():  # its batch rolls back: the entries stay pending, intact
            log.error("final audit chaining pass did not end; killed, entries left pending")
            finisher.kill()
            finisher.join(timeout=5)
    if failed:
        raise SystemExit(1)


def trusted_proxies(setting: str) -> list[str] | None:
    """REALNAME_TRUSTED_PROXIES as uvicorn's forwarded_allow_ips (None: unset, uvicorn's
    FORWARDED_ALLOW_IPS or its loopback default)."""
    return [item.strip() for item in setting.split(",") if item.strip()] or None


def _check_tls(cert_file: str | None, key_file: str | None) -> None:
    """An unreadable or mismatched certificate and key: a message at start (uvicorn raised
    FileNotFoundError or SSLError with a traceback)."""
    if cert_file is None or key_file is None:
        return
    import ssl

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as error:
        console.print(f"[red]TLS:[/red] cannot load the certificate and key: {error}")
        raise typer.Exit(1) from None


def _check_authority(settings: Any) -> None:
    """REALNAME_AUTHORITY=http misconfigured (no URL, plain http to a remote host, unreadable
    certificates): refused at start with a message, not on the first registration."""
    if settings.authority != "http":
        return
    import ssl

    from realname.authority.http import AuthorityConfigError, http_config, tls_context

    try:
        config = http_config(settings)
        if config.url.startswith("https"):
            tls_context(config)
    except (AuthorityConfigError, OSError, ssl.SSLError) as error:
        console.print(f"[red]authority error:[/red] {error}")
        raise typer.Exit(1) from None
