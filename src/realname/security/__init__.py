"""Protection of subscriber PII at rest: sealed values, blind indexes and their keys."""

from realname.security.keys import keyring_from_settings
from realname.security.vault import KeyRing, Sealed, VaultError, generate_key

__all__ = ["KeyRing", "Sealed", "VaultError", "generate_key", "keyring_from_settings"]
