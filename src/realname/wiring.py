"""The composition root: the services of one unit of work, assembled from Settings (policy
preset, key ring, and the identity authority chosen by `authority_source`).
It sits above every domain because it builds feature services (back-fill, channels,
possession) as well as the registry's; the registry itself builds none.

Entry points (CLI, HTTP dependencies, jobs) call this with the session whose transaction
they own; nothing here opens or commits a transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from realname.authority.http import http_authority, http_config
from realname.authority.simulated import SimulatedAuthority
from realname.backfill.service import CampaignService
from realname.channels.service import ChannelService
from realname.config import Settings
from realname.identity.authority import IdentityAuthority
from realname.policy.loader import load_policy
from realname.policy.schema import Policy
from realname.possession.service import PossessionService
from realname.registry.reverification import ReverificationTriggers
from realname.registry.service import RegistryService
from realname.security.keys import keyring_from_settings
from realname.security.vault import KeyRing

AuthoritySource = Callable[[Session, KeyRing], IdentityAuthority]


def authority_source(settings: Settings) -> AuthoritySource:
    """The one place REALNAME_AUTHORITY is read: a function `(session, keyring) -> authority`.
    The simulated authority reads its table through the caller's session, so it is built per
    unit of work; the http one holds a connection pool and a circuit breaker, so it is built
    once per process (per distinct configuration) and shared by every thread."""
    if settings.authority == "http":
        shared = http_authority(http_config(settings))

        def http_source(_session: Session, _keyring: KeyRing) -> IdentityAuthority:
            return shared

        return http_source

    def simulated_source(session: Session, keyring: KeyRing) -> IdentityAuthority:
        return SimulatedAuthority(session, keyring)

    return simulated_source


def registry_service(
    session: Session,
    settings: Settings,
    keyring: KeyRing | None = None,
    policy: Policy | None = None,
    authority: AuthoritySource | None = None,
) -> RegistryService:
    """Long-running callers (the API's Runtime) pass the key ring, policy and identity
    authority they hold; the authority is chosen by `authority_source` (REALNAME_AUTHORITY)."""
    keyring = keyring or keyring_from_settings(settings)
    source = authority or authority_source(settings)
    return RegistryService(
        session,
        policy=policy or load_policy(settings.policy),
        keyring=keyring,
        authority=source(session, keyring),
    )


@dataclass(frozen=True)
class Services:
    """The services one unit of work may need, sharing one session and one registry."""

    registry: RegistryService
    channels: ChannelService
    campaigns: CampaignService
    reverification: ReverificationTriggers
    possession: PossessionService


def services(
    session: Session,
    settings: Settings,
    keyring: KeyRing | None = None,
    policy: Policy | None = None,
    authority: AuthoritySource | None = None,
) -> Services:
    policy = policy or load_policy(settings.policy)
    registry = registry_service(session, settings, keyring, policy, authority)
    return Services(
        registry=registry,
        channels=ChannelService(session, policy=policy, registry=registry),
        campaigns=CampaignService(session, policy=policy, registry=registry),
        reverification=ReverificationTriggers(session, policy=policy, registry=registry),
        possession=PossessionService(
            session, policy=policy, keyring=registry.keyring, registry=registry
        ),
    )
