"""The unit of work: the one way a transaction is opened, by the entry point that owns it (an
HTTP handler, a CLI command, one step of a job). Services only flush; the unit commits.

`transaction()` commits when its block ends and rolls back when it raises. Three options
cover what entry points needed their own code for:

- `readonly=True`: work that only reads. On SQLite it begins with a plain BEGIN instead of
  BEGIN IMMEDIATE, so it does not take the write lock (WAL lets it read beside writers);
  nothing it does is committed: what it flushes is discarded (the CLI's dry runs rely on it),
  so a write that must last never goes in a read-only unit.
- `keep_on=predicate`: keep on refusal. When the block raises an error the predicate accepts,
  what the block wrote before the refusal (quota counters, the refusal's audit entry) is
  committed, then the error goes on up. Any other error rolls back.
- `run(work, once=...)`: idempotent reply. The store claims the request in the same
  transaction as the work and keeps the answer with it, so a crash leaves both or neither. A
  request answered before fails its claim on the unique index (so does a concurrent twin
  whose claim loses the race): it gets that answer again and its work never runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

T = TypeVar("T")
KeepOn = Callable[[Exception], bool]


class OnceStore(Protocol[T]):
    """Where one request's answer is kept, so that a repeat of it is answered, not redone."""

    def earlier(self, session: Session) -> T | None:
        """The answer stored for this request, if there is one."""

    def claim(self, session: Session) -> None:
        """Claim the request (flushed now: a twin's claim fails on the unique index)."""

    def keep(self, session: Session, answer: T) -> None:
        """Store the answer on the claim, in the work's transaction."""


class UnitOfWork:
    """Built once per process from its session factory (see `realname.wiring`)."""

    def __init__(self, sessions: Callable[[], Session]) -> None:
        self.sessions = sessions

    @contextmanager
    def transaction(
        self, *, readonly: bool = False, keep_on: KeepOn | None = None
    ) -> Iterator[Session]:
        with self.sessions() as session:
            if readonly:
                # Begins the transaction on a connection marked read-only; closing the
                # session rolls it back, so a read-only unit never commits anything.
                session.connection(execution_options={"readonly": True})
                yield session
                return
            session.begin()
            try:
                yield session
            except Exception as error:
                if keep_on is not None and keep_on(error):
                    session.commit()
                else:
                    session.rollback()
                raise
            except BaseException:
                session.rollback()
                raise
            session.commit()

    def run(
        self,
        work: Callable[[Session], T],
        *,
        once: OnceStore[T] | None = None,
        readonly: bool = False,
        keep_on: KeepOn | None = None,
    ) -> T:
        """`work` in one transaction; with `once`, at most once per request (module doc).

        `once` and `keep_on` do not combine: a kept refusal would commit the claim without its
        answer, and every retry of the request would then find it in progress for good."""
        if once is not None and keep_on is not None:
            raise ValueError("an idempotent unit keeps its refusals through its store, not keep_on")
        if once is None:
            with self.transaction(readonly=readonly, keep_on=keep_on) as session:
                return work(session)
        try:
            with self.transaction(keep_on=keep_on) as session:
                # The claim first: a request answered before fails it at once on the unique
                # index (no look-up ahead of it on every request: one round trip fewer).
                once.claim(session)
                answer = work(session)
                once.keep(session, answer)
                return answer
        except IntegrityError:
            # Answered before, or a twin committed it first: replay what it answered.
            with self.transaction(readonly=True) as session:
                earlier = once.earlier(session)
            if earlier is None:
                raise
            return earlier
