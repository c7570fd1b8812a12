"""Uvicorn's HTTP protocol (httptools), each response's head and body sent in one write.

Uvicorn writes a response's head to the socket as soon as the app sends
`http.response.start`, and its body on `http.response.body`: two `send` system calls, two TCP
segments and two wake-ups of the client for every answer. py-spy put those two writes at 16 %
of a registration worker's Python time (each holds the GIL through the kernel's loopback
work; docs/benchmarks.md). Here the transport holds a write while nothing else is held; the
next write joins it and both go out at once. Whatever is still held when the event loop's
current step ends goes out then (a streamed response's head, before its first chunk), and
before the transport is closed or half-closed, or the client's half-close closes it: the
bytes and their order are unchanged, only the number of system calls differs.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """A transport's writes, two at a time: see the module."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is None:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
            return
        self._held = None
        self._transport.write(held + data)

    def flush(self) -> None:
        """Send what is held now."""
        held, self._held = self._held, None
        if held and not self._transport.is_closing():
            self._transport.write(held)

    def writelines(self, chunks: Any) -> None:
        self.write(b"".join(chunks))

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        # everything else (flow control, extra info, is_closing, set_protocol) is the socket's
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """`realname serve`'s HTTP protocol: uvicorn's httptools protocol on a
    `CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        coalescing: Any = CoalescingTransport(transport, self.loop)
        super().connection_made(coalescing)

    def eof_received(self) -> None:
        # A client that half-closes (sends its FIN, still reading) makes the event loop close
        # the socket itself when this returns, not through the transport above: what is held
        # (a HEAD answer's head, a streamed answer's last chunk) goes out first.
        coalescing: Any = self.transport
        coalescing.flush()
        super().eof_received()
