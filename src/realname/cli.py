"""The `realname` command."""

from __future__ import annotations

import json
import re
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from realname.authority.cli import authority_app
from realname.backfill.campaign_cli import backfill_app, channels_app
from realname.backfill.cli import bench_import, import_app
from realname.clock import Clock
from realname.config import get_settings
from realname.identity.documents import DocumentType, detect_type, parse_document
from realname.identity.errors import DocumentError, message_for
from realname.identity.resident_id import normalize_document_number
from realname.messaging.cli import messages_app
from realname.possession.cli import usage_app
from realname.provisioning.cli import (
    blocks_app,
    channels_add,
    channels_list,
    channels_move,
    clerks_app,
    enterprises_app,
    provision,
    stock_app,
)
from realname.registry.audit_cli import audit_app
from realname.registry.retention_cli import retention_app
from realname.security.principals import Role

if TYPE_CHECKING:
    from realname.bench.load import HttpBenchResult

app = typer.Typer(
    help="RealName: mobile-subscriber real-name registration.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
id_app = typer.Typer(help="Identity documents.", no_args_is_help=True)
bench_app = typer.Typer(help="Measured performance, as ratios against a baseline.")
app.add_typer(db_app, name="db")
app.add_typer(id_app, name="id")
keys_app = typer.Typer(
    help="Keys that seal subscriber PII and keys that sign API tokens.", no_args_is_help=True
)
clients_app = typer.Typer(help="API clients (OAuth2 client credentials).", no_args_is_help=True)
app.add_typer(clients_app, name="clients")
app.add_typer(bench_app, name="bench")
parties_app = typer.Typer(help="Relying parties (banks, payment apps) of the CAMARA APIs.")
app.add_typer(parties_app, name="relying-parties")
app.add_typer(keys_app, name="keys")
app.add_typer(backfill_app, name="backfill")
app.add_typer(channels_app, name="channels")
app.add_typer(messages_app, name="messages")
app.add_typer(import_app, name="import")
app.add_typer(audit_app, name="audit")
app.add_typer(usage_app, name="usage")
app.add_typer(authority_app, name="authority")
app.add_typer(retention_app, name="retention")
bench_app.command("import")(bench_import)
app.add_typer(enterprises_app, name="enterprises")
app.add_typer(blocks_app, name="blocks")
app.add_typer(clerks_app, name="clerks")
app.add_typer(stock_app, name="stock")
app.command("provision")(provision)
channels_app.command("add")(channels_add)
channels_app.command("list")(channels_list)
channels_app.command("move")(channels_move)

console = Console()


def _clock() -> Clock:
    """The process clock: the machine's, or REALNAME_CLOCK_START's."""
    return get_settings().clock()


@app.callback()
def _root() -> None:
    """RealName: mobile-subscriber real-name registration."""
    # Every command sees the whole schema, whatever its own imports pulled in: a command
    # that imported one domain's models crashed on the first foreign key to another.
    from realname.tables import load_all_models

    load_all_models()


class Language(StrEnum):
    EN = "en"
    ZH = "zh"


# --- db ------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Migrate the database in REALNAME_DATABASE_URL to REVISION (default: head)."""
    from alembic.util import CommandError

    from realname.db import migrate
    from realname.db.engine import create_engine_from_settings

    engine = create_engine_from_settings(get_settings())
    try:
        migrate.upgrade(engine, revision)
    except CommandError as error:  # an unknown revision, or one not reachable from here
        engine.dispose()
        console.print(f"[red]cannot upgrade:[/red] {str(error).splitlines()[0][:200]}")
        raise typer.Exit(1) from None
    console.print(f"database at revision [bold]{migrate.current_revision(engine)}[/]")
    engine.dispose()


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision and whether it is at head."""
    from realname.db import migrate
    from realname.db.engine import create_engine_from_settings

    engine = create_engine_from_settings(get_settings())
    current, head = migrate.current_revision(engine), migrate.head_revision(engine)
    console.print(f"current {current or '(empty)'}; head {head}")
    engine.dispose()
    raise typer.Exit(0 if current == head else 1)


# --- id ------------------------------------------------------------------------------------


def document_report(
    number: str, doc_type: DocumentType | None, nationality: str | None, lang: str, today: date
) -> dict[str, Any]:
    """The `id check --json` object: stable keys, null where a field does not apply."""
    report: dict[str, Any] = {
        "valid": False,
        "type": (doc_type or detect_type(number) or None),
        "normalized": normalize_document_number(number) or None,
        "birth_date": None,
        "sex": None,
        "region_code": None,
        "region": None,
        "nationality": None,
    }
    try:
        parsed = parse_document(number, doc_type, nationality=nationality, today=today)
    except DocumentError as error:
        report["error"] = {"code": str(error.code), "message": message_for(error.code, lang)}
        if error.detail and not lang.startswith("zh"):
            report["error"]["detail"] = error.detail
        return report
    report.update(
        valid=True,
        type=parsed.type,
        normalized=parsed.number,
        birth_date=parsed.birth_date.isoformat() if parsed.birth_date else None,
        sex=parsed.sex,
        region_code=parsed.region_code,
        region=parsed.region_name,
        nationality=parsed.nationality,
    )
    return report


@id_app.command("check")
def id_check(
    number: Annotated[str, typer.Argument(help="The document number as printed or typed.")],
    doc_type: Annotated[
        DocumentType | None,
        typer.Option("--type", "-t", help="Document type; detected for PRC IDs and permits."),
    ] = None,
    nationality: Annotated[
        str | None, typer.Option(help="ISO 3166 country of a passport (CN, CHN or 156).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    lang: Annotated[Language, typer.Option(help="Message language.")] = Language.EN,
) -> None:
    """Validate a document number. Exit 0 valid, 1 invalid, 2 usage error."""
    report = document_report(number, doc_type, nationality, lang, _clock().now().date())
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, default=str))
    elif report["valid"]:
        table = Table(show_header=False, box=None)
        for key in ("type", "normalized", "birth_date", "sex", "region_code", "region"):
            if report[key] is not None:
                table.add_row(key, str(report[key]))
        if report["nationality"]:
            table.add_row("nationality", report["nationality"])
        console.print("[green]valid[/]")
        console.print(table)
    else:
        error = report["error"]
        console.print(f"[red]invalid[/] ({error['code']}): {error['message']}")
        if error.get("detail"):
            console.print(f"  {error['detail']}")
    raise typer.Exit(0 if report["valid"] else 1)


# --- bench ---------------------------------------------------------------------------------


@bench_app.command("id")
def bench_id(
    n: Annotated[
        int, typer.Option("--n", min=1000, help="How many numbers to validate.")
    ] = 200_000,
    rounds: Annotated[int, typer.Option(min=1, help="Alternating rounds; best counts.")] = 3,
    seed: Annotated[int, typer.Option()] = 2260,
) -> None:
    """Resident-ID validation: ours vs python-stdnum cn.ric.is_valid, same numbers, same process."""
    from realname.bench.identity import run_id_bench

    with console.status(f"validating {n:,} numbers x {rounds} rounds with each validator"):
        result = run_id_bench(n, rounds, seed)
    table = Table(
        title=f"resident ID validation, {n:,} numbers ({result.invalid_share:.1%} invalid)"
    )
    table.add_column("validator")
    table.add_column("numbers/s", justify="right")
    table.add_column("µs each", justify="right")
    table.add_column("vs stdnum", justify="right")
    for rate in (result.stdnum, result.ours, result.bulk):
        table.add_row(
            rate.name,
            f"{rate.per_second:,.0f}",
            f"{rate.microseconds_each:.2f}",
            f"{result.stdnum.seconds / rate.seconds:.1f}x",
        )
    console.print(table)
    console.print(
        f"per-number ratio {result.ratio:.1f}x (target >= 20x); bulk ratio {result.bulk_ratio:.1f}x"
    )
    console.print(
        f"verdicts differ on {result.disagreements:,} of {n:,} numbers: "
        f"{result.disagreement_example_reason}"
    )


# Options shared by the HTTP benchmarks.
Concurrency = Annotated[int, typer.Option(min=1, max=64, help="Concurrent clients.")]
Workers = Annotated[int, typer.Option(min=1, max=16, help="Uvicorn worker processes.")]
TimeLimit = Annotated[float, typer.Option(min=5, max=600, help="Seconds per run, at most.")]
AdminUrl = Annotated[
    str, typer.Option(help="PostgreSQL server on which a scratch database is created and dropped.")
]
SCRATCH_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@bench_app.command("register")
def bench_register(
    registrations: Annotated[
        int, typer.Option(min=50, max=100_000, help="Registrations in each run (bounded).")
    ] = 2000,
    concurrency: Concurrency = 16,
    workers: Workers = 2,
    time_limit: TimeLimit = 120,
    admin_url: AdminUrl = SCRATCH_SERVER,
) -> None:
    """Register + activate over HTTP on PostgreSQL (server process, separate load process,
    loopback) vs the same registrations bare in one process: throughput, p50/p99, ratio."""
    from realname.bench.register import run_register_bench
    from realname.db.scratch import scratch_postgres

    with (
        console.status("creating a scratch database") as status,
        scratch_postgres(admin_url) as url,
    ):
        result = run_register_bench(
            url,
            registrations=registrations,
            concurrency=concurrency,
            workers=workers,
            time_limit=time_limit,
            progress=status.update,
        )
    _print_http_bench(
        result,
        f"register + activate on PostgreSQL, {registrations:,} each",
        "registrations/s",
        "HTTP / bare = {ratio:.2f} (target >= 0.5); target >= 1,000/s and p99 < 50 ms on 2 cores",
    )


@bench_app.command("verify")
def bench_verify(
    requests: Annotated[
        int, typer.Option(min=50, max=100_000, help="KYC Match calls in each run (bounded).")
    ] = 3000,
    concurrency: Concurrency = 16,
    workers: Workers = 2,
    time_limit: TimeLimit = 120,
    admin_url: AdminUrl = SCRATCH_SERVER,
) -> None:
    """CAMARA KYC Match over HTTP on PostgreSQL (server process, separate load process) vs
    the same checks bare in one process: throughput, p50/p99, ratio."""
    from realname.bench.verify import run_verify_bench
    from realname.db.scratch import scratch_postgres

    with (
        console.status("creating a scratch database") as status,
        scratch_postgres(admin_url) as url,
    ):
        result = run_verify_bench(
            url,
            requests=requests,
            concurrency=concurrency,
            workers=workers,
            time_limit=time_limit,
            progress=status.update,
        )
    _print_http_bench(
        result,
        f"KYC Match on PostgreSQL, {requests:,} calls each",
        "calls/s",
        "HTTP / bare = {ratio:.2f}; target >= 3,000/s and p99 < 20 ms on 2 cores",
    )


def _print_http_bench(result: HttpBenchResult, title: str, unit: str, verdict: str) -> None:
    table = Table(title=title)
    for column in ("path", unit, "p50 ms", "p99 ms", "outcomes"):
        table.add_column(column, justify="left" if column == "path" else "right")
    table.add_row(
        "bare service, 1 process",
        f"{result.bare_per_second:,.0f}",
        f"{result.latency_ms(0.50, bare=True):.1f}",
        f"{result.latency_ms(0.99, bare=True):.1f}",
        f"{len(result.bare):,} x {result.success_status}",
    )
    table.add_row(
        f"HTTP, {result.workers} workers, {result.concurrency} clients",
        f"{result.http_per_second:,.0f}",
        f"{result.latency_ms(0.50):.1f}",
        f"{result.latency_ms(0.99):.1f}",
        ", ".join(f"{n:,} x {s or 'no answer'}" for s, n in result.statuses.items()),
    )
    console.print(table)
    console.print(verdict.format(ratio=result.ratio))


# --- check and keys ------------------------------------------------------------------------


@app.command("check")
def check_command(
    limit: Annotated[int, typer.Option(help="Violations printed per check.")] = 20,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="Signed checkpoints (JSONL) the chains must still extend; default: "
            "REALNAME_CHECKPOINT_FILE when it exists."
        ),
    ] = None,
    log: Annotated[
        list[Path] | None, typer.Option(help="A log file to scan for PII too (repeatable).")
    ] = None,
) -> None:
    """Audit the database like fsck: owners, holdings, caps, event replay, row MACs, PII in
    any text column, the keyed audit chains and the signed checkpoints."""
    from sqlalchemy.orm import Session

    import realname.tables  # noqa: F401  (every table, so every text column is scanned)
    from realname.db.engine import create_engine_from_settings, readonly
    from realname.policy.loader import load_policy
    from realname.registry.check import run_integrity_check
    from realname.security.keys import keyring_from_settings

    settings = get_settings()
    if checkpoint is None and Path(settings.checkpoint_file).is_file():
        checkpoint = Path(settings.checkpoint_file)
    if checkpoint is not None and not checkpoint.is_file():
        console.print(f"[red]no checkpoint file at {checkpoint}[/]")
        raise typer.Exit(2)
    engine = create_engine_from_settings(settings)
    with Session(readonly(engine)) as session, console.status("checking") as status:
        report = run_integrity_check(
            session,
            load_policy(settings.policy),
            keyring_from_settings(settings),
            progress=lambda name: status.update(f"checking: {name}"),
            checkpoints=checkpoint,
            logs=log or (),
        )
    engine.dispose()
    if checkpoint is None:
        console.print("no checkpoint file: truncation of the chains cannot be detected")
    print_integrity_report(report, limit)
    raise typer.Exit(0 if report.ok else 1)


def print_integrity_report(report: Any, limit: int = 20) -> None:
    table = Table(title="realname check")
    table.add_column("check")
    table.add_column("examined", justify="right")
    table.add_column("violations", justify="right")
    for result in report.results:
        table.add_row(
            result.name,
            f"{result.examined:,}",
            "[green]0[/]" if result.ok else f"[red]{len(result.violations):,}[/]",
        )
    console.print(table)
    for result in report.results:
        for violation in result.violations[:limit]:
            console.print(f"[red]✗[/] {result.name}: {violation}")
        if len(result.violations) > limit:
            console.print(f"  … and {len(result.violations) - limit:,} more")
    verdict = (
        "[green]no violations[/]" if report.ok else f"[red]{report.violation_count:,} violations[/]"
    )
    console.print(verdict)


@keys_app.command("status")
def keys_status() -> None:
    """How many identities are sealed under each key."""
    from sqlalchemy.orm import Session

    from realname.db.engine import create_engine_from_settings
    from realname.registry.repository import identities_per_key
    from realname.security.keys import keyring_from_settings, token_keys_from_settings

    settings = get_settings()
    keyring = keyring_from_settings(settings)
    engine = create_engine_from_settings(settings)
    with Session(engine) as session:
        counts = identities_per_key(session)
    engine.dispose()
    console.print(f"active key: [bold]{keyring.active_key_id}[/]")
    for key_id in sorted(set(counts) | set(keyring.key_ids)):
        console.print(f"  {key_id}: {counts.get(key_id, 0):,} identities")
    tokens = token_keys_from_settings(settings)
    console.print(f"active token key: [bold]{tokens.active}[/]")
    console.print(f"  token keys that verify: {', '.join(tokens.key_ids)}")


@keys_app.command("add")
def keys_add() -> None:
    """Create a new key in the key file and make it active (then run `keys rotate`)."""
    from realname.security.keys import add_key_to_file

    settings = get_settings()
    if settings.pii_keys:
        console.print("keys come from REALNAME_PII_KEYS: add the key there and set the active id")
        raise typer.Exit(2)
    console.print(f"new active key: [bold]{add_key_to_file(settings.key_file)}[/]")


@keys_app.command("rotate-token")
def keys_rotate_token() -> None:
    """Add a new token-signing key to the key file and make it active (restart the servers).

    Tokens signed with older keys keep verifying; retire an old key with `keys retire-token`
    once REALNAME_TOKEN_TTL_SECONDS have passed since the servers restarted."""
    from realname.security.keys import add_token_key_to_file

    settings = get_settings()
    if settings.token_keys or settings.pii_keys:
        console.print(
            "token keys come from REALNAME_TOKEN_KEYS: add the new key there, then set "
            "REALNAME_TOKEN_ACTIVE_KEY to its id (see docs/api.md)"
        )
        raise typer.Exit(2)
    key_id = add_token_key_to_file(settings.key_file)
    console.print(f"new active token key: [bold]{key_id}[/]")
    console.print(
        "restart the servers; after that, tokens are signed with it, and tokens signed with "
        f"older keys keep working until they expire ({settings.token_ttl_seconds} s)"
    )


@keys_app.command("retire-token")
def keys_retire_token(
    key_id: Annotated[str, typer.Argument(help="The token key id (kid) to remove.")],
) -> None:
    """Remove an old token-signing key: tokens it signed stop verifying (never the active one)."""
    from realname.security.keys import remove_token_key_from_file
    from realname.security.vault import VaultError

    settings = get_settings()
    if settings.token_keys or settings.pii_keys:
        console.print("token keys come from REALNAME_TOKEN_KEYS: remove the key there")
        raise typer.Exit(2)
    try:
        remove_token_key_from_file(settings.key_file, key_id)
    except VaultError as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(1) from None
    console.print(f"token key {key_id} removed; restart the servers")


@keys_app.command("rotate")
def keys_rotate(
    batch: Annotated[int, typer.Option(min=1, help="Identities per transaction.")] = 1000,
) -> None:
    """Re-encrypt every identity sealed under an older key with the active key, in batches."""
    from rich.progress import Progress
    from sqlalchemy.orm import Session

    from realname.db.engine import create_engine_from_settings
    from realname.registry.repository import identities_per_key
    from realname.registry.rotation import reseal_batch
    from realname.security.keys import keyring_from_settings

    settings = get_settings()
    keyring = keyring_from_settings(settings)
    engine = create_engine_from_settings(settings)
    with Session(engine) as session:
        counts = identities_per_key(session)
    todo = sum(n for key_id, n in counts.items() if key_id != keyring.active_key_id)
    done, after = 0, 0
    with Progress(console=console) as progress:
        task = progress.add_task(f"resealing under {keyring.active_key_id}", total=todo)
        while True:
            with Session(engine) as session, session.begin():
                count, after = reseal_batch(session, keyring, after, batch)
            if count == 0:
                break
            done += count
            progress.update(task, completed=done)
    engine.dispose()
    console.print(f"resealed {done:,} identities; all on key {keyring.active_key_id}")


# --- serve and clients --------------------------------------------------------------------


@app.command()
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

    from realname.api.middleware import configure_logging, logging_config
    from realname.security.keys import keyring_from_settings, token_keys_from_settings

    settings = get_settings()
    # Refuse a key misconfiguration here, with a message, rather than in every worker. The
    # audit keys too: without them every write would be a 500 (each write appends to the chain).
    _ = keyring_from_settings(settings).audit
    token_keys_from_settings(settings)
    _check_authority(settings)
    configure_logging(settings.log_level)
    workers = workers if workers is not None else settings.workers
    # Each worker builds its app from the environment: it must know how many share the
    # per-client rate limit (the limit is divided among them).
    os.environ["REALNAME_WORKERS"] = str(workers)
    uvicorn.run(
        "realname.api.app:create_app",
        factory=True,
        host=host if host is not None else settings.host,
        port=port if port is not None else settings.port,
        workers=workers,
        access_log=False,  # our middleware logs route templates, never raw paths
        log_level=settings.log_level.lower(),
        log_config=logging_config(settings.log_level),  # applied in each worker too
    )


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


@clients_app.command("add")
def clients_add(
    role: Annotated[Role, typer.Option(help="What the client may do.")],
    enterprise: Annotated[str | None, typer.Option(help="Enterprise code it acts for.")] = None,
    channel: Annotated[
        int | None, typer.Option(help="Channel id (clerks; default: the clerk's channel).")
    ] = None,
    clerk: Annotated[str | None, typer.Option(help="Clerk code (or id) of a clerk client.")] = None,
    description: Annotated[str, typer.Option()] = "",
) -> None:
    """Create a client; its secret is printed once and stored only as a hash."""

    from sqlalchemy.orm import Session

    from realname.db.engine import create_engine_from_settings
    from realname.registry.repository import RegistryRepository
    from realname.security.clients import ClientService
    from realname.security.keys import keyring_from_settings

    settings = get_settings()
    keyring = keyring_from_settings(settings)
    engine = create_engine_from_settings(settings)
    with Session(engine) as session, session.begin():
        enterprise_id = None
        if enterprise is not None:
            found = RegistryRepository(session).enterprise_by_code(enterprise)
            if found is None:
                console.print(f"no enterprise with code {enterprise}")
                raise typer.Exit(2)
            enterprise_id = found.id
        clerk_id, channel = _clerk_of(session, enterprise_id, clerk, channel)
        try:
            client, secret = ClientService(session, keyring).create(
                role=role,
                at=_clock().now(),
                enterprise_id=enterprise_id,
                channel_id=channel,
                clerk_id=clerk_id,
                description=description,
            )
        except ValueError as error:
            console.print(str(error))
            engine.dispose()
            raise typer.Exit(2) from None
        client_id = client.client_id
    engine.dispose()
    typer.echo(json.dumps({"client_id": client_id, "client_secret": secret}))


def _clerk_of(
    session: Any, enterprise_id: int | None, clerk: str | None, channel: int | None
) -> tuple[int | None, int | None]:
    """(clerk id, channel id) for --clerk CODE or ID: a code is looked up at the enterprise,
    and the clerk's own channel is the default channel."""
    from realname.provisioning.repository import ProvisioningRepository

    if clerk is None:
        return None, channel
    repo = ProvisioningRepository(session)
    found = repo.clerk(enterprise_id, clerk) if enterprise_id is not None else None
    if found is None and clerk.isdigit():
        found = repo.clerk_by_id(int(clerk))
    if found is None:
        console.print(f"no clerk {clerk}" + (" at this enterprise" if enterprise_id else ""))
        raise typer.Exit(2)
    return found.id, channel if channel is not None else found.channel_id


@clients_app.command("list")
def clients_list() -> None:
    """Every client with its role, tenant and status (never a secret)."""
    from sqlalchemy.orm import Session

    from realname.db.engine import create_engine_from_settings
    from realname.security.clients import ClientRepository

    engine = create_engine_from_settings(get_settings())
    table = Table()
    for column in ("client_id", "role", "enterprise", "channel", "clerk", "scopes", "status"):
        table.add_column(column)
    with Session(engine) as session:
        for c in ClientRepository(session).all():
            table.add_row(
                c.client_id,
                c.role,
                str(c.enterprise_id or ""),
                str(c.channel_id or ""),
                str(c.clerk_id or ""),
                c.scopes,
                c.status,
            )
    engine.dispose()
    console.print(table)


@clients_app.command("revoke")
def clients_revoke(client_id: str) -> None:
    """Revoke a client: it gets no new tokens, and the tokens it holds are refused within
    REALNAME_CLIENT_STATUS_CACHE_SECONDS (default 2 s) on every server."""

    from sqlalchemy.orm import Session

    from realname.db.engine import create_engine_from_settings
    from realname.security.clients import ClientService
    from realname.security.keys import keyring_from_settings

    settings = get_settings()
    keyring = keyring_from_settings(settings)
    engine = create_engine_from_settings(settings)
    with Session(engine) as session, session.begin():
        revoked = ClientService(session, keyring).revoke(client_id, _clock().now())
    engine.dispose()
    console.print("revoked" if revoked else "no such active client")
    raise typer.Exit(0 if revoked else 1)


@parties_app.command("add")
def parties_add(
    name: Annotated[str, typer.Option(help="The bank or payment app.")],
    purpose: Annotated[str, typer.Option(help="Why it checks subscribers (kept on record).")],
    apis: Annotated[
        str,
        typer.Option(
            help="Comma-separated: kyc-match, sim-swap, kyc-age-verification, kyc-tenure, "
            "number-verification."
        ),
    ],
) -> None:
    """Register a relying party: an API client with only its APIs' scopes (secret shown once)."""

    from sqlalchemy.orm import Session

    from realname.db.engine import create_engine_from_settings
    from realname.security.keys import keyring_from_settings
    from realname.verification.service import register_relying_party

    settings = get_settings()
    engine = create_engine_from_settings(settings)
    try:
        with Session(engine) as session, session.begin():
            party, secret = register_relying_party(
                session,
                keyring_from_settings(settings),
                name=name,
                purpose=purpose,
                apis=[a.strip() for a in apis.split(",") if a.strip()],
                at=_clock().now(),
            )
            client_id = party.client_id
    except ValueError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    console.print(f"client_id  {client_id}\nsecret     {secret}  (shown once)")


# --- demo ----------------------------------------------------------------------------------


@app.command()
def demo(
    lines: Annotated[int, typer.Option(min=100, help="Lines in the synthetic world.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Same seed, same world.")] = 7,
    operations: Annotated[
        int | None, typer.Option(help="Operations streamed through the registry service.")
    ] = None,
    database_url: Annotated[
        str, typer.Option(help="Where to build it; the demo database is rebuilt each run.")
    ] = "sqlite:///./var/demo.db",
) -> None:
    """Build a reproducible synthetic world, run `realname check` on it, and summarise it."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from sqlalchemy.orm import Session

    from realname.config import Settings
    from realname.db import migrate
    from realname.db.engine import readonly
    from realname.policy.loader import load_policy
    from realname.registry.check import run_integrity_check
    from realname.security.keys import keyring_from_settings
    from realname.sim.world import build_world, channel_count, lines_by_state_and_enterprise

    started = time.perf_counter()
    base = get_settings()
    overrides = {"database_url": database_url, "sms_file": "./var/demo-sms.jsonl"}
    settings = Settings(**(base.model_dump() | overrides))
    engine = _fresh_database(settings)
    policy = load_policy(settings.policy)
    keyring = keyring_from_settings(settings)
    now = settings.clock().now()
    operations = operations if operations is not None else min(3000, max(300, lines // 10))
    console.print(
        f"building a synthetic world: {lines:,} lines, {operations:,} operations, seed {seed}, "
        f"policy [bold]{policy.code}[/], database {migrate.current_revision(engine)} "
        f"at {_shown(database_url)}"
    )
    columns = (
        TextColumn("{task.description:<42}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        tasks: dict[str, Any] = {}

        def report(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(phase, total=total)
            progress.update(tasks[phase], completed=done)

        summary = build_world(
            engine,
            policy=policy,
            keyring=keyring,
            lines=lines,
            seed=seed,
            operations=operations,
            now=now,
            progress=report,
        )
    backfill_runs, largest = _demo_backfill(engine, settings, policy, keyring, now)
    built = time.perf_counter() - started
    with Session(readonly(engine)) as session:
        by_state = lines_by_state_and_enterprise(session)
        channels, clerks = channel_count(session)
        with console.status("realname check"):
            report_ = run_integrity_check(session, policy, keyring)
    engine.dispose()

    states = sorted({state for _, state in by_state})
    codes = sorted({code for code, _ in by_state})
    table = Table(title="lines by state and enterprise")
    table.add_column("enterprise")
    for state in states:
        table.add_column(state, justify="right")
    table.add_column("total", justify="right")
    for code in codes:
        row = [by_state.get((code, state), 0) for state in states]
        table.add_row(code, *(f"{n:,}" for n in row), f"{sum(row):,}")
    console.print(table)
    console.print(
        f"{summary.citizens:,} citizens known to the identity authority; "
        f"{channels} channels with {clerks} clerks"
    )
    outcomes = Table(title="operations streamed through the registry")
    outcomes.add_column("operation")
    outcomes.add_column("count", justify="right")
    for name, count in sorted(summary.outcomes.items(), key=lambda kv: -kv[1]):
        outcomes.add_row(name, f"{count:,}")
    console.print(outcomes)
    refusals = Table(title="refusals by reason")
    refusals.add_column("code")
    refusals.add_column("count", justify="right")
    for code, count in summary.refusals.most_common():
        refusals.add_row(f"REALNAME.{code}", f"{count:,}")
    console.print(refusals)
    _print_demo_backfill(engine, settings, policy, keyring, backfill_runs, largest, now)
    print_integrity_report(report_)
    console.print(
        f"world built in {built:.1f} s, checked in {time.perf_counter() - started - built:.1f} s; "
        f"check it again with REALNAME_DATABASE_URL={_shown(database_url)} realname check"
    )
    raise typer.Exit(0 if report_.ok else 1)


DEMO_CAMPAIGN_AGE_DAYS = 60  # started two months ago: outgoing bars begin today


def _demo_backfill(
    engine: Any, settings: Any, policy: Any, keyring: Any, now: Any
) -> tuple[list[tuple[Any, Any]], str]:
    """Every enterprise started its back-fill campaign two months ago with the policy's
    shortest deadline (today) and two milestones. The daily job ran that day (first
    reminders, each line told its dates) and runs today: lines reminded two months ago are
    barred as they were told; lines loaded since get their first reminder now, with later
    dates of their own."""
    from datetime import timedelta
    from pathlib import Path

    from sqlalchemy import func, select
    from sqlalchemy.orm import Session, sessionmaker

    from realname.backfill.jobs import run_campaigns
    from realname.backfill.phases import Ladder
    from realname.db.uow import UnitOfWork
    from realname.jobs import RunReport, run_backfill
    from realname.messaging.gateways import FileGateway
    from realname.registry.commands import Actor, Context
    from realname.registry.models import Enterprise, Line
    from realname.wiring import build_sender, services

    started = now - timedelta(days=DEMO_CAMPAIGN_AGE_DAYS)
    ctx = Context(Actor("operator", "demo"), started)
    with Session(engine) as session, session.begin():
        build = services(session, settings, keyring, policy)
        enterprises = session.scalars(select(Enterprise.id).order_by(Enterprise.id)).all()
        deadline = Ladder.of(policy.backfill_steps).minimum_deadline(started.date())
        targets = [(started.date() + timedelta(days=30), 5), (deadline, 10)]
        for enterprise_id in enterprises:
            build.campaigns.create_campaign(
                ctx, enterprise_id, starts_on=started.date(), milestones=targets
            )
        largest = session.execute(
            select(Enterprise.code)
            .join(Line, Line.enterprise_id == Enterprise.id)
            .group_by(Enterprise.code)
            .order_by(func.count().desc())
            .limit(1)
        ).scalar_one()
    runs = []
    for day in (started, now):
        # Two months ago only the campaigns ran (the world's later history is already in);
        # today the whole daily job.
        job = run_campaigns if day is started else run_backfill
        with console.status(f"back-fill run of {day:%Y-%m-%d}") as status:
            report = job(
                UnitOfWork(sessionmaker(engine, expire_on_commit=False)),
                lambda s: services(s, settings, keyring, policy),
                day,
                batch_size=1000,
                progress=lambda what, n: status.update(f"back-fill run: {what}: {n:,} lines"),
            )
        runs.append((day, report if isinstance(report, RunReport) else RunReport(report)))
    with console.status("sending the reminders (file gateway)"):
        sms_file = Path(settings.sms_file)
        sms_file.unlink(missing_ok=True)
        with build_sender(settings, gateway=FileGateway(sms_file)) as sender:
            sent = sender.run(batch=500)
    console.print(f"{sent.sent:,} reminders sent through the file gateway to {sms_file}")
    with Session(engine) as session, session.begin():
        channels = services(session, settings, keyring, policy).channels
        for enterprise_id in enterprises:
            assessed = channels.assess(enterprise_id, now)
            today = Context(Actor("operator", "demo"), now)
            for channel in channels.suspend_over_threshold(today, enterprise_id, assessed):
                console.print(f"channel {channel.code} suspended: {channel.status_reason}")
    return runs, largest


def _print_demo_backfill(
    engine: Any, settings: Any, policy: Any, keyring: Any, runs: Any, largest: str, now: Any
) -> None:

    from sqlalchemy.orm import Session

    from realname.backfill.campaign_cli import print_progress, print_risk, print_schedule
    from realname.db.engine import readonly
    from realname.registry.repository import RegistryRepository
    from realname.wiring import services

    for day, report in runs:
        swept = sum(c.lines for c in report.campaigns)
        moves = sum(sum(c.moves.values()) for c in report.campaigns)
        reminders = sum(c.reminders for c in report.campaigns)
        console.print(
            f"back-fill run of {day:%Y-%m-%d}: {swept:,} legacy lines swept, {moves:,} barred, "
            f"{reminders:,} SMS queued in the outbox; re-verification "
            f"{report.reverification_requested:,} asked, {report.reverification_expired:,} "
            f"suspended past the deadline"
        )
    with Session(readonly(engine)) as session:
        enterprise = RegistryRepository(session).enterprise_by_code(largest)
        assert enterprise is not None
        build = services(session, settings, keyring, policy)
        print_schedule(console, largest, build.campaigns.schedule(enterprise.id))
        print_progress(console, largest, build.campaigns.progress(enterprise.id, now), rows=6)
        print_risk(console, largest, build.channels.assess(enterprise.id, now), limit=5)


def _shown(url: str) -> str:
    """A database URL fit to print: never its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _fresh_database(settings: Any) -> Any:
    """The demo's database, emptied and migrated: SQLite file deleted, others downgraded."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from realname.db import migrate
    from realname.db.engine import create_engine_from_settings

    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        for suffix in ("", "-wal", "-shm"):
            Path(url.database + suffix).unlink(missing_ok=True)
        engine = create_engine_from_settings(settings)
    else:
        engine = create_engine_from_settings(settings)
        migrate.downgrade(engine, "base")
    migrate.upgrade(engine)
    return engine


# "no such table: x" (SQLite), 'relation "x" does not exist' (PostgreSQL); not a missing
# database or role, which `db upgrade` cannot cure.
_MISSING_TABLE = re.compile(r"no such table|relation \"[^\"]+\" does not exist")


def main() -> None:
    """The console entry point: database trouble is a message and exit 1, unusable key or
    authority settings a message and exit 1 or 2, not a traceback.

    Every command reaches the database through SQLAlchemy, so this is the one place to
    translate its errors; parameters are hidden by the engine factory, and the URL (which
    may hold a password) is never printed."""
    from sqlalchemy.exc import ArgumentError, DBAPIError

    from realname.authority.http import AuthorityConfigError
    from realname.security.vault import VaultError

    try:
        app()
    except VaultError as error:  # key settings or the key file: messages never hold key bytes
        console.print(f"[red]key error:[/red] {error}")
        raise SystemExit(1) from None
    except AuthorityConfigError as error:  # REALNAME_AUTHORITY=http that cannot work
        console.print(f"[red]identity authority settings:[/red] {error}")
        raise SystemExit(2) from None
    except ArgumentError:  # includes an unknown dialect (mysql:// without its driver, typos)
        console.print("[red]database error:[/red] the database URL is not a valid SQLAlchemy URL")
        raise SystemExit(1) from None
    except DBAPIError as error:
        reason = str(getattr(error, "orig", error)).strip().splitlines()[0][:200]
        console.print(f"[red]database error:[/red] {reason}")
        if _MISSING_TABLE.search(reason):
            console.print("the schema is missing or old: run `realname db upgrade`")
        elif error.connection_invalidated or "connect" in reason.lower():
            console.print("is the database at the given URL running and reachable?")
        raise SystemExit(1) from None
