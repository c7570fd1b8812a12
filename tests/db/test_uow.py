"""The unit of work on both engines: commit or roll back, keep on refusal, read-only, and the
idempotent reply (including a twin that loses the race for the claim)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, String, Table, insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from realname.config import Settings
from realname.db.engine import create_engine_from_settings
from realname.db.uow import UnitOfWork

metadata = MetaData()
probe = Table(
    "uow_probe",
    metadata,
    Column("key", String(20), primary_key=True),
    Column("answer", String(20), nullable=False),
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def uow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UnitOfWork]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'uow.db'}"
    else:
        url = request.getfixturevalue("postgres_database")
    engine = create_engine_from_settings(Settings(database_url=url))
    metadata.create_all(engine)
    yield UnitOfWork(sessionmaker(engine, expire_on_commit=False))
    metadata.drop_all(engine)
    engine.dispose()


def keys(uow: UnitOfWork) -> set[str]:
    with uow.transaction(readonly=True) as session:
        return set(session.scalars(select(probe.c.key)))


def put(session: Session, key: str, answer: str = "a") -> None:
    session.execute(insert(probe).values(key=key, answer=answer))


class RefusedError(Exception):
    def __init__(self, keep: bool) -> None:
        self.keep = keep


def put_then_raise(key: str, error: Exception) -> Callable[[Session], None]:
    def work(session: Session) -> None:
        put(session, key)
        raise error

    return work


def test_commits_when_the_block_ends_and_rolls_back_when_it_raises(uow: UnitOfWork) -> None:
    with uow.transaction() as session:
        put(session, "kept")
    with pytest.raises(RuntimeError):
        uow.run(put_then_raise("undone", RuntimeError()))
    assert keys(uow) == {"kept"}


def test_keep_on_commits_what_was_written_before_a_refusal_of_that_kind(uow: UnitOfWork) -> None:
    def kept(error: Exception) -> bool:
        return isinstance(error, RefusedError) and error.keep

    with pytest.raises(RefusedError):
        uow.run(put_then_raise("counter", RefusedError(keep=True)), keep_on=kept)
    with pytest.raises(RefusedError):
        uow.run(put_then_raise("other", RefusedError(keep=False)), keep_on=kept)
    with pytest.raises(KeyError):
        uow.run(put_then_raise("crash", KeyError()), keep_on=kept)
    assert keys(uow) == {"counter"}


def test_a_read_only_unit_commits_nothing(uow: UnitOfWork) -> None:
    """SQLite rolls the write back; PostgreSQL refuses it outright (a READ ONLY transaction)."""

    def write_in_a_read() -> None:
        with uow.transaction(readonly=True) as session:
            put(session, "never")
            session.flush()

    if uow.sessions().get_bind().dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="read-only transaction"):
            write_in_a_read()
    else:
        write_in_a_read()
    assert keys(uow) == set()


class Store:
    """A minimal `once` store over the probe table."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.looked = 0  # how often the stored answer was looked up

    def earlier(self, session: Session) -> str | None:
        self.looked += 1
        return session.scalars(select(probe.c.answer).where(probe.c.key == self.key)).first()

    def claim(self, session: Session) -> None:
        put(session, self.key, "pending")
        session.flush()

    def keep(self, session: Session, answer: str) -> None:
        session.execute(probe.update().where(probe.c.key == self.key).values(answer=answer))


def test_once_answers_a_repeat_from_the_store_without_running_the_work(uow: UnitOfWork) -> None:
    runs: list[str] = []

    def work(session: Session) -> str:
        runs.append("ran")
        put(session, "effect")
        return "first"

    assert uow.run(work, once=Store("k1")) == "first"
    assert uow.run(work, once=Store("k1")) == "first"
    assert runs == ["ran"]
    assert keys(uow) == {"k1", "effect"}


def test_a_twin_that_loses_the_claim_replays_the_winners_answer(uow: UnitOfWork) -> None:
    with uow.transaction() as session:
        put(session, "k2", "winner")

    def work(_session: Session) -> str:
        raise AssertionError("the twin never runs the work")

    twin = Store("k2")
    assert uow.run(work, once=twin) == "winner"  # its claim failed on the unique index
    assert twin.looked == 1


def test_a_first_request_claims_without_looking_up_an_earlier_answer(uow: UnitOfWork) -> None:
    """The claim goes first: a new request costs no look-up ahead of it."""
    store = Store("k4")
    assert uow.run(lambda session: "done", once=store) == "done"
    assert store.looked == 0


def test_an_idempotent_unit_refuses_keep_on(uow: UnitOfWork) -> None:
    """A kept refusal would commit the claim without its answer: every retry of the request
    would find it in progress for good. The combination is refused before anything runs."""

    def work(session: Session) -> str:
        put(session, "never")
        return "never"

    with pytest.raises(ValueError, match="keep_on"):
        uow.run(work, once=Store("k3"), keep_on=lambda _error: True)
    assert "k3" not in keys(uow) and "never" not in keys(uow)
