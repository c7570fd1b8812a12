"""The monthly channel-commission statement per enterprise and channel (lines registered and
back-filled at each channel in each month), and the yellow III that suspends it.

Settlement is what the enterprise pays its channels (and what the host settles with a resale
operator) for the lines they register. A yellow III card suspends it: while the measure is in
force every statement of the enterprise is refused (`REALNAME.SETTLEMENT_SUSPENDED`), months
before the card included, because what is suspended is paying out, not the record. The
registrations themselves go on being recorded; lifting the card (or withdrawing it on
appeal) makes every statement available again, the suspended months in full: commission is
withheld, not forfeited. See docs/enforcement.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from realname.compliance.figures.periods import Period
from realname.compliance.settlement.repository import SettlementRepository
from realname.registry.guards import get_enterprise
from realname.registry.models import Enterprise
from realname.registry.repository import RegistryRepository
from realname.registry.sanctions import Measure, Sanctions


@dataclass(frozen=True)
class StatementLine:
    month: str  # 2026-11
    channel: str  # its code
    kind: str
    registered: int  # new customers
    backfilled: int  # legacy lines registered to their holders
    total: int


class SettlementService:
    def __init__(self, session: Session, sanctions: Sanctions) -> None:
        self.session = session
        self.repo = SettlementRepository(session)
        self.sanctions = sanctions

    def enterprise(self, enterprise_id: int) -> Enterprise:
        """The enterprise, or ENTERPRISE_NOT_FOUND."""
        return get_enterprise(RegistryRepository(self.session), enterprise_id)

    def statement(self, enterprise: Enterprise, period: Period) -> list[StatementLine]:
        """Month by month, channel by channel; refused while settlement is suspended."""
        self.sanctions.refuse_if_in_force(enterprise.id, Measure.SETTLEMENT)
        return [
            StatementLine(month, code, kind, new, backfilled, new + backfilled)
            for month, code, kind, new, backfilled in self.repo.registrations_by_month_and_channel(
                enterprise.id, period
            )
        ]
