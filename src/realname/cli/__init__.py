"""The `realname` command: the Typer app, its command groups, and `main`.

Each group lives in its own module here; importing one builds its Typer app and nothing else
(no settings, no engine): the heavy imports happen inside a command, when it runs.
"""

from __future__ import annotations

import re

import typer
from rich.console import Console

from realname.cli.audit import audit_app
from realname.cli.authority import authority_app
from realname.cli.backfill import backfill_app
from realname.cli.bench import bench_app
from realname.cli.channels import channels_app
from realname.cli.check import check_command
from realname.cli.clients import clients_app
from realname.cli.complaints import complaints_app
from realname.cli.db import db_app
from realname.cli.demo import demo
from realname.cli.id import id_app
from realname.cli.imports import import_app
from realname.cli.keys import keys_app
from realname.cli.messages import messages_app
from realname.cli.national import national_app
from realname.cli.provisioning import (
    blocks_app,
    clerks_app,
    enterprises_app,
    provision,
    stock_app,
)
from realname.cli.relying_parties import parties_app
from realname.cli.report import report_app
from realname.cli.retention import retention_app
from realname.cli.serve import serve
from realname.cli.usage import usage_app
from realname.cli.web import staff_app

app = typer.Typer(
    help="RealName: mobile-subscriber real-name registration.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(db_app, name="db")
app.add_typer(id_app, name="id")
app.add_typer(clients_app, name="clients")
app.add_typer(bench_app, name="bench")
app.add_typer(parties_app, name="relying-parties")
app.add_typer(keys_app, name="keys")
app.add_typer(backfill_app, name="backfill")
app.add_typer(channels_app, name="channels")
app.add_typer(messages_app, name="messages")
app.add_typer(import_app, name="import")
app.add_typer(audit_app, name="audit")
app.add_typer(usage_app, name="usage")
app.add_typer(authority_app, name="authority")
app.add_typer(staff_app, name="staff")
app.add_typer(retention_app, name="retention")
app.add_typer(report_app, name="report")
app.add_typer(enterprises_app, name="enterprises")
app.add_typer(blocks_app, name="blocks")
app.add_typer(clerks_app, name="clerks")
app.add_typer(stock_app, name="stock")
app.add_typer(report_app, name="report")
app.add_typer(complaints_app, name="complaints")
app.add_typer(national_app, name="national")
app.command("provision")(provision)
app.command("check")(check_command)
app.command()(serve)
app.command()(demo)

console = Console()


@app.callback()
def _root() -> None:
    """RealName: mobile-subscriber real-name registration."""
    # Every command sees the whole schema, whatever its own imports pulled in: a command
    # that imported one domain's models crashed on the first foreign key to another.
    from realname.tables import load_all_models

    load_all_models()


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
