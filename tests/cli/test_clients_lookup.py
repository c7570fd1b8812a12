"""`realname clients add --channel/--clerk` take a code or an id: a number that is one
channel's code and another's id was bound to the code's (a script passing ids, as the option
once required, bound a reader or clerk to the wrong counter). It is refused now."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import typer

from realname.cli import clients


class _Repo:
    def __init__(self, _session: object) -> None:
        pass

    def channel(self, _enterprise_id: int, code: str) -> object | None:
        return SimpleNamespace(id=7) if code == "12" else None

    def channel_by_id(self, channel_id: int) -> object | None:
        return SimpleNamespace(id=channel_id) if channel_id in (12, 3) else None

    def clerk(self, _enterprise_id: int, code: str) -> object | None:
        return SimpleNamespace(id=5, channel_id=7) if code == "12" else None

    def clerk_by_id(self, clerk_id: int) -> object | None:
        return SimpleNamespace(id=clerk_id, channel_id=1) if clerk_id == 12 else None


@pytest.fixture(autouse=True)
def _repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("realname.provisioning.repository.ProvisioningRepository", _Repo)


def test_a_number_that_is_one_channels_code_and_anothers_id_is_refused() -> None:
    with pytest.raises(typer.Exit) as refused:
        clients._channel_of(None, 1, "12")
    assert refused.value.exit_code == 2
    assert clients._channel_of(None, 1, "3") == 3  # an id only
    assert clients._channel_of(None, None, "12") == 12  # no enterprise: an id


def test_a_number_that_is_one_clerks_code_and_anothers_id_is_refused() -> None:
    with pytest.raises(typer.Exit) as refused:
        clients._clerk_of(None, 1, "12", None)
    assert refused.value.exit_code == 2
