"""What the synthetic world remembers while it is built: its enterprises with their number
blocks and counters, its citizens and who holds what (world.py builds it; base.py and
stream.py read and extend it)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from realname.db.uow import UnitOfWork
from realname.numbering.blocks import NumberBlock
from realname.policy.schema import ChannelKind
from realname.sim.people import Citizen


@dataclass
class WorldSummary:
    lines: int = 0
    citizens: int = 0
    operations: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)


@dataclass
class SimEnterprise:
    id: int
    code: str
    share: float
    blocks: list[NumberBlock]
    channels: list[tuple[int, ChannelKind, int]]  # (channel id, kind, clerk id)
    next_index: int = 0

    def next_msisdn(self) -> str:
        index = self.next_index
        self.next_index += 1
        for block in self.blocks:
            if index < block.size:
                return "+" + str(int(block.first) + index)
            index -= block.size
        raise RuntimeError("the world needs more number blocks")


@dataclass
class WorldState:
    enterprises: list[SimEnterprise]
    citizens: list[Citizen]
    identity_of: dict[int, int]  # citizen index -> identity id
    held: Counter[tuple[int, int]]  # (citizen, enterprise id) -> lines
    active: list[tuple[str, int, int]]  # (msisdn, enterprise id, citizen index)
    legacy: list[tuple[str, int]]  # (msisdn, enterprise id)
    stocked: dict[int, list[str]]  # channel id -> msisdns in stock
    bad_channels: set[int]
    kit_serial: int = 0
    # The counter a registration is being attempted at, so a refusal can be put on record.
    attempt: tuple[int, int] | None = None
    # Lines sold by cheating channels: the ones their "owners" later disown.
    suspect: list[tuple[str, int]] = field(default_factory=list)
    # Lines each citizen holds across enterprises (the base's national cap).
    national: Counter[int] = field(default_factory=Counter)


Progress = Callable[[str, int, int], None]


def kit_numbers(serial: int) -> tuple[str, str]:
    """The ICCID and IMSI of the serial-th kit: unique, and plainly synthetic."""
    return f"898600{serial:014d}", f"46000{serial:010d}"


def unit_of(engine: Engine) -> UnitOfWork:
    """The world's writes open their transactions the one way the product does."""
    return UnitOfWork(lambda: Session(engine))
