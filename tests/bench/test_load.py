"""The HTTP benches' server is ready when every worker listens, not when the first does."""

from __future__ import annotations

import socket
import sys

import pytest

from realname.bench.load import listening_sockets


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
