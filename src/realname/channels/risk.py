"""Channel risk signals, computed from what the registry recorded: pure, no I/O.

The marks of a channel selling pre-registered or borrowed-identity SIM cards (the seeds' 黑卡
渠道): one identity registering many lines in a short window, one identity turning up at many
channels, bursts of registrations in the middle of the night, identities the authority
rejects, lines later disowned or reported for fraud, and back-fills attempted without proof
that the customer holds the line (wrong or missing one-time codes, ICCIDs, usage answers).
Each signal carries its evidence, so an enterprise can show a channel why it was suspended.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from realname.policy.schema import RiskRules


@dataclass(frozen=True)
class Registration:
    channel_id: int
    identity_id: int
    line_id: int
    at: datetime


@dataclass(frozen=True)
class Signal:
    name: str
    value: float
    threshold: float
    tripped: bool
    judged: bool  # False: too few registrations to judge a share
    evidence: tuple[str, ...] = ()


@dataclass
class ChannelRisk:
    channel_id: int
    registrations: int
    signals: list[Signal] = field(default_factory=list)

    @property
    def score(self) -> int:
        return sum(1 for s in self.signals if s.tripped)

    @property
    def weight(self) -> float:
        """How far over (or under) the thresholds the channel is: orders equal scores."""
        return sum(
            s.value / s.threshold if s.threshold else s.value for s in self.signals if s.judged
        )


AUTHORITY_CODES = frozenset(
    {"AUTHORITY_UNKNOWN_DOCUMENT", "AUTHORITY_NAME_MISMATCH", "AUTHORITY_DOCUMENT_REVOKED"}
)
MAX_EVIDENCE = 5


@dataclass(frozen=True)
class FailedProof:
    """A back-fill at a channel whose proof of possession failed (possession_failure)."""

    channel_id: int
    line_id: int | None
    method: str
    reason: str


def assess_channels(
    rules: RiskRules,
    registrations: Sequence[Registration],
    refusals: Iterable[tuple[int, str]],
    disputed_lines: Iterable[int],
    failed_proofs: Iterable[FailedProof] = (),
    backfills: dict[int, int] | None = None,
) -> dict[int, ChannelRisk]:
    """Every channel with registrations, refusals or failed proofs in the window, with its
    six signals.

    `registrations` are all of the enterprise's registrations in the window (one identity's
    spread across channels needs them all); `refusals` are (channel, code); `disputed_lines`
    the lines with a fraud or not-mine complaint; `failed_proofs` the back-fills whose proof
    of possession failed and `backfills` the legacy lines each channel did back-fill.
    """
    by_channel: dict[int, list[Registration]] = defaultdict(list)
    channels_of_identity: dict[int, set[int]] = defaultdict(set)
    for registration in registrations:
        by_channel[registration.channel_id].append(registration)
        channels_of_identity[registration.identity_id].add(registration.channel_id)
    refused: dict[int, list[str]] = defaultdict(list)
    for channel_id, code in refusals:
        refused[channel_id].append(code)
    disputed = set(disputed_lines)
    unproven: dict[int, list[FailedProof]] = defaultdict(list)
    for failure in failed_proofs:
        unproven[failure.channel_id].append(failure)
    done = backfills or {}
    report = {}
    for channel_id in set(by_channel) | set(refused) | set(unproven):
        mine = sorted(by_channel.get(channel_id, []), key=lambda r: r.at)
        risk = ChannelRisk(channel_id, len(mine))
        enough = len(mine) >= rules.min_registrations
        risk.signals = [
            _bursts(rules, mine, enough),
            _spread(rules, mine, channels_of_identity, enough),
            _night(rules, mine),
            _rejections(rules, len(mine), refused.get(channel_id, []), enough),
            _disputes(rules, mine, disputed, enough),
            _failed_proofs(rules, done.get(channel_id, 0), unproven.get(channel_id, [])),
        ]
        report[channel_id] = risk
    return report


def ranked(report: dict[int, ChannelRisk]) -> list[ChannelRisk]:
    return sorted(report.values(), key=lambda r: (-r.score, -r.weight, r.channel_id))


def over_threshold(rules: RiskRules, risk: ChannelRisk) -> bool:
    return risk.score >= rules.suspend_at_signals


def _share_signal(
    name: str, count: int, of: int, threshold: float, judged: bool, evidence: list[str]
) -> Signal:
    value = count / of if of else 0.0
    return Signal(
        name, round(value, 4), threshold, judged and value > threshold, judged, tuple(evidence)
    )


def _bursts(rules: RiskRules, mine: list[Registration], enough: bool) -> Signal:
    window = timedelta(hours=rules.burst_window_hours)
    per_identity: dict[int, list[datetime]] = defaultdict(list)
    for registration in mine:
        per_identity[registration.identity_id].append(registration.at)
    bursty = []
    for identity_id, times in per_identity.items():
        start = 0
        for end, instant in enumerate(times):
            while instant - times[start] > window:
                start += 1
            if end - start + 1 >= rules.burst_registrations:
                bursty.append(
                    f"identity {identity_id}: {end - start + 1} lines between "
                    f"{times[start]:%Y-%m-%d %H:%M} and {instant:%H:%M} UTC"
                )
                break
    return _share_signal(
        "one_identity_many_lines",
        len(bursty),
        len(per_identity),
        rules.bursty_identity_share,
        enough,
        bursty[:MAX_EVIDENCE],
    )


def _spread(
    rules: RiskRules,
    mine: list[Registration],
    channels_of_identity: dict[int, set[int]],
    enough: bool,
) -> Signal:
    identities = {r.identity_id for r in mine}
    spread = sorted(i for i in identities if len(channels_of_identity[i]) >= rules.spread_channels)
    evidence = [f"identity {i}: {len(channels_of_identity[i])} channels" for i in spread]
    return _share_signal(
        "one_identity_many_channels",
        len(spread),
        len(identities),
        rules.spread_identity_share,
        enough,
        evidence[:MAX_EVIDENCE],
    )


def _is_night(rules: RiskRules, local_hour: int) -> bool:
    start, end = rules.night_starts_hour, rules.night_ends_hour
    return start <= local_hour < end if start <= end else local_hour >= start or local_hour < end


def _night(rules: RiskRules, mine: list[Registration]) -> Signal:
    offset = timedelta(hours=rules.local_utc_offset_hours)
    per_hour: dict[datetime, int] = defaultdict(int)
    for registration in mine:
        local = registration.at + offset
        if _is_night(rules, local.hour):
            per_hour[local.replace(minute=0, second=0, microsecond=0)] += 1
    bursts = sorted(
        (hour, n) for hour, n in per_hour.items() if n >= rules.night_burst_registrations
    )
    evidence = [
        f"{n} registrations in the hour from {hour:%Y-%m-%d %H:00} local" for hour, n in bursts
    ]
    return Signal(
        "night_bursts", float(len(bursts)), 0.0, bool(bursts), True, tuple(evidence[:MAX_EVIDENCE])
    )


def _rejections(rules: RiskRules, registered: int, codes: list[str], enough: bool) -> Signal:
    rejected = [c for c in codes if c in AUTHORITY_CODES]
    attempts = registered + len(codes)
    counts: dict[str, int] = defaultdict(int)
    for code in rejected:
        counts[code] += 1
    evidence = [f"{code}: {n}" for code, n in sorted(counts.items())]
    return _share_signal(
        "authority_rejections",
        len(rejected),
        attempts,
        rules.authority_rejection_share,
        enough or attempts >= rules.min_registrations,
        evidence,
    )


def _disputes(
    rules: RiskRules, mine: list[Registration], disputed: set[int], enough: bool
) -> Signal:
    lines = {r.line_id for r in mine}
    hit = sorted(lines & disputed)
    evidence = [f"line {line_id}" for line_id in hit]
    return _share_signal(
        "disputed_lines",
        len(hit),
        len(lines),
        rules.disputed_share,
        enough,
        evidence[:MAX_EVIDENCE],
    )


def _failed_proofs(rules: RiskRules, proven: int, failures: list[FailedProof]) -> Signal:
    """Back-fills tried without proof that the customer holds the line: the share of the
    channel's back-fill attempts (proven back-fills plus failed proofs) that failed."""
    attempts = proven + len(failures)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for failure in failures:
        counts[(failure.method, failure.reason)] += 1
    evidence = [f"{method} {reason}: {n}" for (method, reason), n in sorted(counts.items())]
    lines = sorted({f.line_id for f in failures if f.line_id is not None})
    if lines:
        evidence.append("lines " + ", ".join(str(line) for line in lines[:MAX_EVIDENCE]))
    return _share_signal(
        "failed_possession_proofs",
        len(failures),
        attempts,
        rules.failed_proof_share,
        attempts >= rules.min_possession_attempts,
        evidence[:MAX_EVIDENCE],
    )
