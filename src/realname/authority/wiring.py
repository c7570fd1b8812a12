"""Which identity authority this process talks to: the one place REALNAME_AUTHORITY is read.

`authority_source(settings)` returns a function `(session, keyring) -> IdentityAuthority`.
The simulated authority reads its table through the caller's session, so it is built per unit
of work; the http authority holds a connection pool and a circuit breaker, so it is built once
per process (per distinct configuration) and shared by every thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy.orm import Session

from realname.authority.http import HttpAuthority, HttpAuthorityConfig
from realname.authority.simulated import SimulatedAuthority
from realname.config import Settings
from realname.identity.authority import IdentityAuthority
from realname.security.vault import KeyRing

AuthoritySource = Callable[[Session, KeyRing], IdentityAuthority]

_http_authorities: dict[HttpAuthorityConfig, HttpAuthority] = {}
_lock = threading.Lock()


def http_config(settings: Settings) -> HttpAuthorityConfig:
    """The http adapter's settings, checked (raises AuthorityConfigError)."""
    from realname.authority.http import AuthorityConfigError

    if not settings.authority_url:
        raise AuthorityConfigError("REALNAME_AUTHORITY=http needs REALNAME_AUTHORITY_URL")
    return HttpAuthorityConfig(
        url=settings.authority_url,
        client_cert=settings.authority_client_cert,
        client_key=settings.authority_client_key,
        ca_file=settings.authority_ca_file,
        timeout_seconds=settings.authority_timeout_seconds,
        retries=settings.authority_retries,
        breaker_failures=settings.authority_breaker_failures,
        breaker_reset_seconds=settings.authority_breaker_reset_seconds,
        allow_plain_http=settings.authority_allow_plain_http,
    )


def http_authority(config: HttpAuthorityConfig) -> HttpAuthority:
    """This process's client for `config`, built on first use."""
    with _lock:
        authority = _http_authorities.get(config)
        if authority is None:
            authority = _http_authorities[config] = HttpAuthority(config)
        return authority


def authority_source(settings: Settings) -> AuthoritySource:
    if settings.authority == "http":
        shared = http_authority(http_config(settings))

        def http_source(_session: Session, _keyring: KeyRing) -> IdentityAuthority:
            return shared

        return http_source

    def simulated_source(session: Session, keyring: KeyRing) -> IdentityAuthority:
        return SimulatedAuthority(session, keyring)

    return simulated_source
