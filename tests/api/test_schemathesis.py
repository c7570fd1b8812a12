"""Property tests generated from the app's own OpenAPI: whatever a client sends, no 5xx, and
every response matches the documented schema (status code, content type, body).

The schema is the offline document (the same routes as the served app); each case is sent to
the module's app on SQLite and on PostgreSQL, as a clerk and as an enterprise admin, so the
refusals of each role are exercised too.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from realname.api.app import openapi_document
from tests.api.conftest import Api

# A schema-valid request may still be refused by the rules (a number that is no mobile
# number, a document that fails its checksum): 422 with a REALNAME.* code is an answer, not a
# failure. A 400 for schema-valid data would be, so it stays out of this list.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]
            }
        }
    }
)
schema = schemathesis.openapi.from_dict(openapi_document(), config=CONFIG)


@schema.parametrize()
@pytest.mark.parametrize("role", ["clerk", "admin"])
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_server_errors_and_responses_match_the_schema(
    case: schemathesis.Case, api: Api, role: str
) -> None:
    case.call_and_validate(headers=api.headers(role), app=api.client.app)
