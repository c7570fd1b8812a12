"""`realname import legacy FILE`: an enterprise's legacy prepaid lines, loaded in bulk.

Nothing heavy is imported until the command runs; `realname bench import` measures the same
loader (cli/bench.py) with the chunk and worker options defined here.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from realname.cli.options import EnterpriseCode
from realname.cli.session import cli_process
from realname.config import get_settings

if TYPE_CHECKING:
    from realname.backfill.importing.pipeline import ImportReport

import_app = typer.Typer(help="Load data from other systems.", no_args_is_help=True)
console = Console()


class FileFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


ChunkRows = Annotated[
    int | None,
    typer.Option(
        min=1000, max=5_000_000, help="Rows per chunk, one transaction each (default 100,000)."
    ),
]
Workers = Annotated[
    int | None,
    typer.Option(
        min=1, max=16, help="PostgreSQL connections loading chunks side by side (default 2)."
    ),
]


@import_app.command("legacy")
def import_legacy_command(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="CSV with a header row, or Parquet: msisdn, activated_at, and optionally "
            "iccid, imsi, balance (yuan), home_region, channel_code.",
        ),
    ],
    enterprise: EnterpriseCode,
    reject_file: Annotated[
        Path | None,
        typer.Option(
            "--reject-file",
            dir_okay=False,
            help="Where rejected rows go (default FILE.rejects.csv).",
        ),
    ] = None,
    file_format: Annotated[
        FileFormat | None,
        typer.Option("--format", help="csv or parquet (default: by the extension)."),
    ] = None,
    chunk_rows: ChunkRows = None,
    workers: Workers = None,
) -> None:
    """Load an enterprise's legacy (anonymous prepaid) lines in bulk, as state `legacy`.

    Bad rows go to the reject file with their line number and reason; the good rows land.
    Running the same file again loads only what is missing and changes nothing else."""
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from realname.backfill.errors import BackfillError
    from realname.backfill.importing.pipeline import (
        DEFAULT_CHUNK_ROWS,
        DEFAULT_WORKERS,
        ImportProgress,
        import_legacy,
    )

    settings = get_settings()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:>12,} rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    try:
        # import_legacy opens its own units of work, chunk by chunk: it takes the process's.
        with cli_process(settings) as process, Progress(*columns, console=console) as bar:
            task = bar.add_task(f"importing {file.name}", total=None, rows=0)

            def advance(p: ImportProgress) -> None:
                bar.update(task, total=p.total, completed=p.done, rows=p.rows_read)

            report = import_legacy(
                process.uow,
                keyring=process.keyring,
                enterprise=enterprise,
                path=file,
                reject_path=reject_file,
                at=settings.clock().now(),
                actor="operator:cli",
                file_format=file_format.value if file_format else None,
                jurisdiction=process.policy.jurisdiction,
                chunk_rows=chunk_rows or DEFAULT_CHUNK_ROWS,
                workers=workers or DEFAULT_WORKERS,
                progress=advance,
            )
    except BackfillError as error:
        console.print(f"[red]{error.message}[/]" + (f" ({error.detail})" if error.detail else ""))
        raise typer.Exit(1) from None
    except ValueError as error:  # the reject file is the input file
        console.print(f"[red]{error}[/]")
        raise typer.Exit(2) from None
    print_import_report(report)


def print_import_report(report: ImportReport) -> None:
    table = Table(title=f"legacy import #{report.import_id} for {report.enterprise_code}")
    table.add_column("rows")
    table.add_column("count", justify="right")
    table.add_row("read", f"{report.rows_read:,}")
    table.add_row("loaded", f"[green]{report.rows_loaded:,}[/]")
    table.add_row("already present", f"{report.rows_present:,}")
    rejected = f"{report.rows_rejected:,}"
    table.add_row("rejected", f"[yellow]{rejected}[/]" if report.rows_rejected else rejected)
    for reason, count in report.rejected_by_reason.most_common():
        table.add_row(f"  {reason}", f"{count:,}")
    table.add_row("rows/s", f"{report.rows_per_second:,.0f}")
    console.print(table)
    console.print(f"{report.seconds:.1f} s; source SHA-256 {report.source_sha256}")
    if report.rows_rejected:
        console.print(f"rejected rows (line, reason, fields): {report.reject_path}")
    else:
        console.print("no rows rejected; no reject file written")
    if report.previous_import_id is not None:
        console.print(
            f"this file was imported before (import #{report.previous_import_id}): "
            "rows already present were left as they were"
        )
