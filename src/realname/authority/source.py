"""What the composition root hands every service that verifies a person: a function from one
unit of work (its session, the key ring) to the identity authority to ask.

The simulated authority reads its table through the caller's session, so it is built per unit
of work; the http one is one shared client per process. Either way a caller holds this
function, never a concrete adapter; `realname.wiring.authority_source` chooses it from
REALNAME_AUTHORITY.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from realname.identity.authority import IdentityAuthority
from realname.security.vault import KeyRing

AuthoritySource = Callable[[Session, KeyRing], IdentityAuthority]
