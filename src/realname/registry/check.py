"""`realname check`: an fsck for the registry.

Everything the service promises is re-derived from first principles and compared: the line
table against the replay of its events, holdings against real counts, caps, owners,
encryption of PII, and the audit hash chains. It reads only; it repairs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from realname.policy.schema import CapScope, Policy
from realname.registry.lifecycle import LEGAL_MOVES, LineState
from realname.registry.repository import RegistryRepository
from realname.registry.service import ADDRESS_CONTEXT, NAME_CONTEXT, NUMBER_CONTEXT
from realname.security.audit import verify_audit_chains
from realname.security.redact import contains_pii
from realname.security.repository import AuditRepository
from realname.security.vault import KeyRing, Sealed, VaultError


@dataclass
class CheckResult:
    name: str
    examined: int = 0
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


@dataclass
class IntegrityReport:
    results: list[CheckResult]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def violation_count(self) -> int:
        return sum(len(r.violations) for r in self.results)


def run_integrity_check(
    session: Session,
    policy: Policy,
    keyring: KeyRing,
    progress: Callable[[str], None] | None = None,
) -> IntegrityReport:
    repo = RegistryRepository(session)
    steps: list[
        tuple[str, Callable[[RegistryRepository, Policy, KeyRing, Session], CheckResult]]
    ] = [
        ("held lines have verified owners", _owners),
        ("holdings equal the real counts", _holdings),
        ("holdings respect the caps", _caps),
        ("line state equals the replay of its events", _replay),
        ("PII is sealed and nothing leaks it in clear", _pii),
        ("audit hash chains are intact", _audit),
    ]
    results = []
    for name, step in steps:
        if progress:
            progress(name)
        result = step(repo, policy, keyring, session)
        result.name = name
        results.append(result)
    return IntegrityReport(results)


def _owners(repo: RegistryRepository, policy: Policy, keyring: KeyRing, s: Session) -> CheckResult:
    result = CheckResult("")
    rows = repo.unverified_owners_of_held_lines()
    result.examined = sum(repo.held_counts().values())
    for msisdn, owner in rows:
        why = "no owner" if owner is None else f"owner identity {owner} never verified"
        result.violations.append(f"line {_mask(msisdn)} is in service with {why}")
    return result


def _holdings(
    repo: RegistryRepository, policy: Policy, keyring: KeyRing, s: Session
) -> CheckResult:
    result = CheckResult("")
    real = repo.held_counts()
    recorded = repo.holdings()
    keys = set(real) | {k for k, v in recorded.items() if v}
    result.examined = len(keys)
    for identity_id, enterprise_id in sorted(keys):
        have, says = (
            real.get((identity_id, enterprise_id), 0),
            recorded.get((identity_id, enterprise_id), 0),
        )
        if have != says:
            result.violations.append(
                f"identity {identity_id} at enterprise {enterprise_id}: holding says {says}, "
                f"lines say {have}"
            )
    return result


def _caps(repo: RegistryRepository, policy: Policy, keyring: KeyRing, s: Session) -> CheckResult:
    result = CheckResult("")
    real = repo.held_counts()
    result.examined = len(real)
    enterprise_cap = policy.cap(CapScope.ENTERPRISE)
    national_cap = policy.cap(CapScope.NATIONAL)
    national: dict[int, int] = {}
    for (identity_id, enterprise_id), count in sorted(real.items()):
        national[identity_id] = national.get(identity_id, 0) + count
        if enterprise_cap is not None and count > enterprise_cap:
            result.violations.append(
                f"identity {identity_id} holds {count} lines at enterprise {enterprise_id} "
                f"(cap {enterprise_cap})"
            )
    if national_cap is not None:
        for identity_id, count in sorted(national.items()):
            if count > national_cap:
                result.violations.append(
                    f"identity {identity_id} holds {count} lines nationally (cap {national_cap})"
                )
    return result


def _replay(repo: RegistryRepository, policy: Policy, keyring: KeyRing, s: Session) -> CheckResult:
    """Merge-join lines and events (both ordered by line id), so memory stays flat."""
    result = CheckResult("")
    events = _grouped(repo.iter_event_moves())
    pending = next(events, None)
    for line in repo.iter_line_states():
        result.examined += 1
        line_id = line[0]
        while pending is not None and pending[0] < line_id:
            result.violations.append(f"events for line id {pending[0]}, which does not exist")
            pending = next(events, None)
        mine: list[Any] = []
        if pending is not None and pending[0] == line_id:
            mine = pending[1]
            pending = next(events, None)
        if (mine or line[5] is not None) and _replays_cleanly(line, mine):
            continue
        result.violations.extend(_replay_line(line, mine))
    while pending is not None:
        result.violations.append(f"events for line id {pending[0]}, which does not exist")
        pending = next(events, None)
    return result


def _grouped(events: Iterator[Any]) -> Iterator[tuple[int, list[Any]]]:
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


def _replays_cleanly(line: Any, events: list[Any]) -> bool:
    """The fast path for the overwhelming majority: every move legal, in sequence, ending
    where the line is. Anything else goes to `_replay_line` for the words."""
    _id, _msisdn, state, owner, count, imported = line
    previous = _initial_state(imported)
    legal = LEGAL_MOVES
    for seq, event in enumerate(events, start=1):
        if event[1] != seq or event[3] != previous or (event[2], event[3], event[4]) not in legal:
            return False
        previous = event[4]
    last_owner = events[-1][5] if events else None
    return bool(count == len(events) and previous == state and last_owner == owner)


def _replay_line(line: Any, events: list[Any]) -> list[str]:
    _id, msisdn, line_state, line_owner, event_count, imported = line
    where = f"line {_mask(msisdn)}"
    problems = []
    state: str | None = _initial_state(imported)
    owner: int | None = None
    for expected_seq, (_line, seq, operation, from_state, to_state, owner_after) in enumerate(
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


def _pii(repo: RegistryRepository, policy: Policy, keyring: KeyRing, s: Session) -> CheckResult:
    result = CheckResult("")
    for (
        identity_id,
        key_id,
        number_sealed,
        name_sealed,
        address_sealed,
        index,
    ) in repo.iter_sealed_identities():
        result.examined += 1
        try:
            number = keyring.open(Sealed(key_id, number_sealed), NUMBER_CONTEXT)
            keyring.open(Sealed(key_id, name_sealed), NAME_CONTEXT)
            if address_sealed is not None:
                keyring.open(Sealed(key_id, address_sealed), ADDRESS_CONTEXT)
        except VaultError:
            result.violations.append(f"identity {identity_id}: a sealed value does not open")
            continue
        if keyring.blind_index(number, NUMBER_CONTEXT) != index:
            result.violations.append(f"identity {identity_id}: blind index does not match")
    for event_id, reason, detail in repo.iter_event_texts():
        result.examined += 1
        if (reason and _leaks(reason)) or _leaks(detail or ""):
            result.violations.append(f"line event {event_id} carries an ID or phone number")
    for entry in AuditRepository(s).entries_in_chain_order():
        result.examined += 1
        if _leaks(f"{entry.detail}"):
            result.violations.append(f"audit entry {entry.chain}/{entry.position} carries PII")
    return result


def _leaks(text: str) -> bool:
    return contains_pii(text)


def _audit(repo: RegistryRepository, policy: Policy, keyring: KeyRing, s: Session) -> CheckResult:
    result = CheckResult("")
    result.examined, problems = verify_audit_chains(s)
    result.violations = [f"audit chain {p.chain} at {p.position}: {p.what}" for p in problems]
    return result


def _mask(msisdn: str) -> str:
    from realname.numbering.msisdn import mask_msisdn

    return mask_msisdn(msisdn)
