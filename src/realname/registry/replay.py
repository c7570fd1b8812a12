"""Replaying a line's events against the lifecycle table, for `realname check`.

Pure: rows in, findings out (no session, no query). The event log is the line's history;
the `line` row is only a cache of where it ends, so every line must replay, move by legal
move, to its state, owner and cached columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from realname.registry.lifecycle import LEGAL_MOVES, LineState


def grouped(events: Iterator[Any]) -> Iterator[tuple[int, list[Any]]]:
    """Events ordered by line as (line id, its events): one line in memory at a time."""
    current: int | None = None
    group: list[Any] = []
    for event in events:
        if event[0] != current:
            if current is not None:
                yield current, group
            current, group = event[0], []
        group.append(event)
    if current is not None:
        yield current, group


def _initial_state(legacy_import_id: int | None) -> str | None:
    """A line bulk-loaded by a legacy import starts as legacy: the import is its first event."""
    return str(LineState.LEGACY) if legacy_import_id is not None else None


def replays_cleanly(line: Any, events: list[Any]) -> bool:
    """The fast path for the overwhelming majority: every move legal, in sequence, ending
    where the line is. Anything else goes to `replay_line` for the words."""
    _id, _msisdn, state, owner, count, imported = line[:6]
    previous = _initial_state(imported)
    legal = LEGAL_MOVES
    for seq, event in enumerate(events, start=1):
        if event[1] != seq or event[3] != previous or (event[2], event[3], event[4]) not in legal:
            return False
        previous = event[4]
    last_owner = events[-1][5] if events else None
    return bool(count == len(events) and previous == state and last_owner == owner)


def replay_line(line: Any, events: list[Any]) -> list[str]:
    _id, msisdn, line_state, line_owner, event_count, imported = line[:6]
    where = f"line {mask_line(msisdn)}"
    problems = []
    state: str | None = _initial_state(imported)
    owner: int | None = None
    for expected_seq, (_line, seq, operation, from_state, to_state, owner_after, *_) in enumerate(
        events, start=1
    ):
        if seq != expected_seq:
            problems.append(f"{where}: event {expected_seq} missing (found {seq})")
        if from_state != state:
            problems.append(f"{where}: event {seq} starts from {from_state}, replay is at {state}")
        if (operation, state, to_state) not in LEGAL_MOVES:
            problems.append(f"{where}: event {seq} ({operation}) is not a legal move")
        state, owner = to_state, owner_after
    if event_count != len(events):
        problems.append(f"{where}: line counts {event_count} events, {len(events)} exist")
    if state != line_state:
        problems.append(f"{where}: state is {line_state}, its events replay to {state}")
    elif owner != line_owner:
        problems.append(f"{where}: owner is {line_owner}, its events replay to {owner}")
    return problems


# Which operations set a line's cached columns (registry/service.py), so `check` can project
# them from the MAC'd events: a line's own channel, activation, ownership and SIM-change times
# are what channel risk, Tenure and SIM Swap answers rest on, and the line row has no MAC.
_UNKNOWN = object()  # set outside the event log (a legacy import's file): not checked
_SETS_CHANNEL = {"stock", "move_stock", "register", "register_legacy", "import_registered"}
_CLEARS_CHANNEL = {"unstock", "write_off", "release"}
_ACTIVATES = {"register", "import_registered"}


def cached_columns(line: Any, events: list[Any]) -> list[str]:
    """The line's channel, activation, owner-since and SIM-change times against what its
    events say (an edit of the line row alone used to pass)."""
    channel_id, activated_at, owner_since, sim_changed_at = line[6:10]
    channel: object = _UNKNOWN
    activated: object = _UNKNOWN
    since: Any = None
    sim_changed: Any = None
    for event in events:
        operation, owner_after, owner_before, event_channel, at = (
            event[2],
            event[5],
            event[6],
            event[7],
            event[8],
        )
        if operation in _SETS_CHANNEL:
            channel = event_channel
        elif operation in _CLEARS_CHANNEL:
            channel = None
        if operation in _ACTIVATES:
            activated = at
        if owner_after is not None and owner_after != owner_before:
            since = at
        if operation == "replace_sim":
            sim_changed = at
        if operation == "release":
            activated, since, sim_changed = None, None, None
        elif operation == "import_legacy":
            channel = activated = _UNKNOWN
    wrong = []
    if channel is not _UNKNOWN and channel != channel_id:
        wrong.append("channel")
    if activated is not _UNKNOWN and activated != activated_at:
        wrong.append("activation time")
    if line[3] is not None and since != owner_since:
        wrong.append("owner-since time")
    if sim_changed != sim_changed_at:
        wrong.append("SIM-change time")
    if not wrong:
        return []
    return [f"line {mask_line(line[1])}: {', '.join(wrong)} differ from its events"]


def mask_line(msisdn: str) -> str:
    """A number as a finding may show it: masked, never in full."""
    from realname.numbering.msisdn import mask_msisdn

    return mask_msisdn(msisdn)
