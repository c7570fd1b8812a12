"""Every `realname` command, run as a user runs it: a subprocess on a fresh SQLite database,
with its success path and its failure paths (unknown ids, a dead SMSC, a missing schema, bad
keys). None may print a traceback; each must end with a sensible exit code.

`test_every_command_is_exercised` walks the command tree, so a new command fails it until it
is added here. Independent chains of invocations run concurrently to keep this fast.
"""

from __future__ import annotations

import compileall
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer.main
from sqlalchemy import select
from sqlalchemy.orm import Session

import realname
from realname.cli import app
from realname.config import Settings
from realname.db.engine import create_engine_from_settings
from realname.messaging.models import OutboxMessage
from realname.messaging.service import enqueue
from realname.registry.models import Enterprise, Line
from realname.tables import load_all_models

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
GOOD_ID = "11010519491231002X"
QUEUED_AT = datetime(2001, 1, 1, tzinfo=UTC)  # due at any machine date


def command_paths() -> set[tuple[str, ...]]:
    """Every leaf command of `realname`, as the words that name it."""
    paths: set[tuple[str, ...]] = set()

    def walk(command: Any, path: tuple[str, ...], ctx: Any) -> None:
        # Typer 0.29 builds its groups on its own copy of click (typer._click), so they are
        # not click.Group: asking isinstance() found no group and walked nothing at all.
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                walk(sub, (*path, name), type(ctx)(sub, parent=ctx))
        else:
            paths.add(path)

    root = typer.main.get_command(app)
    walk(root, (), root.context_class(root))
    # Far more than the root alone: a walk that finds nothing must not pass for "all covered".
    assert len(paths) > 40 and () not in paths, sorted(paths)
    return paths


def dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Cli:
    tmp: Path
    env: dict[str, str]
    invoked: set[tuple[str, ...]] = field(default_factory=set)
    timings: list[tuple[float, str]] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        return self.env["REALNAME_DATABASE_URL"]

    def run(
        self, *args: str, expect: int | Sequence[int], says: str = "", **env: str
    ) -> subprocess.CompletedProcess[str]:
        self.invoked.add(tuple(args))
        started = time.monotonic()
        done = subprocess.run(  # noqa: S603 (our own command, fixed arguments)
            [sys.executable, "-m", "realname", *args],
            env=self.env | env,
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        self.timings.append((time.monotonic() - started, " ".join(args)))
        output = done.stdout + done.stderr
        where = f"realname {' '.join(args)} -> {done.returncode}\n{output[-3000:]}"
        assert "Traceback" not in output, where
        allowed = (expect,) if isinstance(expect, int) else tuple(expect)
        assert done.returncode in allowed, where
        assert says in " ".join(output.split()), where
        return done

    def popen(self, *args: str, **env: str) -> subprocess.Popen[str]:
        self.invoked.add(tuple(args))
        return subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "realname", *args],
            env=self.env | env,
            cwd=self.tmp,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def outbox(self) -> list[OutboxMessage]:
        engine = create_engine_from_settings(Settings(database_url=self.database_url))
        with Session(engine) as session:
            rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        engine.dispose()
        return rows

    def enqueue(self, *numbers: int) -> None:
        engine = create_engine_from_settings(Settings(database_url=self.database_url))
        with Session(engine) as session, session.begin():
            enterprise_id = session.scalar(select(Enterprise.id).where(Enterprise.code == "CMCC"))
            assert enterprise_id is not None
            for n in numbers:
                enqueue(
                    session,
                    dedupe_key=f"cli-test:{n}",
                    enterprise_id=enterprise_id,
                    line_id=None,
                    destination=f"+86139{n:08d}",
                    kind="backfill_remind",
                    body=f"reminder {n}",
                    at=QUEUED_AT,
                )
        engine.dispose()


# --- the chains: each runs in order; chains run side by side ----------------------------------


def chain_db(cli: Cli) -> None:
    cli.run("--help", expect=0, says="clients")
    cli.run("db", "current", expect=0, says="head 0")
    cli.run("db", "upgrade", "no-such-revision", expect=1, says="cannot upgrade")
    empty = f"sqlite:///{cli.tmp / 'empty.db'}"
    cli.run("db", "current", expect=1, says="current (empty)", REALNAME_DATABASE_URL=empty)
    cli.run("check", expect=1, says="run `realname db upgrade`", REALNAME_DATABASE_URL=empty)
    bad_url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    cli.run("clients", "list", expect=1, says="database error", REALNAME_DATABASE_URL=bad_url)


def chain_id(cli: Cli) -> None:
    cli.run("id", "check", GOOD_ID, "--json", expect=0, says='"valid": true')
    cli.run("id", "check", "110105194912310021", expect=1, says="invalid")


def chain_clients(cli: Cli) -> None:
    added = cli.run("clients", "add", "--role", "regulator", expect=0)
    client_id = json.loads(added.stdout)["client_id"]
    cli.run("clients", "revoke", client_id, expect=0, says="revoked")
    listed = cli.run("clients", "list", expect=0)
    assert "revoked" in listed.stdout and "active" not in listed.stdout
    cli.run("clients", "revoke", client_id, expect=1, says="no such active client")
    cli.run("clients", "revoke", "no-such-client", expect=1, says="no such active client")
    cli.run("clients", "add", "--role", "clerk", "--enterprise", "CMCC", expect=2, says="needs")
    cli.run("clients", "add", "--role", "clerk", "--enterprise", "NOPE", expect=2, says="NOPE")
    cli.run("relying-parties", "add", "--name", "Bank", "--purpose", "kyc", "--apis", "kyc-match",
            expect=0, says="shown once")  # fmt: skip
    cli.run("relying-parties", "add", "--name", "Bank", "--purpose", "kyc", "--apis", "bogus",
            expect=2, says="bogus")  # fmt: skip


def chain_demo(cli: Cli) -> None:
    demo = f"sqlite:///{cli.tmp / 'demo.db'}"
    cli.run("demo", "--lines", "100", "--database-url", demo, "--no-serve", expect=0,
            says="no violations")  # fmt: skip
    cli.run("check", expect=0, says="no violations", REALNAME_DATABASE_URL=demo)
    cli.run("audit", "sequence", expect=0, says="chained 0 pending", REALNAME_DATABASE_URL=demo)
    # the demo world has channels and clerks: clerk 1 works at channel 1, both of CMCC
    clerk = ("clients", "add", "--role", "clerk", "--enterprise", "CMCC", "--clerk", "1")
    cli.run(*clerk, "--channel", "2", expect=2, says="clerk 1 works at channel 1",
            REALNAME_DATABASE_URL=demo)  # fmt: skip
    cli.run(*clerk, "--channel", "999", expect=2, says="no channel 999",
            REALNAME_DATABASE_URL=demo)  # fmt: skip
    made = cli.run(*clerk, "--channel", "1", expect=0, says="client_secret",
                   REALNAME_DATABASE_URL=demo)  # fmt: skip
    # a staff account for the web pages acts as that client
    staff = {"REALNAME_DATABASE_URL": demo, "REALNAME_STAFF_PASSWORD": "a long password"}
    client_id = json.loads(made.stdout)["client_id"]
    cli.run("staff", "add", "desk1", "--client", client_id, expect=0, says="acts as", **staff)
    cli.run("staff", "add", "desk2", "--client", "nope", expect=2, says="no such active API client",
            **staff)  # fmt: skip
    cli.run("staff", "list", expect=0, says="desk1", REALNAME_DATABASE_URL=demo)
    cli.run("staff", "disable", "desk1", expect=0, says="disabled", REALNAME_DATABASE_URL=demo)
    cli.run("staff", "disable", "desk1", expect=1, says="no active", REALNAME_DATABASE_URL=demo)


def chain_keys(cli: Cli) -> None:
    cli.run("keys", "add", expect=0, says="new active key: k2")
    cli.run("keys", "rotate", expect=0, says="all on key k2")
    cli.run("keys", "rotate-token", expect=0, says="new active token key: t2")
    cli.run("keys", "status", expect=0, says="token keys that verify: t1, t2")
    cli.run("keys", "retire-token", "t2", expect=1, says="is the active one")
    cli.run("keys", "retire-token", "t9", expect=1, says="no token key 't9'")
    cli.run("keys", "retire-token", "t1", expect=0, says="token key t1 removed")
    token_keys = json.dumps({"prod-1": "A" * 43 + "="})
    cli.run("keys", "rotate-token", expect=2, says="REALNAME_TOKEN_KEYS",
            REALNAME_TOKEN_KEYS=token_keys)  # fmt: skip
    cli.run("keys", "add", expect=2, says="REALNAME_PII_KEYS",
            REALNAME_PII_KEYS=json.dumps({"k1": "B" * 43 + "="}))  # fmt: skip
    cli.run("keys", "status", expect=1, says="key error", REALNAME_TOKEN_KEYS="{")


def chain_backfill(cli: Cli) -> None:
    start = ("backfill", "start", "--enterprise", "CMCC", "--starts-on", "2099-01-01")
    cli.run(*start, "--milestone", "2100-01-01:lots", expect=2, says="DATE:SHARE")
    cli.run(*start, "--deadline", "2099-02-01", expect=1, says="REALNAME.DEADLINE_TOO_SOON")
    cli.run(*start, "--deadline", "2102-01-01", "--milestone", "2101-01-01:20%",
            "--milestone", "2100-01-01:30%", expect=1, says="MILESTONES_INVALID")  # fmt: skip
    # Three years: the first bar on the deadline, termination the policy's 60 days after it.
    cli.run(*start, "--deadline", "2102-01-01", "--milestone", "2100-01-01:30%",
            "--milestone", "2102-01-01:100%", expect=0, says="2102-03-02")  # fmt: skip
    cli.run("backfill", "show", "--enterprise", "CMCC", expect=0, says="30% by 2100-01-01")
    cli.run("backfill", "show", "--enterprise", "NOPE", expect=1, says="no enterprise")
    cli.run("backfill", "amend", "--enterprise", "CMCC", "--deadline", "2102-06-01",
            "--reason", "regulator extension", expect=0, says="amendment 1")  # fmt: skip
    cli.run("backfill", "amend", "--enterprise", "CMCC", "--reason", "none",
            expect=1, says="REALNAME.NOTHING_TO_AMEND")  # fmt: skip
    cli.run("backfill", "start", "--enterprise", "NOPE", "--starts-on", "2026-01-01", expect=1,
            says="no enterprise")  # fmt: skip
    cli.run("backfill", "run", "--at", "2026-03-01T00:00:00+00:00", expect=0)
    cli.run("backfill", "progress", "--enterprise", "CMCC", expect=0)
    cli.run("channels", "risk", "--enterprise", "CMCC", expect=0)
    cli.run("channels", "risk", "--enterprise", "NOPE", expect=1, says="no enterprise")
    legacy = cli.tmp / "legacy.csv"
    legacy.write_text("msisdn,iccid\n")
    cli.run("import", "legacy", str(legacy), "--enterprise", "NOPE", expect=1, says="enterprise")


def chain_retention(cli: Cli) -> None:
    cli.run("retention", "run", "--dry-run", expect=0, says="0 identities due")
    cli.run("retention", "run", "--at", "2026-03-01T00:00:00+00:00", "--batch", "10", expect=0,
            says="0 identities purged")  # fmt: skip
    cli.run("retention", "run", expect=0, says="retention 730 days after termination")
    cli.run("retention", "run", "--at", "2999-01-01T00:00:00+00:00", expect=2,
            says="--at is in the future")  # fmt: skip


def chain_bench(cli: Cli) -> None:
    cli.run("bench", "id", "--n", "1000", "--rounds", "1", expect=0, says="ratio")
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{dead_port()}/postgres"
    for command in ("register", "verify", "import", "backfill"):
        cli.run("bench", command, "--admin-url", dead, expect=1, says="database error")


def chain_serve(cli: Cli) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        cli.run("serve", "--port", port, expect=3, says="address already in use")
    cli.run("serve", "--port", port, expect=1, says="key error",
            REALNAME_PII_KEYS=json.dumps({"k1": "A" * 43 + "="}),
            REALNAME_BLIND_INDEX_KEY="C" * 43 + "=")  # fmt: skip
    # Every key but the audit keys: refused at start, not a 500 on every write later.
    cli.run("serve", "--port", port, expect=1, says="REALNAME_AUDIT_KEYS",
            REALNAME_PII_KEYS=json.dumps({"k1": "A" * 43 + "="}),
            REALNAME_BLIND_INDEX_KEY="C" * 43 + "=",
            REALNAME_TOKEN_KEYS=json.dumps({"t1": "D" * 43 + "="}))  # fmt: skip
    remote = {"REALNAME_AUTHORITY": "http", "REALNAME_AUTHORITY_URL": "http://authority.example"}
    cli.run("serve", "--port", port, expect=1, says="authority error", **remote)
    cli.run("serve", "--port", port, expect=1, says="cannot load the certificate",
            REALNAME_TLS_CERT_FILE=str(cli.tmp / "none.pem"),
            REALNAME_TLS_KEY_FILE=str(cli.tmp / "none.key"))  # fmt: skip
    server = cli.popen("serve", "--port", port)
    try:
        ready, deadline = False, time.monotonic() + 90
        while not ready and time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    ready = r.status == 200
            except OSError:
                time.sleep(0.2)
        assert ready, "the server did not come up"
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    # Uvicorn shuts down cleanly, then re-raises the signal it caught: -SIGTERM is a clean stop
    assert "Traceback" not in output and "Application shutdown complete" in output, output[-2000:]
    assert server.returncode in (0, -signal.SIGTERM), output[-2000:]


def chain_messages(cli: Cli) -> None:
    smpp = {"REALNAME_SMS_GATEWAY": "smpp", "REALNAME_SMSC_PORT": str(dead_port())}
    cli.enqueue(1, 2)
    cli.run("messages", "send", "--batch", "10", expect=1, says="the gateway is unavailable",
            **smpp)  # fmt: skip
    # each failed send is recorded with its back-off (the sender paused between them), and
    # nothing stays claimed
    for row in cli.outbox():
        assert (row.status, row.attempts, row.claimed_by) == ("pending", 1, None)
        assert row.last_error is not None and row.last_error.startswith("connection")
        assert row.next_attempt_at > QUEUED_AT

    cli.enqueue(3)
    not_a_directory = cli.tmp / "a-file"
    not_a_directory.write_text("")
    cli.run("messages", "send", expect=1, says="the gateway is unavailable",
            REALNAME_SMS_FILE=str(not_a_directory / "sms.jsonl"))  # fmt: skip
    third = cli.outbox()[2]
    assert (third.attempts, third.claimed_by) == (1, None)
    assert third.last_error is not None and third.last_error.startswith("file:open")
    # All are backing off (>= 24 s): the sender sends none, but on a loaded machine the chain
    # can outlast a back-off (CI saw it at load 15), so it must send exactly those then due.
    backing_off = cli.outbox()
    started = datetime.now(UTC)
    sent_out = cli.run("messages", "send", expect=0, says="sent ").stdout
    finished = datetime.now(UTC)
    sent = int(sent_out.split("sent ", 1)[1].split(",", 1)[0])
    due_at_start = sum(row.next_attempt_at <= started for row in backing_off)
    due_at_end = sum(row.next_attempt_at <= finished for row in backing_off)
    assert due_at_start <= sent <= due_at_end, (sent, due_at_start, due_at_end)
    status = json.loads(cli.run("messages", "status", "--json", expect=0).stdout)
    assert status["pending"] == 3 - sent and status["leased"] == 0

    # --forever outlives a dead SMSC: it records the attempt, pauses and keeps going
    cli.enqueue(4)
    sender = cli.popen("messages", "send", "--forever", "--poll-interval", "0.2", **smpp)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not cli.outbox()[3].attempts:
            time.sleep(0.3)
        time.sleep(2)  # past the first pause
        assert sender.poll() is None, "the sender died at the first SMSC error"
    finally:
        sender.send_signal(signal.SIGTERM)
        output, _ = sender.communicate(timeout=60)
    assert "Traceback" not in output, output[-3000:]
    assert "pausing" in output and sender.returncode in (0, 1), output[-3000:]
    fourth = cli.outbox()[3]
    assert fourth.attempts == 1 and fourth.claimed_by is None


def chain_usage(cli: Cli) -> None:
    load_all_models()  # the Line insert below needs every table its foreign keys name
    engine = create_engine_from_settings(Settings(database_url=cli.database_url))
    with Session(engine) as session, session.begin():
        enterprise_id = session.scalar(select(Enterprise.id).where(Enterprise.code == "CMCC"))
        assert enterprise_id is not None
        session.add(
            Line(msisdn="+8613800000001", enterprise_id=enterprise_id, state="legacy",
                 state_changed_at=NOW, event_count=0)
        )  # fmt: skip
    engine.dispose()
    header = "msisdn,last_used_at,last_topup_at,last_topup_minor,called_numbers\n"
    good = "+8613800000001,2026-11-20T10:00:00+08:00,2026-11-01T09:00:00+08:00,5000,13900001111\n"
    usage = cli.tmp / "usage.csv"
    usage.write_text(
        header + good + "+8613800000002,2026-11-20T10:00:00+08:00,,,\nnot-a-number,,,,\n"
    )
    cli.run("usage", "import", str(usage), "--enterprise", "CMCC", expect=1,
            says="1 rows loaded, 2 rejected line 3: no such line")  # fmt: skip
    usage.write_text(header + good)
    cli.run("usage", "import", str(usage), "--enterprise", "CMCC", expect=0,
            says="1 rows loaded, 0 rejected")  # fmt: skip
    cli.run("usage", "import", str(usage), "--enterprise", "NOPE", expect=1,
            says="No such enterprise")  # fmt: skip
    usage.write_text("number,when\n")
    cli.run("usage", "import", str(usage), "--enterprise", "CMCC", expect=2,
            says="line 1: the header must name msisdn")  # fmt: skip


def chain_authority(cli: Cli) -> None:
    citizens = cli.tmp / "citizens.csv"
    citizens.write_text(
        f"document_type,document_number,name,revoked\nresident_id,{GOOD_ID},张三,\n"
    )
    bad = cli.tmp / "bad-citizens.csv"
    bad.write_text(f"document_number,name\n{GOOD_ID},张三\n123,李四\n")
    cli.run("authority", "enrol", str(bad), expect=1, says="line 3: document_number")
    cli.run("authority", "enrol", str(citizens), expect=0, says="enrolled 1 citizen(s)")
    cli.run("authority", "status", expect=0, says="simulated (1 test citizens)")
    cli.run("authority", "enrol", str(cli.tmp / "none.csv"), expect=2, says="cannot read")
    cli.run("authority", "stub", "--citizens", str(bad), expect=1, says="line 3")
    cli.run("authority", "stub", "--citizens", str(citizens), "--tls-cert", "x.pem", expect=2,
            says="go together")  # fmt: skip
    http = {"REALNAME_AUTHORITY": "http"}
    cli.run("authority", "status", expect=2, says="not loopback",
            REALNAME_AUTHORITY_URL="http://authority.example:9001", **http)  # fmt: skip
    cli.run("authority", "status", expect=1, says="unreachable",
            REALNAME_AUTHORITY_URL=f"http://127.0.0.1:{dead_port()}", **http)  # fmt: skip
    # any command that builds the registry, with an http authority that cannot work: a message
    cli.run("backfill", "run", expect=2, says="identity authority settings", **http)
    port = str(dead_port())
    stub = cli.popen("authority", "stub", "--citizens", str(citizens), "--port", port)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and stub.poll() is None:
            try:
                with urllib.request.urlopen(f"{url}/v1/health", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        cli.run("authority", "status", expect=0, says="probe GET /v1/health: ok",
                REALNAME_AUTHORITY_URL=url, **http)  # fmt: skip
    finally:
        stub.send_signal(signal.SIGTERM)
        output, _ = stub.communicate(timeout=30)
    assert "Traceback" not in output and "1 citizens" in output, output[-2000:]


PROVISION_YAML = """
enterprises:
  - {code: PMNO, name: 测试基础运营商, kind: mno, provinces: ["11"]}
  - code: PMVNO
    name: 测试虚拟运营商
    kind: mvno
    host: PMNO
    licence: pilot
    provinces: ["11"]
    blocks: ["+86 171 8"]
    channels:
      - code: P-HALL
        name: 测试营业厅
        kind: own_hall
        region: "110105"
        clerks: [{code: P-K1, name: 测试营业员}]
"""


def chain_provisioning(cli: Cli) -> None:
    good = cli.tmp / "prov.yaml"
    good.write_text(PROVISION_YAML, encoding="utf-8")
    bad = cli.tmp / "prov-bad.csv"
    bad.write_text(
        "enterprise,code,name,kind,region,parent\nPMVNO,P-X,x,kiosk,110105,\n"
        "PMVNO,P-Y,y,social,999999,P-NONE\n",
        encoding="utf-8",
    )
    cli.run("provision", str(good), "--dry-run", expect=0, says="nothing written")
    cli.run("provision", str(good), expect=0, says="provisioned")
    cli.run("provision", str(good), "--json", expect=0, says='"unchanged": 1')
    cli.run("provision", str(bad), expect=1, says="line 2: CHANNEL_KIND")
    cli.run(
        "enterprises",
        "add",
        "--code",
        "PMVNO2",
        "--name",
        "n",
        "--kind",
        "mvno",
        expect=1,
        says="HOST_REQUIRED",
    )
    cli.run(
        "enterprises",
        "add",
        "--code",
        "PMVNO2",
        "--name",
        "二号",
        "--kind",
        "mvno",
        "--host",
        "PMNO",
        "--province",
        "11",
        expect=0,
        says="enterprise PMVNO2",
    )
    cli.run("enterprises", "list", "--json", expect=0, says='"host": "PMNO"')
    cli.run(
        "enterprises",
        "licence",
        "PMVNO",
        "--status",
        "official",
        expect=0,
        says="licence official",
    )
    cli.run(
        "enterprises", "licence", "PMVNO", "--status", "suspended", "--on", "2999-01-01",
        expect=1, says="LICENCE_DATE",
    )  # fmt: skip
    cli.run(
        "enterprises", "licence", "PMVNO", "--status", "granted", expect=1, says="LICENCE_STATUS"
    )
    cli.run(
        "blocks",
        "add",
        "--enterprise",
        "PMVNO2",
        "--prefix",
        "+86 171 8",
        expect=1,
        says="BLOCK_OVERLAPS",
    )
    cli.run(
        "blocks",
        "add",
        "--enterprise",
        "PMVNO2",
        "--first",
        "+8617190000000",
        "--last",
        "+8617190009999",
        expect=0,
        says="block +8617190000000",
    )
    cli.run("blocks", "list", "--enterprise", "PMVNO", expect=0, says="+8617180000000")
    cli.run(
        "channels",
        "add",
        "--enterprise",
        "PMVNO",
        "--code",
        "P-AGENT",
        "--name",
        "代理",
        "--kind",
        "social",
        "--region",
        "110105",
        expect=0,
        says="channel P-AGENT",
    )
    cli.run(
        "channels",
        "add",
        "--enterprise",
        "PMVNO",
        "--code",
        "P-SUB",
        "--name",
        "下级",
        "--kind",
        "social",
        "--region",
        "110105",
        "--parent",
        "P-AGENT",
        expect=0,
    )
    cli.run(
        "channels",
        "add",
        "--enterprise",
        "PMVNO",
        "--code",
        "P-FAR",
        "--name",
        "远",
        "--kind",
        "social",
        "--region",
        "440305",
        expect=1,
        says="REGION_NOT_SERVED",
    )
    cli.run(
        "channels",
        "move",
        "--enterprise",
        "PMVNO",
        "P-AGENT",
        "--parent",
        "P-SUB",
        expect=1,
        says="CHANNEL_CYCLE",
    )
    cli.run("channels", "move", "--enterprise", "PMVNO", "P-SUB", "--top", expect=0)
    cli.run("channels", "list", "--enterprise", "PMVNO", expect=0, says="P-AGENT")
    cli.run(
        "clerks",
        "add",
        "--enterprise",
        "PMVNO",
        "--channel",
        "P-AGENT",
        "--code",
        "P-K2",
        "--name",
        "营业员二",
        expect=0,
        says="clerk P-K2",
    )
    cli.run("clerks", "list", "--enterprise", "PMVNO", "--json", expect=0, says='"P-K2"')
    cli.run(
        "clients",
        "add",
        "--role",
        "clerk",
        "--enterprise",
        "PMVNO",
        "--clerk",
        "P-K2",
        expect=0,
        says="client_secret",
    )
    cli.run("clerks", "disable", "--enterprise", "PMVNO", "P-K2", expect=0, says="disabled")
    cli.run(
        "clerks", "disable", "--enterprise", "PMVNO", "P-NOBODY", expect=1, says="CLERK_NOT_FOUND"
    )
    cli.run(
        "stock",
        "add",
        "--enterprise",
        "PMVNO",
        "--channel",
        "P-HALL",
        "--from",
        "+8617180000000",
        "--count",
        "3",
        "--iccid-from",
        "89860117180000000001",
        "--imsi-from",
        "460011718000001",
        expect=0,
        says="stocked 3 kits",
    )
    cli.run(
        "stock",
        "add",
        "--enterprise",
        "PMVNO",
        "--channel",
        "P-HALL",
        "--from",
        "+8613800000000",
        "--count",
        "1",
        "--iccid-from",
        "89860113800000000001",
        "--imsi-from",
        "460011380000001",
        expect=1,
        says="NUMBER_NOT_ALLOCATED",
    )


def chain_compliance(cli: Cli) -> None:
    at = datetime.now(UTC).replace(microsecond=0).isoformat()  # the CLI's clock is the machine's
    good = cli.tmp / "complaints.csv"
    good.write_text(
        "category,msisdn,occurred_at,content_sha256,centre_ref\n"
        f"other,+8613900000001,{at},,CLI-1\n"
        f"phishing,+8613900000002,{at},,CLI-2\n",
        encoding="utf-8",
    )
    cli.run("complaints", "import", str(good), expect=0, says="line 3: CATEGORY_INVALID")
    cli.run("complaints", "import", str(good), "--json", expect=2, says="FILE_ALREADY_IMPORTED")
    resent = cli.tmp / "complaints-resent.csv"  # the same complaints in a file of its own
    resent.write_text(good.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    cli.run("complaints", "import", str(resent), "--json", expect=1, says="DUPLICATE_COMPLAINT")
    bad = cli.tmp / "not-complaints.csv"
    bad.write_text("number,when\n1,2\n", encoding="utf-8")
    cli.run("complaints", "import", str(bad), expect=2, says="FILE_INVALID")
    cli.run("report", "enforcement", "--format", "csv", expect=0, says="enterprise,kind,licence")
    cli.run("report", "enforcement", "--format", "md", expect=0, says="| CMCC | mno |")
    listed = cli.run("report", "complaints", "--format", "json", expect=0)
    assert json.loads(listed.stdout) == []  # a number nobody has is traced to no enterprise
    cli.run("report", "complaints", "--format", "md", expect=0, says="| enterprise | channel |")
    cli.run("report", "complaints", "--period", "2016-07", "--province", "44", "--format",
            "csv", expect=0, says="enterprise,channel")  # fmt: skip
    cli.run("report", "complaints", "--period", "2016-07", "--since", "2016-07-01", expect=2,
            says="not both")  # fmt: skip
    cli.run("report", "complaints", "--province", "4", expect=2, says="--province")
    cli.run("report", "enforcement", "--format", "xml", expect=2)


CHAINS: dict[str, Callable[[Cli], None]] = {
    "compliance": chain_compliance,
    "authority": chain_authority,
    "db": chain_db,
    "id": chain_id,
    "clients": chain_clients,
    "demo": chain_demo,
    "keys": chain_keys,
    "backfill": chain_backfill,
    "retention": chain_retention,
    "bench": chain_bench,
    "serve": chain_serve,
    "messages": chain_messages,
    "provisioning": chain_provisioning,
    "usage": chain_usage,
}


@dataclass
class Outcome:
    cli: Cli
    errors: dict[str, BaseException]


# The module's fixture runs every command group as real processes (about seventy): on a
# loaded 2-core machine that alone has taken 285 s of the per-test default of 300.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    tmp = tmp_path_factory.mktemp("cli")
    # The machines here set PYTHONDONTWRITEBYTECODE, so each process would re-compile every
    # module of ours (~1 s each); compiled once here, they are read by every process.
    compileall.compile_dir(Path(realname.__file__).parent, quiet=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REALNAME_")}
    env |= {
        "REALNAME_DATABASE_URL": f"sqlite:///{tmp / 'realname.db'}",
        "REALNAME_KEY_FILE": str(tmp / "keys.json"),
        "REALNAME_SMS_FILE": str(tmp / "sms.jsonl"),
        "REALNAME_LOG_LEVEL": "INFO",
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    cli = Cli(tmp, env)
    cli.run("db", "upgrade", expect=0, says="database at revision")
    engine = create_engine_from_settings(Settings(database_url=cli.database_url))
    with Session(engine) as session, session.begin():
        session.add(Enterprise(code="CMCC", name="中国移动", kind="mno", created_at=NOW))
    engine.dispose()

    errors: dict[str, BaseException] = {}

    def attempt(name: str) -> None:
        try:
            CHAINS[name](cli)
        except BaseException as error:  # reported by the chain's own test
            errors[name] = error

    with ThreadPoolExecutor(max_workers=3) as pool:
        slowest = ["demo", "messages", "serve"]
        list(pool.map(attempt, slowest + [name for name in CHAINS if name not in slowest]))
    Path(os.environ.get("CLI_TIMINGS", os.devnull)).write_text(
        "\n".join(f"{t:6.2f} {a}" for t, a in sorted(cli.timings, reverse=True))
    )
    return Outcome(cli, errors)


@pytest.mark.parametrize("chain", list(CHAINS))
def test_command_chain(outcome: Outcome, chain: str) -> None:
    error = outcome.errors.get(chain)
    if error is not None:
        raise error


# Commands whose chains live with their domain's tests (in-process or as subprocesses there):
# each names the file and the invocation it must still hold, so deleting that test fails here.
SERVED = "tests/national/test_served.py"
EXERCISED_ELSEWHERE: dict[tuple[str, ...], tuple[str, str]] = {
    ("audit", "checkpoint"): ("tests/cli/test_audit.py", '["audit", "checkpoint"]'),
    ("audit", "public-key"): ("tests/cli/test_audit.py", '"audit", "public-key"'),
    ("audit", "rotate-key"): ("tests/cli/test_audit.py", '["audit", "rotate-key"'),
    ("bench", "national"): ("tests/national/analytics/test_cli.py", '"bench", "national"'),
    ("national", "cap"): (SERVED, '_cli(settings, "cap")'),
    ("national", "disputes", "pull"): (SERVED, '"national", "disputes", "pull"'),
    ("national", "export"): (SERVED, '_cli(settings, "export"'),
    ("national", "feeds"): (SERVED, '_cli(settings, "feeds"'),
    ("national", "keys", "register"): (SERVED, '"keys", "register"'),
    ("national", "keys", "retire"): (SERVED, '"keys", "retire"'),
    ("national", "keys", "show"): (SERVED, '"keys", "show"'),
    ("national", "lookup", "answer"): (SERVED, '"lookup", "answer"'),
    ("national", "lookup", "ask"): (SERVED, '"lookup", "ask"'),
    ("national", "publish"): (SERVED, '_cli(settings, "publish"'),
    ("national", "sealing-key"): (SERVED, '_cli(settings, "sealing-key")'),
    ("national", "take-drop"): (SERVED, '"national", "take-drop"'),
    ("report", "compliance"): (
        "tests/compliance/figures/test_report_cli.py",
        '["report", "compliance"',
    ),
    ("report", "inspections"): (
        "tests/compliance/figures/test_report_cli.py",
        '["report", "inspections"',
    ),
    ("report", "national"): ("tests/national/analytics/test_cli.py", '["report", "national"'),
    ("report", "segments"): (
        "tests/compliance/figures/test_report_cli.py",
        '"complaints", "segments"]',
    ),
    ("report", "settlement"): (
        "tests/compliance/figures/test_report_cli.py",
        '["report", "settlement"',
    ),
}


def test_every_command_is_exercised(outcome: Outcome) -> None:
    covered = {
        path
        for path in command_paths()
        if any(args[: len(path)] == path for args in outcome.cli.invoked)
    }
    root = Path(__file__).resolve().parents[2]
    for path, (where, invocation) in EXERCISED_ELSEWHERE.items():
        assert invocation in (root / where).read_text(encoding="utf-8"), (path, where)
    missing = [
        " ".join(path) for path in sorted(command_paths() - covered - EXERCISED_ELSEWHERE.keys())
    ]
    assert not missing, "; ".join(missing)
    assert EXERCISED_ELSEWHERE.keys() <= command_paths()  # no stale entry
