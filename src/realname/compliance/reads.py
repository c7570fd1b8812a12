"""Every figure the regulator reads is audited, as its reveals of an owner are: who read
which figure (compliance, rates, segments, complaint counts, the enforcement report, a
settlement statement), over which scope (national or a province) and period, in the same
transaction that reads it. The route or command reads in a writing unit of work for that.
Counts only: nothing personal goes into the entry."""

from __future__ import annotations

from sqlalchemy.orm import Session

from realname.registry.auditing import audit_operation
from realname.registry.commands import Context
from realname.security.vault import KeyRing

FIGURE_READ = "regulator.figure_read"


def audit_figure_read(
    session: Session,
    keyring: KeyRing,
    ctx: Context,
    figure: str,
    province: str | None = None,
    **detail: str | None,
) -> None:
    """One entry: the figure read (object id), its scope and what narrowed it."""
    audit_operation(
        session,
        keyring,
        ctx,
        action=FIGURE_READ,
        object_type="figure",
        object_id=figure,
        detail={"scope": f"province:{province}" if province else "national", **detail},
    )
