"""Answering relying parties: who may ask, about which line, with whose consent, how often.

Every answer passes the same gate, in this order: the caller is a relying party holding the
API's scope (checked by the endpoint's `relying_party` dependency, before this service runs)
and registered for this API; it is within its rate; the subject line is resolved by CAMARA's
identifier rules; the subscriber consented (or the policy's legal basis covers the API); the
per-number quota and mismatch budget are not spent. Then the answer is computed from
the registry, audited (who asked what about which line; never the values) and returned.

Refusals that must be remembered (a document-number guess, an exhausted quota) set
`keep_changes`, so the entry point commits the counters and the audit entry before answering.

The hot path is a read: the relying party from the worker's cache (`parties.PartyCache`), the
line, its owner and the party's live consents in one statement, the gate's counting in one
step (`counters`: one Lua script in Redis when configured, else the database's counters), the
sealed values opened, and one audit entry in the request's transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from realname.policy.schema import Policy
from realname.registry.lifecycle import LineState, Operation
from realname.registry.models import Line
from realname.security.audit import append_audit
from realname.security.clients import ClientService
from realname.security.principals import Principal, Role
from realname.security.vault import KeyRing
from realname.verification import gate as gate_rules
from realname.verification.counters import AsyncRedisCounters, Counters, DatabaseCounters
from realname.verification.errors import VerificationError
from realname.verification.errors import VerificationErrorCode as E
from realname.verification.gate import Gate
from realname.verification.matching import Match
from realname.verification.models import Consent, RelyingParty
from realname.verification.parties import PartyCache
from realname.verification.repository import (
    AsyncVerificationReads,
    PartyRow,
    VerificationRepository,
)

# What counts as a SIM change for SIM Swap: a new card, a new owner, a new activation.
SIM_CHANGES = (
    Operation.REGISTER,
    Operation.REGISTER_LEGACY,
    Operation.IMPORT_REGISTERED,
    Operation.REPLACE_SIM,
    Operation.TRANSFER,
)
SCOPES = {
    "kyc-match": ("kyc-match:match",),
    "sim-swap": ("sim-swap:retrieve-date", "sim-swap:check"),
    "kyc-age-verification": ("kyc-age-verification:verify",),
    "kyc-tenure": ("kyc-tenure:check-tenure",),
    "number-verification": (
        "number-verification:verify",
        "number-verification:device-phone-number:read",
    ),
}


def register_relying_party(
    session: Session,
    keyring: KeyRing,
    *,
    name: str,
    purpose: str,
    apis: list[str],
    at: datetime,
    actor: str = "operator:cli",
) -> tuple[RelyingParty, str]:
    """A bank or payment app: an API client holding only the scopes of its APIs, and the
    record of why it asks. Returns the client secret, shown once."""
    unknown = sorted(set(apis) - set(SCOPES))
    if unknown or not apis:
        raise ValueError(f"unknown or no APIs: {', '.join(unknown) or '(none)'}")
    scopes = [scope for api in sorted(set(apis)) for scope in SCOPES[api]]
    client, secret = ClientService(session, keyring, actor).create(
        role=Role.RELYING_PARTY, at=at, scopes=scopes, description=f"{name}: {purpose}"[:200]
    )
    party = RelyingParty(
        client_id=client.client_id,
        name=name,
        purpose=purpose,
        apis=sorted(set(apis)),
        status="active",
        created_at=at,
    )
    VerificationRepository(session).add(party)
    session.flush()
    return party, secret


class ClientRateLimiter:
    """Calls per client per minute, in this process (each worker enforces its share). A fixed
    window: cheap, lock-protected, and good enough to stop a flood; the per-number quotas that
    stop enumeration live in Redis or the database (`counters`) and hold across workers."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._lock = threading.Lock()
        self._window = -1
        self._counts: dict[str, int] = {}

    def admit(self, client_id: str, at: datetime) -> int | None:
        """None when admitted, else the seconds to wait."""
        epoch = at.timestamp()
        window = int(epoch // 60)
        with self._lock:
            if window != self._window:
                self._window, self._counts = window, {}
            count = self._counts.get(client_id, 0) + 1
            self._counts[client_id] = count
        if count > self.per_minute:
            return max(1, int((window + 1) * 60 - epoch) + 1)
        return None


class VerificationService:
    def __init__(
        self,
        session: Session,
        *,
        policy: Policy,
        keyring: KeyRing,
        limiter: ClientRateLimiter | None = None,
        counters: Counters | None = None,
        parties: PartyCache | None = None,
        deferred_audit: list[dict[str, Any]] | None = None,
    ) -> None:
        """`deferred_audit`: where the calls' audit entries go (as `append_audit`'s keyword
        arguments) for the entry point to write and commit before it answers, instead of
        into this session (see `audit_batch`)."""
        self.session = session
        self.policy = policy
        self.rules = policy.verification
        self.keyring = keyring
        self.limiter = limiter
        self.repo = VerificationRepository(session)
        self.counters = counters if counters is not None else DatabaseCounters(self.repo)
        self.parties = parties
        self.deferred_audit = deferred_audit

    # --- the APIs -------------------------------------------------------------------------

    def kyc_match(
        self, principal: Principal, at: datetime, phone_number: str | None, claims: dict[str, Any]
    ) -> dict[str, object]:
        party = self._relying_party(principal, at, "kyc-match")
        sent = gate_rules.kyc_claims(claims)
        gate, assessment = self._gate(
            principal, at, phone_number, "kyc-match", party, may_repeat_subject=True, sent=sent
        )
        decision = gate_rules.kyc_decision(self.rules, at, gate, assessment)
        self._audit(principal, at, gate, "kyc-match", decision.fields, decision.outcome)
        if decision.error is not None:
            raise decision.error
        assert decision.answer is not None
        return decision.answer

    def sim_swap_date(
        self, principal: Principal, at: datetime, phone_number: str | None
    ) -> dict[str, object]:
        party = self._relying_party(principal, at, "sim-swap")
        gate, _ = self._gate(principal, at, phone_number, "sim-swap", party)
        latest = self.repo.latest_event_at(gate.line.id, [str(o) for o in SIM_CHANGES])
        monitored = timedelta(hours=self.policy.sim_swap_monitored_hours)
        self._audit(principal, at, gate, "sim-swap", ["retrieve-date"], "answered")
        if latest is None or latest < at - monitored:
            # Older than we may tell: "no swap within the monitored period".
            return {"latestSimChange": None, "monitoredPeriod": monitored.days}
        return {"latestSimChange": latest.astimezone(UTC).isoformat().replace("+00:00", "Z")}

    def sim_swap_check(
        self, principal: Principal, at: datetime, phone_number: str | None, max_age_hours: int
    ) -> dict[str, object]:
        party = self._relying_party(principal, at, "sim-swap")
        if max_age_hours > self.policy.sim_swap_monitored_hours:
            raise VerificationError(
                E.OUT_OF_RANGE,
                f"maxAge may not exceed the monitored period of "
                f"{self.policy.sim_swap_monitored_hours} hours.",
            )
        gate, _ = self._gate(principal, at, phone_number, "sim-swap", party)
        latest = self.repo.latest_event_at(gate.line.id, [str(o) for o in SIM_CHANGES])
        swapped = latest is not None and latest >= at - timedelta(hours=max_age_hours)
        self._audit(principal, at, gate, "sim-swap", ["check"], f"swapped={swapped}")
        return {"swapped": swapped}

    def verify_age(
        self,
        principal: Principal,
        at: datetime,
        phone_number: str | None,
        threshold: int,
    ) -> dict[str, object]:
        """identityMatchScore is optional in the spec and never returned: it would turn the
        optional identity fields into a scored guess at the record, so they are ignored."""
        party = self._relying_party(principal, at, "kyc-age-verification")
        gate, _ = self._gate(principal, at, phone_number, "kyc-age-verification", party)
        birth = gate.identity.birth_date
        if birth is None:
            check = Match.NOT_AVAILABLE
        else:
            check = Match.TRUE if gate_rules.age_on(birth, at.date()) >= threshold else Match.FALSE
        self._audit(
            principal, at, gate, "kyc-age-verification", ["ageThreshold"], f"ageCheck={check}"
        )
        return {"ageCheck": str(check), "verifiedStatus": gate.identity.verified_at is not None}

    def check_tenure(
        self, principal: Principal, at: datetime, phone_number: str | None, tenure_date: date
    ) -> dict[str, object]:
        party = self._relying_party(principal, at, "kyc-tenure")
        if tenure_date > at.date():
            raise VerificationError(E.OUT_OF_RANGE, "tenureDate may not be in the future.")
        gate, _ = self._gate(principal, at, phone_number, "kyc-tenure", party)
        owner_since = gate.line.owner_since
        held = owner_since is not None and owner_since.astimezone(UTC).date() <= tenure_date
        self._audit(principal, at, gate, "kyc-tenure", ["tenureDate"], f"tenureDateCheck={held}")
        answer: dict[str, object] = {"tenureDateCheck": held}
        if gate.line.legacy_import_id is not None or gate.line.prepaid_balance_minor is not None:
            answer["contractType"] = "PAYG"  # a back-filled legacy prepaid line
        return answer

    def verify_number(
        self, principal: Principal, at: datetime, phone_number: str | None, hashed: str | None
    ) -> dict[str, object]:
        line = self._device_line(principal, at)
        if phone_number is not None:
            verified = phone_number == line.msisdn
        else:
            expected = hashlib.sha256(line.msisdn.encode()).hexdigest()
            verified = hmac.compare_digest(expected, (hashed or "").lower())
        self._audit_line(
            principal, at, line.id, line.msisdn, "number-verification", f"verified={verified}"
        )
        return {"devicePhoneNumberVerified": verified}

    def share_number(self, principal: Principal, at: datetime) -> dict[str, object]:
        line = self._device_line(principal, at)
        self._audit_line(principal, at, line.id, line.msisdn, "number-verification", "shared")
        return {"devicePhoneNumber": line.msisdn}

    # --- consents -------------------------------------------------------------------------

    def grant_consent(
        self,
        line: Line,
        relying_party: RelyingParty,
        apis: list[str],
        at: datetime,
        expires_at: datetime | None,
        recorded_by: str,
    ) -> Consent:
        if line.owner_identity_id is None:
            raise VerificationError(E.SERVICE_NOT_APPLICABLE, "The line has no owner to consent.")
        consent = Consent(
            relying_party_id=relying_party.id,
            line_id=line.id,
            owner_identity_id=line.owner_identity_id,
            apis=sorted(apis),
            granted_at=at,
            expires_at=expires_at,
            recorded_by=recorded_by,
        )
        self.repo.add(consent)
        self.session.flush()
        append_audit(
            self.session,
            self.keyring,
            actor=recorded_by,
            action="consent.granted",
            object_type="line",
            object_id=str(line.id),
            at=at,
            detail={"relying_party": str(relying_party.id), "apis": ",".join(sorted(apis))},
        )
        return consent

    # --- the gate -------------------------------------------------------------------------

    def _gate(
        self,
        principal: Principal,
        at: datetime,
        phone_number: str | None,
        api: str,
        party: PartyRow,
        *,
        may_repeat_subject: bool = False,
        sent: dict[str, Any] | None = None,
    ) -> tuple[Gate, gate_rules.KycDecision | None]:
        """Subject, consent and per-number quota, for a party already admitted (the rules:
        `gate`). The refusals that hide whether a number is registered, and the 404 / 422
        answers of the APIs that rest on a legal basis instead, spend the client's daily
        budget of unanswered calls (counted before the answer); once it is spent, every call
        of the client is 429 until midnight UTC. With `sent` (KYC Match's claims) the answer
        is decided first and counted with the call, mismatch included, in one step: the
        gate and that answer."""
        needs_consent = api in self.rules.consent_required
        query = gate_rules.subject_query(principal, phone_number, may_repeat_subject)
        subject = self.repo.subject(
            msisdn=query.msisdn,
            line_id=query.line_id,
            party_id=party.id,
            at=at,
            with_consents=needs_consent,
        )
        gate_rules.token_subject(principal, phone_number, subject)
        refused = gate_rules.refusal(subject, api, needs_consent)
        assessment = None
        if sent is not None:
            assessment = gate_rules.kyc_assessment(self.keyring, self.rules, sent, subject, refused)
        keys = gate_rules.gate_keys(
            self.keyring,
            self.rules,
            principal.client_id,
            at,
            subject,
            refused,
            assessment=assessment,
        )
        spent = self.counters.spend(keys)
        return gate_rules.admit(self.rules, at, party, subject, refused, spent), assessment

    def _relying_party(self, principal: Principal, at: datetime, api: str) -> PartyRow:
        """The caller's registration for this API (the endpoint's `relying_party` dependency
        has checked its role and scope), within its rate."""
        if self.parties is not None:
            party = self.parties.get(principal.client_id, at, self.repo.party)
        else:
            party = self.repo.party(principal.client_id)
        admitted = gate_rules.admit_party(party, api)
        gate_rules.admit_rate(self.limiter, principal.client_id, at)
        return admitted

    def _device_line(self, principal: Principal, at: datetime) -> Line:
        self._relying_party(principal, at, "number-verification")
        # A one-time-code login (amr otp) proves the line to the operator, not the network
        # authentication Number Verification attests.
        if principal.line_id is None or "network" not in principal.amr:
            raise VerificationError(E.NOT_AUTHENTICATED_BY_NETWORK)
        line = self.session.get(Line, principal.line_id)
        if line is None or line.state != LineState.ACTIVE:
            raise VerificationError(E.NOT_AUTHENTICATED_BY_NETWORK)
        return line

    # --- quotas and audit ----------------------------------------------------------------

    def _audit(
        self,
        principal: Principal,
        at: datetime,
        gate: Gate,
        api: str,
        fields: list[str],
        outcome: str,
    ) -> None:
        self._write_audit(gate_rules.gate_audit_entry(principal, at, gate, api, fields, outcome))

    def _audit_line(
        self, principal: Principal, at: datetime, line_id: int, msisdn: str, api: str, outcome: str
    ) -> None:
        self._write_audit(gate_rules.audit_entry(principal, at, line_id, msisdn, api, outcome))

    def _write_audit(self, entry: dict[str, Any]) -> None:
        if self.deferred_audit is not None:
            self.deferred_audit.append(entry)
        else:
            append_audit(self.session, self.keyring, **entry)


class AsyncKycMatch:
    """KYC Match as an async read, for a worker whose counters are in Redis on PostgreSQL.

    The same gate as `VerificationService.kyc_match` (every rule from `gate`, in the same
    order), with the I/O on the event loop: the relying party from the worker's cache (read on
    a miss), the line, its owner and the party's live consents in one prepared statement on
    the async psycopg pool (`AsyncVerificationReads`), the answer decided, then the call and
    its mismatch counted in one Redis script (`AsyncRedisCounters`, the same keys and scripts
    as the service's, so both paths share one quota). The audit entry is appended to
    `entries`, for the entry point to have committed (the worker's audit writer) before it
    answers or refuses."""

    API = "kyc-match"

    def __init__(
        self,
        reads: AsyncVerificationReads,
        counters: AsyncRedisCounters,
        *,
        keyring: KeyRing,
        parties: PartyCache | None = None,
    ) -> None:
        self.reads = reads
        self.counters = counters
        self.keyring = keyring
        self.parties = parties

    async def __call__(
        self,
        principal: Principal,
        at: datetime,
        phone_number: str | None,
        claims: dict[str, Any],
        *,
        policy: Policy,
        limiter: gate_rules.RateLimiter | None,
        entries: list[dict[str, Any]],
    ) -> dict[str, object]:
        """`policy`: the runtime's, read per call as the service does."""
        rules = policy.verification
        client_id = principal.client_id
        party = self.parties.cached(client_id, at) if self.parties is not None else None
        if party is None:
            party = await self.reads.party(client_id)
            if party is not None and self.parties is not None:
                self.parties.remember(party, at)
        party = gate_rules.admit_party(party, self.API)
        gate_rules.admit_rate(limiter, client_id, at)
        sent = gate_rules.kyc_claims(claims)
        query = gate_rules.subject_query(principal, phone_number, may_repeat=True)
        subject = await self.reads.subject(
            msisdn=query.msisdn, line_id=query.line_id, party_id=party.id, at=at
        )
        gate_rules.token_subject(principal, phone_number, subject)
        refused = gate_rules.refusal(subject, self.API, self.API in rules.consent_required)
        assessment = gate_rules.kyc_assessment(self.keyring, rules, sent, subject, refused)
        keys = gate_rules.gate_keys(
            self.keyring, rules, client_id, at, subject, refused, assessment
        )
        spent = await self.counters.spend(keys)
        gate = gate_rules.admit(rules, at, party, subject, refused, spent)
        decision = gate_rules.kyc_decision(rules, at, gate, assessment)
        entries.append(
            gate_rules.gate_audit_entry(
                principal, at, gate, self.API, decision.fields, decision.outcome
            )
        )
        if decision.error is not None:
            raise decision.error
        assert decision.answer is not None
        return decision.answer
