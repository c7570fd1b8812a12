"""Gateways: how a claimed outbox message leaves the building.

`FileGateway` appends JSON lines to a file (the default in development and demos: the file is
the delivery record). `SmppGateway` submits to an operator's SMSC over SMPP 3.4 (smpplib).
`gateway_from_settings` picks one from `REALNAME_SMS_GATEWAY`.

Exactly once across a crash
---------------------------
The sender records `sent` only after the gateway accepted the message. If the sender dies
between the two, the row is still pending and, once its lease runs out, is sent again. Both
gateways recognise that second submission as the same message, so nothing is lost and nothing
reaches the subscriber twice:

- `FileGateway` writes the outbox id on every line and, holding an exclusive lock on the file,
  skips an id that is already there (scanned on open, then kept up to date), answering with
  the same message id. A line torn by a crash mid-write is cut off before the next append.
- `SmppGateway` carries a client reference derived from the outbox id in every submit_sm:
  `realname:<id>` (parts of a long message: `realname:<id>:<part>/<parts>`), in a
  vendor-specific optional parameter (TLV tag `CLIENT_REFERENCE_TAG`, 0x1501 by default; ASCII,
  NUL-terminated). SMPP 3.4 has no standard idempotency key; an SMSC or aggregator that
  de-duplicates on a client reference answers a resubmission with the message_id it gave the
  first time and does not deliver again. Our stub SMSC (`smsc_stub`) does exactly that, and
  the kill/restart test relies on it. Configure `reference_tag` to the tag your SMSC reads; an
  SMSC that reads none ignores the parameter (SMPP receivers ignore optional parameters they
  do not support) and a crash in that window can then mean one duplicate SMS (at least once).
  The concatenation reference in the user data header is derived from the outbox id as well
  (16-bit, IEI 0x08: id mod 65,536), so parts re-sent after a crash join the parts already
  delivered, and two long messages to one number do not share a reference unless their ids
  are 65,536 apart.

Gateways raise `TemporaryGatewayError` (retry with back-off) or `PermanentGatewayError`
(failed at once). Neither error, nor any log line here, contains a phone number or a body;
smpplib's debug log (hex dumps of every PDU, numbers included) is kept switched off.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import smpplib.client
import smpplib.command
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm
import smpplib.smpp

from realname.clock import SystemClock
from realname.config import Settings
from realname.messaging.errors import PermanentGatewayError, TemporaryGatewayError
from realname.messaging.schemas import OutgoingMessage

log = logging.getLogger("realname.messaging.gateway")

_E164 = re.compile(r"\+[1-9][0-9]{6,14}", re.ASCII)


class Gateway(Protocol):
    """Sends one message; returns the gateway's message id.

    Must be idempotent per `message.id`: sending a message that was already accepted returns
    the first message id and delivers nothing (see the module docstring).
    Raises `TemporaryGatewayError` or `PermanentGatewayError`.
    """

    name: str

    def send(self, message: OutgoingMessage) -> str: ...

    def close(self) -> None: ...


def gateway_from_settings(settings: Settings) -> Gateway:
    """`file` → FileGateway(REALNAME_SMS_FILE); `smpp` → SmppGateway(REALNAME_SMSC_*)."""
    if settings.sms_gateway == "smpp":
        return SmppGateway(
            settings.smsc_host,
            settings.smsc_port,
            settings.smsc_system_id,
            settings.smsc_password,
            settings.sms_source_address,
        )
    return FileGateway(settings.sms_file)


def client_reference(message_id: int, part: int = 1, parts: int = 1) -> str:
    """The idempotency reference of a message (or of one part of a long one)."""
    return f"realname:{message_id}" if parts == 1 else f"realname:{message_id}:{part}/{parts}"


# --- file ----------------------------------------------------------------------------------


class FileGateway:
    """Appends `{"id", "destination", "kind", "body", "at"}` lines to `path` (mode 0600).

    The file is the delivery record, so the destination is there in full; it is never logged.
    Safe for several senders (threads or processes) on one file: check-and-append happens under
    an exclusive `flock`, after catching up with lines others appended.
    """

    name = "file"

    def __init__(self, path: str | Path, *, clock: Callable[[], datetime] | None = None) -> None:
        self.path = Path(path)
        self._clock = clock or SystemClock().now
        self._fd: int | None = None
        self._closed = False
        self._index: dict[int, str] = {}
        self._offset = 0  # everything before it is in the index
        self._lock = threading.Lock()
        # A file that cannot be opened (missing directory, no permission, full disk) is the
        # gateway being down, as a dead SMSC port is: the sender records the attempt and
        # pauses, and the next send tries to open it again.
        with contextlib.suppress(TemporaryGatewayError), self._locked():
            self._catch_up()

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as error:
            raise TemporaryGatewayError(
                f"cannot open the SMS file: {error.strerror}", code="file:open", gateway_down=True
            ) from None

    @staticmethod
    def message_id_for(outbox_id: int) -> str:
        return f"file:{outbox_id}"

    def send(self, message: OutgoingMessage) -> str:
        if not _E164.fullmatch(message.destination):
            raise PermanentGatewayError("destination is not an E.164 number", code="destination")
        with self._locked():
            self._catch_up()
            existing = self._index.get(message.id)
            if existing is not None:
                log.info("outbox message %d already in the file: not written again", message.id)
                return existing
            entry = {
                "id": message.id,
                "destination": message.destination,
                "kind": message.kind,
                "body": message.body,
                "at": self._clock().isoformat(),
            }
            data = (json.dumps(entry, ensure_ascii=False) + "\n").encode()
            self._write_all(data)
            self._offset += len(data)
            gateway_id = self.message_id_for(message.id)
            self._index[message.id] = gateway_id
            return gateway_id

    def sent_ids(self) -> set[int]:
        """Outbox ids in the file (as of the last send or open)."""
        return set(self._index)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> FileGateway:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _locked(self) -> Iterator[int]:
        with self._lock:
            if self._closed:
                raise TemporaryGatewayError("file gateway is closed", code="file:closed")
            if self._fd is None:
                self._fd = self._open()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield self._fd
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _catch_up(self) -> None:
        """Index what was appended since our last look; cut off a torn last line (a writer
        killed mid-line: we hold the lock, so no live writer is half-way through one)."""
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size < self._offset:  # truncated or replaced under us: start over
            self._index.clear()
            self._offset = 0
        if size == self._offset:
            return
        data = os.pread(self._fd, size - self._offset, self._offset)
        complete = data.rfind(b"\n") + 1
        for raw in data[:complete].splitlines():
            if not raw.strip():
                continue
            try:
                outbox_id = int(json.loads(raw)["id"])
            except (ValueError, KeyError, TypeError):
                log.warning("unreadable line in the SMS file skipped")
                continue
            self._index[outbox_id] = self.message_id_for(outbox_id)
        if complete < len(data):
            log.warning("torn last line in the SMS file cut off (a sender died mid-write)")
            os.ftruncate(self._fd, self._offset + complete)
        self._offset += complete

    def _write_all(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as error:
            raise TemporaryGatewayError(
                f"cannot write the SMS file: {error.strerror}", code="file:write"
            ) from None


# --- SMPP ----------------------------------------------------------------------------------

CLIENT_REFERENCE_TAG = 0x1501  # in 0x1400-0x3FFF, SMPP 3.4's vendor-specific TLV range
_SMPPLIB_LOGGER = "smpplib.client.realname"

ESME_ROK = smpplib.consts.SMPP_ESME_ROK
# Retrying cannot help: the destination or the message itself is refused.
PERMANENT_STATUSES = frozenset(
    {
        smpplib.consts.SMPP_ESME_RINVDSTADR,
        smpplib.consts.SMPP_ESME_RINVDSTTON,
        smpplib.consts.SMPP_ESME_RINVDSTNPI,
        smpplib.consts.SMPP_ESME_RINVMSGLEN,
        smpplib.consts.SMPP_ESME_RINVESMCLASS,
        smpplib.consts.SMPP_ESME_RX_P_APPN,
        smpplib.consts.SMPP_ESME_RX_R_APPN,
    }
)
# The SMSC pushes back as a whole: pause the sender instead of trying the next message.
PUSHBACK_STATUSES = frozenset(
    {smpplib.consts.SMPP_ESME_RTHROTTLED, smpplib.consts.SMPP_ESME_RMSGQFUL}
)


def status_error(status: int) -> TemporaryGatewayError | PermanentGatewayError:
    """The error for a non-zero SMPP command_status (description from smpplib)."""
    code = f"smpp:0x{status:08x}"
    text = str(smpplib.consts.DESCRIPTIONS.get(status, "unknown status"))
    if status in PERMANENT_STATUSES:
        return PermanentGatewayError(text, code=code)
    return TemporaryGatewayError(text, code=code, gateway_down=status in PUSHBACK_STATUSES)


class ReferencedSubmitSM(smpplib.command.SubmitSM):  # type: ignore[misc]
    """smpplib's submit_sm plus one vendor-specific TLV: the client reference.

    smpplib only knows the standard optional parameters, so the TLV is appended to the body it
    generates, and picked out of the optional parameters before smpplib parses the rest.
    """

    client_reference: str | None = None
    reference_tag: int = CLIENT_REFERENCE_TAG

    def generate_params(self) -> bytes:
        body: bytes = super().generate_params()
        if self.client_reference:
            value = self.client_reference.encode("ascii") + b"\0"
            body += struct.pack(">HH", self.reference_tag, len(value)) + value
        return body

    def parse_optional_params(self, data: bytes) -> None:
        rest = bytearray()
        pos = 0
        while pos + 4 <= len(data):
            tag, length = struct.unpack_from(">HH", data, pos)
            chunk = data[pos : pos + 4 + length]
            if tag == self.reference_tag:
                self.client_reference = chunk[4:].rstrip(b"\0").decode("ascii", "replace")
            else:
                rest += chunk
            pos += 4 + length
        if rest:
            super().parse_optional_params(bytes(rest))


class _LinkLostError(Exception):
    """The SMPP session broke; `retryable`: a fresh connection may well work at once."""

    def __init__(self, reason: str, *, retryable: bool = True) -> None:
        super().__init__(reason)
        self.retryable = retryable


def smpp_address(address: str) -> tuple[str, int, int]:
    """(address, TON, NPI): `+86…` international/ISDN, digits unknown/ISDN, else alphanumeric."""
    if address.startswith("+") and address[1:].isdigit():
        return address[1:], smpplib.consts.SMPP_TON_INTL, smpplib.consts.SMPP_NPI_ISDN
    if address.isdigit():
        return address, smpplib.consts.SMPP_TON_UNK, smpplib.consts.SMPP_NPI_ISDN
    return address, smpplib.consts.SMPP_TON_ALNUM, smpplib.consts.SMPP_NPI_UNK


# A concatenated part carries a 7-octet user data header: the 16-bit-reference concatenation
# element (3GPP TS 23.040 §9.2.3.24.8, IEI 0x08): 06 08 04 <ref hi> <ref lo> <parts> <part>.
_UDH_LENGTH = 7
_GSM_SINGLE, _GSM_PART = 160, 152  # septets; 7 header octets are exactly 8 septets
_UCS2_SINGLE, _UCS2_PART = 140, 132  # octets; 140 - 7, rounded down to whole characters


def concatenation_reference(message_id: int) -> int:
    """The 16-bit concatenation reference of an outbox message. A handset joins parts by
    (sender, reference): two long messages to one number in flight together must not share
    one. Ids 65,536 apart are the only ones that do (with an 8-bit reference, ids 256 apart
    did); derived from the id, not drawn at random, so parts re-sent after a crash join the
    parts already delivered."""
    return message_id % 65_536


def _chunks(encoded: bytes, size: int, ucs2: bool) -> list[bytes]:
    """`encoded` cut into parts of at most `size` octets, never inside a character: not
    between a GSM escape (0x1B) and the character it escapes, nor between the two halves of
    a UTF-16 surrogate pair."""
    chunks, start = [], 0
    while start < len(encoded):
        end = min(start + size, len(encoded))
        if end < len(encoded):
            if ucs2 and 0xD8 <= encoded[end - 2] <= 0xDB:
                end -= 2
            elif not ucs2 and encoded[end - 1] == 0x1B:
                end -= 1
        chunks.append(encoded[start:end])
        start = end
    return chunks


def encode_parts(message_id: int, body: str) -> tuple[list[bytes], int, int]:
    """(short_message parts, data_coding, esm_class): GSM 7-bit when every character has one,
    else UCS-2 (Chinese); long texts split with a 16-bit concatenation reference derived from
    the outbox id (`concatenation_reference`), so re-sent parts still join."""
    try:
        encoded = smpplib.gsm.gsm_encode(body)
        coding, single, size, ucs2 = (
            smpplib.consts.SMPP_ENCODING_DEFAULT,
            _GSM_SINGLE,
            _GSM_PART,
            False,
        )
    except UnicodeError:
        encoded = body.encode("utf-16-be")
        coding, single, size, ucs2 = (
            smpplib.consts.SMPP_ENCODING_ISO10646,
            _UCS2_SINGLE,
            _UCS2_PART,
            True,
        )
    if len(encoded) <= single:
        return [encoded], int(coding), int(smpplib.consts.SMPP_MSGTYPE_DEFAULT)
    chunks = _chunks(encoded, size, ucs2)
    if len(chunks) > 255:
        raise PermanentGatewayError("message too long (over 255 parts)", code="length")
    reference = concatenation_reference(message_id).to_bytes(2, "big")
    header = bytes([_UDH_LENGTH - 1, 0x08, 4]) + reference + bytes([len(chunks)])
    parts = [header + bytes([n]) + chunk for n, chunk in enumerate(chunks, start=1)]
    return parts, int(coding), int(smpplib.consts.SMPP_GSMFEAT_UDHI)


class SmppGateway:
    """An ESME bound as a transmitter to one SMSC; one submit at a time, each awaited.

    Binds on first use and keeps the session; if it broke while idle the submission is retried
    once on a fresh session (safe: the SMSC de-duplicates on the client reference), otherwise a
    lost session is a `TemporaryGatewayError` with `gateway_down` and the next send reconnects.
    An idle session is probed with enquire_link before use.
    """

    name = "smpp"

    def __init__(
        self,
        host: str,
        port: int,
        system_id: str,
        password: str,
        source_addr: str,
        *,
        system_type: str = "",
        timeout: float = 10.0,
        reference_tag: int = CLIENT_REFERENCE_TAG,
        enquire_after: float = 30.0,
    ) -> None:
        self.host, self.port = host, int(port)
        self.system_id, self.password, self.system_type = system_id, password, system_type
        self.source_addr = source_addr
        self.timeout = timeout
        self.reference_tag = reference_tag
        self.enquire_after = enquire_after
        self._client: Any = None
        self._last_io = 0.0
        self._lock = threading.Lock()
        # smpplib logs a hex dump of every PDU at DEBUG: numbers and texts. Never emit those.
        logging.getLogger(_SMPPLIB_LOGGER).setLevel(logging.INFO)

    def send(self, message: OutgoingMessage) -> str:
        if not _E164.fullmatch(message.destination):
            raise PermanentGatewayError("destination is not an E.164 number", code="destination")
        parts, data_coding, esm_class = encode_parts(message.id, message.body)
        references = [client_reference(message.id, i, len(parts)) for i in range(1, len(parts) + 1)]
        with self._lock:
            for attempt in (1, 2):
                reused = self._client is not None
                try:
                    client = self._session()
                    ids = [
                        self._submit(client, message.destination, part, data_coding, esm_class, ref)
                        for part, ref in zip(parts, references, strict=True)
                    ]
                    return ids[0]
                except _LinkLostError as lost:
                    self._drop()
                    if attempt == 1 and reused and lost.retryable:
                        log.info("SMPP session lost (%s); submitting again on a new one", lost)
                        continue
                    raise TemporaryGatewayError(
                        f"SMPP session lost: {lost}", code="connection", gateway_down=True
                    ) from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Unbind and disconnect (errors ignored: we are leaving anyway)."""
        with self._lock:
            client = self._client
            if client is None:
                return
            with contextlib.suppress(
                _LinkLostError, smpplib.exceptions.PDUError, smpplib.exceptions.ConnectionError
            ):
                client.send_pdu(smpplib.smpp.make_pdu("unbind", client=client))
                self._await(client, client.sequence, "unbind_resp", wait=1.0)
            self._drop()

    def __enter__(self) -> SmppGateway:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- session --------------------------------------------------------------------------

    def _session(self) -> Any:
        client = self._client
        if client is not None and time.monotonic() - self._last_io > self.enquire_after:
            try:
                client.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=client))
                self._await(client, client.sequence, "enquire_link_resp")
            except (_LinkLostError, smpplib.exceptions.ConnectionError):
                # retryable whatever the cause: a fresh session is exactly what is needed
                raise _LinkLostError("idle session did not answer enquire_link") from None
        if client is None:
            client = self._bind()
        return client

    def _bind(self) -> Any:
        client = smpplib.client.Client(
            self.host,
            self.port,
            timeout=self.timeout,
            logger_name=_SMPPLIB_LOGGER,
            allow_unknown_opt_params=True,
        )
        try:
            client.connect()
            client.bind_transmitter(
                system_id=self.system_id, password=self.password, system_type=self.system_type
            )
        except smpplib.exceptions.PDUError as error:
            status = error.args[1] if len(error.args) > 1 else 0
            client.disconnect()
            raise TemporaryGatewayError(
                f"SMSC refused the bind: {smpplib.consts.DESCRIPTIONS.get(status, 'error')}",
                code=f"bind:0x{status:08x}",
                gateway_down=True,
            ) from None
        except (smpplib.exceptions.ConnectionError, OSError):
            client.disconnect()
            raise TemporaryGatewayError(
                "cannot connect to the SMSC", code="connection", gateway_down=True
            ) from None
        log.info("bound to the SMSC as a transmitter")
        self._client = client
        self._last_io = time.monotonic()
        return client

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.state = smpplib.consts.SMPP_CLIENT_STATE_OPEN  # no "bound" warning
            client.disconnect()

    # --- PDUs -----------------------------------------------------------------------------

    def _submit(
        self,
        client: Any,
        destination: str,
        part: bytes,
        data_coding: int,
        esm_class: int,
        reference: str,
    ) -> str:
        source, source_ton, source_npi = smpp_address(self.source_addr)
        dest, dest_ton, dest_npi = smpp_address(destination)
        pdu = ReferencedSubmitSM(
            "submit_sm",
            client=client,
            source_addr_ton=source_ton,
            source_addr_npi=source_npi,
            source_addr=source,
            dest_addr_ton=dest_ton,
            dest_addr_npi=dest_npi,
            destination_addr=dest,
            esm_class=esm_class,
            data_coding=data_coding,
            short_message=part,
            registered_delivery=0,
            client_reference=reference,
        )
        pdu.reference_tag = self.reference_tag
        try:
            client.send_pdu(pdu)
        except smpplib.exceptions.ConnectionError:
            raise _LinkLostError("cannot write to the SMSC") from None
        response = self._await(client, pdu.sequence, "submit_sm_resp")
        status = int(response.status)
        if status == smpplib.consts.SMPP_ESME_RINVBNDSTS:
            raise _LinkLostError("SMSC says we are not bound")
        if status != ESME_ROK:
            raise status_error(status)
        message_id = response.message_id
        if isinstance(message_id, bytes):
            message_id = message_id.decode("ascii", "replace")
        return str(message_id or "")

    def _await(self, client: Any, sequence: int, command: str, wait: float | None = None) -> Any:
        """Read PDUs until the response to `sequence`; answer the SMSC's own requests."""
        give_up = time.monotonic() + (self.timeout if wait is None else wait)
        while True:
            if time.monotonic() > give_up:
                raise _LinkLostError("no response from the SMSC in time", retryable=False)
            try:
                pdu = client.read_pdu()
            except TimeoutError:
                raise _LinkLostError("no response from the SMSC in time", retryable=False) from None
            except (
                smpplib.exceptions.ConnectionError,
                smpplib.exceptions.PDUError,
                smpplib.exceptions.UnknownCommandError,
                OSError,
            ):
                raise _LinkLostError("connection to the SMSC lost") from None
            self._last_io = time.monotonic()
            if pdu.sequence == sequence and pdu.command in (command, "generic_nack"):
                return pdu
            if pdu.command == "enquire_link":
                self._answer(client, "enquire_link_resp", pdu.sequence)
            elif pdu.command == "unbind":
                self._answer(client, "unbind_resp", pdu.sequence)
                raise _LinkLostError("SMSC unbound the session")
            elif pdu.command == "deliver_sm":
                self._answer(client, "deliver_sm_resp", pdu.sequence)
            # anything else (a late answer to an abandoned request) is ignored

    @staticmethod
    def _answer(client: Any, command: str, sequence: int) -> None:
        response = smpplib.smpp.make_pdu(command, client=client)
        response.sequence = sequence
        try:
            client.send_pdu(response)
        except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError):
            raise _LinkLostError("connection to the SMSC lost") from None
