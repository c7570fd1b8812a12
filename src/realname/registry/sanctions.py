"""Enforcement measures on an enterprise that the registry enforces: no new number blocks,
no settlement.

The regulator's enforcement ladder (compliance/, a layer above) decides them and lifts them;
the registry owns the state and the refusal, so every path that allocates a block (the
registry's administration, the ministry's provisioning files) refuses the same way with the
same code, whoever asks. A measure is kept once per enforcement action (`reference`): imposing
it again is a no-op, lifting it ends that action's measure only, so two actions that both
suspend allocation need both lifted.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from sqlalchemy.orm import Session

from realname.registry.commands import Context
from realname.registry.errors import RegistryError
from realname.registry.guards import E, get_enterprise
from realname.registry.models import EnterpriseSanction
from realname.registry.recorder import LineRecorder
from realname.registry.repository import RegistryRepository


class Measure(StrEnum):
    BLOCK_ALLOCATION = "block_allocation"
    SETTLEMENT = "settlement"


REFUSALS = {
    Measure.BLOCK_ALLOCATION: E.BLOCK_ALLOCATION_SUSPENDED,
    Measure.SETTLEMENT: E.SETTLEMENT_SUSPENDED,
}


def refuse_if_in_force(repo: RegistryRepository, enterprise_id: int, measure: Measure) -> None:
    """The refusal of an operation `measure` stops, while a sanction of it is in force."""
    if repo.sanctions_in_force(enterprise_id, str(measure)):
        raise RegistryError(REFUSALS[measure])


class Sanctions:
    def __init__(self, session: Session, recorder: LineRecorder) -> None:
        self.session = session
        self.repo = RegistryRepository(session)
        self.recorder = recorder

    def impose(
        self, ctx: Context, enterprise_id: int, measure: Measure, reference: str
    ) -> EnterpriseSanction:
        get_enterprise(self.repo, enterprise_id)
        for existing in self.repo.sanctions_in_force(enterprise_id, str(measure)):
            if existing.reference == reference:
                return existing
        sanction = EnterpriseSanction(
            enterprise_id=enterprise_id,
            measure=str(measure),
            reference=reference,
            imposed_at=ctx.at,
            imposed_by=str(ctx.actor)[:64],
        )
        self.repo.add(sanction)
        self.session.flush()
        self.recorder.audit(
            ctx,
            "enterprise.sanction_impose",
            "enterprise",
            enterprise_id,
            {"measure": str(measure), "reference": reference},
        )
        return sanction

    def lift(self, ctx: Context, reference: str) -> list[EnterpriseSanction]:
        """End every measure still in force under `reference` (none: nothing to do)."""
        lifted = []
        for sanction in self.repo.sanctions_by_reference(reference):
            if sanction.lifted_at is not None:
                continue
            sanction.lifted_at, sanction.lifted_by = ctx.at, str(ctx.actor)[:64]
            lifted.append(sanction)
            self.recorder.audit(
                ctx,
                "enterprise.sanction_lift",
                "enterprise",
                sanction.enterprise_id,
                {"measure": sanction.measure, "reference": reference},
            )
        self.session.flush()
        return lifted

    def in_force(self, enterprise_id: int) -> Sequence[EnterpriseSanction]:
        return self.repo.sanctions_in_force(enterprise_id)

    def refuse_if_in_force(self, enterprise_id: int, measure: Measure) -> None:
        """The refusal for an operation the measure stops (settlement exports ask this too)."""
        refuse_if_in_force(self.repo, enterprise_id, measure)
