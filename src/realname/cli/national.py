"""`realname national …`: the national platform from the command line.

At an enterprise instance: `keys show` (the public key to register at the platform), `publish`
(build and push its feed: to the platform's API, into this instance's platform, or as Parquet
files), `disputes pull` (the platform's forwarded disputes into its complaint cases). At the
platform: `keys register`, `sealing-key`, `take-drop`, `feeds` (whose feed is late or
broken), `cap`, `export`, and `lookup` (一证通查 by hand: a code to a held number, then the
answer).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from realname.cli.session import cli_process, cli_unit
from realname.config import get_settings

if TYPE_CHECKING:
    from realname.national.feeds.jobs import PublishReport, Transport
    from realname.national.lookup.jobs import DisputesReport
    from realname.wiring import Process

national_app = typer.Typer(
    help="The national platform: enterprise feeds, the national index, 一证通查.",
    no_args_is_help=True,
)
keys_app = typer.Typer(help="Feed signing keys.", no_args_is_help=True)
lookup_app = typer.Typer(help="一证通查 by hand (a code to a held number, then the answer).")
national_app.add_typer(keys_app, name="keys")
disputes_app = typer.Typer(
    help="An enterprise instance: the platform's forwarded disputes of its lines.",
    no_args_is_help=True,
)
national_app.add_typer(lookup_app, name="lookup")
national_app.add_typer(disputes_app, name="disputes")
console = Console()
err = Console(stderr=True)  # progress, so --json output stays clean

EnterpriseOption = Annotated[str, typer.Option("--enterprise", help="Enterprise code.")]


Shown = Callable[[str, int, int | None], None]


@contextmanager
def shown_progress(label: str, *, wanted: bool = True) -> Iterator[Shown]:
    """A progress display on stderr for a long job: (phase, done, total or None). Only on a
    terminal and when wanted (not with --json): a cron run's or a pipe's stderr stays quiet."""
    if not wanted or not err.is_terminal:
        yield lambda _phase, _done, _total: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=err, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def show(phase: str, done: int, total: int | None) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(f"{label}: {phase}", total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield show


@keys_app.command("show")
def keys_show(enterprise: EnterpriseOption) -> None:
    """This instance's feed signing key of ENTERPRISE (created in the key file on first use):
    give its id and public key to the platform (`realname national keys register`)."""
    from realname.national.feeds.keys import feed_signing_key

    key = feed_signing_key(get_settings(), enterprise)
    typer.echo(
        json.dumps({"enterprise": enterprise, "key_id": key.key_id, "public_key": key.public_b64})
    )


@keys_app.command("register")
def keys_register(
    enterprise: EnterpriseOption,
    key_id: Annotated[str, typer.Option("--key-id")],
    public_key: Annotated[str, typer.Option("--public-key", help="Ed25519, base64.")],
) -> None:
    """Platform: register an enterprise's feed signing key; its batches are refused without."""
    from realname.national.feeds.errors import FeedError
    from realname.national.feeds.service import FeedIngest, decode_public_key

    settings = get_settings()
    try:
        with cli_unit(settings, write=True) as (process, session):
            FeedIngest(session, process.national_keys).register_key(
                enterprise, key_id, decode_public_key(public_key), process.clock.now()
            )
    except FeedError as error:
        console.print(f"[red]{error.code}[/]: {error.message}")
        raise typer.Exit(2) from None
    console.print(f"registered {enterprise} feed key {key_id}")


@keys_app.command("retire")
def keys_retire(
    enterprise: EnterpriseOption,
    key_id: Annotated[str, typer.Option("--key-id")],
) -> None:
    """Platform: retire an enterprise's feed signing key (after a rotation, or a leak): its
    batches are refused from now on (FEED_KEY_RETIRED); those already taken stay. Audited."""
    from realname.national.feeds.errors import FeedError
    from realname.national.feeds.service import FeedIngest

    settings = get_settings()
    try:
        with cli_unit(settings, write=True) as (process, session):
            key = FeedIngest(session, process.national_keys).retire_key(
                enterprise,
                key_id,
                process.clock.now(),
                keyring=process.keyring,
                actor="operator:cli",
            )
            retired_at = key.retired_at
    except FeedError as error:
        console.print(f"[red]{error.code}[/]: {error.message}")
        raise typer.Exit(2) from None
    console.print(f"{enterprise} feed key {key_id} retired at {retired_at:%Y-%m-%d %H:%M:%S}")


@national_app.command("sealing-key")
def sealing_key() -> None:
    """Platform: the public key enterprises seal document numbers to, as
    REALNAME_NATIONAL_SEALING_PUBLIC_KEY takes it (to pin it at an enterprise)."""
    from realname.national.feeds.keys import platform_keys

    typer.echo(platform_keys(get_settings()).public.as_setting())


def feed_transport(process: Process, drop: Path | None) -> Transport:
    """The transport the settings choose: a file drop when asked, else the platform's API when
    REALNAME_NATIONAL_PLATFORM_URL is set, else the platform in this instance."""
    from realname.national.feeds.keys import SealingKey
    from realname.national.feeds.transport import FileDrop, HttpConfig, HttpPush, InProcess

    settings = process.settings
    if drop is not None:
        if settings.national_sealing_public_key:
            sealing = SealingKey.parse(settings.national_sealing_public_key)
        elif settings.national_platform_url:
            pusher = HttpPush(HttpConfig.from_settings(settings))
            try:
                sealing = pusher.sealing_key()
            finally:
                pusher.close()
        else:
            sealing = process.national_keys.public
        return FileDrop(drop, sealing)
    if settings.national_platform_url:
        return HttpPush(HttpConfig.from_settings(settings))
    return InProcess(process.uow, process.national_keys, process.clock.now)


def publish_feed(
    process: Process,
    enterprise: str,
    *,
    drop: Path | None = None,
    snapshot: bool = False,
    progress: Shown | None = None,
) -> PublishReport:
    from realname.national.feeds.jobs import publish
    from realname.national.feeds.keys import feed_signing_key

    transport = feed_transport(process, drop)
    try:
        return publish(
            process.uow,
            keyring=process.keyring,
            signing=feed_signing_key(process.settings, enterprise),
            transport=transport,
            batch_size=process.settings.national_feed_batch_size,
            now=process.clock.now,
            snapshot=snapshot,
            progress=progress,
        )
    finally:
        close = getattr(transport, "close", None)
        if close is not None:
            close()


@national_app.command("publish")
def publish_command(
    enterprise: EnterpriseOption,
    snapshot: Annotated[
        bool, typer.Option(help="First publication only: the lines as they are, then events.")
    ] = False,
    drop: Annotated[
        Path | None, typer.Option("--drop", help="Write Parquet files here instead of pushing.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Build ENTERPRISE's batches since its cursor and send every unacknowledged one.
    Exit 0 when the platform has them all, 1 when it refused one or could not be reached."""
    from realname.national.feeds.errors import FeedError

    try:
        with (
            cli_process(get_settings()) as process,
            shown_progress(f"publish {enterprise}", wanted=not as_json) as progress,
        ):
            report = publish_feed(
                process, enterprise, drop=drop, snapshot=snapshot, progress=progress
            )
    except FeedError as error:
        console.print(f"[red]{error.code}[/]: {error.message} {error.detail or ''}")
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(report.__dict__))
    else:
        console.print(
            f"{enterprise}: {report.built} batches built, {report.sent} sent "
            f"({report.duplicates} already there), {report.items:,} items"
        )
        if report.refused:
            expected = f" (expected batch {report.expected})" if report.expected else ""
            console.print(f"[red]stopped: {report.refused}{expected}[/]")
    raise typer.Exit(1 if report.refused else 0)


def pull_disputes_of(process: Process) -> DisputesReport:
    """Pull the platform's forwarded disputes into this registry's complaint cases and post
    their handling back (national/lookup/jobs.py), as the enterprise's feed_client."""
    from realname.national.feeds.transport import HttpConfig, HttpPush
    from realname.national.lookup.jobs import pull_disputes
    from realname.wiring import complaint_service

    client = HttpPush(HttpConfig.from_settings(process.settings))
    try:
        return pull_disputes(
            process.uow,
            client,
            lambda session: complaint_service(process.services(session)),
            now=process.clock.now,
        )
    finally:
        client.close()


@disputes_app.command("pull")
def disputes_pull_command(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Open the platform's "not mine" disputes of this enterprise's lines as complaint cases
    here (once each) and post each case's handling back when the platform is behind. Run it on
    a schedule. Exit 0 when done, 1 when the platform could not be reached or refused, 2 when
    this instance is the platform (its disputes open cases directly)."""
    from realname.national.feeds.errors import FeedError

    settings = get_settings()
    if not settings.national_platform_url:
        console.print(
            "[red]REALNAME_NATIONAL_PLATFORM_URL is unset[/]: this instance is the platform, "
            "and its disputes open complaint cases directly"
        )
        raise typer.Exit(2)
    try:
        with cli_process(settings) as process:
            report = pull_disputes_of(process)
    except FeedError as error:
        console.print(f"[red]{error.code}[/]: {error.message} {error.detail or ''}")
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(report.__dict__))
        return
    console.print(
        f"{report.pulled} disputes open at the platform: {report.opened} cases opened here, "
        f"{report.posted} handlings posted, {len(report.refused)} not openable"
    )
    for reference, code in report.refused:
        console.print(f"  {reference}: {code}")


@national_app.command("take-drop")
def take_drop_command(
    directory: Annotated[
        Path | None, typer.Argument(help="Default: REALNAME_NATIONAL_DROP_DIR.")
    ] = None,
) -> None:
    """Platform: take every dropped batch file in order (taken ones move to done/, refused
    ones to refused/; one ahead of its feed waits). Exit 2 when the directory is missing."""
    from realname.national.feeds.jobs import take_drop

    settings = get_settings()
    folder = directory or Path(settings.national_drop_dir)
    if not folder.is_dir():  # it said "0 batches taken", as if the drop were empty
        console.print(f"[red]no drop directory at {folder}[/] (nothing taken)")
        raise typer.Exit(2)
    with cli_process(settings) as process, shown_progress("take-drop") as progress:
        report = take_drop(
            process.uow,
            process.national_keys,
            folder,
            now=process.clock.now,
            progress=progress,
        )
    console.print(
        f"{report.taken} batches taken ({report.duplicates} already there), "
        f"{report.waiting} waiting, {len(report.refused)} refused"
    )
    for name, code in report.refused:
        console.print(f"  {name}: {code}")
    raise typer.Exit(1 if report.refused else 0)


@national_app.command("feeds")
def feeds_command(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Platform: every enterprise's feed, and whether it is late or broken."""
    from datetime import timedelta

    from realname.national.feeds.service import feed_status

    settings = get_settings()
    with cli_unit(settings, write=False) as (process, session):
        states = feed_status(
            session, process.clock.now(), timedelta(seconds=settings.national_feed_late_seconds)
        )
    if as_json:
        typer.echo(json.dumps([s.__dict__ for s in states], default=str))
        return
    table = Table(title="enterprise feeds")
    for name in ("enterprise", "kind", "status", "next batch", "items", "last batch", "refusals"):
        table.add_column(name)
    for s in states:
        table.add_row(
            s.enterprise,
            s.kind,
            s.status,
            str(s.next_batch),
            f"{s.items:,}",
            f"{s.last_batch_at:%Y-%m-%d %H:%M}" if s.last_batch_at else "—",
            f"{s.refusals} ({s.last_refusal_code})" if s.refusals else "0",
        )
    console.print(table)


@national_app.command("cap")
def cap_command() -> None:
    """Platform: identities over the policy's national cap (Pakistan, India: across all
    operators); none for a policy without one."""
    from realname.national.index.service import NationalIndex

    with cli_unit(get_settings(), write=False) as (process, session):
        report = NationalIndex(session, process.national_keys).cap_report(process.policy)
    if report.cap is None:
        console.print(f"policy {process.policy.code} has no national cap")
        return
    console.print(f"national cap {report.cap}: {len(report.over)} identities over it")
    for over in report.over:
        console.print(
            f"  identity {over.identity_id}: {over.lines} lines at {over.enterprises} enterprises"
        )


@national_app.command("export")
def export_command(
    to: Annotated[Path, typer.Option("--to", help="Directory of the Parquet datasets.")],
) -> None:
    """Platform: the national index, the traced complaints and the inspection visits as the
    analytics' Parquet datasets (national_lines, national_complaints with the enterprises it
    covers in national_complaint_sources, national_inspections), ready for `realname report
    national --from DIR`. Complaints are traced through this instance's registry: an
    enterprise that runs its own instance reads as unknown, not as none."""
    import shutil

    from realname.national.index.export import export_all, put_in_place, staging_directory
    from realname.registry.auditing import audit_operation
    from realname.registry.commands import Actor, Context

    staging = staging_directory(to)
    try:
        with (
            cli_unit(get_settings(), write=True) as (process, session),
            shown_progress("export") as progress,
        ):
            exported = export_all(session, staging, lambda name, rows: progress(name, rows, None))
            # The lines hold every identity's national key: who took the datasets, and how
            # much, is on the trail (counts only; the path is the operator's and may name a
            # person). Committed before the files are put where the analytics read them.
            audit_operation(
                session,
                process.keyring,
                Context(Actor("operator", "cli"), process.clock.now()),
                action="national.export",
                object_type="dataset",
                object_id="national",
                detail={e.path.parent.name: e.rows for e in exported},
            )
        put_in_place(staging, to)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for each in exported:
        console.print(f"{each.rows:,} rows written to {to / each.path.parent.name}")
    if not any(e.path.parent.name == "national_complaints" for e in exported):
        console.print(
            "national_complaints not written: this instance's registry holds no lines, so "
            "complaints are traced at the enterprises (the report shows them as unknown)"
        )


@lookup_app.command("ask")
def lookup_ask(
    document_type: Annotated[str, typer.Option("--document-type")] = "resident_id",
    msisdn: Annotated[str, typer.Option("--msisdn", prompt=True)] = "",
    document_number: Annotated[str, typer.Option(prompt=True, hide_input=True)] = "",
    name: Annotated[str, typer.Option(prompt=True)] = "",
) -> None:
    """Send a code to one of the numbers the identity holds (nothing is sent when they do not
    match, and the answer is the same)."""
    from realname.national.lookup.errors import NationalLookupError

    settings = get_settings()
    try:
        with cli_unit(settings, write=True) as (process, session):
            issued = process.lookup(session).issue(
                doc_type=document_type, doc_number=document_number, name=name, msisdn=msisdn,
                source="cli", at=process.clock.now(),
            )  # fmt: skip
    except NationalLookupError as error:
        console.print(f"[red]{error.code}[/]: {error.message}")
        raise typer.Exit(2) from None
    typer.echo(
        json.dumps({"challenge_id": issued.challenge_id, "expires_at": str(issued.expires_at)})
    )


@lookup_app.command("answer")
def lookup_answer(
    challenge: Annotated[str, typer.Option("--challenge")],
    code: Annotated[str, typer.Option("--code", prompt=True)],
) -> None:
    """The lines per enterprise, numbers masked."""
    from realname.national.lookup.errors import LookupErrorCode, NationalLookupError

    settings = get_settings()
    try:
        with (
            cli_process(settings) as process,
            process.uow.transaction(
                keep_on=lambda e: (
                    isinstance(e, NationalLookupError)
                    and e.code is LookupErrorCode.LOOKUP_NOT_PROVED
                )
            ) as session,
        ):
            answer = process.lookup(session).answer(
                challenge_id=challenge, code=code, at=process.clock.now()
            )
    except NationalLookupError as error:
        console.print(f"[red]{error.code}[/]: {error.message}")
        raise typer.Exit(2) from None
    print_answer(answer)


def print_answer(answer: object) -> None:
    from realname.national.lookup.service import Answer

    assert isinstance(answer, Answer)
    table = Table(title=f"一证通查: {answer.total} lines in service under this ID")
    for name in ("enterprise", "kind", "lines", "numbers"):
        table.add_column(name)
    for e in answer.enterprises:
        table.add_row(
            f"{e.enterprise} {e.name}", e.kind, str(e.active_lines),
            ", ".join(line.msisdn_masked for line in e.lines),
        )  # fmt: skip
    console.print(table)
