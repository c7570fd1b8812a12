"""The file sink and the SMPP gateway (against the stub SMSC on loopback)."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import smpplib.consts

from realname.config import Settings
from realname.messaging.errors import PermanentGatewayError, TemporaryGatewayError
from realname.messaging.gateways import (
    FileGateway,
    SmppGateway,
    concatenation_reference,
    encode_parts,
    gateway_from_settings,
)
from realname.messaging.schemas import OutgoingMessage
from realname.messaging.smsc_stub import StubSmsc

CHINESE = (
    "【中国移动】尊敬的客户：根据实名制规定，您的号码须于12月31日前补登记，"
    "请携带身份证到营业厅办理。"
)
LONG = (
    "根据《电话用户真实身份信息登记规定》，逾期未补登记的号码将依次被限制呼出、限制呼入直至停机。"
) * 5


def _message(
    n: int = 1, body: str = CHINESE, destination: str = "+8613800138000"
) -> OutgoingMessage:
    return OutgoingMessage(id=n, destination=destination, kind="backfill_remind", body=body)


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --- file ----------------------------------------------------------------------------------


def test_file_gateway_writes_one_json_line_per_message_and_never_twice(tmp_path: Path) -> None:
    sink = tmp_path / "var" / "sms.jsonl"
    with FileGateway(sink) as gateway:
        first = gateway.send(_message(1))
        assert gateway.send(_message(1)) == first  # a re-send after a crash: same id, no line
        gateway.send(_message(2, body="second"))
    with FileGateway(sink) as reopened:  # a restarted sender: the index is rebuilt on open
        assert reopened.send(_message(1)) == first
        assert reopened.sent_ids() == {1, 2}
    lines = _lines(sink)
    assert [line["id"] for line in lines] == [1, 2]
    assert set(lines[0]) == {"id", "destination", "kind", "body", "at"}
    assert lines[0]["destination"] == "+8613800138000" and lines[0]["body"] == CHINESE
    assert stat.S_IMODE(os.stat(sink).st_mode) == 0o600  # the record holds numbers


def test_file_gateway_cuts_a_line_torn_by_a_crash(tmp_path: Path) -> None:
    sink = tmp_path / "sms.jsonl"
    with FileGateway(sink) as gateway:
        gateway.send(_message(1))
    with sink.open("ab") as raw:
        raw.write(b'{"id": 2, "destination": "+86138')  # killed mid-write
    with FileGateway(sink) as gateway:
        gateway.send(_message(2))
        gateway.send(_message(3))
    assert [line["id"] for line in _lines(sink)] == [1, 2, 3]


def test_file_gateways_sharing_a_file_write_each_message_once(tmp_path: Path) -> None:
    sink = tmp_path / "sms.jsonl"
    gateways = [FileGateway(sink) for _ in range(4)]
    barrier = threading.Barrier(len(gateways))

    def send_all(gateway: FileGateway) -> None:
        barrier.wait()
        for n in range(50):
            gateway.send(_message(n))

    threads = [threading.Thread(target=send_all, args=(g,)) for g in gateways]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for gateway in gateways:
        gateway.close()
    assert sorted(line["id"] for line in _lines(sink)) == list(range(50))  # type: ignore[type-var]


def test_a_file_that_cannot_be_opened_is_the_gateway_down_until_it_can(tmp_path: Path) -> None:
    """A missing directory or a path under a file is an SMSC that does not answer: a
    temporary, gateway-wide error (the sender records it and pauses), not a crash at start."""
    blocker = tmp_path / "var"
    blocker.write_text("")  # a file where the directory should be
    gateway = FileGateway(blocker / "sms.jsonl")
    with pytest.raises(TemporaryGatewayError) as caught:
        gateway.send(_message(1))
    assert caught.value.gateway_down and caught.value.code == "file:open"
    assert str(tmp_path) not in str(caught.value)
    blocker.unlink()  # the operator fixes it; the running gateway recovers
    assert gateway.send(_message(1)) == "file:1"
    gateway.close()
    with pytest.raises(TemporaryGatewayError):
        gateway.send(_message(2))
    assert [line["id"] for line in _lines(blocker / "sms.jsonl")] == [1]


def test_file_gateway_refuses_a_destination_that_is_not_e164(tmp_path: Path) -> None:
    with FileGateway(tmp_path / "sms.jsonl") as gateway, pytest.raises(PermanentGatewayError):
        gateway.send(_message(destination="13800138000"))


def test_gateway_from_settings(tmp_path: Path) -> None:
    file_gateway = gateway_from_settings(Settings(sms_file=str(tmp_path / "s.jsonl")))
    assert isinstance(file_gateway, FileGateway)
    file_gateway.close()
    smpp = gateway_from_settings(Settings(sms_gateway="smpp", smsc_port=2776))
    assert isinstance(smpp, SmppGateway) and smpp.port == 2776
    smpp.close()


# --- SMPP ----------------------------------------------------------------------------------


@pytest.fixture
def smsc() -> StubSmsc:
    with StubSmsc(password="secret") as stub:
        yield stub  # type: ignore[misc]


def _gateway(smsc: StubSmsc, **kw: object) -> SmppGateway:
    options: dict[str, object] = {"timeout": 5.0}
    options.update(kw)
    return SmppGateway("127.0.0.1", smsc.port, "realname", "secret", "10690000", **options)  # type: ignore[arg-type]


def test_a_chinese_message_arrives_intact_as_ucs2(smsc: StubSmsc) -> None:
    with _gateway(smsc) as gateway:
        message_id = gateway.send(_message(1))
    (delivery,) = smsc.deliveries
    assert delivery.message_id == message_id
    assert delivery.text == CHINESE
    assert delivery.data_coding == smpplib.consts.SMPP_ENCODING_ISO10646
    assert (delivery.destination, delivery.source) == ("8613800138000", "10690000")
    assert delivery.reference == "realname:1"
    assert delivery.concat is None


def test_a_long_message_is_split_and_reassembles(smsc: StubSmsc) -> None:
    parts, _coding, _esm = encode_parts(300, LONG)
    assert len(parts) > 1
    with _gateway(smsc) as gateway:
        first_id = gateway.send(_message(300, body=LONG))
    deliveries = smsc.deliveries
    assert len(deliveries) == len(parts)
    assert first_id == deliveries[0].message_id
    assert [d.concat for d in deliveries] == [
        (300, len(parts), i) for i in range(1, len(parts) + 1)
    ]
    assert [d.reference for d in deliveries] == [
        f"realname:300:{i}/{len(parts)}" for i in range(1, len(parts) + 1)
    ]
    (whole,) = smsc.messages()
    assert whole.text == LONG and whole.parts == len(parts)


def test_two_long_messages_to_one_number_never_share_a_reference(smsc: StubSmsc) -> None:
    """Ids 256 apart shared an 8-bit reference (id mod 256): the handset joined parts of two
    messages into one. The 16-bit reference (IEI 0x08) keeps them apart."""
    other = LONG.replace("号码", "手机")
    assert len(encode_parts(5, LONG)[0]) == len(encode_parts(261, other)[0]) > 1
    with _gateway(smsc) as gateway:
        gateway.send(_message(5, body=LONG))
        gateway.send(_message(261, body=other))
    references = {d.concat[0] for d in smsc.deliveries if d.concat}
    assert references == {5, 261}
    assert sorted(m.text for m in smsc.messages()) == sorted([LONG, other])
    assert concatenation_reference(5) != concatenation_reference(5 + 256)
    assert concatenation_reference(5) == concatenation_reference(5 + 65_536)  # 16 bits


@pytest.mark.parametrize(
    "body",
    [
        "€" * 200,  # GSM: every character an escape pair, never cut in two
        "a" + "€" * 200,
        "😀" * 100,  # UCS-2: surrogate pairs, never cut in two
        "中" + "😀" * 100,
        "x" * 161,
        "中" * 71,
    ],
)
def test_parts_fit_an_sms_and_join_back(body: str) -> None:
    from realname.messaging.smsc_stub import decode_text, split_udh

    parts, coding, esm = encode_parts(77, body)
    assert len(parts) > 1 and esm & smpplib.consts.SMPP_GSMFEAT_UDHI
    payloads = []
    for n, part in enumerate(parts, start=1):
        assert len(part) <= 140 if coding else len(part) <= 160
        concat, payload = split_udh(part, esm)
        assert concat == (77, len(parts), n)
        payloads.append(payload)
        decode_text(payload, coding)  # each part decodes on its own ...
        assert not payload.endswith(b"\x1b")  # ... and no GSM escape is cut from its character
    assert decode_text(b"".join(payloads), coding) == body


def test_gsm_text_goes_as_gsm_7bit(smsc: StubSmsc) -> None:
    text = "RealName: please re-register your SIM by 31 Dec @ any shop."
    with _gateway(smsc) as gateway:
        gateway.send(_message(5, body=text))
    (delivery,) = smsc.deliveries
    assert delivery.data_coding == smpplib.consts.SMPP_ENCODING_DEFAULT
    assert delivery.text == text


def test_a_resubmission_is_answered_with_the_first_message_id_and_not_delivered(
    smsc: StubSmsc,
) -> None:
    with _gateway(smsc) as gateway:
        first = gateway.send(_message(9))
    with _gateway(smsc) as restarted:  # a new session, as after a crash
        again = restarted.send(_message(9))
        long_first = restarted.send(_message(10, body=LONG))
        long_again = restarted.send(_message(10, body=LONG))
    assert again == first and long_again == long_first
    assert len(smsc.messages()) == 2
    assert smsc.duplicates[0] == ("realname:9", first)
    assert len(smsc.duplicates) == 1 + len(encode_parts(10, LONG)[0])


def test_an_invalid_destination_is_permanent_and_not_quoted(smsc: StubSmsc) -> None:
    smsc.responder = lambda dest, _ref: smpplib.consts.SMPP_ESME_RINVDSTADR
    with _gateway(smsc) as gateway, pytest.raises(PermanentGatewayError) as caught:
        gateway.send(_message(1, destination="+8613800138000"))
    assert caught.value.code == "smpp:0x0000000b"
    assert "13800138000" not in caught.value.record
    assert smsc.deliveries == []


def test_throttling_is_temporary_and_pauses_the_sender(smsc: StubSmsc) -> None:
    smsc.responder = lambda _dest, _ref: smpplib.consts.SMPP_ESME_RTHROTTLED
    with _gateway(smsc) as gateway:
        with pytest.raises(TemporaryGatewayError) as caught:
            gateway.send(_message(1))
        assert caught.value.gateway_down and caught.value.code == "smpp:0x00000058"
        smsc.responder = None
        gateway.send(_message(1))  # the same session goes on
    assert len(smsc.deliveries) == 1


def test_a_system_error_is_temporary_for_that_message_only(smsc: StubSmsc) -> None:
    smsc.responder = lambda _dest, _ref: smpplib.consts.SMPP_ESME_RSYSERR
    with _gateway(smsc) as gateway, pytest.raises(TemporaryGatewayError) as caught:
        gateway.send(_message(1))
    assert not caught.value.gateway_down


def test_a_dropped_session_is_reopened_and_the_message_sent(smsc: StubSmsc) -> None:
    with _gateway(smsc) as gateway:
        gateway.send(_message(1))
        smsc.drop_connections()  # the SMSC restarted, or a firewall cut the idle session
        gateway.send(_message(2))
    assert [d.reference for d in smsc.deliveries] == ["realname:1", "realname:2"]


def test_an_idle_session_is_probed_and_replaced_when_dead(smsc: StubSmsc) -> None:
    with _gateway(smsc, enquire_after=0.0) as gateway:
        gateway.send(_message(1))
        gateway.send(_message(2))  # probed with enquire_link first: alive
        smsc.drop_connections()
        gateway.send(_message(3))  # probe fails: a new session
    assert [d.reference for d in smsc.deliveries] == [f"realname:{n}" for n in (1, 2, 3)]


def test_no_answer_in_time_is_temporary_and_the_retry_is_recognised(smsc: StubSmsc) -> None:
    smsc.submit_delay = 1.0
    with _gateway(smsc, timeout=0.3) as gateway:
        with pytest.raises(TemporaryGatewayError) as caught:
            gateway.send(_message(1))  # accepted by the SMSC, answer too late
        assert caught.value.gateway_down
        smsc.submit_delay = 0.0
        again = gateway.send(_message(1))
    (delivery,) = smsc.deliveries
    assert again == delivery.message_id
    assert smsc.duplicates == [("realname:1", delivery.message_id)]


def test_an_unreachable_smsc_is_a_gateway_down_error() -> None:
    stub = StubSmsc().start()
    port = stub.port
    stub.stop()
    gateway = SmppGateway("127.0.0.1", port, "realname", "", "10690000", timeout=2)
    with pytest.raises(TemporaryGatewayError) as caught:
        gateway.send(_message(1))
    assert caught.value.gateway_down and caught.value.code == "connection"
    gateway.close()


def test_a_wrong_password_is_reported_as_a_refused_bind(smsc: StubSmsc) -> None:
    gateway = _gateway(smsc)
    gateway.password = "wrong"
    with pytest.raises(TemporaryGatewayError) as caught:
        gateway.send(_message(1))
    assert caught.value.gateway_down and caught.value.code == "bind:0x0000000e"
    gateway.close()


def test_no_number_and_no_text_reach_the_logs(
    smsc: StubSmsc, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("smpplib").setLevel(logging.DEBUG)
    try:
        with _gateway(smsc) as gateway:
            gateway.send(_message(1, body=LONG, destination="+8613912345678"))
            smsc.drop_connections()
            gateway.send(_message(2, body=LONG, destination="+8613912345678"))
    finally:
        logging.getLogger("smpplib").setLevel(logging.NOTSET)
    assert caplog.records  # something was logged: binds, reconnects
    logged = caplog.text
    for secret in ("13912345678", b"3912345678".hex(), LONG[:10], "实名"):
        assert secret not in logged


def test_the_stub_runs_as_its_own_process(tmp_path: Path) -> None:
    record = tmp_path / "smsc.jsonl"
    command = [sys.executable, "-m", "realname.messaging.smsc_stub", "--port", "0"]
    process = subprocess.Popen(  # noqa: S603 (our own module, argv list, no shell)
        [*command, "--record", str(record)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        port = int(banner.rsplit(":", 1)[1])
        with SmppGateway("127.0.0.1", port, "realname", "", "10690000") as gateway:
            gateway.send(_message(1))
            gateway.send(_message(1))
        process.terminate()
        out, _err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    assert process.returncode == 0
    assert "1 accepted, 1 duplicates" in out
    entries = _lines(record)
    assert entries[0]["text"] == CHINESE and entries[0]["reference"] == "realname:1"
    assert entries[1] == {"duplicate": True, "reference": "realname:1", "id": entries[0]["id"]}
