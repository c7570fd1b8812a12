"""`realname serve`'s HTTP protocol writes each answer's head and body in one system call,
and changes nothing else: the same bytes, in the same order, on every connection."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import pytest
import uvicorn
import uvloop
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from uvicorn.server import ServerState

from realname.api.coalescing import CoalescingHttpToolsProtocol, CoalescingTransport


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.eof = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(bytes(data))

    def write_eof(self) -> None:
        self.eof = True

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5)}.get(name, default)


async def _one_step() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def test_a_head_and_its_body_go_out_in_one_write() -> None:
    async def scenario() -> FakeTransport:
        fake = FakeTransport()
        transport = CoalescingTransport(fake, asyncio.get_running_loop())  # type: ignore[arg-type]
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        assert fake.writes == []  # held until the body comes
        transport.write(memoryview(b'{"a":1}'))
        assert fake.writes == [b'HTTP/1.1 200 OK\r\n\r\n{"a":1}']
        await _one_step()
        return fake

    assert asyncio.run(scenario()).writes == [b'HTTP/1.1 200 OK\r\n\r\n{"a":1}']


def test_a_write_left_alone_goes_out_when_the_loop_step_ends() -> None:
    async def scenario() -> FakeTransport:
        fake = FakeTransport()
        transport = CoalescingTransport(fake, asyncio.get_running_loop())  # type: ignore[arg-type]
        for chunk in (b"head", b"one", b"two"):
            transport.write(chunk)
        assert fake.writes == [b"headone"]  # "two" is held
        await _one_step()
        assert fake.writes == [b"headone", b"two"]
        transport.write(b"three")
        await _one_step()
        return fake

    assert asyncio.run(scenario()).writes == [b"headone", b"two", b"three"]


def test_what_is_held_goes_out_before_a_close_or_an_eof_and_nothing_after() -> None:
    async def scenario() -> tuple[FakeTransport, FakeTransport]:
        loop = asyncio.get_running_loop()
        closing, ending = FakeTransport(), FakeTransport()
        first = CoalescingTransport(closing, loop)  # type: ignore[arg-type]
        first.write(b"last words")
        first.close()
        second = CoalescingTransport(ending, loop)  # type: ignore[arg-type]
        second.write(b"the end")
        second.write_eof()
        await _one_step()  # the pending flushes find nothing held and a closed socket
        return closing, ending

    closing, ending = asyncio.run(scenario())
    assert closing.writes == [b"last words"] and closing.closed
    assert ending.writes == [b"the end"] and ending.eof


class Counting:
    """The socket's transport, counting its writes (what the coalescing transport sends)."""

    writes: ClassVar[list[bytes]] = []

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        Counting.writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CountingProtocol(CoalescingHttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        counting: Any = Counting(transport)
        super().connection_made(counting)


async def _stream() -> AsyncIterator[bytes]:
    for chunk in (b"alpha,", b"beta,", b"gamma"):
        await asyncio.sleep(0.01)
        yield chunk


def _app() -> Starlette:
    async def plain(request: Request) -> Response:
        return JSONResponse({"name": "王小明", "n": int(request.query_params.get("n", 0))})

    async def streamed(_: Request) -> Response:
        return StreamingResponse(_stream(), media_type="text/plain")

    return Starlette(routes=[Route("/plain", plain), Route("/streamed", streamed)])


@pytest.fixture
def server() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        _app(), http=CountingProtocol, log_level="warning", lifespan="off", access_log=False
    )
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if served.started:
            break
        time.sleep(0.05)
    yield port
    served.should_exit = True
    thread.join(10)
    sock.close()


def _exchange(port: int, requests: list[bytes]) -> bytes:
    """Send the requests on one keep-alive connection; everything the server answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(b"".join(requests))
        received = b""
        client.settimeout(0.5)
        try:
            while chunk := client.recv(65536):
                received += chunk
        except TimeoutError:
            pass
        return received


def test_each_answer_is_one_write_on_a_keep_alive_connection(server: int) -> None:
    Counting.writes.clear()
    requests = [f"GET /plain?n={n} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for n in range(3)]
    received = _exchange(server, requests)
    answers = received.split(b"HTTP/1.1 200 OK\r\n")[1:]
    assert len(answers) == 3
    for n, answer in enumerate(answers):
        assert answer.endswith(f'{{"name":"王小明","n":{n}}}'.encode())
        assert b"content-length: " in answer
    assert len(Counting.writes) == 3  # uvicorn alone writes each head and body apart: 6
    assert b"".join(Counting.writes) == received


def test_a_streamed_answer_keeps_its_bytes_and_order(server: int) -> None:
    Counting.writes.clear()
    received = _exchange(server, [b"GET /streamed HTTP/1.1\r\nHost: x\r\n\r\n"])
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head
    assert body == b"6\r\nalpha,\r\n5\r\nbeta,\r\n5\r\ngamma\r\n0\r\n\r\n"
    assert b"".join(Counting.writes) == received


def test_a_held_head_reaches_a_client_that_half_closes() -> None:
    """A HEAD answer is a head alone, held to the end of the loop's step; a client that sends
    its FIN meanwhile (still reading) makes the loop close the socket itself: the head goes
    out first. (Before `eof_received` flushed, the client read nothing.)"""

    async def busy(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        time.sleep(0.15)  # the worker is busy: the client's FIN arrives meanwhile
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]}
        )
        await send({"type": "http.response.body", "body": b"hello"})

    def ask(port: int, method: str) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as client:
            client.sendall(f"{method} / HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            time.sleep(0.05)
            client.shutdown(socket.SHUT_WR)
            received = b""
            while chunk := client.recv(65536):
                received += chunk
            return received

    async def scenario() -> dict[str, bytes]:
        loop = asyncio.get_running_loop()
        config = uvicorn.Config(busy, lifespan="off", log_level="critical")
        config.load()
        state = ServerState()
        server = await loop.create_server(
            lambda: CoalescingHttpToolsProtocol(config=config, server_state=state, app_state={}),
            "127.0.0.1",
            0,
        )
        port = server.sockets[0].getsockname()[1]
        try:
            return {m: await loop.run_in_executor(None, ask, port, m) for m in ("GET", "HEAD")}
        finally:
            server.close()

    answers = uvloop.run(scenario())
    assert answers["GET"].startswith(b"HTTP/1.1 200 OK") and answers["GET"].endswith(b"hello")
    assert answers["HEAD"].startswith(b"HTTP/1.1 200 OK") and b"hello" not in answers["HEAD"]
