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
