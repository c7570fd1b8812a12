"""`realname audit ...`: signed checkpoints of the audit chains, and the audit keys.

Run `realname audit checkpoint` at a fixed cadence (cron, every few minutes; see
docs/registry.md): each run appends one signed line to the checkpoint file, and
`realname check --checkpoint FILE` then proves the chains still extend every line of it.
`realname audit sequence` chains pending entries (deferred mode; docs/audit.md) by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from realname.cli.session import cli_engine
from realname.config import get_settings

audit_app = typer.Typer(
    help="Tamper evidence: signed checkpoints, audit keys.", no_args_is_help=True
)
console = Console()


@audit_app.command("checkpoint")
def checkpoint_command(
    out: Annotated[
        Path | None,
        typer.Option(help="Append to this JSONL file (default: REALNAME_CHECKPOINT_FILE)."),
    ] = None,
    every: Annotated[
        float | None,
        typer.Option(
            min=0.01,
            help="Keep running: one checkpoint every this many seconds (e.g. 300), until "
            "stopped; a failed one is reported and retried at the next tick.",
        ),
    ] = None,
    times: Annotated[
        int | None, typer.Option(min=1, help="With --every: stop after this many checkpoints.")
    ] = None,
) -> None:
    """Sign the chains' current heads and the append-only tables' marks; append the line.

    Truncation of the audit chain is only evident against a checkpoint taken before it, so
    run this at a fixed cadence (`--every 300` as a service, or from cron) and ship the file
    off the database host."""
    import time

    from sqlalchemy.exc import DBAPIError

    from realname.security.keys import keyring_from_settings
    from realname.security.vault import VaultError

    settings = get_settings()
    path = out or Path(settings.checkpoint_file)
    try:
        keys = keyring_from_settings(settings).audit
    except VaultError as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(2) from None
    with cli_engine(settings) as engine:
        taken = 0
        try:
            while True:
                try:
                    ok = _take_checkpoint(settings, engine, keys, path)
                except DBAPIError as error:
                    if every is None:
                        raise  # the CLI's entry point words it (and advises `db upgrade`)
                    reason = str(getattr(error, "orig", error)).strip().splitlines()[0][:200]
                    console.print(f"[red]database error:[/] {reason}; retrying in {every:g} s")
                    ok = False
                taken += ok
                if every is None:
                    raise typer.Exit(0 if ok else 1)
                if times is not None and taken >= times:
                    return
                time.sleep(every)
        except KeyboardInterrupt:
            console.print(f"stopped after {taken:,} checkpoints")


def _take_checkpoint(settings: Any, engine: Any, keys: Any, path: Path) -> bool:
    """One signed checkpoint appended to `path`; False (and why, printed) when none could be
    taken (the database away, a chain head that disagrees with its last entry)."""
    from sqlalchemy.orm import Session

    from realname.db.engine import readonly
    from realname.registry.check import append_only_marks
    from realname.security.checkpoint import (
        CheckpointError,
        append_checkpoint,
        current_checkpoint,
        signed_line,
    )
    from realname.security.vault import VaultError

    # One snapshot: heads, entries and marks must be read at the same instant.
    snapshot = readonly(engine)
    if engine.dialect.name == "postgresql":
        snapshot = snapshot.execution_options(isolation_level="REPEATABLE READ")
    try:
        with Session(snapshot) as session, session.begin():
            checkpoint = current_checkpoint(
                session, settings.clock().now(), append_only_marks(session)
            )
        line = signed_line(checkpoint, keys)
    except (CheckpointError, VaultError) as error:
        console.print(f"[red]{error}[/]")
        return False
    append_checkpoint(path, line)
    console.print(
        f"checkpoint: {checkpoint.size:,} entries in {len(checkpoint.chains)} chains, "
        f"root {checkpoint.root.hex()[:16]}…, signed with {keys.signing_active} → {path}"
    )
    return True


@audit_app.command("sequence")
def sequence_command() -> None:
    """Chain every pending audit entry now (deferred mode: the server's sequencer does this
    continuously; run this when it is not running). Exit 1 when an altered entry was refused."""
    from realname.cli.session import cli_process

    with cli_process(get_settings()) as process:
        done = process.sequence_audit()
    console.print(f"audit: chained {done.chained:,} pending entries")
    for entry_id in done.refused[:20]:
        console.print(f"[red]✗[/] audit entry {entry_id}: content altered, refused")
    if done.refused:
        raise typer.Exit(1)


@audit_app.command("public-key")
def public_key_command() -> None:
    """Print the checkpoint public keys (give them to whoever verifies checkpoints)."""
    import json

    from realname.security.keys import keyring_from_settings

    keys = keyring_from_settings(get_settings()).audit
    typer.echo(json.dumps({kid: keys.public_key_b64(kid) for kid in sorted(keys.public_keys)}))


@audit_app.command("rotate-key")
def rotate_key_command(
    signing: Annotated[
        bool, typer.Option("--signing", help="Rotate the checkpoint signing key instead.")
    ] = False,
) -> None:
    """Add a fresh audit MAC key (or checkpoint signing key) to the key file and make it
    active. Old keys stay, so old entries and checkpoints keep verifying."""
    from realname.security.audit_keys import AUDIT_KEYS_SETTING, rotate_audit_key_in_file

    settings = get_settings()
    if settings.audit_keys is not None:
        console.print(
            f"audit keys come from {AUDIT_KEYS_SETTING}: add the new key there (keep the old "
            "ones) and set the active id"
        )
        raise typer.Exit(2)
    new_id = rotate_audit_key_in_file(Path(settings.key_file), signing=signing)
    console.print(f"new active {'signing' if signing else 'audit'} key: [bold]{new_id}[/]")
