"""Two operators re-parenting at once must not build a cycle between them: moves lock the
enterprise row, so the second sees the first's move and is refused. Both engines."""

from __future__ import annotations

import contextlib
import threading

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from realname.provisioning.errors import ProvisioningError
from realname.provisioning.files import load_yaml
from realname.provisioning.repository import ProvisioningRepository
from realname.provisioning.service import ProvisioningService
from realname.registry.models import Channel
from realname.security.vault import KeyRing
from tests.provisioning.test_provisioning import CTX

TREE = """
enterprises:
  - code: MNO
    name: 运营商
    kind: mno
    channels:
      - {code: X, name: x, kind: social, region: "110105"}
      - {code: Y, name: y, kind: social, region: "110105"}
"""


def test_crossed_moves_at_once_leave_no_cycle(
    fresh_engine: Engine, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session(fresh_engine) as session, session.begin():
        service = ProvisioningService(session, keyring)
        service.provision(CTX, load_yaml(TREE))
        enterprise_id = service.enterprise_by_code("MNO").id
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}
    # Each move waits (up to 2 s) for the other after reading the tree and before writing:
    # without the lock both would read a tree without a cycle and both would move.
    meet = threading.Barrier(2)
    read_parent = ProvisioningRepository.parent_of

    def parent_of(self: ProvisioningRepository, channel_id: int) -> int | None:
        found = read_parent(self, channel_id)
        with contextlib.suppress(threading.BrokenBarrierError):
            meet.wait(timeout=2)
        return found

    monkeypatch.setattr(ProvisioningRepository, "parent_of", parent_of)

    def move(channel: str, parent: str) -> None:
        barrier.wait()
        try:
            with Session(fresh_engine) as session, session.begin():
                ProvisioningService(session, keyring).move_channel(
                    CTX, enterprise_id, channel, parent
                )
            outcomes[channel] = "moved"
        except ProvisioningError as error:
            outcomes[channel] = str(error.code)

    threads = [
        threading.Thread(target=move, args=("X", "Y")),
        threading.Thread(target=move, args=("Y", "X")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes.values()) == ["CHANNEL_CYCLE", "moved"], outcomes
    with Session(fresh_engine) as session:
        parents = dict(session.execute(select(Channel.code, Channel.parent_id)).all())
        ids = dict(session.execute(select(Channel.code, Channel.id)).all())
    assert not (parents["X"] == ids["Y"] and parents["Y"] == ids["X"])
