from __future__ import annotations

import pytest
from sqlalchemy import Engine, inspect, text

from realname.config import Settings
from realname.db import migrate
from realname.db.base import Base
from realname.db.engine import create_engine_from_settings


def test_migrated_database_is_at_head(migrated_engine: Engine) -> None:
    assert migrate.current_revision(migrated_engine) == migrate.head_revision(migrated_engine)
    assert migrate.is_at_head(migrated_engine)


def test_schema_matches_the_models(migrated_engine: Engine) -> None:
    """The migrated schema is exactly what the models declare: no model change without a
    migration, on either engine."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import realname.tables  # noqa: F401  (every table on Base.metadata)

    tables = set(inspect(migrated_engine).get_table_names())
    assert {"line", "line_event", "identity", "holding", "audit_log"} <= set(Base.metadata.tables)
    assert set(Base.metadata.tables) <= tables
    with migrated_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        assert compare_metadata(context, Base.metadata) == []


def test_migrations_go_down_to_base_and_back_up(migrated_engine: Engine) -> None:
    migrate.downgrade(migrated_engine, "base")
    assert migrate.current_revision(migrated_engine) is None
    migrate.upgrade(migrated_engine)
    assert migrate.is_at_head(migrated_engine)


def test_constraints_are_named(migrated_engine: Engine) -> None:
    """SQLite batch migrations can only alter constraints they can name."""
    inspector = inspect(migrated_engine)
    for table in ("line", "line_event", "holding", "identity"):
        assert inspector.get_pk_constraint(table)["name"] == f"pk_{table}"
        for fk in inspector.get_foreign_keys(table):
            assert fk["name"] and fk["name"].startswith(f"fk_{table}_")


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: object) -> None:
    engine = create_engine_from_settings(Settings(database_url=f"sqlite:///{tmp_path}/x/r.db"))
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_settings_read_the_realname_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALNAME_DATABASE_URL", "sqlite:///elsewhere.db")
    assert Settings().database_url == "sqlite:///elsewhere.db"
    monkeypatch.delenv("REALNAME_DATABASE_URL")
    assert Settings().database_url.startswith("sqlite:///./var/")


def test_a_readonly_session_does_not_block_sqlite_writers(tmp_path: object) -> None:
    """`realname check` reads for minutes; clerks must keep registering meanwhile."""
    from sqlalchemy.orm import Session

    from realname.db.engine import readonly

    settings = Settings(database_url=f"sqlite:///{tmp_path}/rw.db", sqlite_busy_timeout_ms=200)
    engine = create_engine_from_settings(settings)
    migrate.upgrade(engine)
    with Session(readonly(engine)) as reader, reader.begin():
        reader.execute(text("SELECT count(*) FROM line")).scalar()
        with engine.begin() as writer:  # would time out if the reader held the write lock
            writer.execute(
                text(
                    "INSERT INTO enterprise (code, name, kind, status, created_at) "
                    "VALUES ('X', 'x', 'mno', 'active', '2026-01-01 00:00:00.000000')"
                )
            )
    engine.dispose()


def _old_registry(engine: Engine) -> tuple[object, list[str]]:
    """A populated registry taken back to 0006: unkeyed SHA-256 chains, no row MACs, and a
    typed reason in clear, as a deployment upgrading would have it."""
    from sqlalchemy.orm import Session

    from realname.policy.loader import load_policy
    from realname.security.audit_keys import AuditKeys
    from realname.security.vault import KeyRing, generate_key
    from tests.registry.conftest import build_world

    keyring = KeyRing({"k1": generate_key()}, "k1", generate_key(), audit=AuditKeys.generate())
    with Session(engine) as session:
        world = build_world(session, keyring, load_policy("china"))
        numbers = [world.register(world.people[i]) for i in range(3)]
        world.service.report_lost(world.ctx(), world.enterprise_id, numbers[0])
        session.commit()
    migrate.downgrade(engine, "0006_backfill")
    with engine.begin() as connection:  # a client made before clients entered the chain
        connection.execute(
            text(
                "INSERT INTO api_client (client_id, secret_hash, role, scopes, description,"
                " status, created_at) VALUES ('regulator-old', 'scrypt$a$b', 'regulator',"
                " 'registry:read', '', 'active', '2026-01-01 00:00:00')"
            )
        )
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE line_event SET reason = 'caller 139 0000 0266 says 王小明' WHERE seq = 2")
        )
    return keyring, numbers


def test_upgrade_keys_existing_rows_and_seals_their_free_text(fresh_engine: Engine) -> None:
    from sqlalchemy.orm import Session

    from realname.policy.loader import load_policy
    from realname.registry.check import run_integrity_check

    keyring, _numbers = _old_registry(fresh_engine)
    migrate.upgrade(fresh_engine, keyring=keyring)
    with Session(fresh_engine) as session:
        report = run_integrity_check(session, load_policy("china"), keyring)  # type: ignore[arg-type]
        assert report.ok, [(r.name, r.violations) for r in report.results if r.violations]
        reasons = {r for (r,) in session.execute(text("SELECT reason FROM line_event"))}
        assert "note" in reasons and not any("王小明" in (r or "") for r in reasons)
        assert session.execute(text("SELECT count(*) FROM sealed_note")).scalar() == 3  # one a line


def test_upgrade_refuses_a_chain_already_broken(fresh_engine: Engine) -> None:
    keyring, _numbers = _old_registry(fresh_engine)
    with fresh_engine.begin() as connection:
        connection.execute(text("UPDATE audit_log SET actor = 'forged' WHERE position = 2"))
    with pytest.raises(RuntimeError, match="already broken"):
        migrate.upgrade(fresh_engine, keyring=keyring)


def test_sqlite_rebuilds_a_referenced_table_without_losing_rows(tmp_path: object) -> None:
    """0008 rebuilds `line` (SQLite changes constraints by copying the table) while line
    events, consents and messages point at it: every row and every key survive both ways."""
    from sqlalchemy.orm import Session

    from realname.policy.loader import load_policy
    from realname.security.audit_keys import AuditKeys
    from realname.security.vault import KeyRing, generate_key
    from tests.registry.conftest import build_world

    engine = create_engine_from_settings(Settings(database_url=f"sqlite:///{tmp_path}/m.db"))
    migrate.upgrade(engine)
    with Session(engine) as session, session.begin():
        keys = KeyRing({"k1": generate_key()}, "k1", generate_key(), audit=AuditKeys.generate())
        world = build_world(session, keys, load_policy("china"))
        world.register(world.people[0])

    def counts() -> tuple[int, int]:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            lines = connection.exec_driver_sql("SELECT count(*) FROM line").scalar()
            events = connection.exec_driver_sql("SELECT count(*) FROM line_event").scalar()
            return int(lines or 0), int(events or 0)

    before = counts()
    assert before[0] >= 1 and before[1] >= 2
    migrate.downgrade(engine, "0007_tamper_evidence")
    assert counts() == before
    migrate.upgrade(engine)
    assert counts() == before and migrate.is_at_head(engine)
    engine.dispose()


def test_campaigns_started_before_0011_keep_their_notice(fresh_engine: Engine) -> None:
    """0011 stores each campaign's notice; a campaign already running gets the notice its
    dates were made with (first bar minus start), not the column default of 0."""
    migrate.downgrade(fresh_engine, "0010_retention")
    with fresh_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO enterprise (code, name, kind, status, created_at) "
                "VALUES ('OLD', 'old', 'mno', 'active', '2026-01-01 00:00:00+00:00')"
            )
        )
        enterprise_id = connection.execute(text("SELECT id FROM enterprise")).scalar_one()
        connection.execute(
            text(
                "INSERT INTO backfill_campaign (enterprise_id, starts_on, deadline, phase_dates, "
                "policy_code, legacy_at_start, sweep_after_line_id, created_by, created_at) "
                "VALUES (:e, '2026-01-01', '2026-03-02', :dates, 'china', 0, 0, 'test', "
                "'2026-01-01 00:00:00+00:00')"
            ),
            {
                "e": enterprise_id,
                "dates": '{"remind": "2026-01-01", "bar_outgoing": "2026-03-02", '
                '"bar_both": "2026-04-01", "terminate": "2026-05-01"}',
            },
        )
    migrate.upgrade(fresh_engine)
    with fresh_engine.connect() as connection:
        notice, version = connection.execute(
            text("SELECT notice_days, version FROM backfill_campaign")
        ).one()
    assert (notice, version) == (60, 0)


def test_0022_gives_each_national_line_its_identitys_name_key(fresh_engine: Engine) -> None:
    """The name 一证通查 checks moved from the identity to its lines: lines fed before keep
    answering to the name their identity had, and the way down gives it back."""
    migrate.downgrade(fresh_engine, "0021_web_sessions")
    name_key, at = b"n" * 32, "2026-01-01 00:00:00+00:00"
    with fresh_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO enterprise (code, name, kind, status, created_at) "
                "VALUES ('OLD', 'old', 'mno', 'active', :at)"
            ),
            {"at": at},
        )
        enterprise_id = connection.execute(text("SELECT id FROM enterprise")).scalar_one()
        connection.execute(
            text(
                "INSERT INTO national_identity (identity_key, doc_type, name_key, first_seen_at) "
                "VALUES (:k, 'resident_id', :n, :at)"
            ),
            {"k": b"i" * 32, "n": name_key, "at": at},
        )
        identity_id = connection.execute(text("SELECT id FROM national_identity")).scalar_one()
        for msisdn, owner in (("+8613800000001", identity_id), ("+8613800000002", None)):
            connection.execute(
                text(
                    "INSERT INTO national_line (enterprise_id, msisdn, seq, state, identity_id,"
                    " changed_at, batch) VALUES (:e, :m, 1, 'active', :i, :at, 1)"
                ),
                {"e": enterprise_id, "m": msisdn, "i": owner, "at": at},
            )
    migrate.upgrade(fresh_engine)
    with fresh_engine.connect() as connection:
        rows = connection.execute(
            text("SELECT msisdn, name_key FROM national_line ORDER BY msisdn")
        ).all()
    assert [(m, bytes(k) if k is not None else None) for m, k in rows] == [
        ("+8613800000001", name_key),
        ("+8613800000002", None),
    ]
    migrate.downgrade(fresh_engine, "0021_web_sessions")
    with fresh_engine.connect() as connection:
        back = connection.execute(text("SELECT name_key FROM national_identity")).scalar_one()
    assert bytes(back) == name_key
    migrate.upgrade(fresh_engine)


def test_0025_marks_only_the_regulator_clients_that_existed(fresh_engine: Engine) -> None:
    """Regulator-side clients made before 0025 keep the compliance scopes their rows lack
    (marked `implied_role_scopes`); other roles, and clients made afterwards, are not marked."""
    migrate.downgrade(fresh_engine, "0023_card_reads")
    at = "2026-01-01 00:00:00+00:00"
    with fresh_engine.begin() as connection:
        for client_id, role in (
            ("reg", "regulator"),
            ("ins", "regulator_inspector"),
            ("rp", "relying_party"),
        ):
            connection.execute(
                text(
                    "INSERT INTO api_client (client_id, secret_hash, role, scopes, description,"
                    " status, created_at) VALUES (:c, 'x', :r, 'registry:read', '', 'active', :at)"
                ),
                {"c": client_id, "r": role, "at": at},
            )
    migrate.upgrade(fresh_engine)
    with fresh_engine.connect() as connection:
        marked = connection.execute(
            text("SELECT client_id, implied_role_scopes FROM api_client ORDER BY client_id")
        ).all()
    assert [(c, bool(m)) for c, m in marked] == [("ins", True), ("reg", True), ("rp", False)]
    migrate.downgrade(fresh_engine, "0023_card_reads")
    migrate.upgrade(fresh_engine)


def test_0030_keeps_each_answered_disputes_last_handling_as_its_first_step(
    fresh_engine: Engine,
) -> None:
    """A forwarded dispute answered before 0030 keeps what it showed as one step of its
    history; an unanswered one gets none (no step is invented)."""
    migrate.downgrade(fresh_engine, "0025_client_implied_scopes")
    at = "2026-01-01 00:00:00+00:00"
    with fresh_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO enterprise (code, name, kind, status, created_at) "
                "VALUES ('OLD', 'old', 'mvno', 'active', :at)"
            ),
            {"at": at},
        )
        enterprise_id = connection.execute(text("SELECT id FROM enterprise")).scalar_one()
        connection.execute(
            text(
                "INSERT INTO national_identity (identity_key, doc_type, first_seen_at) "
                "VALUES (:k, 'resident_id', :at)"
            ),
            {"k": b"i" * 32, "at": at},
        )
        identity_id = connection.execute(text("SELECT id FROM national_identity")).scalar_one()
        connection.execute(
            text(
                "INSERT INTO national_line (enterprise_id, msisdn, seq, state, identity_id,"
                " changed_at, batch) VALUES (:e, '+8617000000001', 1, 'active', :i, :at, 1)"
            ),
            {"e": enterprise_id, "i": identity_id, "at": at},
        )
        line_id = connection.execute(text("SELECT id FROM national_line")).scalar_one()
        for reference, status, outcome, answered in (
            ("NDA", "acted", "owner_reverified", "2026-01-03 00:00:00+00:00"),
            ("NDB", "forwarded", None, None),
        ):
            connection.execute(
                text(
                    "INSERT INTO national_dispute (reference, line_id, identity_id, "
                    "enterprise_id, opened_at, due_at, status, outcome, answered_at) VALUES "
                    "(:r, :l, :i, :e, :at, :at, :s, :o, :a)"
                ),
                {
                    "r": reference,
                    "l": line_id,
                    "i": identity_id,
                    "e": enterprise_id,
                    "at": at,
                    "s": status,
                    "o": outcome,
                    "a": answered,
                },
            )
    migrate.upgrade(fresh_engine)
    with fresh_engine.connect() as connection:
        steps = connection.execute(
            text(
                "SELECT d.reference, a.status, a.outcome FROM national_dispute_answer a "
                "JOIN national_dispute d ON d.id = a.dispute_id"
            )
        ).all()
    assert [tuple(s) for s in steps] == [("NDA", "acted", "owner_reverified")]
    migrate.downgrade(fresh_engine, "0025_client_implied_scopes")
    migrate.upgrade(fresh_engine)
