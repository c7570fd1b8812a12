"""The `realname` command."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from realname.config import get_settings
from realname.identity.documents import DocumentType, detect_type, parse_document
from realname.identity.errors import DocumentError, message_for
from realname.identity.resident_id import normalize_document_number

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
app.add_typer(bench_app, name="bench")

console = Console()


# --- db ------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Migrate the database in REALNAME_DATABASE_URL to REVISION (default: head)."""
    from realname.db import migrate
    from realname.db.engine import create_engine_from_settings

    engine = create_engine_from_settings(get_settings())
    migrate.upgrade(engine, revision)
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
    number: str, doc_type: DocumentType | None, nationality: str | None, lang: str
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
        parsed = parse_document(number, doc_type, nationality=nationality)
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
    lang: Annotated[str, typer.Option(help="Message language: en or zh.")] = "en",
) -> None:
    """Validate a document number. Exit 0 valid, 1 invalid, 2 usage error."""
    report = document_report(number, doc_type, nationality, lang)
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


# --- demo ----------------------------------------------------------------------------------


@app.command()
def demo(
    count: Annotated[int, typer.Option(min=1, help="How many documents to generate.")] = 16,
    seed: Annotated[int, typer.Option(help="Same seed, same documents.")] = 7,
) -> None:
    """Build the database, then check a batch of generated documents (the registry comes next)."""
    from realname.db import migrate
    from realname.db.engine import create_engine_from_settings
    from realname.identity.names import mask_document_number
    from realname.sim import documents as synth

    settings = get_settings()
    engine = create_engine_from_settings(settings)
    migrate.upgrade(engine)
    console.print(f"database ready at revision [bold]{migrate.current_revision(engine)}[/]")
    engine.dispose()

    console.rule("[bold]Identity-document checker on generated documents[/] (synthetic data)")
    rng = random.Random(seed)  # noqa: S311 (synthetic data, reproducible by seed)
    makers: list[tuple[str, DocumentType | None, Callable[[], str]]] = [
        ("resident ID", None, lambda: synth.random_resident_id(rng)),
        ("abolished region", None, lambda: synth.random_resident_id(rng, abolished_share=1.0)),
        ("full-width typing", None, lambda: synth.full_width(synth.random_resident_id(rng))),
        ("legacy 15-digit", None, lambda: synth.legacy_15(rng)),
        ("HK/MO/TW permit", None, lambda: synth.random_residence_permit(rng)),
        ("organisation", DocumentType.ORGANISATION, lambda: synth.random_uscc(rng)),
        ("typing error", None, lambda: synth.corrupt(rng, synth.random_resident_id(rng))),
        ("born tomorrow", None, lambda: synth.born_in_future(rng)),
    ]
    table = Table()
    for column in ("case", "number (masked)", "type", "verdict", "born", "region"):
        table.add_column(column, overflow="fold")
    verdicts: Counter[str] = Counter()
    for i in range(count):
        case, doc_type, make = makers[i % len(makers)]
        number = make()
        report = document_report(number, doc_type, None, "en")
        verdict = "valid" if report["valid"] else report["error"]["code"]
        verdicts[verdict] += 1
        table.add_row(
            case,
            mask_document_number(report["normalized"] or ""),
            str(report["type"] or "?"),
            f"[green]{verdict}[/]" if report["valid"] else f"[red]{verdict}[/]",
            " ".join(filter(None, (report["birth_date"], report["sex"]))),
            report["region"] or "",
        )
    console.print(table)
    console.print(
        "verdicts: " + ", ".join(f"{verdict} {n}" for verdict, n in verdicts.most_common())
    )


def main() -> None:  # pragma: no cover - console entry point
    app()
