"""How many statements `POST /v1/registrations` sends: a regression guard for the hot path.

Before issue 14 a registration over HTTP sent 21 statements on PostgreSQL (24 on SQLite):
a plain read of the line for the proof of possession, the channel, the clerk, the line
again, the licence, the line locked, ORM flushes, a re-read of the owner for the answer.
Now: the counter and line (a plain read), the authority, the identity, and the locks and
writes, which PostgreSQL takes as one statement; no savepoint when the transaction holds
nothing a refusal must keep. The audit append is counted by its own module
(`security.audit`) and left out here.
"""

from __future__ import annotations

from sqlalchemy import event

from tests.api.conftest import Api, person_json

AUDIT_TABLES = ("audit_log", "audit_chain_head", "sealed_note")
# (new person, known person); SQLite also sends its BEGIN IMMEDIATE as a statement.
MOST = {"postgresql": (5, 4), "sqlite": (9, 8)}


def test_a_registration_over_http_sends_at_most_the_counted_statements(api: Api) -> None:
    engine = api.client.app.state.runtime.engine  # type: ignore[attr-defined]
    most = dict(zip(("new", "known"), MOST[engine.dialect.name], strict=True))
    # The client's status is looked up once per few seconds per process: not per request.
    assert api.client.get("/v1/lines/1", headers=api.headers("clerk")).status_code < 500
    statements: list[str] = []

    def count(_c: object, _cursor: object, statement: str, *_: object) -> None:
        if not any(table in statement for table in AUDIT_TABLES):
            statements.append(statement)

    for who in ("new", "known"):  # a new identity, then the same person again
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            response = api.client.post(
                "/v1/registrations",
                json={"msisdn": api.number(), "customer": person_json(api.people[4])},
                headers=api.headers("clerk"),
            )
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert response.status_code == 201, response.text
        assert len(statements) <= most[who], "\n".join(statements)
