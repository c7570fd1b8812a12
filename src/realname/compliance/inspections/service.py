"""Secret inspections: a round is created, its plan drawn from its seed, outlets assigned to
inspectors, visits and test purchases recorded, purchases traced through the registry, and
violation rates read with their Wilson intervals.

Every change is audited (the chain's `inspection_round` object). A provincial administration
acts within its province: its rounds are confined to it and it sees no other province's.
Services flush; the entry point commits.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from realname.compliance.inspections.errors import InspectionError
from realname.compliance.inspections.errors import InspectionErrorCode as E
from realname.compliance.inspections.evidence import EvidenceStore
from realname.compliance.inspections.models import (
    InspectionEvidence,
    InspectionRound,
    InspectionTarget,
    InspectionVisit,
    TestPurchase,
)
from realname.compliance.inspections.outcomes import (
    VIOLATING_FINDINGS,
    VIOLATING_OUTCOMES,
    Finding,
    Outcome,
    Registration,
    finding_of,
)
from realname.compliance.inspections.places import province_name
from realname.compliance.inspections.rates import Rate, wilson
from realname.compliance.inspections.repository import InspectionRepository
from realname.compliance.inspections.sampling import Outlet, Precision, Stratum, draw
from realname.identity.documents import parse_document
from realname.identity.errors import DocumentError
from realname.identity.regions import lookup_region, province_prefixes
from realname.identity.resident_id import LATEST_TABLE_DATE
from realname.numbering.errors import NumberError
from realname.numbering.msisdn import parse_msisdn
from realname.policy.schema import ChannelKind
from realname.registry.commands import Context
from realname.security.audit import append_audit
from realname.security.vault import KeyRing

ROUND_OBJECT = "inspection_round"
NUMBER_CONTEXT = "identity.number"  # the registry's blind-index context (registry/identities)
MAX_EVIDENCE_BYTES = 10 * 1024 * 1024
GROUPINGS = ("enterprise", "kind", "province")


@dataclass(frozen=True)
class Acting:
    """Who acts: the context, the province a provincial administration is confined to (None:
    national), and the inspector's client id when an inspector acts."""

    ctx: Context
    province: str | None = None
    inspector: str | None = None


@dataclass(frozen=True)
class RoundSpec:
    code: str
    name: str
    starts_on: date
    ends_on: date
    seed: int
    enterprises: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    provinces: list[str] = field(default_factory=list)
    margin: float = 0.05
    confidence: float = 0.95
    expected_rate: float = 0.5
    min_per_stratum: int = 2


@dataclass(frozen=True)
class EvidenceFile:
    content_base64: str
    media_type: str
    sha256: str | None = None


@dataclass(frozen=True)
class VisitSpec:
    target_id: int
    visited_at: datetime
    place_region: str
    outcome: Outcome
    latitude: float | None = None
    longitude: float | None = None
    evidence: list[EvidenceFile] = field(default_factory=list)


@dataclass(frozen=True)
class PurchaseSpec:
    visit_id: int
    msisdn: str
    bought_at: datetime
    document_number: str | None = None  # None: the outlet sold it without an ID
    document_type: str | None = None


@dataclass(frozen=True)
class GroupRate:
    round_id: int
    group: str
    kind: str | None
    rate: Rate


@dataclass(frozen=True)
class RoundRates:
    """One round's rates: overall, and per enterprise, channel kind and province (each a
    list of (group, the enterprise's kind when by enterprise, rate))."""

    code: str
    name: str
    starts_on: str
    ends_on: str
    overall: Rate
    groups: dict[str, list[tuple[str, str | None, Rate]]]


class InspectionService:
    def __init__(self, session: Session, keyring: KeyRing, store: EvidenceStore) -> None:
        self.session = session
        self.keyring = keyring
        self.store = store
        self.repo = InspectionRepository(session)

    # --- rounds ----------------------------------------------------------------------------

    def create_round(self, acting: Acting, spec: RoundSpec) -> InspectionRound:
        if spec.ends_on < spec.starts_on:
            raise InspectionError(E.ROUND_DATES_INVALID)
        precision = _precision(spec)
        provinces = sorted(set(spec.provinces))
        if any(p not in province_prefixes() for p in provinces):
            raise InspectionError(E.SCOPE_INVALID, "unknown province")
        if any(k not in set(ChannelKind) for k in spec.kinds):
            raise InspectionError(E.SCOPE_INVALID, "unknown channel kind")
        if acting.province is not None:
            if provinces not in ([], [acting.province]):
                raise InspectionError(E.OUTSIDE_PROVINCE)
            provinces = [acting.province]
        known = self.repo.enterprise_codes(spec.enterprises)
        if len(known) != len(set(spec.enterprises)):
            raise InspectionError(E.SCOPE_INVALID, "unknown enterprise")
        if self.repo.round_by_code(spec.code) is not None:
            raise InspectionError(E.ROUND_EXISTS)
        row = InspectionRound(
            code=spec.code,
            name=spec.name,
            starts_on=spec.starts_on,
            ends_on=spec.ends_on,
            scope={
                "enterprises": sorted(set(spec.enterprises)),
                "kinds": sorted(set(spec.kinds)),
                "provinces": provinces,
            },
            province=acting.province,
            margin=precision.margin,
            confidence=precision.confidence,
            expected_rate=precision.expected_rate,
            min_per_stratum=precision.min_per_stratum,
            seed=spec.seed,
            created_by=str(acting.ctx.actor),
            created_at=acting.ctx.at,
        )
        self.repo.add(row)
        self._flush(E.ROUND_EXISTS)
        self._audit(acting, "inspection.round.create", row, {"seed": spec.seed, **row.scope})
        return row

    def round(self, acting: Acting, round_id: int) -> InspectionRound:
        """The round, if this caller may see it (a province: its own rounds only)."""
        found = self.repo.round(round_id)
        if found is None or (acting.province is not None and found.province != acting.province):
            raise InspectionError(E.ROUND_NOT_FOUND)
        return found

    def rounds(
        self, acting: Acting, since: date | None = None, until: date | None = None
    ) -> Sequence[InspectionRound]:
        return self.repo.rounds(acting.province, since, until)

    def plan(self, acting: Acting, round_id: int) -> list[InspectionTarget]:
        """Draw the round's plan from its scope, precision and seed (once)."""
        found = self.round(acting, round_id)
        if self.repo.has_plan(found.id):
            raise InspectionError(E.ALREADY_PLANNED)
        scope = found.scope
        ids = list(self.repo.enterprise_codes(scope.get("enterprises", [])).values())
        outlets = self.repo.outlets(ids, scope.get("kinds", []), scope.get("provinces", []))
        if not outlets:
            raise InspectionError(E.NO_OUTLETS)
        by_id = {o.channel_id: o for o in outlets}
        drawn = draw(
            (Outlet(o.channel_id, Stratum(o.enterprise, o.kind, o.province)) for o in outlets),
            Precision(found.margin, found.confidence, found.expected_rate, found.min_per_stratum),
            found.seed,
        )
        targets = [
            InspectionTarget(
                round_id=found.id,
                channel_id=o.channel_id,
                enterprise_id=by_id[o.channel_id].enterprise_id,
                channel_kind=o.stratum.kind,
                province=o.stratum.province,
            )
            for o in drawn.chosen
        ]
        self.session.add_all(targets)
        found.population, found.target_size = drawn.population, drawn.target
        found.planned_at = acting.ctx.at
        self._flush(E.ALREADY_PLANNED)
        self._audit(
            acting,
            "inspection.round.plan",
            found,
            {
                "population": drawn.population,
                "target": drawn.target,
                "drawn": len(targets),
                "strata": len(drawn.allocation),
                "seed": found.seed,
            },
        )
        return targets

    def assign(
        self, acting: Acting, round_id: int, inspector: str, target_ids: list[int] | None
    ) -> list[InspectionTarget]:
        """Give outlets of the plan to an inspector (None: every outlet not yet assigned)."""
        found = self.round(acting, round_id)
        if not self.repo.has_plan(found.id):
            raise InspectionError(E.NOT_PLANNED)
        if not self.repo.active_inspector(inspector):
            raise InspectionError(E.INSPECTOR_NOT_FOUND)
        if target_ids is None:
            chosen = [row[0] for row in self.repo.targets(found.id) if row[0].inspector is None]
        else:  # one query for the outlets named (it was one per outlet)
            wanted = list(dict.fromkeys(target_ids))
            known = self.repo.targets_by_id(found.id, wanted)
            missing = [t for t in wanted if t not in known]
            if missing:
                raise InspectionError(E.TARGET_NOT_FOUND, f"outlet {missing[0]}")
            chosen = [known[t] for t in wanted]
        for target in chosen:
            target.inspector, target.assigned_at = inspector, acting.ctx.at
        self.session.flush()
        self._audit(
            acting,
            "inspection.assign",
            found,
            {"inspector": inspector, "targets": [t.id for t in chosen]},
        )
        return chosen

    # --- visits ----------------------------------------------------------------------------

    def record_visit(self, acting: Acting, round_id: int, spec: VisitSpec) -> InspectionVisit:
        found = self.round(acting, round_id)
        target = self.repo.target(found.id, spec.target_id)
        if target is None:
            raise InspectionError(E.TARGET_NOT_FOUND)
        if acting.inspector is not None and target.inspector != acting.inspector:
            raise InspectionError(E.NOT_ASSIGNED)
        if not found.starts_on <= spec.visited_at.date() <= found.ends_on:
            raise InspectionError(E.VISIT_OUTSIDE_ROUND)
        if spec.visited_at > acting.ctx.at:
            raise InspectionError(E.VISIT_IN_FUTURE)
        _check_place(spec)
        if self.repo.visit_of_target(target.id) is not None:
            raise InspectionError(E.ALREADY_VISITED)
        files = [_decoded(f) for f in spec.evidence]  # all checked before anything is stored
        visit = InspectionVisit(
            target_id=target.id,
            inspector=acting.inspector or str(acting.ctx.actor),
            visited_at=spec.visited_at,
            place_region=spec.place_region,
            latitude=spec.latitude,
            longitude=spec.longitude,
            outcome=str(spec.outcome),
            violation=spec.outcome in VIOLATING_OUTCOMES,
            recorded_at=acting.ctx.at,
        )
        self.repo.add(visit)
        self._flush(E.ALREADY_VISITED)
        hashes = []
        for content, media_type in files:
            digest = self.store.put(content)
            if digest not in hashes:
                hashes.append(digest)
                self.repo.add(
                    InspectionEvidence(
                        visit_id=visit.id,
                        sha256=digest,
                        size=len(content),
                        media_type=media_type,
                        stored_at=acting.ctx.at,
                    )
                )
        self.session.flush()
        self._audit(
            acting,
            "inspection.visit",
            found,
            {
                "visit": visit.id,
                "target": target.id,
                "channel": target.channel_id,
                "outcome": visit.outcome,
                "violation": visit.violation,
                "evidence": hashes,
            },
        )
        return visit

    def visit(self, acting: Acting, round_id: int, visit_id: int) -> InspectionVisit:
        self.round(acting, round_id)
        found = self.repo.visit(visit_id)
        if found is None or found[1].round_id != round_id or not _sees(acting, found[1]):
            raise InspectionError(E.VISIT_NOT_FOUND)
        return found[0]

    def evidence(
        self, acting: Acting, round_id: int, visit_id: int, sha256: str
    ) -> tuple[InspectionEvidence, bytes]:
        """An evidence file of a visit this caller may see, checked against its hash on the
        way out (a file changed in the store is refused, not served)."""
        self.visit(acting, round_id, visit_id)
        found = next((e for e in self.repo.evidence_of(visit_id) if e.sha256 == sha256), None)
        content = None if found is None else self.store.get(sha256)
        if found is None or content is None or hashlib.sha256(content).hexdigest() != sha256:
            raise InspectionError(E.EVIDENCE_NOT_FOUND)
        return found, content

    # --- test purchases --------------------------------------------------------------------

    def record_purchase(self, acting: Acting, round_id: int, spec: PurchaseSpec) -> TestPurchase:
        found = self.round(acting, round_id)
        visited = self.repo.visit(spec.visit_id)
        if visited is None or visited[1].round_id != found.id:
            raise InspectionError(E.VISIT_NOT_FOUND)
        visit, target = visited
        if acting.inspector is not None and target.inspector != acting.inspector:
            raise InspectionError(E.NOT_ASSIGNED)
        if visit.outcome == str(Outcome.NOT_VISITED):
            raise InspectionError(E.PURCHASE_NOT_VISITED)
        if spec.bought_at > acting.ctx.at:
            raise InspectionError(E.VISIT_IN_FUTURE)
        try:
            msisdn = parse_msisdn(spec.msisdn).e164
        except NumberError:
            raise InspectionError(E.NUMBER_INVALID) from None
        doc_type, index = self._buyer(spec)
        if self.repo.purchase_of_visit(visit.id) is not None:
            raise InspectionError(E.PURCHASE_EXISTS)
        purchase = TestPurchase(
            visit_id=visit.id,
            msisdn=msisdn,
            bought_at=spec.bought_at,
            buyer_doc_type=doc_type,
            buyer_number_index=index,
        )
        self.repo.add(purchase)
        self._flush(E.PURCHASE_EXISTS)
        self._audit(
            acting,
            "inspection.purchase",
            found,
            {"purchase": purchase.id, "visit": visit.id, "with_document": index is not None},
        )
        return purchase

    def _buyer(self, spec: PurchaseSpec) -> tuple[str | None, bytes | None]:
        """The buyer's document as the registry indexes it (the number itself is not kept)."""
        if spec.document_number is None:
            return None, None
        try:
            document = parse_document(
                spec.document_number, spec.document_type, today=LATEST_TABLE_DATE
            )
        except DocumentError:
            raise InspectionError(E.DOCUMENT_INVALID) from None
        return str(document.type), self.keyring.blind_index(document.number, NUMBER_CONTEXT)

    def check_purchases(self, acting: Acting, round_id: int) -> list[TestPurchase]:
        """Trace every unchecked purchase of the round through the registry's record: who the
        line is registered to, at which channel, by which clerk, when; a violating finding
        makes the visit a violation whatever the inspector saw."""
        found = self.round(acting, round_id)
        checked = []
        for purchase, channel_id, _ in self.repo.purchases(found.id, unchecked=True):
            owning = self.repo.owning(purchase.msisdn)
            registration = (
                None
                if owning is None
                else Registration(
                    owning.owner_doc_type,
                    owning.owner_number_index,
                    owning.channel_id,
                    owning.occurred_at,
                )
            )
            finding = finding_of(
                registration,
                visited_channel_id=channel_id,
                bought_at=purchase.bought_at,
                buyer_doc_type=purchase.buyer_doc_type,
                buyer_number_index=purchase.buyer_number_index,
            )
            purchase.checked_at = acting.ctx.at
            purchase.finding = str(finding)
            purchase.violation = finding in VIOLATING_FINDINGS
            if owning is not None:
                detail = owning.detail
                purchase.line_id = owning.line_id
                purchase.registration_event_id = owning.event_id
                purchase.registered_channel_id = owning.channel_id
                purchase.registered_at = owning.occurred_at
                clerk = detail.get("clerk_id")
                purchase.registered_clerk_id = clerk if isinstance(clerk, int) else None
                purchase.document_type = _text(detail.get("document_type"))
                purchase.entry_method = _text(detail.get("entry_method"))
            if purchase.violation:
                visited = self.repo.visit(purchase.visit_id)
                assert visited is not None
                visited[0].violation = True
            self.session.flush()
            self._audit(
                acting,
                "inspection.purchase.check",
                found,
                {
                    "purchase": purchase.id,
                    "finding": purchase.finding,
                    "violation": purchase.violation,
                    "line": purchase.line_id,
                    "event": purchase.registration_event_id,
                    "channel": purchase.registered_channel_id,
                    "clerk": purchase.registered_clerk_id,
                },
            )
            checked.append(purchase)
        return checked

    def purchases(self, acting: Acting, round_id: int) -> list[TestPurchase]:
        found = self.round(acting, round_id)
        mine = None
        if acting.inspector is not None:
            mine = {row[0].id for row in self.repo.targets(found.id) if _sees(acting, row[0])}
        return [
            p
            for p, _, target_id in self.repo.purchases(found.id, unchecked=False)
            if mine is None or target_id in mine
        ]

    # --- rates -----------------------------------------------------------------------------

    def rates(
        self, acting: Acting, round_ids: list[int], by: str, province: str | None = None
    ) -> list[GroupRate]:
        """Violation rates of the rounds per enterprise, channel kind or province, each with
        its Wilson 95 % interval, of the outlets in `province` (a provincial administration:
        its own, whatever it asks)."""
        for round_id in round_ids:
            self.round(acting, round_id)
        outlets_in = acting.province or province
        return [
            GroupRate(r, g, k, wilson(v, n))
            for r, g, k, n, v in self.repo.visit_counts(round_ids, by, outlets_in)
        ]

    def report(
        self,
        acting: Acting,
        since: date | None = None,
        until: date | None = None,
        province: str | None = None,
    ) -> list[RoundRates]:
        """Every round starting in [since, until) this caller may see, side by side over time,
        with its rates per enterprise, channel kind and province (names, not codes), of the
        outlets in `province` when given."""
        rounds = self.repo.rounds(acting.province, since, until)
        ids = [r.id for r in rounds]
        grouped = {by: self.rates(acting, ids, by, province) if ids else [] for by in GROUPINGS}
        out = []
        for row in rounds:
            groups = {
                by: [
                    (province_name(g.group) if by == "province" else g.group, g.kind, g.rate)
                    for g in rates
                    if g.round_id == row.id
                ]
                for by, rates in grouped.items()
            }
            visited = sum(rate.n for _, _, rate in groups["enterprise"])
            violating = sum(rate.hits for _, _, rate in groups["enterprise"])
            out.append(
                RoundRates(
                    row.code,
                    row.name,
                    row.starts_on.isoformat(),
                    row.ends_on.isoformat(),
                    wilson(violating, visited),
                    groups,
                )
            )
        return out

    # --- helpers ---------------------------------------------------------------------------

    def _flush(self, on_conflict: E) -> None:
        """Flush; a unique key another transaction took meanwhile is the caller's conflict."""
        try:
            with self.session.begin_nested():
                self.session.flush()
        except IntegrityError:
            raise InspectionError(on_conflict) from None

    def _audit(
        self, acting: Acting, action: str, row: InspectionRound, detail: dict[str, Any]
    ) -> None:
        append_audit(
            self.session,
            self.keyring,
            actor=str(acting.ctx.actor),
            action=action,
            object_type=ROUND_OBJECT,
            object_id=str(row.id),
            at=acting.ctx.at,
            detail={"round": row.code, **detail},
            correlation_id=acting.ctx.correlation_id,
        )


def _sees(acting: Acting, target: InspectionTarget) -> bool:
    """An inspector sees the outlets assigned to it; the regulators see every outlet."""
    return acting.inspector is None or target.inspector == acting.inspector


def _precision(spec: RoundSpec) -> Precision:
    try:
        return Precision(spec.margin, spec.confidence, spec.expected_rate, spec.min_per_stratum)
    except ValueError:
        raise InspectionError(E.PRECISION_INVALID) from None


def _check_place(spec: VisitSpec) -> None:
    if len(spec.place_region) != 6 or lookup_region(spec.place_region) is None:
        raise InspectionError(E.PLACE_INVALID)
    if spec.latitude is not None and not -90 <= spec.latitude <= 90:
        raise InspectionError(E.PLACE_INVALID)
    if spec.longitude is not None and not -180 <= spec.longitude <= 180:
        raise InspectionError(E.PLACE_INVALID)


def _decoded(evidence: EvidenceFile) -> tuple[bytes, str]:
    try:
        content = base64.b64decode(evidence.content_base64, validate=True)
    except (binascii.Error, ValueError):
        raise InspectionError(E.EVIDENCE_INVALID) from None
    if not content or len(content) > MAX_EVIDENCE_BYTES or not evidence.media_type:
        raise InspectionError(E.EVIDENCE_INVALID)
    if evidence.sha256 is not None and hashlib.sha256(content).hexdigest() != evidence.sha256:
        raise InspectionError(E.EVIDENCE_INVALID, "SHA-256 does not match the content")
    return content, evidence.media_type


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


__all__ = [
    "Acting",
    "EvidenceFile",
    "Finding",
    "GroupRate",
    "InspectionService",
    "PurchaseSpec",
    "RoundRates",
    "RoundSpec",
    "VisitSpec",
]
