"""How many statements `POST /v1/registrations` sends: a regression guard for the hot path.

Before issue 14 a registration over HTTP sent 21 statements on PostgreSQL (24 on SQLite):
a plain read of the line for the proof of possession, the channel, the clerk, the line
again, the licence, the line locked, ORM flushes, a re-read of the owner for the answer.
Now: the counter, line and identity (a plain read), the authority, a new person's insert,
and the locks and writes, which PostgreSQL takes as one statement with the audit entry
(pending); no savepoint when the transaction holds nothing a refusal must keep. An inline
audit append (SQLite) is counted by its own module (`security.audit`) and left out here.
Round trips on the wire (BEGIN and COMMIT too): `test_registration_round_trips`.
"""

from __future__ import annotations

import re
import threading

from sqlalchemy import event

from realname.security.audit_sequencer import SEQUENCER_THREAD
from tests.api.conftest import Api, person_json

# A statement whose own target is the audit trail (an inline append's head lock, entry and
# head move; a deferred append on its own): the registration's single write on PostgreSQL also
# carries its pending entry, and it is counted.
AUDIT_STATEMENT = re.compile(
    r"\s*(INSERT INTO|UPDATE|DELETE FROM|SELECT\b.*?\bFROM)\s+"
    r"(audit_log|audit_chain_head|sealed_note)\b",
    re.DOTALL,
)
# (new person, known person); SQLite also sends its BEGIN IMMEDIATE as a statement.
MOST = {"postgresql": (4, 3), "sqlite": (8, 7)}


def test_a_registration_over_http_sends_at_most_the_counted_statements(api: Api) -> None:
    engine = api.client.app.state.runtime.engine  # type: ignore[attr-defined]
    most = dict(zip(("new", "known"), MOST[engine.dialect.name], strict=True))
    # The client's status is looked up once per few seconds per process: not per request.
    assert api.client.get("/v1/lines/1", headers=api.headers("clerk")).status_code < 500
    statements: list[str] = []

    def count(_c: object, _cursor: object, statement: str, *_: object) -> None:
        # Not the app's audit sequencer, whose thread may chain entries meanwhile (its
        # advisory lock was once counted as the registration's, on a loaded machine).
        sequencer = threading.current_thread().name == SEQUENCER_THREAD
        if not AUDIT_STATEMENT.match(statement) and not sequencer:
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
