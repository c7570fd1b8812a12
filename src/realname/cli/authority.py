"""`realname authority …`: enrol test citizens, show which authority is in use, run the stub.

Wired into the main command with `app.add_typer(authority_app, name="authority")`. Importing
this module builds the Typer app and nothing else (no settings, no engine).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from realname.cli.session import cli_session, cli_unit
from realname.config import get_settings

if TYPE_CHECKING:
    from realname.authority.citizens import Citizen

authority_app = typer.Typer(
    help="The identity authority: simulated test citizens, the http adapter, a stub server.",
    no_args_is_help=True,
)

console = Console()


def _read(path: Path) -> list[Citizen]:
    from realname.authority.citizens import read_citizens

    today = get_settings().clock().now().date()
    try:
        parsed = read_citizens(path, today=today)
    except (OSError, UnicodeDecodeError) as error:
        console.print(f"[red]cannot read {path}: {type(error).__name__}[/]")
        raise typer.Exit(2) from None
    if parsed.errors:
        for problem in parsed.errors:
            console.print(f"[red]{path.name}: {problem}[/]")
        console.print(f"[red]{len(parsed.errors)} bad row(s): nothing done[/]")
        raise typer.Exit(1)
    return parsed.citizens


@authority_app.command("enrol")
def enrol(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV (document_type,document_number,name,revoked) or JSON lines of citizens."
        ),
    ],
) -> None:
    """Add test citizens to the simulated authority (or update the name / revoked flag of
    known ones). All or nothing: any bad row is reported with its line number and nothing is
    enrolled."""
    from realname.authority.simulated import SimulatedAuthority

    settings = get_settings()
    citizens = _read(file)
    with cli_unit(settings, write=True) as (process, session):
        authority = SimulatedAuthority(session, process.keyring)
        added, updated = authority.enrol_citizens(citizens)
        total = authority.count()
    console.print(
        f"enrolled {added} citizen(s), updated {updated}; the simulated authority knows {total}"
    )
    if settings.authority != "simulated":
        console.print(
            f"[yellow]note: REALNAME_AUTHORITY={settings.authority}: registrations ask that "
            "authority, not these citizens[/]"
        )


@authority_app.command("status")
def status() -> None:
    """Which authority registrations ask; for http: its URL, TLS, the breaker and one probe of
    GET /v1/health. Exit 1 when the http authority does not answer."""
    from realname.authority.http import AuthorityConfigError, http_authority, http_config

    settings = get_settings()
    if settings.authority == "simulated":
        from realname.authority.repository import AuthorityRepository

        with cli_session(settings, write=False) as session:
            known = AuthorityRepository(session).count()
        console.print(f"authority: simulated ({known} test citizens)")
        return
    try:
        config = http_config(settings)
        authority = http_authority(config)
    except (AuthorityConfigError, OSError) as error:
        console.print(f"[red]authority: http, misconfigured: {error}[/]")
        raise typer.Exit(2) from None
    if config.client_cert:
        mtls = "mutual TLS"
    else:
        mtls = "TLS" if config.url.startswith("https") else "plain http"
    console.print(f"authority: http {config.shown_url} ({mtls})")
    console.print(
        f"time-out {config.timeout_seconds:g}s, {config.retries} retries, breaker opens after "
        f"{config.breaker_failures} failures for {config.breaker_reset_seconds:g}s"
    )
    console.print(f"breaker (this process): {authority.breaker_state}")
    answer = authority.probe()
    authority.close()
    console.print(f"probe GET /v1/health: {answer}")
    if answer != "ok":
        raise typer.Exit(1)


@authority_app.command("stub")
def stub(
    citizens: Annotated[Path, typer.Option(help="Citizens file (same format as enrol).")],
    port: Annotated[int, typer.Option(min=1, max=65535)] = 9001,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    latency_ms: Annotated[int, typer.Option(min=0, max=120_000, help="Delay every answer.")] = 0,
    fail_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of requests answered 500/503.")
    ] = 0.0,
    flap_seconds: Annotated[
        float, typer.Option(min=0.0, help="Up S seconds, down (503) S seconds, and so on.")
    ] = 0.0,
    tls_cert: Annotated[Path | None, typer.Option(help="Server certificate (PEM): https.")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="The server certificate's key.")] = None,
    client_ca: Annotated[
        Path | None, typer.Option(help="Require client certificates signed by this CA (mTLS).")
    ] = None,
) -> None:
    """Serve the authority contract from a citizens file (tests and drills, not production)."""
    import uvicorn

    from realname.authority.stub import StubBehaviour, StubTls, stub_app, stub_config

    if (tls_cert is None) != (tls_key is None) or (client_ca is not None and tls_cert is None):
        console.print("[red]--tls-cert and --tls-key go together; --client-ca needs them[/]")
        raise typer.Exit(2)
    people = _read(citizens)
    tls = (
        StubTls(str(tls_cert), str(tls_key), str(client_ca) if client_ca else None)
        if tls_cert and tls_key
        else None
    )
    app = stub_app(
        people,
        StubBehaviour(latency_ms=latency_ms, fail_rate=fail_rate, flap_seconds=flap_seconds),
    )
    scheme = "https" if tls else "http"
    console.print(
        f"stub identity authority: {len(people)} citizens on {scheme}://{host}:{port} "
        f"(latency {latency_ms} ms, fail rate {fail_rate:g}, flap {flap_seconds:g}s)"
    )
    uvicorn.Server(stub_config(app, host, port, tls)).run()
