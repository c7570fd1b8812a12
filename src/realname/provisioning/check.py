"""Checking a provisioning document whole, before any write.

Every row is checked against the database and against the rest of the document (codes
twice in a file, hosts, overlapping blocks, the channel tree's levels and cycles, licences
that may not issue), and every refused row is reported with its line number (`FileErrors`).
What passes becomes a `Plan` the service writes in bulk; rows identical to what exists are
counted `unchanged`. Reads only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from realname.identity.regions import lookup_region, province_prefixes
from realname.numbering.blocks import NumberBlock
from realname.policy.schema import ChannelKind
from realname.provisioning.document import (
    EARLIEST_LICENCE,
    ISSUING,
    LICENCE_STATUSES,
    BlockSpec,
    ChannelSpec,
    ClerkSpec,
    Document,
    EnterpriseSpec,
    Report,
    block_of,
)
from realname.provisioning.errors import FileErrors, ProvisioningError, ProvisioningErrorCode
from realname.provisioning.repository import ProvisioningRepository
from realname.registry.models import Enterprise

C = ProvisioningErrorCode
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}")


@dataclass
class _Ent:
    code: str
    kind: str
    host: str | None
    licence_status: str
    provinces: tuple[str, ...]
    id: int | None = None  # None: created by this document


@dataclass
class Plan:
    """What passed the check, in the order the service writes it."""

    report: Report
    enterprises: list[EnterpriseSpec] = field(default_factory=list)
    blocks: list[tuple[BlockSpec, NumberBlock]] = field(default_factory=list)
    channel_levels: list[list[ChannelSpec]] = field(default_factory=list)
    clerks: list[ClerkSpec] = field(default_factory=list)
    ents: dict[str, _Ent] = field(default_factory=dict)
    # (enterprise, code) -> id of the channels that exist already, read once by the check
    channel_ids: dict[tuple[str, str], int] = field(default_factory=dict)


class DocumentCheck:
    def __init__(self, repo: ProvisioningRepository) -> None:
        self.repo = repo

    def plan(self, doc: Document, today: date) -> Plan:
        errors: list[tuple[int, ProvisioningError]] = []
        plan = Plan(Report())

        def refuse(line: int, code: ProvisioningErrorCode, detail: str | None = None) -> None:
            errors.append((line, ProvisioningError(code, detail)))

        existing = {e.code: e for e in self.repo.enterprises()}
        ents = plan.ents
        for e in existing.values():
            host = next((h.code for h in existing.values() if h.id == e.host_enterprise_id), None)
            ents[e.code] = _Ent(
                e.code, e.kind, host, e.licence_status, tuple(e.provinces or ()), e.id
            )
        self._check_enterprises(doc, existing, plan, refuse, today)
        self._check_blocks(doc, plan, refuse)
        known_channels = self._check_channels(doc, plan, refuse)
        self._check_clerks(doc, plan, known_channels, refuse)
        if errors:
            errors.sort(key=lambda item: item[0])
            raise FileErrors(errors)
        return plan

    def _check_enterprises(
        self,
        doc: Document,
        existing: dict[str, Enterprise],
        plan: Plan,
        refuse: Any,
        today: date,
    ) -> None:
        ents = plan.ents
        seen: set[str] = set()
        mnos_in_doc = {s.code for s in doc.enterprises if s.kind == "mno"}
        for spec in doc.enterprises:
            line = spec.line
            if not _valid_code(spec.code):
                refuse(line, C.FIELD_INVALID, "code: letters, digits, _ . - (at most 32)")
                continue
            if spec.code in seen:
                refuse(line, C.ENTERPRISE_EXISTS, f"{spec.code} appears twice in the file")
                continue
            seen.add(spec.code)
            if not _valid_name(spec.name):
                refuse(line, C.FIELD_INVALID, "name: 1 to 200 characters")
            if spec.kind not in ("mno", "mvno"):
                refuse(line, C.ENTERPRISE_KIND)
                continue
            if spec.licence_status not in LICENCE_STATUSES:
                refuse(line, C.LICENCE_STATUS)
            if spec.licence_since is not None and not (
                EARLIEST_LICENCE <= spec.licence_since <= today
            ):
                refuse(line, C.LICENCE_DATE, f"licence_since {spec.licence_since.isoformat()}")
            if spec.licence_no is not None and not 0 < len(spec.licence_no) <= 64:
                refuse(line, C.FIELD_INVALID, "licence_no: at most 64 characters")
            bad = [p for p in spec.provinces if p not in province_prefixes()]
            if bad:
                refuse(line, C.PROVINCE_INVALID, f"not a province: {', '.join(bad)}")
            twice = sorted({p for p in spec.provinces if spec.provinces.count(p) > 1})
            if twice:
                refuse(line, C.PROVINCE_INVALID, f"listed twice: {', '.join(twice)}")
            if spec.kind == "mno" and spec.host:
                refuse(line, C.HOST_REQUIRED, "an MNO has no host operator")
            elif spec.kind == "mvno":
                host = ents.get(spec.host or "")
                if not spec.host:
                    refuse(line, C.HOST_REQUIRED)
                elif spec.host not in mnos_in_doc and (host is None or host.kind != "mno"):
                    refuse(line, C.HOST_NOT_MNO, f"host {spec.host}")
                elif host is not None and host.licence_status not in ISSUING:
                    refuse(line, C.HOST_NOT_MNO, f"host {spec.host} is {host.licence_status}")
            row = existing.get(spec.code)
            if row is not None:
                differs = _enterprise_differs(row, spec, ents)
                if differs:
                    refuse(line, C.ENTERPRISE_EXISTS, f"{spec.code} differs in {differs}")
                else:
                    plan.report.enterprises.unchanged += 1
                continue
            ents[spec.code] = _Ent(
                spec.code, spec.kind, spec.host, spec.licence_status, tuple(spec.provinces)
            )
            plan.enterprises.append(spec)
            plan.report.enterprises.created += 1

    def _check_blocks(self, doc: Document, plan: Plan, refuse: Any) -> None:
        if not doc.blocks:
            return
        ents = plan.ents
        taken = self.repo.block_bounds()
        suspended = self.repo.blocks_suspended()
        planned: list[tuple[str, str]] = []
        for spec in doc.blocks:
            ent = ents.get(spec.enterprise)
            if ent is None:
                refuse(spec.line, C.ENTERPRISE_NOT_FOUND, spec.enterprise)
                continue
            try:
                block = block_of(spec.prefix, spec.first, spec.last)
            except ProvisioningError as error:
                refuse(spec.line, error.code, error.detail)
                continue
            same = [
                t
                for t in taken
                if len(t[0]) == len(block.first) and t[0] <= block.last and block.first <= t[1]
            ]
            if same == [(block.first, block.last, ent.id)] and ent.id is not None:
                plan.report.blocks.unchanged += 1
                continue
            if same or any(
                len(f) == len(block.first) and f <= block.last and block.first <= last
                for f, last in planned
            ):
                refuse(spec.line, C.BLOCK_OVERLAPS, str(block))
                continue
            if ent.licence_status not in ISSUING:
                refuse(spec.line, C.LICENCE_NOT_ACTIVE, spec.enterprise)
                continue
            if ent.id in suspended:
                refuse(spec.line, C.BLOCK_ALLOCATION_SUSPENDED, spec.enterprise)
                continue
            planned.append((block.first, block.last))
            plan.blocks.append((spec, block))
            plan.report.blocks.created += 1

    def _check_channels(
        self, doc: Document, plan: Plan, refuse: Any
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """Returns every channel known after the document: (enterprise, code) -> row."""
        ents = plan.ents
        wanted = {ents[c].id for c in _codes(doc) if c in ents and ents[c].id is not None}
        rows = self.repo.channel_rows(i for i in wanted if i is not None)
        code_of_ent = {e.id: e.code for e in ents.values() if e.id is not None}
        code_by_id = {r["id"]: r["code"] for r in rows}
        known: dict[tuple[str, str], dict[str, Any]] = {
            (code_of_ent[r["enterprise_id"]], r["code"]): r for r in rows
        }
        plan.channel_ids = {key: row["id"] for key, row in known.items()}
        new: dict[tuple[str, str], ChannelSpec] = {}
        for spec in doc.channels:
            line, key = spec.line, (spec.enterprise, spec.code)
            ent = ents.get(spec.enterprise)
            if ent is None:
                refuse(line, C.ENTERPRISE_NOT_FOUND, spec.enterprise)
                continue
            if not _valid_code(spec.code):
                refuse(line, C.FIELD_INVALID, "code: letters, digits, _ . - (at most 32)")
                continue
            if key in new:
                refuse(line, C.CHANNEL_EXISTS, f"{spec.code} appears twice in the file")
                continue
            problems = 0
            if not _valid_name(spec.name):
                refuse(line, C.FIELD_INVALID, "name: 1 to 200 characters")
                problems += 1
            if spec.kind not in set(ChannelKind):
                refuse(line, C.CHANNEL_KIND, spec.kind)
                problems += 1
            region = lookup_region(spec.region) if re.fullmatch(r"\d{6}", spec.region) else None
            if region is None or region.abolished:
                refuse(line, C.REGION_INVALID, spec.region)
                problems += 1
            elif ent.provinces and spec.region[:2] not in ent.provinces:
                refuse(line, C.REGION_NOT_SERVED, spec.region)
                problems += 1
            if spec.parent == spec.code:
                refuse(line, C.CHANNEL_CYCLE, spec.code)
                problems += 1
            row = known.get(key)
            if row is not None:
                parent = code_by_id.get(row["parent_id"]) if row["parent_id"] else None
                differs = [
                    name
                    for name, ours, theirs in (
                        ("name", spec.name, row["name"]),
                        ("kind", spec.kind, row["kind"]),
                        ("region", spec.region, row["region_code"]),
                        ("parent", spec.parent, parent),
                    )
                    if ours != theirs
                ]
                if differs:
                    refuse(line, C.CHANNEL_EXISTS, f"{spec.code} differs in {', '.join(differs)}")
                elif not problems:
                    plan.report.channels.unchanged += 1
                continue
            if ent.licence_status not in ISSUING:
                refuse(line, C.LICENCE_NOT_ACTIVE, spec.enterprise)
                problems += 1
            new[key] = spec
            if not problems:
                plan.report.channels.created += 1
        # Levels of the tree: a channel is placed once its parent exists or is placed.
        placed = set(known)
        pending = dict(new)
        while pending:
            level = [
                s
                for k, s in pending.items()
                if s.parent is None or (s.enterprise, s.parent) in placed
            ]
            if not level:
                break
            plan.channel_levels.append(level)
            for s in level:
                placed.add((s.enterprise, s.code))
                del pending[(s.enterprise, s.code)]
        for spec in pending.values():
            parent = (spec.enterprise, spec.parent or "")
            if parent in new:
                refuse(spec.line, C.CHANNEL_CYCLE, f"{spec.code} under {spec.parent}")
            else:
                refuse(spec.line, C.PARENT_NOT_FOUND, spec.parent)
        for key, spec in new.items():
            known[key] = {"id": None, "code": spec.code, "enterprise": spec.enterprise}
        return known

    def _check_clerks(
        self,
        doc: Document,
        plan: Plan,
        channels: dict[tuple[str, str], dict[str, Any]],
        refuse: Any,
    ) -> None:
        if not doc.clerks:
            return
        ents = plan.ents
        existing = self.repo.clerk_rows(s.code for s in doc.clerks)
        seen: set[str] = set()
        for spec in doc.clerks:
            line = spec.line
            ent = ents.get(spec.enterprise)
            if ent is None:
                refuse(line, C.ENTERPRISE_NOT_FOUND, spec.enterprise)
                continue
            if not _valid_code(spec.code):
                refuse(line, C.FIELD_INVALID, "code: letters, digits, _ . - (at most 32)")
                continue
            if spec.code in seen:
                refuse(line, C.CLERK_EXISTS, f"{spec.code} appears twice in the file")
                continue
            seen.add(spec.code)
            if not _valid_name(spec.name, 100):
                refuse(line, C.FIELD_INVALID, "name: 1 to 100 characters")
                continue
            channel = channels.get((spec.enterprise, spec.channel))
            if channel is None:
                refuse(line, C.CHANNEL_NOT_FOUND, spec.channel)
                continue
            row = existing.get(spec.code)
            if row is not None:
                if (
                    row["enterprise_id"] == ent.id
                    and row["channel_id"] == channel["id"]
                    and row["name"] == spec.name
                ):
                    plan.report.clerks.unchanged += 1
                else:
                    refuse(line, C.CLERK_EXISTS, spec.code)
                continue
            if ent.licence_status not in ISSUING:
                refuse(line, C.LICENCE_NOT_ACTIVE, spec.enterprise)
                continue
            plan.clerks.append(spec)
            plan.report.clerks.created += 1


def _valid_code(code: str) -> bool:
    return isinstance(code, str) and _CODE.fullmatch(code) is not None


def _valid_name(name: str, limit: int = 200) -> bool:
    return isinstance(name, str) and 0 < len(name.strip()) <= limit


def _codes(doc: Document) -> set[str]:
    return {s.enterprise for s in doc.channels} | {s.enterprise for s in doc.clerks}


def _enterprise_differs(row: Enterprise, spec: EnterpriseSpec, ents: dict[str, _Ent]) -> str:
    ours = ents.get(row.code)
    host = ours.host if ours is not None else None
    fields = [
        name
        for name, mine, theirs in (
            ("name", spec.name, row.name),
            ("kind", spec.kind, row.kind),
            ("host", spec.host, host),
            ("licence_no", spec.licence_no, row.licence_no),
            ("provinces", sorted(spec.provinces), sorted(row.provinces or [])),
        )
        if mine != theirs
    ]
    return ", ".join(fields)
