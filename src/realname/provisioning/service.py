"""Provisioning use cases: enterprises and licences, number blocks, channels, clerks.

One path for everything: a `Document` (from a YAML or CSV file, or one row from the CLI or
the API) is checked as a whole against the database (`check`: every refused row, with its
line number, before any write), then written in bulk (`apply`: a few INSERTs per level of
the channel tree, not one per row). Rows identical to what exists are `unchanged`, so
re-running a file changes nothing; a row that names an existing code with other values is
refused (re-parenting is `move_channel`, a licence change `set_licence`).

The service flushes, never commits: the entry point owns the transaction, so a refused file
leaves nothing behind.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from realname.identity.regions import lookup_region, province_prefixes
from realname.numbering.blocks import NumberBlock
from realname.numbering.errors import NumberError
from realname.numbering.msisdn import parse_msisdn
from realname.policy.schema import ChannelKind
from realname.provisioning.errors import FileErrors, ProvisioningError, ProvisioningErrorCode
from realname.provisioning.models import LicenceChange
from realname.provisioning.repository import ProvisioningRepository
from realname.registry.auditing import audit_operation
from realname.registry.commands import Context
from realname.registry.models import Channel, Clerk, Enterprise, NumberBlockRow
from realname.security.clients import ClientService
from realname.security.vault import KeyRing

C = ProvisioningErrorCode
LICENCE_STATUSES = ("pilot", "official", "suspended", "revoked")
# Statuses under which an enterprise may receive new blocks, channels and clerks.
ISSUING = frozenset({"pilot", "official"})
# No mobile licence predates public cellular service (China's began in 1987).
EARLIEST_LICENCE = date(1980, 1, 1)
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}")
_IDS_IN_AUDIT = 20


@dataclass(frozen=True)
class EnterpriseSpec:
    code: str
    name: str
    kind: str
    host: str | None = None
    licence_status: str = "official"
    licence_since: date | None = None
    licence_no: str | None = None
    provinces: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class BlockSpec:
    enterprise: str
    prefix: str | None = None
    first: str | None = None
    last: str | None = None
    line: int = 0


@dataclass(frozen=True)
class ChannelSpec:
    enterprise: str
    code: str
    name: str
    kind: str
    region: str
    parent: str | None = None
    line: int = 0


@dataclass(frozen=True)
class ClerkSpec:
    enterprise: str
    channel: str
    code: str
    name: str
    line: int = 0


@dataclass
class Document:
    """What a file (or one command) asks for; `line` of each spec is where it was written."""

    enterprises: list[EnterpriseSpec] = field(default_factory=list)
    blocks: list[BlockSpec] = field(default_factory=list)
    channels: list[ChannelSpec] = field(default_factory=list)
    clerks: list[ClerkSpec] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.enterprises) + len(self.blocks) + len(self.channels) + len(self.clerks)


@dataclass
class Counts:
    created: int = 0
    unchanged: int = 0


@dataclass
class Report:
    """Per entity: how many rows the file creates and how many already exist as written."""

    enterprises: Counts = field(default_factory=Counts)
    blocks: Counts = field(default_factory=Counts)
    channels: Counts = field(default_factory=Counts)
    clerks: Counts = field(default_factory=Counts)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            name: {"created": c.created, "unchanged": c.unchanged}
            for name, c in (
                ("enterprises", self.enterprises),
                ("blocks", self.blocks),
                ("channels", self.channels),
                ("clerks", self.clerks),
            )
        } | {"dry_run": self.dry_run}


@dataclass
class _Ent:
    code: str
    kind: str
    host: str | None
    licence_status: str
    provinces: tuple[str, ...]
    id: int | None = None  # None: created by this document


@dataclass
class _Plan:
    report: Report
    enterprises: list[EnterpriseSpec] = field(default_factory=list)
    blocks: list[tuple[BlockSpec, NumberBlock]] = field(default_factory=list)
    channel_levels: list[list[ChannelSpec]] = field(default_factory=list)
    clerks: list[ClerkSpec] = field(default_factory=list)
    ents: dict[str, _Ent] = field(default_factory=dict)
    # (enterprise, code) -> id of the channels that exist already, read once by the check
    channel_ids: dict[tuple[str, str], int] = field(default_factory=dict)


def block_of(prefix: str | None, first: str | None, last: str | None) -> NumberBlock:
    """`+86 170 1` (a prefix) or first/last: a range of mobile numbers, or BLOCK_INVALID."""
    try:
        if prefix and not (first or last):
            block = NumberBlock.from_prefix(prefix)
        elif first and last and not prefix:
            block = NumberBlock.from_range(first, last)
        else:
            raise ProvisioningError(C.BLOCK_INVALID, "give a prefix, or first and last")
        for end in (block.first, block.last):
            parse_msisdn("+" + end)
    except NumberError as error:
        raise ProvisioningError(C.BLOCK_INVALID, str(error.code)) from None
    return block


class ProvisioningService:
    def __init__(self, session: Session, keyring: KeyRing) -> None:
        self.session = session
        self.repo = ProvisioningRepository(session)
        self.keyring = keyring

    # --- files (and everything else) -------------------------------------------------------

    def provision(
        self, ctx: Context, document: Document, *, dry_run: bool = False, source: str = ""
    ) -> Report:
        """Check the whole document (FileErrors lists every refused row), then write it
        unless `dry_run`. `source` (a file's SHA-256, `cli`, `api`) goes into the audit."""
        plan = self._check(document, ctx.at.date())
        plan.report.dry_run = dry_run
        if not dry_run:
            self._apply(ctx, plan, source)
        return plan.report

    def _check(self, doc: Document, today: date) -> _Plan:
        errors: list[tuple[int, ProvisioningError]] = []
        plan = _Plan(Report())

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
        plan: _Plan,
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

    def _check_blocks(self, doc: Document, plan: _Plan, refuse: Any) -> None:
        if not doc.blocks:
            return
        ents = plan.ents
        taken = self.repo.block_bounds()
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
            planned.append((block.first, block.last))
            plan.blocks.append((spec, block))
            plan.report.blocks.created += 1

    def _check_channels(
        self, doc: Document, plan: _Plan, refuse: Any
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
        plan: _Plan,
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

    def _apply(self, ctx: Context, plan: _Plan, source: str) -> None:
        ids = {code: ent.id for code, ent in plan.ents.items() if ent.id is not None}
        # Hosts before the MVNOs they host.
        for spec in sorted(plan.enterprises, key=lambda s: s.kind != "mno"):
            enterprise = Enterprise(
                code=spec.code,
                name=spec.name,
                kind=spec.kind,
                licence_no=spec.licence_no,
                host_enterprise_id=ids[spec.host] if spec.host else None,
                status="active",
                created_at=ctx.at,
                licence_status=spec.licence_status,
                licence_status_since=spec.licence_since or ctx.at.date(),
                provinces=list(spec.provinces),
            )
            self.repo.add(enterprise)
            self.session.flush()
            ids[spec.code] = enterprise.id
            self._licence_change(ctx, enterprise, None)
            self._audit(
                ctx,
                "enterprise.create",
                "enterprise",
                enterprise.id,
                {"code": spec.code, "kind": spec.kind, "source": source},
            )
        if plan.blocks:
            rows = [
                {
                    "enterprise_id": ids[spec.enterprise],
                    "first": block.first,
                    "last": block.last,
                    "allocated_at": ctx.at,
                }
                for spec, block in plan.blocks
            ]
            for row_id, (_, block) in zip(self.repo.insert_blocks(rows), plan.blocks, strict=True):
                self._audit(
                    ctx,
                    "block.allocate",
                    "number_block",
                    row_id,
                    {"block": str(block), "size": block.size, "source": source},
                )
        # The channels that existed were read by the check, in this transaction; new ones
        # are added as they are inserted.
        channel_ids = dict(plan.channel_ids)
        created: dict[int, list[int]] = defaultdict(list)
        for level in plan.channel_levels:
            rows = [
                {
                    "enterprise_id": ids[s.enterprise],
                    "parent_id": channel_ids[(s.enterprise, s.parent)] if s.parent else None,
                    "code": s.code,
                    "name": s.name,
                    "kind": s.kind,
                    "region_code": s.region,
                    "status": "active",
                    "status_reason": None,
                    "created_at": ctx.at,
                }
                for s in level
            ]
            for channel_id, placed in zip(self.repo.insert_channels(rows), level, strict=True):
                channel_ids[(placed.enterprise, placed.code)] = channel_id
                created[ids[placed.enterprise]].append(channel_id)
        for enterprise_id, new_ids in created.items():
            self._audit_batch(ctx, "channel.create", "channel", enterprise_id, new_ids, source)
        if plan.clerks:
            rows = [
                {
                    "channel_id": channel_ids[(s.enterprise, s.channel)],
                    "code": s.code,
                    "name": s.name,
                    "status": "active",
                    "created_at": ctx.at,
                }
                for s in plan.clerks
            ]
            by_enterprise: dict[int, list[int]] = defaultdict(list)
            for clerk_id, hired in zip(self.repo.insert_clerks(rows), plan.clerks, strict=True):
                by_enterprise[ids[hired.enterprise]].append(clerk_id)
            for enterprise_id, new_ids in by_enterprise.items():
                self._audit_batch(ctx, "clerk.create", "clerk", enterprise_id, new_ids, source)
        self.session.flush()

    # --- one at a time -----------------------------------------------------------------------

    def add_enterprise(self, ctx: Context, spec: EnterpriseSpec, source: str = "") -> Enterprise:
        self._one(ctx, Document(enterprises=[spec]), source)
        return self._enterprise_by_code(spec.code)

    def add_block(self, ctx: Context, spec: BlockSpec, source: str = "") -> NumberBlockRow:
        self._one(ctx, Document(blocks=[spec]), source)
        block = block_of(spec.prefix, spec.first, spec.last)
        found = [b for b in self.repo.blocks() if b.first == block.first]
        return found[0]

    def add_channel(self, ctx: Context, spec: ChannelSpec, source: str = "") -> Channel:
        enterprise = self._enterprise_by_code(spec.enterprise, lock=True)
        self._one(ctx, Document(channels=[spec]), source)
        channel = self.repo.channel(enterprise.id, spec.code)
        assert channel is not None
        return channel

    def add_clerk(self, ctx: Context, spec: ClerkSpec, source: str = "") -> Clerk:
        enterprise = self._enterprise_by_code(spec.enterprise)
        self._one(ctx, Document(clerks=[spec]), source)
        clerk = self.repo.clerk(enterprise.id, spec.code)
        assert clerk is not None
        return clerk

    def _one(self, ctx: Context, document: Document, source: str) -> None:
        try:
            self.provision(ctx, document, source=source)
        except FileErrors as errors:
            raise errors.errors[0][1] from None

    def set_licence(
        self, ctx: Context, enterprise_code: str, status: str, effective_on: date
    ) -> Enterprise:
        """The ministry's decision: pilot -> official, suspended, reinstated, revoked (final).
        Each change is a `licence_change` row and an audit entry."""
        if status not in LICENCE_STATUSES:
            raise ProvisioningError(C.LICENCE_STATUS)
        enterprise = self._enterprise_by_code(enterprise_code, lock=True)
        if enterprise.licence_status == "revoked":
            raise ProvisioningError(C.LICENCE_REVOKED)
        before = enterprise.licence_status
        if before == status:
            return enterprise
        since = enterprise.licence_status_since
        if effective_on > ctx.at.date() or (since is not None and effective_on < since):
            # a decision takes effect when it is recorded: a future date would apply it now,
            # one before the current status would rewrite the history it follows
            raise ProvisioningError(C.LICENCE_DATE, f"effective_on {effective_on.isoformat()}")
        enterprise.licence_status, enterprise.licence_status_since = status, effective_on
        self.session.flush()
        self._licence_change(ctx, enterprise, before)
        self._audit(
            ctx,
            "enterprise.licence",
            "enterprise",
            enterprise.id,
            {"from": before, "to": status, "effective_on": effective_on.isoformat()},
        )
        return enterprise

    def move_channel(
        self, ctx: Context, enterprise_id: int, channel_code: str, parent_code: str | None
    ) -> Channel:
        """Re-parent a channel (None: to the top). The enterprise row is locked, so two moves
        at once cannot build a cycle between them."""
        self._enterprise(enterprise_id, lock=True)
        channel = self.repo.channel(enterprise_id, channel_code)
        if channel is None:
            raise ProvisioningError(C.CHANNEL_NOT_FOUND, channel_code)
        parent_id = None
        if parent_code is not None:
            parent = self.repo.channel(enterprise_id, parent_code)
            if parent is None:
                raise ProvisioningError(C.PARENT_NOT_FOUND, parent_code)
            cursor: int | None = parent.id
            while cursor is not None:
                if cursor == channel.id:
                    raise ProvisioningError(C.CHANNEL_CYCLE, f"{channel_code} under {parent_code}")
                cursor = self.repo.parent_of(cursor)
            parent_id = parent.id
        before = channel.parent_id
        if before == parent_id:
            return channel
        channel.parent_id = parent_id
        self.session.flush()
        self._audit(
            ctx,
            "channel.move",
            "channel",
            channel.id,
            {"from_parent_id": before, "to_parent_id": parent_id},
        )
        return channel

    def disable_clerk(self, ctx: Context, enterprise_id: int, clerk_code: str) -> Clerk:
        """The clerk can no longer register anyone (the registry checks the clerk's status on
        every counter operation), and the API clients bound to the clerk are revoked, so its
        tokens stop working within seconds."""
        clerk = self.repo.clerk(enterprise_id, clerk_code)
        if clerk is None:
            raise ProvisioningError(C.CLERK_NOT_FOUND, clerk_code)
        if clerk.status == "disabled":
            return clerk
        clerk.status = "disabled"
        self.session.flush()
        clients = ClientService(self.session, self.keyring, str(ctx.actor))
        revoked = [
            c.client_id
            for c in self.repo.clients_of_clerk(clerk.id)
            if clients.revoke(c.client_id, ctx.at)
        ]
        self._audit(ctx, "clerk.disable", "clerk", clerk.id, {"clients_revoked": len(revoked)})
        return clerk

    # --- reads -----------------------------------------------------------------------------

    def enterprise(self, enterprise_id: int) -> Enterprise:
        return self._enterprise(enterprise_id)

    def enterprise_by_code(self, code: str) -> Enterprise:
        return self._enterprise_by_code(code)

    def host_code(self, enterprise: Enterprise) -> str | None:
        if enterprise.host_enterprise_id is None:
            return None
        host = self.repo.enterprise(enterprise.host_enterprise_id)
        return host.code if host is not None else None

    # --- internals ---------------------------------------------------------------------------

    def _enterprise(self, enterprise_id: int, *, lock: bool = False) -> Enterprise:
        enterprise = self.repo.enterprise(enterprise_id, lock=lock)
        if enterprise is None:
            raise ProvisioningError(C.ENTERPRISE_NOT_FOUND)
        return enterprise

    def _enterprise_by_code(self, code: str, *, lock: bool = False) -> Enterprise:
        enterprise = self.repo.enterprise_by_code(code, lock=lock)
        if enterprise is None:
            raise ProvisioningError(C.ENTERPRISE_NOT_FOUND, code)
        return enterprise

    def _licence_change(self, ctx: Context, enterprise: Enterprise, before: str | None) -> None:
        self.repo.add(
            LicenceChange(
                enterprise_id=enterprise.id,
                from_status=before,
                to_status=enterprise.licence_status,
                effective_on=enterprise.licence_status_since or ctx.at.date(),
                recorded_at=ctx.at,
                actor=str(ctx.actor)[:64],
            )
        )
        self.session.flush()

    def _audit_batch(
        self,
        ctx: Context,
        action: str,
        object_type: str,
        enterprise_id: int,
        new_ids: list[int],
        source: str,
    ) -> None:
        """One entry per enterprise and file for channels and clerks (15,000 halls are one
        decision): the count, and the ids (or their range when there are many)."""
        detail: dict[str, Any] = {"enterprise_id": enterprise_id, "count": len(new_ids)}
        if len(new_ids) <= _IDS_IN_AUDIT:
            detail["ids"] = ",".join(map(str, new_ids))
        else:
            detail["first_id"], detail["last_id"] = min(new_ids), max(new_ids)
        detail["source"] = source
        object_id = new_ids[0] if len(new_ids) == 1 else enterprise_id
        self._audit(
            ctx, action, object_type if len(new_ids) == 1 else "enterprise", object_id, detail
        )

    def _audit(
        self, ctx: Context, action: str, object_type: str, object_id: int, detail: dict[str, Any]
    ) -> None:
        audit_operation(
            self.session,
            self.keyring,
            ctx,
            action=action,
            object_type=object_type,
            object_id=object_id,
            detail=detail,
        )


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
