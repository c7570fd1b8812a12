"""The synthetic world of `realname demo` (sim/demo.py), built at scale and then lived in.

Two phases. The **base** (base.py) is what an operator migrating onto RealName already has:
three MNOs and several MVNOs with number blocks, channels of every kind, citizens known to the
identity authority, registered lines with their history, unsold kits in stock and a legacy
prepaid base without owners. It is written in bulk (executemany, ids reserved ahead), because
a million lines one service call at a time would take an hour. The **stream** (stream.py)
then drives the real `RegistryService`, one savepoint per operation, exactly as clerks would:
registrations (some from bad channels with fabricated or borrowed identities, or over the
cap), back-fill of legacy lines, SIM swaps, transfers, losses, locks, cancellations and
re-verification.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

from sqlalchemy import Engine

from realname.policy.schema import Policy
from realname.security.vault import KeyRing
from realname.sim.base import bulk_loading, create_enterprises, load_citizens, load_lines
from realname.sim.people import random_citizen
from realname.sim.state import Holdings, Progress, WorldState, WorldSummary, unit_of
from realname.sim.stream import stream_operations


def build_world(
    engine: Engine,
    *,
    policy: Policy,
    keyring: KeyRing,
    lines: int,
    seed: int,
    operations: int,
    now: datetime,
    progress: Progress | None = None,
) -> WorldSummary:
    """The world as it stands at `now`: its history is dated backwards from there."""
    rng = random.Random(seed)
    report = progress or (lambda _phase, _done, _total: None)
    now = now.astimezone(UTC).replace(microsecond=0)
    summary = WorldSummary()
    with unit_of(engine).transaction() as session:
        enterprises = create_enterprises(session, policy, keyring, lines, rng, now)
    citizen_count = max(50, lines * 2 // 5)
    citizens = [random_citizen(rng, now.date()) for _ in range(citizen_count)]
    state = WorldState(enterprises, citizens, {}, Holdings(), [], [], {}, set())
    state.base_order = [e for e in enterprises for _ in range(e.lines)]
    rng.shuffle(state.base_order)
    with bulk_loading(engine) as uow:
        load_citizens(uow, keyring, state, report, now)
        load_lines(uow, policy, keyring, state, lines, rng, report, now)
    summary.lines, summary.citizens = lines, citizen_count
    stream_operations(engine, policy, keyring, state, operations, rng, report, now, summary)
    return summary
