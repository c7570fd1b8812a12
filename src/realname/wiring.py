"""The composition root: everything a process chooses from Settings is chosen here.

- `Process(settings)`: what one process (an API worker, a CLI command, a job run, the demo)
  builds once and keeps: the engine and its unit of work (`realname.db.uow`), the clock, the
  policy preset, the key rings, the identity authority (`authority_source`, the one place
  REALNAME_AUTHORITY is read) and the SMS gateway (`gateway_from_settings`).
- the audit sequencing (`audit_sequencing`, REALNAME_AUDIT_SEQUENCING): in deferred mode the
  process marks its sessions (security/audit.py `AuditDeferral`), runs a background sequencer
  when it serves (`start_audit_sequencer`: the API's lifespan, unless `realname serve`'s
  supervisor runs one sequencer process for all its workers) and chains what it appended
  before it exits (`close`).
- `services(session, ...)` / `registry_service(session, ...)`: the services of one unit of
  work, sharing its session. Entry points call them with the session whose transaction they
  own (`process.uow.transaction()`); nothing here opens or commits a transaction.

It sits above every domain because it builds feature services (back-fill, channels,
possession) as well as the registry's; the registry itself builds none.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from realname.authority.http import http_authority, http_config
from realname.authority.simulated import SimulatedAuthority
from realname.authority.source import AuthoritySource
from realname.backfill.service import CampaignService
from realname.channels.service import ChannelService
from realname.clock import Clock
from realname.compliance.complaints.service import ComplaintService
from realname.compliance.enforcement.service import EnforcementService
from realname.compliance.settlement.service import SettlementService
from realname.config import Settings
from realname.db.engine import create_engine_from_settings, create_session_factory
from realname.db.uow import UnitOfWork
from realname.identity.authority import IdentityAuthority
from realname.messaging.gateways import Gateway, gateway_from_settings
from realname.messaging.notices import reverification_sms
from realname.messaging.sender import Sender
from realname.national.feeds.keys import PlatformKeys, platform_keys
from realname.national.lookup.service import LookupService
from realname.policy.loader import load_policy
from realname.policy.schema import Policy
from realname.possession.service import PossessionService
from realname.provisioning.service import ProvisioningService
from realname.registry.reverification import ReverificationTriggers
from realname.registry.service import RegistryService
from realname.security.audit import DEFERRED_AUDIT, AuditDeferral
from realname.security.audit_sequencer import BackgroundSequencer, Sequenced, sequence_all
from realname.security.keys import TokenKeys, keyring_from_settings, token_keys_from_settings
from realname.security.vault import KeyRing
from realname.tables import load_all_models

log = logging.getLogger(__name__)


def audit_sequencing(settings: Settings, engine: Engine) -> str:
    """'inline' or 'deferred' (security/audit.py): REALNAME_AUDIT_SEQUENCING, where 'auto'
    is deferred on PostgreSQL (concurrent writers; a sequencer runs beside them) and inline
    on SQLite (one writer at a time: nothing to gain, and the file stays self-contained)."""
    return audit_sequencing_on(settings, engine.dialect.name)


def audit_sequencing_on(settings: Settings, dialect: str) -> str:
    """`audit_sequencing` from the database's dialect name alone (a supervisor that opens no
    engine: `realname serve` deciding whether to run a sequencer process)."""
    if settings.audit_sequencing != "auto":
        return settings.audit_sequencing
    return "deferred" if dialect == "postgresql" else "inline"


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
        reverification=ReverificationTriggers(
            session, policy=policy, registry=registry, tell=reverification_sms(session, policy)
        ),
        possession=PossessionService(
            session, policy=policy, keyring=registry.keyring, registry=registry
        ),
    )


def enforcement_service(built: Services) -> EnforcementService:
    """The enforcement ladder on one unit of work's services: it applies its consequences
    through the registry, channels and provisioning those services hold."""
    registry = built.registry
    return EnforcementService(
        registry.session,
        policy=registry.policy,
        keyring=registry.keyring,
        registry=registry,
        channels=built.channels,
        provisioning=ProvisioningService(registry.session, registry.keyring),
    )


def complaint_service(built: Services) -> ComplaintService:
    registry = built.registry
    return ComplaintService(
        registry.session,
        policy=registry.policy,
        keyring=registry.keyring,
        registry=registry,
        reverification=built.reverification,
    )


def settlement_service(built: Services) -> SettlementService:
    """The settlement statement, refused under the registry's sanctions (a yellow III)."""
    return SettlementService(built.registry.session, built.registry.sanctions)


class Process:
    """One process's long-lived parts, built once from `settings`. The engine is opened at
    once; the policy, key rings and authority on first use, so a command that needs no keys
    needs no key file. `close()` (or leaving a `with` block) disposes the engine."""

    def __init__(
        self, settings: Settings, *, clock: Clock | None = None, engine: Engine | None = None
    ) -> None:
        self.settings = settings
        load_all_models()  # every table, so any flush resolves its foreign keys
        self.engine = engine if engine is not None else create_engine_from_settings(settings)
        self.sessions = create_session_factory(self.engine)
        self.uow = UnitOfWork(self.sessions)
        self.clock = clock or settings.clock()
        self.audit_sequencing = audit_sequencing(settings, self.engine)
        self.audit_deferral: AuditDeferral | None = None
        if self.audit_sequencing == "deferred":
            self.audit_deferral = AuditDeferral()
            self.sessions.configure(info={DEFERRED_AUDIT: self.audit_deferral})
        self._sequencer: BackgroundSequencer | None = None

    @cached_property
    def policy(self) -> Policy:
        return load_policy(self.settings.policy)

    @cached_property
    def keyring(self) -> KeyRing:
        return keyring_from_settings(self.settings)

    @cached_property
    def token_keys(self) -> TokenKeys:
        return token_keys_from_settings(self.settings)

    @cached_property
    def national_keys(self) -> PlatformKeys:
        """The national platform's sealing and index keys (when this instance is the
        platform, or hosts it: REALNAME_NATIONAL_PLATFORM_URL unset)."""
        return platform_keys(self.settings)

    def lookup(self, session: Session) -> LookupService:
        """一证通查 in one unit of work, with this process's platform keys and limits."""
        return LookupService.configured(
            session,
            keys=self.national_keys,
            keyring=self.keyring,
            settings=self.settings,
            policy=self.policy,
        )

    @cached_property
    def authority(self) -> AuthoritySource:
        return authority_source(self.settings)

    def registry(self, session: Session) -> RegistryService:
        return registry_service(session, self.settings, self.keyring, self.policy, self.authority)

    def services(self, session: Session) -> Services:
        return services(session, self.settings, self.keyring, self.policy, self.authority)

    def gateway(self) -> Gateway:
        """A new client of REALNAME_SMS_GATEWAY (the caller closes it)."""
        return gateway_from_settings(self.settings)

    def sender(
        self,
        *,
        gateway: Gateway | None = None,
        worker_id: str | None = None,
        closers: Sequence[Callable[[], Any]] = (),
    ) -> Sender:
        """An outbox sender through the configured gateway (or `gateway`), with
        REALNAME_SMS_LEASE_SECONDS and REALNAME_SMS_MAX_ATTEMPTS."""
        return Sender(
            self.uow,
            gateway if gateway is not None else self.gateway(),
            lease_seconds=self.settings.sms_lease_seconds,
            max_attempts=self.settings.sms_max_attempts,
            clock=self.clock.now,
            worker_id=worker_id,
            closers=closers,
            keyring=self.keyring,
        )

    def start_audit_sequencer(self, *, standalone: bool = False) -> BackgroundSequencer | None:
        """In deferred mode, the background sequencer of a serving process (started once;
        `close` stops it and chains what is left). None in inline mode, and in a server's
        worker when its supervisor runs the sequencer in a process of its own
        (REALNAME_AUDIT_SEQUENCER=external). `standalone`: that process, which appends
        nothing itself, so nothing wakes it: it looks every interval instead."""
        if self.audit_deferral is None:
            return None
        if not standalone and self.settings.audit_sequencer == "external":
            return None
        if self._sequencer is None:
            interval = self.settings.audit_sequence_interval_ms / 1000
            self._sequencer = BackgroundSequencer(
                self.uow,
                lambda: self.keyring.audit,
                self.audit_deferral,
                interval=interval,
                idle=interval if standalone else 1.0,
                limit=self.settings.audit_sequence_batch,
            ).start()
        return self._sequencer

    def sequence_audit(self) -> Sequenced:
        """Chain every pending audit entry now, one transaction per batch (any mode: entries
        another process left pending are chained too)."""
        return sequence_all(self.uow, self.keyring.audit, limit=self.settings.audit_sequence_batch)

    def close(self) -> bool:
        """Stop the sequencer, chain what this process appended deferred, dispose the engine.
        A failure to chain is logged, never raised: the entries stay pending, intact, and the
        next sequencer chains them. False when it could not chain them (the sequencer process
        exits non-zero then, and its supervisor chains them itself)."""
        try:
            drain = self.audit_deferral is not None and self.audit_deferral.used
            if self._sequencer is not None:
                self._sequencer.stop()
                self._sequencer = None
                drain = True  # a sequencer leaves nothing it could have chained behind it
            if drain:
                self.sequence_audit()
        except Exception:
            log.exception("audit entries left pending: the next sequencer run chains them")
            return False
        finally:
            self.engine.dispose()
        return True

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def build_sender(
    settings: Settings, *, gateway: Gateway | None = None, worker_id: str | None = None
) -> Sender:
    """A sender with a process of its own (`realname messages send`): closing the sender
    closes its gateway and disposes its engine."""
    process = Process(settings)
    return process.sender(gateway=gateway, worker_id=worker_id, closers=[process.close])
