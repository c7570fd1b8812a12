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
    enterprise_id: int | None = None,
    /,
    **detail: str | None,
) -> None:
    """One entry: the figure read (object id), its scope (one enterprise's own rows, one
    province, or national) and what narrowed it."""
    audit_operation(
        session,
        keyring,
        ctx,
        action=FIGURE_READ,
        object_type="figure",
        object_id=figure,
        detail={"scope": _scope(province, enterprise_id), **detail},
    )


def _scope(province: str | None, enterprise_id: int | None) -> str:
    if enterprise_id is not None:
        return f"enterprise:{enterprise_id}"
    return f"province:{province}" if province else "national"
