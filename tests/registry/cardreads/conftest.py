"""The API fixture of tests/api, for the card reads."""

from tests.api.conftest import api  # noqa: F401
