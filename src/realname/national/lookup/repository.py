"""Every query of 一证通查: its challenges and their limits, its disputes, and the registry's
view of a disputed line (when the enterprise's registry is in this instance)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from realname.registry.models import Line, LineEvent


@dataclass(frozen=True)
class RegistryLine:
    """The registry's line under a number, as a dispute checks it against the national one."""

    enterprise_id: int
    owner_identity_id: int | None
    owner_since: datetime | None
    owner_at_seq: int | None  # the owner after the event the national line was fed from
    has_event_at_seq: bool


class LookupRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def registry_line(self, msisdn: str, seq: int) -> RegistryLine | None:
        """The registry's line with this number (None: not in this instance's registry), and
        its owner after its event number `seq`."""
        line = self.session.scalars(select(Line).where(Line.msisdn == msisdn)).first()
        if line is None:
            return None
        event = self.session.execute(
            select(LineEvent.owner_after_id).where(
                LineEvent.line_id == line.id, LineEvent.seq == seq
            )
        ).first()
        return RegistryLine(
            line.enterprise_id,
            line.owner_identity_id,
            line.owner_since,
            event[0] if event is not None else None,
            event is not None,
        )
