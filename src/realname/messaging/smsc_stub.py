"""A minimal SMPP 3.4 SMSC for tests and local development (loopback only by default).

Handles bind_transmitter / bind_transceiver, submit_sm, enquire_link and unbind; anything
else gets a generic_nack. Every accepted submit_sm is kept in memory (`deliveries`) and, with
`record=`, appended to a JSON-lines file, which is also how a separate process is observed:

    python -m realname.messaging.smsc_stub --port 2775 --record var/smsc.jsonl

Idempotency, as aggregator gateways offer it: a submit_sm carrying a client reference (the
vendor-specific TLV `gateways.CLIENT_REFERENCE_TAG`) that this SMSC already accepted for the
same system_id is a *duplicate*: answered with the original message_id, counted in
`duplicates`, not delivered again. This is what makes the outbox exactly-once across a sender
killed between "SMSC accepted" and "recorded as sent".

Knobs for tests: `submit_delay` (seconds between accepting a submit and answering it: widens
the window in which a sender can die with its message accepted but unacknowledged),
`responder` (return an SMPP status to refuse a submit: throttling, invalid destination) and
`on_accept` (called for each new delivery before the answer is sent; may block).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import smpplib.command_codes
import smpplib.consts
import smpplib.gsm
import smpplib.smpp

from realname.clock import SystemClock
from realname.messaging.gateways import ReferencedSubmitSM

_GSM_DECODE = dict(enumerate(smpplib.gsm.GSM_CHARACTER_TABLE[:128]))
_GSM_EXTENDED = {i - 0x80: c for i, c in enumerate(smpplib.gsm.GSM_CHARACTER_TABLE) if i >= 0x80}
_MAX_PDU = 64 * 1024

# (destination digits, client reference) -> SMPP status; 0 accepts
Responder = Callable[[str, str | None], int]


def decode_text(payload: bytes, data_coding: int) -> str:
    """The text of a short message: UCS-2 (8), Latin-1 (3), GSM 7-bit unpacked (0)."""
    if data_coding == smpplib.consts.SMPP_ENCODING_ISO10646:
        return payload.decode("utf-16-be", errors="replace")
    if data_coding == smpplib.consts.SMPP_ENCODING_DEFAULT:
        out, escape = [], False
        for byte in payload:
            if escape:
                out.append(_GSM_EXTENDED.get(byte, "?"))
                escape = False
            elif byte == 0x1B:
                escape = True
            else:
                out.append(_GSM_DECODE.get(byte, "?"))
        return "".join(out)
    return payload.decode("latin-1")


def split_udh(short_message: bytes, esm_class: int) -> tuple[tuple[int, int, int] | None, bytes]:
    """((reference, parts, part) of a concatenated message or None, payload without UDH)."""
    if not esm_class & smpplib.consts.SMPP_GSMFEAT_UDHI or not short_message:
        return None, short_message
    udh_length = short_message[0]
    udh, payload = short_message[1 : 1 + udh_length], short_message[1 + udh_length :]
    pos = 0
    while pos + 2 <= len(udh):
        element, length = udh[pos], udh[pos + 1]
        value = udh[pos + 2 : pos + 2 + length]
        if element == 0x00 and length == 3:
            return (value[0], value[1], value[2]), payload
        if element == 0x08 and length == 4:
            return ((value[0] << 8) | value[1], value[2], value[3]), payload
        pos += 2 + length
    return None, payload


@dataclass(frozen=True, slots=True)
class Delivery:
    """One accepted submit_sm (one part of a long message)."""

    message_id: str
    system_id: str
    reference: str | None
    source: str
    destination: str  # as submitted: E.164 digits without '+'
    data_coding: int
    esm_class: int
    concat: tuple[int, int, int] | None  # (reference, parts, part)
    payload: bytes  # the short message without its user data header
    at: datetime

    @property
    def text(self) -> str:
        return decode_text(self.payload, self.data_coding)


@dataclass(frozen=True, slots=True)
class AssembledMessage:
    """A whole message as the handset shows it: its parts joined in order."""

    destination: str
    text: str
    parts: int
    message_ids: tuple[str, ...]
    references: tuple[str | None, ...]


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = False
    block_on_close = True  # server_close() joins the session threads

    def __init__(self, address: tuple[str, int], smsc: StubSmsc) -> None:
        super().__init__(address, _Session)
        self.smsc = smsc


class StubSmsc:
    """The SMSC; `start()` (or `with`) listens on `host:port` (port 0: an ephemeral one)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        system_id: str = "stub-smsc",
        password: str | None = None,
        submit_delay: float = 0.0,
        record: str | Path | None = None,
        responder: Responder | None = None,
        on_accept: Callable[[Delivery], None] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.host, self._port = host, port
        self._clock = clock or SystemClock().now
        self.system_id = system_id
        self.password = password
        self.submit_delay = submit_delay
        self.responder = responder
        self.on_accept = on_accept
        self._record_path = Path(record) if record else None
        self._record: Any = None
        self._lock = threading.Lock()
        self._accepted: dict[tuple[str, str], str] = {}
        self._deliveries: list[Delivery] = []
        self._duplicates: list[tuple[str, str]] = []  # (reference, original message_id)
        self._refused = 0
        self._next_id = 0
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- life ----------------------------------------------------------------------------

    def start(self) -> StubSmsc:
        if self._record_path is not None:
            self._record_path.parent.mkdir(parents=True, exist_ok=True)
            self._record = self._record_path.open("a", encoding="utf-8")
        self._server = _Server((self.host, self._port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        self.drop_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._record is not None:
            self._record.close()
            self._record = None

    def __enter__(self) -> StubSmsc:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    def drop_connections(self) -> None:
        """Close every client session (as an SMSC restart would)."""
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    # --- what happened -------------------------------------------------------------------

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    @property
    def duplicates(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._duplicates)

    @property
    def refused(self) -> int:
        with self._lock:
            return self._refused

    def delivery_count(self) -> int:
        with self._lock:
            return len(self._deliveries)

    def messages(self) -> list[AssembledMessage]:
        """Deliveries joined into whole messages (complete long messages only)."""
        groups: dict[tuple[Any, ...], list[Delivery]] = {}
        for delivery in self.deliveries:
            if delivery.concat is None:
                key: tuple[Any, ...] = ("single", delivery.message_id)
            else:
                ref, parts, _part = delivery.concat
                key = (delivery.system_id, delivery.source, delivery.destination, ref, parts)
            groups.setdefault(key, []).append(delivery)
        assembled = []
        for items in groups.values():
            first = items[0]
            total = first.concat[1] if first.concat else 1
            by_part = {d.concat[2] if d.concat else 1: d for d in items}
            if sorted(by_part) != list(range(1, total + 1)):
                continue
            ordered = [by_part[i] for i in range(1, total + 1)]
            payload = b"".join(d.payload for d in ordered)
            assembled.append(
                AssembledMessage(
                    destination=first.destination,
                    text=decode_text(payload, first.data_coding),
                    parts=total,
                    message_ids=tuple(d.message_id for d in ordered),
                    references=tuple(d.reference for d in ordered),
                )
            )
        return assembled

    # --- the work ------------------------------------------------------------------------

    def _accept(self, system_id: str, pdu: Any) -> tuple[Delivery | None, str]:
        """(the new delivery, its message_id) or (None, original message_id) for a duplicate."""
        reference = pdu.client_reference
        esm_class = int(pdu.esm_class or 0)
        concat, payload = split_udh(bytes(pdu.short_message or b""), esm_class)
        with self._lock:
            if reference is not None and (system_id, reference) in self._accepted:
                original = self._accepted[(system_id, reference)]
                self._duplicates.append((reference, original))
                self._write_record({"duplicate": True, "reference": reference, "id": original})
                return None, original
            self._next_id += 1
            message_id = f"{self._next_id:010d}"
            if reference is not None:
                self._accepted[(system_id, reference)] = message_id
            delivery = Delivery(
                message_id=message_id,
                system_id=system_id,
                reference=reference,
                source=_text(pdu.source_addr),
                destination=_text(pdu.destination_addr),
                data_coding=int(pdu.data_coding or 0),
                esm_class=esm_class,
                concat=concat,
                payload=payload,
                at=self._clock(),
            )
            self._deliveries.append(delivery)
            self._write_record(
                {
                    "id": message_id,
                    "reference": reference,
                    "system_id": system_id,
                    "source": delivery.source,
                    "destination": delivery.destination,
                    "data_coding": delivery.data_coding,
                    "concat": list(concat) if concat else None,
                    "text": delivery.text,
                    "at": delivery.at.isoformat(),
                }
            )
            return delivery, message_id

    def _refuse(self) -> None:
        with self._lock:
            self._refused += 1

    def _write_record(self, entry: dict[str, Any]) -> None:
        if self._record is not None:
            self._record.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self._record.flush()

    def _register(self, connection: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return "" if value is None else str(value)


def _header(command: str, status: int, sequence: int, body: bytes = b"") -> bytes:
    command_id = smpplib.command_codes.get_command_code(command)
    return struct.pack(">LLLL", 16 + len(body), command_id, status, sequence) + body


def _recv_exact(connection: socket.socket, size: int) -> bytes | None:
    chunks, received = [], 0
    while received < size:
        chunk = connection.recv(size - received)
        if not chunk:
            return None
        chunks.append(chunk)
        received += len(chunk)
    return b"".join(chunks)


class _Session(socketserver.BaseRequestHandler):
    """One ESME connection: read a PDU, answer it, until unbind or hang-up."""

    server: _Server

    def handle(self) -> None:
        smsc = self.server.smsc
        connection: socket.socket = self.request
        smsc._register(connection, True)
        self.bound_as: str | None = None
        try:
            while self._one(smsc, connection):
                pass
        except OSError:
            pass  # the ESME went away (killed, or we were stopped)
        finally:
            smsc._register(connection, False)

    def _one(self, smsc: StubSmsc, connection: socket.socket) -> bool:
        header = _recv_exact(connection, 16)
        if header is None:
            return False
        length, command_id, _status, sequence = struct.unpack(">LLLL", header)
        if not 16 <= length <= _MAX_PDU:
            connection.sendall(
                _header("generic_nack", smpplib.consts.SMPP_ESME_RINVCMDLEN, sequence)
            )
            return False
        body = _recv_exact(connection, length - 16) if length > 16 else b""
        if body is None:
            return False
        try:
            command = smpplib.command_codes.get_command_name(command_id)
        except Exception:  # smpplib raises its UnknownCommandError
            connection.sendall(
                _header("generic_nack", smpplib.consts.SMPP_ESME_RINVCMDID, sequence)
            )
            return True
        data = header + body
        if command in ("bind_transmitter", "bind_transceiver"):
            return self._bind(smsc, connection, command, data, sequence)
        if command == "submit_sm":
            self._submit(smsc, connection, data, sequence)
            return True
        if command == "enquire_link":
            connection.sendall(_header("enquire_link_resp", 0, sequence))
            return True
        if command == "unbind":
            connection.sendall(_header("unbind_resp", 0, sequence))
            return False
        if command.endswith("_resp"):
            return True  # answers to nothing we asked: ignore
        if command == "bind_receiver":
            connection.sendall(
                _header("bind_receiver_resp", smpplib.consts.SMPP_ESME_RBINDFAIL, sequence)
            )
            return True
        connection.sendall(_header("generic_nack", smpplib.consts.SMPP_ESME_RINVCMDID, sequence))
        return True

    def _bind(
        self, smsc: StubSmsc, connection: socket.socket, command: str, data: bytes, sequence: int
    ) -> bool:
        pdu = smpplib.smpp.parse_pdu(data, sequence=0, allow_unknown_opt_params=True)
        system_id, password = _text(pdu.system_id), _text(pdu.password)
        if self.bound_as is not None:
            status = smpplib.consts.SMPP_ESME_RALYBND
        elif smsc.password is not None and password != smsc.password:
            status = smpplib.consts.SMPP_ESME_RINVPASWD
        else:
            status = smpplib.consts.SMPP_ESME_ROK
        if status:
            connection.sendall(_header(f"{command}_resp", status, sequence))
            return True
        self.bound_as = system_id
        response = smpplib.smpp.make_pdu(f"{command}_resp", system_id=smsc.system_id)
        response.sequence = sequence
        connection.sendall(response.generate())
        return True

    def _submit(
        self, smsc: StubSmsc, connection: socket.socket, data: bytes, sequence: int
    ) -> None:
        if self.bound_as is None:
            connection.sendall(
                _header("submit_sm_resp", smpplib.consts.SMPP_ESME_RINVBNDSTS, sequence)
            )
            return
        try:
            pdu = ReferencedSubmitSM("submit_sm", sequence=0, allow_unknown_opt_params=True)
            pdu.parse(data)
        except Exception:  # a PDU smpplib cannot parse
            connection.sendall(
                _header("submit_sm_resp", smpplib.consts.SMPP_ESME_RSYSERR, sequence)
            )
            return
        if smsc.responder is not None:
            status = smsc.responder(_text(pdu.destination_addr), pdu.client_reference)
            if status:
                smsc._refuse()
                connection.sendall(_header("submit_sm_resp", status, sequence))
                return
        delivery, message_id = smsc._accept(self.bound_as, pdu)
        if delivery is not None and smsc.on_accept is not None:
            smsc.on_accept(delivery)
        if smsc.submit_delay:
            time.sleep(smsc.submit_delay)
        response = smpplib.smpp.make_pdu("submit_sm_resp", message_id=message_id)
        response.sequence = sequence
        connection.sendall(response.generate())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m realname.messaging.smsc_stub", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2775, help="0: an ephemeral port")
    parser.add_argument("--record", help="append every accepted message to this JSONL file")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--system-id", default="stub-smsc")
    parser.add_argument("--password", default=None, help="required bind password (any if unset)")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    smsc = StubSmsc(
        args.host,
        args.port,
        system_id=args.system_id,
        password=args.password,
        submit_delay=args.delay,
        record=args.record,
    )
    with smsc:
        print(f"SMSC stub listening on {args.host}:{smsc.port}", flush=True)
        while not stop.wait(0.5):
            pass
        accepted, duplicates = smsc.delivery_count(), len(smsc.duplicates)
    print(f"SMSC stub stopped: {accepted} accepted, {duplicates} duplicates", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
