"""`realname id check`: a document number validated offline, as a table or one JSON object."""

from __future__ import annotations

import json
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from realname.config import get_settings
from realname.identity.documents import DocumentType, detect_type, parse_document
from realname.identity.errors import DocumentError, message_for
from realname.identity.resident_id import normalize_document_number

id_app = typer.Typer(help="Identity documents.", no_args_is_help=True)
console = Console()


class Language(StrEnum):
    EN = "en"
    ZH = "zh"


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
    today = get_settings().clock().now().date()
    report = document_report(number, doc_type, nationality, lang, today)
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
