"""Key rotation: move every sealed identity onto the active key, one batch per transaction,
so a rotation over millions of rows can be interrupted and resumed and never holds long locks.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from realname.registry.identities import ADDRESS_CONTEXT, NAME_CONTEXT, NUMBER_CONTEXT
from realname.registry.integrity import mac_identity
from realname.registry.repository import identities_not_on_key
from realname.security.vault import KeyRing, Sealed


def reseal_batch(session: Session, keyring: KeyRing, after_id: int, limit: int) -> tuple[int, int]:
    """Reseal up to `limit` identities with id > after_id; returns (count, last id seen)."""
    batch = identities_not_on_key(session, keyring.active_key_id, after_id, limit)
    for identity in batch:
        old = identity.key_id
        number = keyring.reseal(Sealed(old, identity.number_sealed), NUMBER_CONTEXT)
        identity.name_sealed = keyring.reseal(Sealed(old, identity.name_sealed), NAME_CONTEXT).blob
        if identity.address_sealed is not None:
            identity.address_sealed = keyring.reseal(
                Sealed(old, identity.address_sealed), ADDRESS_CONTEXT
            ).blob
        identity.number_sealed, identity.key_id = number.blob, number.key_id
        mac_identity(keyring.audit, identity)
    session.flush()
    return len(batch), (batch[-1].id if batch else after_id)
