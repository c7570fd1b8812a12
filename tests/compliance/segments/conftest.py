"""The registry's small world (tests/registry/conftest.py), on both engines."""

from tests.registry.conftest import china, keyring, world

__all__ = ["china", "keyring", "world"]
