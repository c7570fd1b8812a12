"""The API fixture of tests/api, for the self-service tests."""

from tests.api.conftest import api  # noqa: F401
