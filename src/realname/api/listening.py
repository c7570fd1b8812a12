"""How `realname serve`'s workers listen on one port: each worker its own socket bound with
SO_REUSEPORT, where the kernel balances connections over them (Linux); else one shared
socket. The server (`cli/serve.py`) binds them; the benches (`bench/load.py`) wait for them."""

from __future__ import annotations

import socket
import sys


def reuseport_balances() -> bool:
    """Linux spreads the connections of one port over the sockets bound to it with
    SO_REUSEPORT (by a hash of each connection); elsewhere the option does not balance."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def listening_sockets_expected(workers: int) -> int:
    """The sockets a server of `workers` workers listens on once every worker has started:
    one per worker with SO_REUSEPORT, else the one shared socket."""
    return workers if workers > 1 and reuseport_balances() else 1


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) beside the other workers' (SO_REUSEPORT), not yet
    listening: it listens once its worker has started (uvicorn's `create_server`), so no
    connection is handed to a worker that cannot answer yet."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock
