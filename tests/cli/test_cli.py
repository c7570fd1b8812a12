from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from realname.cli import app

runner = CliRunner()
KEYS = {"valid", "type", "normalized", "birth_date", "sex", "region_code", "region"}


def test_id_check_valid_json() -> None:
    result = runner.invoke(app, ["id", "check", "11010519491231002x", "--json"])
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert set(report) >= KEYS
    assert report == report | {
        "valid": True,
        "type": "resident_id",
        "normalized": "11010519491231002X",
        "birth_date": "1949-12-31",
        "sex": "female",
        "region_code": "110105",
        "region": "北京市朝阳区",
    }
    assert "error" not in report


def test_id_check_invalid_json_has_code_and_message() -> None:
    result = runner.invoke(app, ["id", "check", "110105194912310021", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert report["error"]["code"] == "checksum"
    assert report["error"]["message"]


def test_id_check_chinese_messages() -> None:
    result = runner.invoke(app, ["id", "check", "110105194912310021", "--json", "--lang", "zh"])
    assert "校验位" in json.loads(result.stdout)["error"]["message"]


def test_id_check_with_type_and_nationality() -> None:
    result = runner.invoke(
        app, ["id", "check", "--type", "passport", "E1234567", "--nationality", "FR", "--json"]
    )
    assert result.exit_code == 0
    assert json.loads(result.stdout)["nationality"] == "FRA"


@pytest.mark.parametrize(
    ("number", "code"),
    [("990101199001010115", "region"), ("11010519491231002Y", "format")],
)
def test_id_check_without_type_gives_a_resident_id_shaped_number_its_own_error(
    number: str, code: str
) -> None:
    """Not "type not recognised": the same answer as `--type resident_id`."""
    guessed = runner.invoke(app, ["id", "check", number, "--json"])
    typed = runner.invoke(app, ["id", "check", number, "--type", "resident_id", "--json"])
    assert guessed.exit_code == typed.exit_code == 1
    report, expected = json.loads(guessed.output), json.loads(typed.output)
    assert report["error"]["code"] == expected["error"]["code"] == code
    assert report["type"] == "resident_id"


def test_id_check_without_type_refuses_unrecognisable_numbers() -> None:
    result = runner.invoke(app, ["id", "check", "H12345678", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "type"


def test_id_check_human_output() -> None:
    assert "北京市朝阳区" in runner.invoke(app, ["id", "check", "110105491231002"]).stdout
    refused = runner.invoke(app, ["id", "check", "11010519491231"])
    assert refused.exit_code == 1 and "length" in refused.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["id", "check"],
        ["id", "check", "--type", "driving_licence", "1"],
        ["id", "check", "--bogus", "1"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert runner.invoke(app, args).exit_code == 2


def test_db_upgrade_and_current(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from realname.config import get_settings

    monkeypatch.setenv("REALNAME_DATABASE_URL", f"sqlite:///{tmp_path}/db.db")
    get_settings.cache_clear()
    try:
        assert runner.invoke(app, ["db", "current"]).exit_code == 1  # empty: not at head
        upgraded = runner.invoke(app, ["db", "upgrade"])
        assert upgraded.exit_code == 0, upgraded.stdout
        assert runner.invoke(app, ["db", "current"]).exit_code == 0
    finally:
        get_settings.cache_clear()


def test_demo_builds_a_world_that_passes_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from realname.config import get_settings

    monkeypatch.setenv("REALNAME_KEY_FILE", str(tmp_path / "keys.json"))
    get_settings.cache_clear()
    url = f"sqlite:///{tmp_path}/demo.db"
    try:
        demo = runner.invoke(
            app, ["demo", "--lines", "600", "--operations", "150", "--database-url", url]
        )
        assert demo.exit_code == 0, demo.stdout
        assert "no violations" in demo.stdout
        assert "lines by state and enterprise" in demo.stdout
        assert "REALNAME." in demo.stdout  # some cheats were refused
        monkeypatch.setenv("REALNAME_DATABASE_URL", url)
        get_settings.cache_clear()
        checked = runner.invoke(app, ["check"])
        assert checked.exit_code == 0, checked.stdout
        # Rotate the PII key: a new active key, every identity resealed, still consistent.
        added = runner.invoke(app, ["keys", "add"])
        assert added.exit_code == 0 and "k2" in added.stdout
        rotated = runner.invoke(app, ["keys", "rotate", "--batch", "50"])
        assert rotated.exit_code == 0, rotated.stdout
        status = runner.invoke(app, ["keys", "status"])
        assert "k1: 0 identities" in status.stdout
        assert runner.invoke(app, ["check"]).exit_code == 0
        # Same seed, same world: a second run rebuilds it from scratch.
        again = runner.invoke(
            app, ["demo", "--lines", "600", "--operations", "150", "--database-url", url]
        )
        assert again.exit_code == 0
    finally:
        get_settings.cache_clear()


def test_bench_id_prints_rates_and_ratio() -> None:
    result = runner.invoke(app, ["bench", "id", "--n", "2000", "--rounds", "1"])
    assert result.exit_code == 0, result.stdout
    assert "python-stdnum" in result.stdout
    assert "per-number ratio" in result.stdout


@pytest.mark.postgres
def test_demo_on_postgresql_uses_copy_and_keeps_sequences_right(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bulk path (COPY, ids assigned up front) then the service inserting after it."""
    from realname.config import get_settings
    from tests.conftest import _postgres_database

    monkeypatch.setenv("REALNAME_KEY_FILE", str(tmp_path / "keys.json"))
    get_settings.cache_clear()
    try:
        for url in _postgres_database():
            demo = runner.invoke(
                app, ["demo", "--lines", "800", "--operations", "200", "--database-url", url]
            )
            assert demo.exit_code == 0, demo.stdout
            assert "no violations" in demo.stdout
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["check"], "realname db upgrade"),
        (["clients", "list"], "realname db upgrade"),
        (["keys", "status"], "realname db upgrade"),
    ],
)
def test_database_trouble_is_a_message_not_a_traceback(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    hint: str,
) -> None:
    """An unmigrated database used to end every command in a SQLAlchemy traceback."""
    from realname.cli import main
    from realname.config import get_settings

    monkeypatch.setenv("REALNAME_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setenv("REALNAME_KEY_FILE", str(tmp_path / "keys.json"))
    get_settings.cache_clear()
    monkeypatch.setattr("sys.argv", ["realname", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    get_settings.cache_clear()
    out = capsys.readouterr().out
    assert exited.value.code == 1
    assert "database error" in out and hint in out
    assert "Traceback" not in out and "SELECT" not in out


def test_an_unreachable_database_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from realname.cli import main
    from realname.config import get_settings

    monkeypatch.setenv("REALNAME_DATABASE_URL", "postgresql+psycopg://u:secret@127.0.0.1:1/x")
    get_settings.cache_clear()
    monkeypatch.setattr("sys.argv", ["realname", "clients", "list"])
    with pytest.raises(SystemExit) as exited:
        main()
    get_settings.cache_clear()
    out = capsys.readouterr().out
    assert exited.value.code == 1 and "reachable" in out and "secret" not in out


@pytest.mark.parametrize("url", ["garbage", "nosuchdialect://u:secret@host/db"])
def test_a_malformed_database_url_is_a_message_not_a_traceback(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from realname.cli import main
    from realname.config import get_settings

    monkeypatch.setenv("REALNAME_DATABASE_URL", url)
    get_settings.cache_clear()
    monkeypatch.setattr("sys.argv", ["realname", "check"])
    with pytest.raises(SystemExit) as exited:
        main()
    get_settings.cache_clear()
    out = capsys.readouterr().out
    assert exited.value.code == 1 and "not a valid SQLAlchemy URL" in out and "secret" not in out


def test_serve_workers_each_bind_the_port_with_so_reuseport() -> None:
    """`realname serve --workers N` on Linux: every worker listens on the port itself, so the
    kernel deals connections out among them (one shared socket let one worker take all)."""
    import socket

    from realname.api.listening import reuseport_balances, reuseport_socket

    if not reuseport_balances():
        pytest.skip("SO_REUSEPORT balances connections on Linux only")
    first = reuseport_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    second = reuseport_socket("127.0.0.1", port)  # a plain socket would fail: in use
    try:
        for sock in (first, second):
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
            sock.listen()
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    finally:
        first.close()
        second.close()
