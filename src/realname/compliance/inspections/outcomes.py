"""What an inspector may find at an outlet, and what the registry's record of a test purchase
proves. Pure: the vocabulary, which of it is a violation, and the reading of a purchased
line's registration.

The vocabulary is fixed so rounds compare: 2016's "37 of 109 outlets violating" counted
outlets that sold without an ID, did not check the ID against the holder, registered the card
to someone else or sold cards already activated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Outcome(StrEnum):
    SOLD_WITHOUT_ID = "sold_without_id"
    ID_NOT_CHECKED = "id_not_checked"  # the ID was not checked against the person or the card
    REGISTERED_TO_SOMEONE_ELSE = "registered_to_someone_else"
    PRE_ACTIVATED_CARD = "pre_activated_card"
    REGISTRATION_REFUSED_CORRECTLY = "registration_refused_correctly"
    COMPLIANT = "compliant"
    NOT_VISITED = "not_visited"  # closed, not found: out of the rate's denominator


VIOLATING_OUTCOMES = frozenset(
    {
        Outcome.SOLD_WITHOUT_ID,
        Outcome.ID_NOT_CHECKED,
        Outcome.REGISTERED_TO_SOMEONE_ELSE,
        Outcome.PRE_ACTIVATED_CARD,
    }
)


class Finding(StrEnum):
    """How the registry says a purchased line was registered."""

    REGISTERED_TO_BUYER = "registered_to_buyer"
    REGISTERED_TO_SOMEONE_ELSE = "registered_to_someone_else"
    REGISTERED_BEFORE_SALE = "registered_before_sale"  # pre-activated: owned before it was sold
    REGISTERED_AT_ANOTHER_CHANNEL = "registered_at_another_channel"
    NOT_REGISTERED = "not_registered"  # in service at the check, with no owner
    NOT_IN_REGISTRY = "not_in_registry"  # a number the registry does not know


VIOLATING_FINDINGS = frozenset(Finding) - {Finding.REGISTERED_TO_BUYER}

# A clerk registers while the customer waits: an owner from minutes before the sale is this
# sale's registration; one from longer before means the card was sold already registered.
SALE_SLACK = timedelta(hours=2)


@dataclass(frozen=True)
class Registration:
    """The registry's record of a line's owner at the check (from its events)."""

    owner_document_type: str | None
    owner_number_index: bytes | None
    channel_id: int | None
    registered_at: datetime | None


def finding_of(
    registration: Registration | None,
    *,
    visited_channel_id: int,
    bought_at: datetime,
    buyer_doc_type: str | None,
    buyer_number_index: bytes | None,
) -> Finding:
    """The finding, most specific first: a card registered long before the sale was sold
    pre-activated (to whoever); then who holds it; then where it was registered."""
    if registration is None:
        return Finding.NOT_IN_REGISTRY
    if registration.owner_number_index is None:
        return Finding.NOT_REGISTERED
    if registration.registered_at is not None and (
        registration.registered_at < bought_at - SALE_SLACK
    ):
        return Finding.REGISTERED_BEFORE_SALE
    if (registration.owner_document_type, registration.owner_number_index) != (
        buyer_doc_type,
        buyer_number_index,
    ):
        return Finding.REGISTERED_TO_SOMEONE_ELSE
    if registration.channel_id != visited_channel_id:
        return Finding.REGISTERED_AT_ANOTHER_CHANNEL
    return Finding.REGISTERED_TO_BUYER
