"""The real-name rules of one jurisdiction, as data.

Every number a registration is judged by (caps, ages, thresholds, deadlines) lives here and in
the preset files, never in the services: a regulator changes the rules by notice, and a new
country is a new TOML file, not a code change. The models are frozen so that a policy loaded
once can be shared by every request without anyone changing it under another's feet, and
`extra="forbid"` so a misspelt key in a preset fails loudly instead of silently meaning
"use the default".
"""

from __future__ import annotations

from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator

from realname.identity.documents import DocumentType


class ChannelKind(StrEnum):
    OWN_HALL = "own_hall"  # 自营厅: the enterprise's own shop
    PARTNER_HALL = "partner_hall"  # 合作厅: a franchised shop under the enterprise's brand
    SOCIAL = "social"  # 社会渠道: a corner shop or kiosk selling SIM kits
    ONLINE = "online"  # 线上: web or app, the customer is not in front of a clerk

    @property
    def is_physical(self) -> bool:
        """Where a clerk and a card reader are present, stricter capture rules can apply."""
        return self is not ChannelKind.ONLINE


class EntryMethod(StrEnum):
    CHIP_READ = "chip_read"  # the ID card's chip read by a certified device
    OCR = "ocr"  # the printed face of the document photographed and read
    MANUAL = "manual"  # typed in by hand: the easiest way to register a borrowed identity


class CapScope(StrEnum):
    ENTERPRISE = "enterprise"  # counted within one operator (China, Nigeria)
    NATIONAL = "national"  # counted across all operators (India, Pakistan)


class BackfillPhase(StrEnum):
    """Declared in the order a legacy line walks through them; the order is the rule."""

    REMIND = "remind"
    BAR_OUTGOING = "bar_outgoing"
    BAR_BOTH = "bar_both"
    TERMINATE = "terminate"


_PHASE_ORDER = {phase: rank for rank, phase in enumerate(BackfillPhase)}

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class LineCap(BaseModel):
    model_config = _FROZEN

    scope: CapScope
    max_active_lines: int = Field(ge=1)


class BackfillStep(BaseModel):
    """One rung of the back-fill ladder. The steps describe the *shortest* campaign the rules
    allow: `remind` on day 0; the first bar's day is the notice every subscriber gets between
    their first reminder and any bar; later steps keep their gap after the first bar. A
    campaign's deadline sets when the first bar falls (docs/backfill.md, "The schedule")."""

    model_config = _FROZEN

    phase: BackfillPhase
    days_after_start: int = Field(ge=0)


NO_FACE_MATCH = "none"
"""How a TOML file says `face_match_threshold = None`: TOML has no null, and leaving the key
out must stay an error, or a forgotten line would silently switch face matching off."""


VERIFICATION_APIS = frozenset(
    {"kyc-match", "sim-swap", "kyc-age-verification", "kyc-tenure", "number-verification"}
)


class VerificationRules(BaseModel):
    """How relying parties (banks, payment apps) may check subscribers without the registry
    becoming an oracle: which checks need the subscriber's consent (the others rest on the
    policy's legal basis, e.g. fraud prevention), and the limits that cut off enumeration."""

    model_config = _FROZEN

    consent_required: frozenset[str] = frozenset(
        {"kyc-match", "kyc-age-verification", "kyc-tenure"}
    )
    id_document_required_for_match: bool = False
    calls_per_client_per_minute: int = Field(default=6000, ge=1)
    calls_per_number_per_day: int = Field(default=20, ge=1)
    mismatches_per_number_per_day: int = Field(default=3, ge=1)
    # Calls a relying party makes that reach no subscriber it may ask about (no consent, a
    # number nobody holds, a line not active): a probe of the registry, not a check. Past the
    # budget every call of the client is 429 until midnight UTC.
    unanswered_per_client_per_day: int = Field(default=200, ge=1)

    @field_validator("consent_required")
    @classmethod
    def _known_apis(cls, apis: frozenset[str]) -> frozenset[str]:
        unknown = sorted(apis - VERIFICATION_APIS)
        if unknown:
            raise ValueError(f"unknown verification APIs: {', '.join(unknown)}")
        return apis


class RiskRules(BaseModel):
    """When a sales channel looks like it registers borrowed, fake or bulk identities, and
    when a line's owner must verify again (二次实名). Shares are judged only on a channel with
    enough registrations in the window, so one odd day at a tiny kiosk is not a pattern."""

    model_config = _FROZEN

    window_days: int = Field(default=30, ge=1)
    burst_window_hours: int = Field(default=24, ge=1)
    burst_registrations: int = Field(default=3, ge=2)
    bursty_identity_share: float = Field(default=0.05, ge=0.0, le=1.0)
    spread_channels: int = Field(default=3, ge=2)
    spread_identity_share: float = Field(default=0.05, ge=0.0, le=1.0)
    local_utc_offset_hours: int = Field(default=8, ge=-12, le=14)
    night_starts_hour: int = Field(default=0, ge=0, le=23)
    night_ends_hour: int = Field(default=6, ge=0, le=23)
    night_burst_registrations: int = Field(default=5, ge=2)
    authority_rejection_share: float = Field(default=0.05, ge=0.0, le=1.0)
    disputed_share: float = Field(default=0.02, ge=0.0, le=1.0)
    min_registrations: int = Field(default=20, ge=1)
    suspend_at_signals: int = Field(default=2, ge=1, le=5)
    reverify_identity_lines: int = Field(default=4, ge=2)
    reverify_dormant_days: int = Field(default=180, ge=1)
    reverify_repeat_days: int = Field(default=180, ge=1)
    stock_ageing_days: int = Field(default=90, ge=1)
    # Failed proofs of possession at a channel (wrong or missing codes, ICCIDs, usage):
    # share of its back-fill attempts in the window; judged from `min_possession_attempts`.
    failed_proof_share: float = Field(default=0.1, ge=0.0, le=1.0)
    min_possession_attempts: int = Field(default=5, ge=1)
    # A subscriber's "this line is not mine" dispute is answered within this many days (China:
    # complaints to an operator are answered within 15 days; an operator default elsewhere).
    dispute_answer_days: int = Field(default=15, ge=1)


class PossessionMethod(StrEnum):
    OTP = "otp"  # a one-time code sent by SMS to the line, read back by the customer
    ICCID = "iccid"  # the SIM card's ICCID (printed on the card), as the line's row holds it
    USAGE = "usage"  # what only the holder knows from the usage feed (top-up, a called number)


class PossessionRules(BaseModel):
    """Proof that the person at the counter holds a line before a legacy line is back-filled
    to their identity, and the one-time codes that prove it. An empty `backfill_methods`
    means no proof is asked for (a jurisdiction that back-fills by another procedure)."""

    model_config = _FROZEN

    backfill_methods: frozenset[PossessionMethod] = frozenset(PossessionMethod)
    otp_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    otp_max_attempts: int = Field(default=5, ge=1, le=20)
    otp_per_line_per_hour: int = Field(default=5, ge=1)
    otp_per_requester_per_hour: int = Field(default=200, ge=1)
    usage_max_age_days: int = Field(default=90, ge=1)
    failed_proofs_per_line_per_day: int = Field(default=10, ge=1)


class EnforcementRules(BaseModel):
    """When the system proposes the next step on the regulator's ladder (a person decides):
    a violation rate above `violation_rate` in `consecutive_rounds` secret-inspection rounds
    in a row (each with at least `min_inspected` visits, so two odd visits are not a
    pattern), or a rectification order past its deadline; how long an order runs by default
    and how long an enterprise has to appeal an action."""

    model_config = _FROZEN

    violation_rate: float = Field(default=0.10, ge=0.0, le=1.0)
    consecutive_rounds: int = Field(default=2, ge=1, le=12)
    min_inspected: int = Field(default=5, ge=1)
    rectification_days: int = Field(default=30, ge=1)
    appeal_days: int = Field(default=15, ge=1)
    # Complaints per 10,000 lines in the window above which a step is proposed (0: never).
    complaints_per_10k: float = Field(default=0.0, ge=0.0)
    complaint_window_days: int = Field(default=30, ge=1)


class ComplaintRules(BaseModel):
    """What complaints from the complaint centre (12321-style) set off: `cluster_count`
    complaints about one line within `cluster_hours` ask its owner to re-verify; an owner
    traced by `repeat_offender_count` complaints within `repeat_offender_days` (any line,
    any enterprise) has every other line flagged for the enterprises to check."""

    model_config = _FROZEN

    cluster_count: int = Field(default=5, ge=1)
    cluster_hours: int = Field(default=72, ge=1)
    repeat_offender_count: int = Field(default=3, ge=1)
    repeat_offender_days: int = Field(default=90, ge=1)
    # A complaint about a call or message further back than this is refused at intake.
    max_age_days: int = Field(default=180, ge=1)


class CardReadRules(BaseModel):
    """The card reader's reads (`POST /v1/card-reads`): how long a read waits for the clerk
    (`ttl_seconds`), and whether a registration may claim `chip_read` without naming one.
    `chip_read_needs_reader = false` keeps an API integrator's own attestation (its reader
    software registers directly); `true` refuses an unattested claim
    (`REALNAME.CHIP_READ_UNATTESTED`): only a read the server holds makes an entry `chip_read`."""

    model_config = _FROZEN

    ttl_seconds: int = Field(default=300, ge=10, le=3600)
    chip_read_needs_reader: bool = False


class Policy(BaseModel):
    model_config = _FROZEN

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="preset name, e.g. 'china'")
    jurisdiction: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
    name: str = Field(min_length=1)
    legal_basis: str = Field(min_length=1)

    line_caps: tuple[LineCap, ...]
    accepted_documents: dict[ChannelKind, frozenset[DocumentType]]
    minimum_age_years: int = Field(ge=0)
    face_match_threshold: Annotated[float, Field(ge=0.0, le=1.0)] | None
    manual_entry_refused_at: frozenset[ChannelKind]
    authority_check_required: bool
    register_before_activation: bool
    cooling_days: int = Field(ge=0)
    reverification_deadline_hours: int = Field(ge=1)
    retention_after_termination_days: int = Field(ge=0)
    sim_swap_monitored_hours: int = Field(ge=1)
    backfill_steps: tuple[BackfillStep, ...]
    verification: VerificationRules = VerificationRules()
    risk: RiskRules = RiskRules()
    possession: PossessionRules = PossessionRules()
    enforcement: EnforcementRules = EnforcementRules()
    complaints: ComplaintRules = ComplaintRules()
    card_reads: CardReadRules = CardReadRules()

    @field_validator("face_match_threshold", mode="before")
    @classmethod
    def _none_sentinel(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() == NO_FACE_MATCH:
            return None
        return value

    @field_validator("line_caps")
    @classmethod
    def _one_cap_per_scope(cls, caps: tuple[LineCap, ...]) -> tuple[LineCap, ...]:
        """Two caps of one scope would leave the reader guessing which one is enforced."""
        seen: set[CapScope] = set()
        for cap in caps:
            if cap.scope in seen:
                raise ValueError(f"more than one cap with scope {cap.scope.value!r}")
            seen.add(cap.scope)
        return caps

    @field_validator("accepted_documents")
    @classmethod
    def _every_channel_kind(
        cls, accepted: dict[ChannelKind, frozenset[DocumentType]]
    ) -> dict[ChannelKind, frozenset[DocumentType]]:
        """A kind left out is refused everywhere only by accident; say so with an empty list."""
        missing = [kind.value for kind in ChannelKind if kind not in accepted]
        if missing:
            raise ValueError(
                f"every channel kind must be listed (use [] to accept nothing); "
                f"missing: {', '.join(missing)}"
            )
        return {kind: accepted[kind] for kind in ChannelKind}

    @field_validator("backfill_steps")
    @classmethod
    def _steps_in_order(cls, steps: tuple[BackfillStep, ...]) -> tuple[BackfillStep, ...]:
        """A line may not be terminated before it was barred, nor a phase come back, nor be
        barred without a reminder at least a day before."""
        if not steps:
            return steps  # no back-fill under this policy
        if steps[0].phase is not BackfillPhase.REMIND:
            raise ValueError("the first step must be 'remind': no line is barred unreminded")
        if len(steps) < 2:
            raise ValueError("a 'remind' step needs a bar or termination after it")
        if steps[1].days_after_start <= steps[0].days_after_start:
            raise ValueError(
                f"step 2 ({steps[1].phase.value}) must come at least a day after the reminder: "
                "its distance is the notice subscribers get"
            )
        for number, (before, after) in enumerate(pairwise(steps), start=2):
            if _PHASE_ORDER[after.phase] <= _PHASE_ORDER[before.phase]:
                order = " → ".join(phase.value for phase in BackfillPhase)
                raise ValueError(
                    f"step {number} ({after.phase.value}) comes after {before.phase.value}; "
                    f"phases go {order}, each at most once"
                )
            if after.days_after_start < before.days_after_start:
                raise ValueError(
                    f"step {number} ({after.phase.value}) is on day {after.days_after_start}, "
                    f"before step {number - 1} ({before.phase.value}) on day "
                    f"{before.days_after_start}"
                )
        return steps

    def cap(self, scope: CapScope) -> int | None:
        """None means no cap of that scope, which is different from a cap of zero."""
        for line_cap in self.line_caps:
            if line_cap.scope is scope:
                return line_cap.max_active_lines
        return None

    def __hash__(self) -> int:
        """Frozen values should hash; pydantic's own hash trips over the dict field."""
        return hash(
            tuple(
                frozenset(value.items()) if isinstance(value, dict) else value
                for value in self.__dict__.values()
            )
        )

    def with_changes(self, **changes: Any) -> Self:
        """A validated variant, for tests and what-if reports; `model_copy` skips validation."""
        return self.model_validate({**self.model_dump(), **changes})
