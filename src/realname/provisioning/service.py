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

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from realname.provisioning.check import DocumentCheck, Plan
from realname.provisioning.document import (
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
from realname.provisioning.models import LicenceChange
from realname.provisioning.repository import ProvisioningRepository
from realname.registry.auditing import audit_operation
from realname.registry.commands import Context
from realname.registry.models import Channel, Clerk, Enterprise, NumberBlockRow
from realname.security.clients import ClientService
from realname.security.vault import KeyRing

C = ProvisioningErrorCode
_IDS_IN_AUDIT = 20


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
        plan = DocumentCheck(self.repo).plan(document, ctx.at.date())
        plan.report.dry_run = dry_run
        if not dry_run:
            self._apply(ctx, plan, source)
        return plan.report

    def _apply(self, ctx: Context, plan: Plan, source: str) -> None:
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
