"""How many round trips to PostgreSQL `POST /v1/registrations` makes, counted on the wire
(`tests.round_trips`: BEGIN, COMMIT and everything sent on the driver connection included).

Issue 14, third pass: 8 for a person seen for the first time, 7 for a known one (BEGIN; the
counter and line; the simulated authority's table; the identity by blind index; a new
person's insert; the locks and writes in one statement; the audit entry; COMMIT). Now the
identity is read with the counter and line (its blind index is computed before anything is
read) and the audit entry, pending, is one more write of the single write statement: 6 and 5.
The authority is a network call in production (its table only in the simulated one). A new
statement on the path fails here, whatever it is sent through.
"""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, person_json
from tests.round_trips import round_trips

# (new person, known person)
ROUND_TRIPS = (6, 5)


@pytest.mark.postgres
def test_a_registration_over_http_makes_the_counted_round_trips(api: Api) -> None:
    engine = api.client.app.state.runtime.engine  # type: ignore[attr-defined]
    if engine.dialect.name != "postgresql":
        pytest.skip("round trips are counted on the wire to PostgreSQL")
    # The client's status is looked up once per few seconds per process: not per request.
    assert api.client.get("/v1/lines/1", headers=api.headers("clerk")).status_code < 500
    counts = []
    for _who in ("new", "known"):  # a new identity, then the same person again
        with round_trips(engine) as trips:
            response = api.client.post(
                "/v1/registrations",
                json={"msisdn": api.number(), "customer": person_json(api.people[5])},
                headers=api.headers("clerk"),
            )
        assert response.status_code == 201, response.text
        assert trips.trips[0] == ["BEGIN"] or trips.trips[0][0] == "BEGIN", str(trips)
        assert trips.trips[-1] == ["COMMIT"], str(trips)
        counts.append((len(trips), str(trips)))
    assert tuple(n for n, _ in counts) == ROUND_TRIPS, "\n\n".join(text for _, text in counts)


def test_the_hot_statements_stay_within_psycopgs_query_cache() -> None:
    """psycopg converts a query (placeholders, with a regular expression) once and keeps it,
    but only for at most 50 parameters and 4,096 bytes; beyond either it converts it again on
    every call (2.2 ms of Python a registration when the audit entry first joined the write).
    """
    from psycopg import _queries
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

    from realname.registry.registration_repository import (
        COUNTER_AND_LINE,
        REGISTRATION_IN_ONE,
    )

    dialect = PGDialect_psycopg()
    for statement in (COUNTER_AND_LINE, *REGISTRATION_IN_ONE.values()):
        compiled = statement.compile(dialect=dialect)
        assert len(compiled.params) <= _queries.MAX_CACHED_STATEMENT_PARAMS
        assert len(str(compiled).encode()) <= _queries.MAX_CACHED_STATEMENT_LENGTH
