"""`realname import legacy` on both engines: good rows land as legacy lines, bad rows go to
the reject file with their line numbers, a re-run changes nothing, and `realname check`
accepts what the import leaves."""

from __future__ import annotations

import csv
import random
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker
from stdnum import luhn
from typer.testing import CliRunner

from realname.backfill.errors import BackfillError, BackfillErrorCode
from realname.backfill.importing.pipeline import ImportReport, import_legacy
from realname.backfill.importing.validate import RejectReason
from realname.backfill.models import LegacyImport
from realname.cli.bench import bench_import
from realname.cli.imports import import_app
from realname.db.uow import UnitOfWork
from realname.policy.loader import load_policy
from realname.policy.schema import ChannelKind, Policy
from realname.registry.check import run_integrity_check
from realname.registry.commands import Kit
from realname.registry.models import Line, LineEvent
from realname.security.audit_keys import AuditKeys
from realname.security.models import AuditLog
from realname.security.redact import contains_pii
from realname.security.vault import KeyRing, generate_key
from tests.registry.conftest import NOW, World, build_world, china, keyring  # noqa: F401

HEADER = "msisdn,iccid,imsi,activated_at,balance,home_region,channel_code\n"
HALL = "C-own_hall"  # the channel codes build_world gives CMCC
ONLINE = "C-online"


@pytest.fixture
def world(db_session: Session, keyring: KeyRing, china: Policy) -> World:  # noqa: F811
    return build_world(db_session, keyring, china)


def iccid(n: int) -> str:
    body = f"898600{n:013d}"
    return body + luhn.calc_check_digit(body)


def sessions_of(session: Session) -> sessionmaker[Session]:
    """Sessions on the test's connection: what they commit stays inside the test's
    transaction, rolled back afterwards."""
    session.flush()
    return sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint")


def load(world: World, path: Path, **options: Any) -> ImportReport:
    return import_legacy(
        UnitOfWork(sessions_of(world.session)),
        keyring=world.service.keyring,
        enterprise="CMCC",
        path=path,
        at=NOW,
        actor="operator:test",
        **options,
    )


def lines(session: Session) -> list[Any]:
    session.expire_all()
    return list(session.scalars(select(Line).order_by(Line.msisdn)))


def snapshot(session: Session) -> list[tuple[Any, ...]]:
    rows = session.execute(text("SELECT * FROM line ORDER BY id"))
    return [tuple(row) for row in rows]


def rejects(path: Path) -> dict[int, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {int(row["line"]): row for row in csv.DictReader(handle)}


GOOD = (
    HEADER
    + f"13800100001,{iccid(1)},460001234567801,2015-03-04,12.50,110105,{HALL}\n"
    + "+86 138 0010 0002,,,2016-01-02T03:04:05+08:00,,,\n"
    + f"8613800100003,{iccid(3)},460001234567803,2016-07-08 09:10:11.5,0.3,310101,{ONLINE}\n"
)


def test_good_rows_land_as_legacy_lines(world: World, tmp_path: Path) -> None:
    path = tmp_path / "legacy.csv"
    path.write_text(GOOD)
    report = load(world, path)

    assert (report.rows_read, report.rows_loaded, report.rows_present) == (3, 3, 0)
    assert report.rows_rejected == 0 and not report.reject_path.exists()
    first, second, third = lines(world.session)
    assert (first.msisdn, first.iccid, first.imsi) == (
        "+8613800100001",
        iccid(1),
        "460001234567801",
    )
    assert first.state == "legacy" and first.owner_identity_id is None
    assert first.enterprise_id == world.enterprise_id
    assert first.channel_id == world.channels[ChannelKind.OWN_HALL]
    assert first.activated_at == datetime(2015, 3, 4, tzinfo=UTC)
    assert first.state_changed_at == NOW and first.event_count == 0
    assert (first.home_region, first.prepaid_balance_minor) == ("110105", 1250)
    assert first.legacy_import_id == report.import_id
    assert second.msisdn == "+8613800100002"
    assert second.activated_at == datetime(2016, 1, 1, 19, 4, 5, tzinfo=UTC)  # +08:00 -> UTC
    assert (second.iccid, second.imsi, second.channel_id, second.home_region) == (
        None,
        None,
        None,
        None,
    )
    assert second.prepaid_balance_minor is None
    assert third.activated_at == datetime(2016, 7, 8, 9, 10, 11, 500000, tzinfo=UTC)
    assert third.prepaid_balance_minor == 30
    assert third.channel_id == world.channels[ChannelKind.ONLINE]
    # The import batch is the lines' first event: no line_event rows.
    assert world.session.scalar(select(func.count()).select_from(LineEvent)) == 0

    record = world.session.get(LegacyImport, report.import_id)
    assert record is not None and record.finished_at is not None
    assert (record.rows_read, record.rows_loaded, record.rows_present, record.rows_rejected) == (
        3,
        3,
        0,
        0,
    )
    assert record.source_name == "legacy.csv" and len(record.source_sha256) == 64
    audit = world.session.scalars(select(AuditLog).where(AuditLog.action == "legacy.import")).one()
    assert audit.object_id == str(report.import_id) and audit.actor == "operator:test"
    assert audit.detail["loaded"] == 3 and not contains_pii(str(audit.detail))


BAD = (
    HEADER
    + f"13800100011,{iccid(11)},460000000000011,2015-01-01,1,110105,{HALL}\n"  # 2 good
    + "17000100012,,,2015-01-01,,,\n"  # 3 the MVNO's block
    + "12345,,,2015-01-01,,,\n"  # 4 not a number
    + "\n"  # 5 blank: skipped, not counted
    + "+8613800100011,,,2015-01-01,,,\n"  # 6 number repeats line 2
    + f"13800100013,{iccid(11)},,2015-01-01,,,\n"  # 7 ICCID repeats line 2
    + "13800100014,,460000000000011,2015-01-01,,,\n"  # 8 IMSI repeats line 2
    + f"13800100015,{iccid(15)[:-1]}{(int(iccid(15)[-1]) + 1) % 10},,2015-01-01,,,\n"  # 9 Luhn
    + "13800100016,8986001,,2015-01-01,,,\n"  # 10 ICCID too short
    + "13800100017,,46000123,2015-01-01,,,\n"  # 11 IMSI too short
    + "13800100018,,,2019-02-29,,,\n"  # 12 no such day
    + "13800100019,,,2030-01-01,,,\n"  # 13 after the import
    + "13800100020,,,,,,\n"  # 14 no activation date
    + "13800100021,,,2015-01-01,-5.00,,\n"  # 15 negative balance
    + "13800100022,,,2015-01-01,1.234,,\n"  # 16 three decimals
    + "13800100023,,,2015-01-01,,999999,\n"  # 17 no such region
    + "13800100024,,,2015-01-01,,,NO-SUCH\n"  # 18 unknown channel
    + "13800100025,only,three\n"  # 19 wrong number of fields
    + ",,,2015-01-01,,,\n"  # 20 no number
    + "13800100026,,,2015-01-01T10:20+08:00,99999.99,,\n"  # 21 good
)
EXPECTED = {
    3: RejectReason.NUMBER_NOT_ALLOCATED,
    4: RejectReason.NUMBER_INVALID,
    6: RejectReason.DUPLICATE_IN_FILE,
    7: RejectReason.DUPLICATE_IN_FILE,
    8: RejectReason.DUPLICATE_IN_FILE,
    9: RejectReason.ICCID_INVALID,
    10: RejectReason.ICCID_INVALID,
    11: RejectReason.IMSI_INVALID,
    12: RejectReason.ACTIVATED_AT_INVALID,
    13: RejectReason.ACTIVATED_AT_INVALID,
    14: RejectReason.ACTIVATED_AT_INVALID,
    15: RejectReason.BALANCE_INVALID,
    16: RejectReason.BALANCE_INVALID,
    17: RejectReason.HOME_REGION_INVALID,
    18: RejectReason.CHANNEL_UNKNOWN,
    19: RejectReason.ROW_MALFORMED,
    20: RejectReason.NUMBER_INVALID,
}


def test_bad_rows_go_to_the_reject_file_and_good_rows_land(world: World, tmp_path: Path) -> None:
    path = tmp_path / "legacy.csv"
    path.write_text(BAD)
    report = load(world, path)

    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (19, 2, 17)
    assert report.reject_path == tmp_path / "legacy.csv.rejects.csv"
    found = rejects(report.reject_path)
    assert {line: row["reason"] for line, row in found.items()} == {
        line: str(reason) for line, reason in EXPECTED.items()
    }
    assert found[3]["msisdn"] == "17000100012" and found[15]["balance"] == "-5.00"
    assert found[19]["iccid"] == "only" and found[19]["imsi"] == "three"
    assert all(row["message"] for row in found.values())
    assert sum(report.rejected_by_reason.values()) == 17
    assert report.rejected_by_reason[str(RejectReason.DUPLICATE_IN_FILE)] == 3
    assert [line.msisdn for line in lines(world.session)] == ["+8613800100011", "+8613800100026"]
    late = lines(world.session)[1]
    assert late.activated_at == datetime(2015, 1, 1, 2, 20, tzinfo=UTC)
    assert late.prepaid_balance_minor == 9_999_999


def test_a_number_outside_the_enterprises_blocks_is_rejected(world: World, tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    # A valid mobile number, but in the MVNO's block; and one in no block at all.
    path.write_text(HEADER + "17000100001,,,2015-01-01,,,\n13900000000,,,2015-01-01,,,\n")
    report = load(world, path)
    assert report.rows_loaded == 0
    assert {r["reason"] for r in rejects(report.reject_path).values()} == {
        str(RejectReason.NUMBER_NOT_ALLOCATED)
    }
    assert lines(world.session) == []


def test_reimport_changes_nothing_and_counts_rows_present(world: World, tmp_path: Path) -> None:
    path = tmp_path / "legacy.csv"
    path.write_text(BAD)
    first = load(world, path)
    before = snapshot(world.session)
    again = load(world, path)

    assert snapshot(world.session) == before
    assert (again.rows_read, again.rows_loaded, again.rows_present) == (19, 0, first.rows_loaded)
    assert again.rows_rejected == first.rows_rejected
    assert again.previous_import_id == first.import_id
    assert again.source_sha256 == first.source_sha256
    assert set(rejects(again.reject_path)) == set(EXPECTED)


def test_an_overlapping_file_loads_only_what_is_missing(world: World, tmp_path: Path) -> None:
    first = tmp_path / "first.csv"
    first.write_text(HEADER + "".join(f"138001{n:05d},,,2015-01-01,,,\n" for n in range(10)))
    load(world, first)
    second = tmp_path / "second.csv"
    second.write_text(HEADER + "".join(f"138001{n:05d},,,2016-01-01,,,\n" for n in range(5, 15)))
    report = load(world, second)
    assert (report.rows_loaded, report.rows_present, report.rows_rejected) == (5, 5, 0)
    loaded = lines(world.session)
    assert len(loaded) == 15
    # Lines already there keep what the first import said.
    assert {line.activated_at.year for line in loaded[:10]} == {2015}
    assert {line.activated_at.year for line in loaded[10:]} == {2016}


def test_a_sim_already_on_another_line_is_rejected(world: World, tmp_path: Path) -> None:
    """The database, not the file, knows this: the row is refused at load time (on
    PostgreSQL the COPY fails, rolls back to its savepoint and the chunk is staged)."""
    kit = Kit("+8613800199999", iccid(999), "460009999999999")
    world.service.stock.stock_kits(
        world.ctx(), world.enterprise_id, world.channels[ChannelKind.OWN_HALL], [kit]
    )
    path = tmp_path / "legacy.csv"
    path.write_text(
        HEADER
        + f"13800190001,{kit.iccid},,2015-01-01,,,\n"
        + "13800190002,,,2015-01-01,,,\n"
        + f"13800190003,,{kit.imsi},2015-01-01,,,\n"
    )
    report = load(world, path)
    assert (report.rows_loaded, report.rows_present, report.rows_rejected) == (1, 0, 2)
    found = rejects(report.reject_path)
    assert {line: row["reason"] for line, row in found.items()} == {
        2: str(RejectReason.KIT_IN_USE),
        4: str(RejectReason.KIT_IN_USE),
    }
    assert report.rejected_by_reason[str(RejectReason.KIT_IN_USE)] == 2


def test_chunks_keep_line_numbers_and_catch_duplicates_across_them(
    world: World, tmp_path: Path
) -> None:
    rows = [f"138001{n:05d},,,2015-01-01,,,\n" for n in range(4000)]
    rows[1500] = "\n"  # a blank line in the second chunk
    rows[3999] = "13800100007,,,2015-01-01,,,\n"  # repeats line 9, three chunks earlier
    rows[3000] = "13800100008,,,2015-01-01,xx,,\n"  # bad balance (and a repeat)
    path = tmp_path / "big.csv"
    path.write_text(HEADER + "".join(rows))
    report = load(world, path, chunk_rows=1000)
    found = rejects(report.reject_path)
    assert {line: row["reason"] for line, row in found.items()} == {
        3002: str(RejectReason.DUPLICATE_IN_FILE),
        4001: str(RejectReason.DUPLICATE_IN_FILE),
    }
    assert (report.rows_read, report.rows_loaded) == (3999, 3997)


def test_parquet_files_load_with_row_numbers(world: World, tmp_path: Path) -> None:
    path = tmp_path / "legacy.parquet"
    table = pa.table(
        {
            "MSISDN": pa.array([13800100031, 13800100032, 13800100033, 12345], pa.int64()),
            "iccid": [iccid(31), None, "8986", None],
            "activated_at": pa.array(
                [
                    datetime(2015, 1, 1, 8, tzinfo=UTC),
                    datetime(2016, 1, 1, tzinfo=UTC),
                    datetime(2017, 1, 1, tzinfo=UTC),
                    datetime(2018, 1, 1, tzinfo=UTC),
                ],
                pa.timestamp("ms", tz="Asia/Shanghai"),
            ),
            "balance": pa.array(
                [Decimal("12.34"), None, Decimal("1.00"), Decimal("0")], pa.decimal128(10, 2)
            ),
            "channel_code": [HALL, None, None, None],
        }
    )
    pq.write_table(table, path)
    report = load(world, path)
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (4, 2, 2)
    found = rejects(report.reject_path)
    assert {line: row["reason"] for line, row in found.items()} == {
        3: str(RejectReason.ICCID_INVALID),
        4: str(RejectReason.NUMBER_INVALID),
    }
    first, second = lines(world.session)
    assert (first.msisdn, first.iccid, first.prepaid_balance_minor) == (
        "+8613800100031",
        iccid(31),
        1234,
    )
    assert first.activated_at == datetime(2015, 1, 1, 8, tzinfo=UTC)
    assert first.channel_id == world.channels[ChannelKind.OWN_HALL]
    assert second.prepaid_balance_minor is None


def test_format_can_be_named(world: World, tmp_path: Path) -> None:
    path = tmp_path / "export.dat"
    path.write_text(GOOD)
    assert load(world, path, file_format="csv").rows_loaded == 3


def test_check_is_clean_after_an_import(
    world: World,
    tmp_path: Path,
    china: Policy,  # noqa: F811
    keyring: KeyRing,  # noqa: F811
) -> None:
    world.register(world.people[0])  # lines with events beside the imported ones
    path = tmp_path / "legacy.csv"
    path.write_text(BAD)
    load(world, path)
    world.session.expire_all()
    report = run_integrity_check(world.session, china, keyring)
    assert report.ok, [(r.name, r.violations) for r in report.results if r.violations]
    replay = next(r for r in report.results if "replay" in r.name)
    assert replay.examined == 3


def test_an_unknown_enterprise_is_refused_before_anything_is_written(
    world: World, tmp_path: Path
) -> None:
    path = tmp_path / "legacy.csv"
    path.write_text(GOOD)
    with pytest.raises(BackfillError) as refused:
        import_legacy(
            UnitOfWork(sessions_of(world.session)),
            keyring=world.service.keyring,
            enterprise="NOPE",
            path=path,
            at=NOW,
        )
    assert refused.value.code is BackfillErrorCode.ENTERPRISE_NOT_FOUND
    assert refused.value.http_status == 404
    assert world.session.scalar(select(func.count()).select_from(LegacyImport)) == 0


def test_a_missing_column_is_refused_before_anything_is_loaded(
    world: World, tmp_path: Path
) -> None:
    path = tmp_path / "legacy.csv"
    path.write_text("msisdn,iccid\n13800100001,\n")
    with pytest.raises(BackfillError) as refused:
        load(world, path)
    assert refused.value.code is BackfillErrorCode.IMPORT_COLUMNS_MISSING
    assert "activated_at" in str(refused.value)
    assert world.session.scalar(select(func.count()).select_from(LegacyImport)) == 0
    assert lines(world.session) == []


def test_errors_never_quote_a_phone_number(world: World, tmp_path: Path) -> None:
    headless = tmp_path / "headless.csv"  # the header row forgotten: data where names go
    headless.write_text("13800100001,2015-01-01\n13800100002,2015-01-01\n")
    with pytest.raises(BackfillError) as refused:
        load(world, headless)
    assert not contains_pii(str(refused.value)) and "13800100001" not in str(refused.value)
    not_parquet = tmp_path / "legacy.parquet"
    not_parquet.write_text(GOOD)
    with pytest.raises(BackfillError) as unreadable:
        load(world, not_parquet)
    assert unreadable.value.code is BackfillErrorCode.IMPORT_FILE_UNREADABLE


def test_unreadable_data_stops_the_import_without_quoting_it(world: World, tmp_path: Path) -> None:
    path = tmp_path / "legacy.csv"
    path.write_bytes(
        GOOD.encode() + "13800100004,,,2015-01-01,,,\xb1\xb1\xbe\xa9\n".encode("latin-1")
    )
    with pytest.raises(BackfillError) as refused:
        load(world, path)
    assert refused.value.code is BackfillErrorCode.IMPORT_FILE_UNREADABLE
    assert "13800100004" not in str(refused.value)
    lines = GOOD.count("\n")
    assert f"line {lines + 1} is not UTF-8" in str(refused.value)  # where, never what
    # A malformed row with a GBK name in it: no name, no number, in the message.
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes(GOOD.encode() + "13800100005,2015-01-01,张三\n".encode("gbk"))
    with pytest.raises(BackfillError) as malformed:
        load(world, gbk)
    assert "13800100005" not in str(malformed.value) and "张" not in str(malformed.value)


def test_garbage_in_any_column_is_rejected_never_raised(world: World, tmp_path: Path) -> None:
    rng = random.Random(11)
    alphabet = "0123456789+-.:TZ /,\"'x 年月日\t"
    rows = []
    for _ in range(2000):
        fields = [
            "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 22))) for _ in range(7)
        ]
        rows.append(",".join(f'"{f.replace(chr(34), chr(34) * 2)}"' for f in fields))
    path = tmp_path / "garbage.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n")
    report = load(world, path)
    assert report.rows_read > 1900  # all but the rows of empty fields (blank: skipped)
    assert report.rows_loaded == 0 and report.rows_rejected == report.rows_read


def test_a_killed_import_resumes_where_it_stopped(fresh_engine: Engine, tmp_path: Path) -> None:
    """Chunks commit one by one (side by side on PostgreSQL): an import that dies half way
    keeps what it committed, and running the file again loads exactly the rest."""
    with Session(fresh_engine) as session:
        keyring = KeyRing({"k1": generate_key()}, "k1", generate_key(), audit=AuditKeys.generate())
        world = build_world(session, keyring, load_policy("china"))
        session.commit()
        enterprise_id = world.enterprise_id
    path = tmp_path / "big.csv"
    path.write_text(HEADER + "".join(f"138001{n:05d},,,2015-01-01,,,\n" for n in range(6000)))

    def die_after_two(progress: Any) -> None:
        if progress.rows_read >= 2000:
            raise KeyboardInterrupt

    sessions = sessionmaker(fresh_engine)
    with pytest.raises(KeyboardInterrupt):
        import_legacy(
            UnitOfWork(sessions), keyring=keyring, enterprise=enterprise_id, path=path, at=NOW,
            chunk_rows=1000, workers=2, progress=die_after_two,
        )  # fmt: skip
    with Session(fresh_engine) as session:
        kept = session.scalar(select(func.count()).select_from(Line))
        unfinished = session.scalars(select(LegacyImport)).one()
        assert 2000 <= kept < 6000 and unfinished.finished_at is None
        assert unfinished.rows_loaded == kept  # its counts match what it committed
    report = import_legacy(
        UnitOfWork(sessions),
        keyring=keyring,
        enterprise="CMCC",
        path=path,
        at=NOW,
        chunk_rows=1000,
        workers=2,
    )
    assert (report.rows_loaded, report.rows_present) == (6000 - kept, kept)
    with Session(fresh_engine) as session:
        assert session.scalar(select(func.count()).select_from(Line)) == 6000
    again = import_legacy(
        UnitOfWork(sessions), keyring=keyring, enterprise="CMCC", path=path, at=NOW, chunk_rows=1000
    )
    assert (again.rows_loaded, again.rows_present) == (0, 6000)


# --- the CLI ------------------------------------------------------------------------------

runner = CliRunner()


def cli() -> typer.Typer:
    """The commands as `realname.cli` wires them."""
    app = typer.Typer()
    app.add_typer(import_app, name="import")
    bench = typer.Typer()
    bench.command("import")(bench_import)
    app.add_typer(bench, name="bench")
    return app


@pytest.fixture
def cli_database(
    fresh_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    keyring: KeyRing,  # noqa: F811
) -> Engine:
    from realname.config import get_settings

    with Session(fresh_engine) as session:
        build_world(session, keyring, load_policy("china"))
        session.commit()
    monkeypatch.setenv("REALNAME_DATABASE_URL", fresh_engine.url.render_as_string(False))
    monkeypatch.setenv("REALNAME_KEY_FILE", str(tmp_path / "keys.json"))
    get_settings.cache_clear()
    yield fresh_engine  # type: ignore[misc]
    get_settings.cache_clear()


def count(output: str, label: str) -> int:
    """A count from the summary table."""
    found = re.search(rf"│\s+{label}\s+│\s+([\d,]+) │", output)
    assert found, output
    return int(found.group(1).replace(",", ""))


def test_cli_imports_and_summarises(cli_database: Engine, tmp_path: Path) -> None:
    path = tmp_path / "legacy.csv"
    path.write_text(BAD)
    result = runner.invoke(cli(), ["import", "legacy", str(path), "--enterprise", "CMCC"])
    assert result.exit_code == 0, result.output
    assert (count(result.output, "read"), count(result.output, "loaded")) == (19, 2)
    assert count(result.output, "rejected") == 17 and "rows/s" in result.output
    assert count(result.output, "duplicate_in_file") == 3
    assert "legacy.csv.rejects.csv" in result.output.replace("\n", "")
    again = runner.invoke(
        cli(),
        ["import", "legacy", str(path), "--enterprise", "CMCC", "--chunk-rows", "1000"],
    )
    assert again.exit_code == 0, again.output
    assert (count(again.output, "loaded"), count(again.output, "already present")) == (0, 2)
    assert "imported before" in again.output
    with Session(cli_database) as session:
        assert session.scalar(select(func.count()).select_from(Line)) == 2


def test_cli_refusals(cli_database: Engine, tmp_path: Path) -> None:
    path = tmp_path / "legacy.csv"
    path.write_text(GOOD)
    unknown = runner.invoke(cli(), ["import", "legacy", str(path), "--enterprise", "NOPE"])
    assert unknown.exit_code == 1 and "No such enterprise" in unknown.output
    missing = runner.invoke(
        cli(), ["import", "legacy", str(tmp_path / "nope.csv"), "--enterprise", "CMCC"]
    )
    assert missing.exit_code == 2
    columns = tmp_path / "columns.csv"
    columns.write_text("number,activated\n13800100001,2015-01-01\n")
    lacking = runner.invoke(cli(), ["import", "legacy", str(columns), "--enterprise", "CMCC"])
    assert lacking.exit_code == 1 and "msisdn, activated_at" in lacking.output
    assert "13800100001" not in lacking.output


@pytest.mark.postgres
def test_bench_import_runs_on_postgresql() -> None:
    """The benchmark stays runnable: a small run, both baselines, import and re-run."""
    from tests.conftest import POSTGRES_URL, _postgres_or_skip

    _postgres_or_skip()
    result = runner.invoke(
        cli(), ["bench", "import", "--rows", "3000", "--admin-url", POSTGRES_URL]
    )
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "bare COPY" in out and "import / bare COPY" in out
    assert "found" in out and "present" in out
