"""`realname national …` refusals that need no platform."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from realname.cli import app

runner = CliRunner()


def test_take_drop_of_a_missing_directory_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It said "0 batches taken" and exit 0, as if the drop were empty (a mistyped path, an
    unmounted share went unnoticed)."""
    from realname.config import get_settings

    monkeypatch.setenv("REALNAME_DATABASE_URL", f"sqlite:///{tmp_path}/p.db")
    monkeypatch.setenv("REALNAME_KEY_FILE", str(tmp_path / "keys.json"))
    get_settings.cache_clear()
    try:
        missing = tmp_path / "no-such-drop"
        result = runner.invoke(app, ["national", "take-drop", str(missing)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2, result.stdout
    said = " ".join(result.stdout.split())
    assert "no drop directory" in said and "taken" in said and "0 batches" not in said
    assert not missing.exists()


@pytest.mark.parametrize(
    ("terminal", "wanted", "shown"),
    [(True, True, True), (True, False, False), (False, True, False)],
)
def test_progress_is_shown_on_a_terminal_only_and_not_with_json(
    monkeypatch: pytest.MonkeyPatch, terminal: bool, wanted: bool, shown: bool
) -> None:
    """publish, take-drop and export show a progress bar on stderr (a 1 M-line back-load
    ran for minutes in silence); never in a pipe or a cron run's mail, nor with --json."""
    import io

    from rich.console import Console

    from realname.cli import national

    out = io.StringIO()
    monkeypatch.setattr(national, "err", Console(file=out, force_terminal=terminal, width=80))
    with national.shown_progress("publish CMCC", wanted=wanted) as progress:
        progress("built", 1, None)
        progress("sent", 3, 7)
    assert ("publish CMCC: sent" in out.getvalue()) is shown
    assert bool(out.getvalue()) is shown


def test_serve_believes_forwarded_headers_from_the_trusted_proxies_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """uvicorn believed X-Forwarded-For from its FORWARDED_ALLOW_IPS (loopback by default),
    whatever REALNAME_TRUSTED_PROXIES said: when set, the server trusts the app's proxies."""
    import uvicorn

    from realname.config import get_settings

    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *_a, **kw: seen.update(kw))
    monkeypatch.setenv("REALNAME_DATABASE_URL", f"sqlite:///{tmp_path}/s.db")
    monkeypatch.setenv("REALNAME_KEY_FILE", str(tmp_path / "keys.json"))
    monkeypatch.delenv("REALNAME_WORKERS", raising=False)  # serve sets it: restored after
    for proxies, expected in (("10.0.0.0/8, 192.0.2.1", ["10.0.0.0/8", "192.0.2.1"]), ("", None)):
        monkeypatch.setenv("REALNAME_TRUSTED_PROXIES", proxies)
        get_settings.cache_clear()
        try:
            result = runner.invoke(app, ["serve"])
        finally:
            get_settings.cache_clear()
        assert result.exit_code == 0, result.stdout
        assert seen["forwarded_allow_ips"] == expected
