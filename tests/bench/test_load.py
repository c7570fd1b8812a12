"""The HTTP benches' server is ready when every worker listens, not when the first does."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from realname.bench import load
from realname.bench.load import ServerProcess, listening_sockets


@pytest.mark.skipif(
    not (sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")),
    reason="SO_REUSEPORT sockets are counted from /proc/net (Linux)",
)
def test_each_workers_socket_counts_once_it_listens() -> None:
    """Two sockets on one port (as `realname serve`'s workers bind them): a bound socket that
    does not listen yet (its worker still starting) is not counted; /readyz answered by the
    first worker alone made the benches' load pin every keep-alive connection on it."""
    sockets = []
    try:
        first = socket.socket()
        first.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        first.bind(("127.0.0.1", 0))
        port = first.getsockname()[1]
        second = socket.socket()
        second.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        second.bind(("127.0.0.1", port))
        sockets = [first, second]
        assert listening_sockets(port) == 0
        first.listen()
        assert listening_sockets(port) == 1
        second.listen()
        assert listening_sockets(port) == 2
    finally:
        for sock in sockets:
            sock.close()


def test_a_server_whose_start_fails_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start that raises while it waits (here: a bug in the readiness probe) stops the
    server it launched: `with ServerProcess(...)` never reaches `__exit__` then, and a test
    run once left seven servers and their workers running for half an hour."""

    def broken(*_: object, **__: object) -> object:
        raise LookupError("a bug in the probe")

    monkeypatch.setattr(load.httpx, "get", broken)
    server = ServerProcess(f"sqlite:///{tmp_path / 'r.db'}", tmp_path / "keys.json")
    with pytest.raises(LookupError):
        server.start(timeout=30)
    assert server.process is not None
    assert server.process.poll() is not None  # stopped, not left running
