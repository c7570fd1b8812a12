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
    lines: int = 0  # in the base, exactly
    resale: bool = False  # an MVNO: its new sales come from its stock (its count stays)

    def next_msisdn(self) -> str:
        index = self.next_index
        self.next_index += 1
        for block in self.blocks:
            if index < block.size:
                return "+" + str(int(block.first) + index)
            index -= block.size
        raise RuntimeError("the world needs more number blocks")


class Holdings(Counter[tuple[int, int]]):
    """(citizen, enterprise id) -> lines, with each enterprise's share kept beside it (same
    insertion order), so "who holds most at this enterprise" reads one enterprise's holders
    instead of every holding in the world (the stream asks it for every bulk-registration
    cheat: a Python call per holding, seconds at a million lines)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_enterprise: dict[int, dict[int, int]] = {}

    def __setitem__(self, key: tuple[int, int], value: int) -> None:
        super().__setitem__(key, value)
        self.by_enterprise.setdefault(key[1], {})[key[0]] = value

    def most_at(self, enterprise_id: int) -> int:
        """The first citizen (in the order holdings arose) holding most lines there."""
        mine = self.by_enterprise.get(enterprise_id)
        if not mine:  # as before: every holding of other enterprises weighs -1
            return max(self, key=lambda k: self[k] if k[1] == enterprise_id else -1)[0]
        return max(mine, key=mine.__getitem__)


@dataclass
class WorldState:
    enterprises: list[SimEnterprise]
    citizens: list[Citizen]
    identity_of: dict[int, int]  # citizen index -> identity id
    held: Holdings  # (citizen, enterprise id) -> lines
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
    # The base's lines, one enterprise per line (popped from the end): exact counts each.
    base_order: list[SimEnterprise] = field(default_factory=list)


Progress = Callable[[str, int, int], None]


def kit_numbers(serial: int) -> tuple[str, str]:
    """The ICCID and IMSI of the serial-th kit: unique, and plainly synthetic."""
    return f"898600{serial:014d}", f"46000{serial:010d}"


def unit_of(engine: Engine) -> UnitOfWork:
    """The world's writes open their transactions the one way the product does."""
    return UnitOfWork(lambda: Session(engine))
