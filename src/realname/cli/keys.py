"""`realname keys …`: the keys that seal subscriber PII and the keys that sign API tokens."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from realname.cli.session import cli_process, cli_session
from realname.config import get_settings

keys_app = typer.Typer(
    help="Keys that seal subscriber PII and keys that sign API tokens.", no_args_is_help=True
)
console = Console()


@keys_app.command("status")
def keys_status() -> None:
    """How many identities are sealed under each key."""
    from realname.registry.repository import identities_per_key
    from realname.security.keys import keyring_from_settings, token_keys_from_settings

    settings = get_settings()
    keyring = keyring_from_settings(settings)
    with cli_session(settings, write=False) as session:
        counts = identities_per_key(session)
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

    from realname.registry.repository import identities_per_key
    from realname.registry.rotation import reseal_batch

    settings = get_settings()
    with cli_process(settings) as process:
        keyring, uow = process.keyring, process.uow
        with uow.transaction(readonly=True) as session:
            counts = identities_per_key(session)
        todo = sum(n for key_id, n in counts.items() if key_id != keyring.active_key_id)
        done, after = 0, 0
        with Progress(console=console) as progress:
            task = progress.add_task(f"resealing under {keyring.active_key_id}", total=todo)
            while True:
                with uow.transaction() as session:  # one transaction per batch
                    count, after = reseal_batch(session, keyring, after, batch)
                if count == 0:
                    break
                done += count
                progress.update(task, completed=done)
    console.print(f"resealed {done:,} identities; all on key {keyring.active_key_id}")
