"""The pages in a real browser (Playwright driving Debian's chromium, no browser download) on
a served demo world: register a customer at the front desk and see the line in the console;
escalate the enterprise on the dashboard and see its next registration refused at its front
desk. Every page passes axe-core (injected from the npm lock file's copy) and loads nothing
from anywhere but the app. With REALNAME_SCREENSHOTS=DIR (`make screenshots`), each page is
saved in zh-CN and English."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from realname.api.app import create_app
from realname.config import Settings
from realname.db.engine import create_engine_from_settings
from realname.db.uow import UnitOfWork
from realname.identity.documents import DocumentType
from realname.messaging.models import OutboxMessage
from realname.messaging.service import open_body
from realname.national.feeds.jobs import publish
from realname.national.feeds.keys import feed_signing_key
from realname.national.feeds.transport import InProcess
from realname.registry.commands import Actor, Context, Desk, Person
from realname.registry.models import Channel, Clerk, Line
from realname.security.keys import keyring_from_settings
from realname.sim.demo import prepare_demo
from realname.sim.desk import DemoDesk, create_demo_accounts, walk_in_customer
from realname.wiring import Process

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "assets" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = os.environ.get("REALNAME_SCREENSHOTS")

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and AXE.exists()) and not os.environ.get("CI"),
    reason="needs Debian's chromium and `make env` (CI installs both)",
)


@dataclass
class Served:
    url: str
    desk: DemoDesk
    customers: list[dict[str, Any]]
    holder: tuple[dict[str, Any], str]  # a customer with a line in the national index, and it
    settings: Settings

    def password(self, username: str) -> str:
        return next(a.password for a in self.desk.accounts if a.username == username)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _registered_and_published(
    uow: UnitOfWork, settings: Settings, desk: DemoDesk, card: dict[str, Any]
) -> str:
    """`card`'s holder gets a line at another hall of the desk's enterprise (the desk keeps
    its kits for the other tests), and the enterprise publishes its feed to the national
    platform (in this instance): 一证通查 then finds it."""
    process = Process(settings)
    with uow.transaction() as session:
        row = session.execute(
            select(Line.msisdn, Channel.id, Clerk.id)
            .join(Channel, Channel.id == Line.channel_id)
            .join(Clerk, Clerk.channel_id == Channel.id)
            .where(
                Line.state == "stocked",
                Line.enterprise_id == desk.enterprise_id,
                Channel.id != desk.channel_id,
                Channel.status == "active",
                Channel.kind.in_(("own_hall", "partner_hall")),
                Clerk.status == "active",
            )
            .order_by(Line.msisdn)
            .limit(1)
        ).first()
        assert row is not None, "the demo enterprise has no other hall with a kit"
        kit, channel, clerk = row
        at = settings.clock().now()
        process.services(session).registry.register(
            Context(Actor("clerk", str(clerk)), at, None),
            desk=Desk(desk.enterprise_id, channel, clerk),
            msisdn=kit,
            person=Person(
                document_number=card["document"]["number"],
                name=card["name"],
                document_type=DocumentType.RESIDENT_ID,
                face_score=0.95,
            ),
        )
    publish(
        uow,
        keyring=process.keyring,
        signing=feed_signing_key(settings, desk.enterprise_code),
        transport=InProcess(uow, process.national_keys, settings.clock().now),
        batch_size=settings.national_feed_batch_size,
        now=settings.clock().now,
    )
    return kit


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{tmp / 'demo.db'}"
    base = Settings(
        database_url=url,
        key_file=str(tmp / "keys.json"),
        evidence_dir=str(tmp / "evidence"),
        sms_file=str(tmp / "sms.jsonl"),
    )
    with prepare_demo(base, lines=1500, seed=7, operations=100, database_url=url) as run:
        run.finish(run.build())
    settings = base.model_copy(update={"sms_file": str(tmp / "sms.jsonl")})
    engine = create_engine_from_settings(settings)
    keyring = keyring_from_settings(settings)
    now = settings.clock().now()
    uow = UnitOfWork(sessionmaker(engine, expire_on_commit=False))
    with uow.transaction() as session:
        desk = create_demo_accounts(session, keyring, now)
        customers = [walk_in_customer(session, keyring, now, n) for n in ("王小明", "李小红")]
        kits = session.scalar(
            select(func.count()).where(Line.channel_id == desk.channel_id, Line.state == "stocked")
        )
        holder = walk_in_customer(session, keyring, now, "张小华")
    looked_up = _registered_and_published(uow, settings, desk, holder)
    engine.dispose()
    assert kits is not None and kits >= 2, "the desk needs a kit for each registration"
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield Served(f"http://127.0.0.1:{port}", desk, customers, (holder, looked_up), settings)
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield chromium
        chromium.close()


class Visit:
    """One browser context (its own cookies) with the checks every page gets."""

    def __init__(self, browser: Any, served: Served) -> None:
        self.served = served
        self.context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)  # a loaded 2-core CI machine
        self.requests: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))

    def close(self) -> None:
        self.context.close()
        foreign = [u for u in self.requests if not u.startswith(self.served.url)]
        assert not foreign, f"requests that left the app: {foreign}"

    def sign_in(self, username: str) -> None:
        page = self.page
        page.goto(self.served.url + "/web/login")
        page.fill("#username", username)
        page.fill("#password", self.served.password(username))
        page.press("#password", "Enter")  # keyboard first
        page.wait_for_load_state()

    def check(self, name: str, *, both_languages: bool = True) -> None:
        """axe-core finds nothing serious; with REALNAME_SCREENSHOTS, the page in both
        languages (`both_languages=False`: a POST's answer, which the switch leaves for its
        section's page)."""
        page = self.page
        page.evaluate(AXE.read_text(encoding="utf-8"))
        result = page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        )
        serious = [
            (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in result
            if v["impact"] in ("serious", "critical")
        ]
        assert not serious, f"{name}: {serious}"
        if SHOTS:
            folder = Path(SHOTS)
            folder.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(folder / f"{name}.zh-CN.png"), full_page=True)
            if not both_languages:
                return
            page.click("#lang-switch")
            page.wait_for_load_state()
            page.screenshot(path=str(folder / f"{name}.en.png"), full_page=True)
            page.click("#lang-switch")
            page.wait_for_load_state()

    def sign_out(self) -> None:
        self.page.click("#logout")
        self.page.wait_for_load_state()


def _reader_posts(served: Served, card: dict[str, Any]) -> None:
    """The hall's card reader software: a token for its client, then the chip's data."""
    with httpx.Client(base_url=served.url, timeout=30) as reader:
        token = reader.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(served.desk.reader_client_id, served.desk.reader_secret),
        )
        assert token.status_code == 200, token.text
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        read = reader.post("/v1/card-reads", json=card, headers=bearer)
        assert read.status_code == 201, read.text


def _register(visit: Visit, card: dict[str, Any]) -> str:
    """The customer's card goes on the reader; the clerk presses "Read the card" (the desk
    picks the read up, masked), the face score comes in, and the kit is registered."""
    page = visit.page
    page.goto(visit.served.url + "/web/desk")
    _reader_posts(visit.served, card)
    page.click("#customer-read-card")
    shown = page.wait_for_selector("#card-read-shown")
    assert card["document"]["number"] not in shown.inner_text()  # masked
    page.fill("#customer-face", "0.95")
    msisdn = str(page.eval_on_selector("#msisdn", "e => e.value"))
    page.click("#register")
    page.wait_for_load_state()
    return msisdn


def test_a_customer_registered_at_the_front_desk_shows_in_the_console(
    served: Served, browser: Any
) -> None:
    visit = Visit(browser, served)
    visit.page.goto(served.url + "/web/login")
    visit.check("login")
    visit.sign_in("clerk")
    assert visit.page.url.endswith("/web/desk")
    visit.check("front-desk")
    msisdn = _register(visit, served.customers[0])
    assert msisdn in visit.page.inner_text("#registered")
    visit.sign_out()
    visit.sign_in("admin")
    assert visit.page.url.endswith("/web/console")
    visit.check("enterprise-console")
    visit.page.fill("#lookup-msisdn", msisdn)
    visit.page.press("#lookup-msisdn", "Enter")
    visit.page.wait_for_load_state()
    assert visit.page.inner_text("#line-msisdn") == msisdn
    assert visit.page.get_attribute("#line-state", "data-state") == "active"
    assert visit.page.inner_text("#line-state") == "正常在用"  # in the page's words
    owner = visit.page.inner_text("#line-owner")
    assert served.customers[0]["document"]["number"] not in owner and "*" in owner  # masked
    visit.check("line")
    visit.close()


def test_an_enterprise_escalated_on_the_dashboard_is_refused_at_its_front_desk(
    served: Served, browser: Any
) -> None:
    visit = Visit(browser, served)
    visit.sign_in("regulator")
    assert visit.page.url.endswith("/web/dashboard")
    visit.page.wait_for_selector("#rates-chart svg, #rates-chart:empty", state="attached")
    # The demo's two inspection rounds are charted; every series is named in zh-CN.
    visit.page.wait_for_selector("#rounds-chart svg")
    assert visit.page.locator("#rounds-chart svg text", has_text="违规率").count() >= 1
    trend = visit.page.inner_text("#trend-chart") or ""
    legend = " ".join(visit.page.locator("#trend-chart svg text").all_text_contents())
    assert "入网登记" in legend and "registrations" not in legend + trend, legend
    # The real-name rate by province, on the map of China (served from the app).
    visit.page.wait_for_selector("#province-map svg path")
    assert visit.page.locator("#province-map svg path").count() >= 34
    visit.check("regulator-dashboard")
    page = visit.page
    page.select_option("#enterprise_id", str(served.desk.enterprise_id))
    page.select_option("#kind", "red")
    page.select_option("#evidence_kind", "document")
    page.fill("#evidence_ref", "MIIT-2026-WEB-1")
    page.click("#escalate")
    page.wait_for_load_state()
    assert served.desk.enterprise_code in page.inner_text("#escalated")
    visit.sign_out()
    visit.sign_in("clerk")
    _register(visit, served.customers[1])
    assert visit.page.locator("#refused").count() == 1, visit.page.inner_text("main")[:1500]
    refused = visit.page.inner_text("#refused")
    assert "暂停受理新用户入网" in refused and "\n" not in refused.strip()
    visit.close()


def test_a_person_finds_their_line_by_yi_zheng_tong_cha_and_disputes_it(
    served: Served, browser: Any
) -> None:
    """The public page, no staff login: document, name and number; the SMS code; the lines
    per enterprise, masked; a dispute, and its reference; the enterprise's console lists
    the case."""
    card, msisdn = served.holder
    if SHOTS:  # the answer is a POST's: its English screenshot needs a lookup in English
        english = Visit(browser, served)
        english.page.goto(served.url + "/web/lookup")
        english.page.click("#lang-switch")
        english.page.wait_for_load_state()
        _prove(english, card, msisdn)
        english.page.screenshot(path=str(Path(SHOTS) / "yi-zheng-tong-cha-answer.en.png"))
        english.close()
    visit = Visit(browser, served)
    page = visit.page
    page.goto(served.url + "/web/lookup")
    visit.check("yi-zheng-tong-cha")
    _prove(visit, card, msisdn)
    answer = page.inner_text("main")
    assert msisdn not in answer and msisdn[-4:] in answer  # masked
    visit.check("yi-zheng-tong-cha-answer", both_languages=False)
    page.locator("button[id^=dispute-]").first.click()
    page.wait_for_selector("#case-reference")
    reference = page.inner_text("#case-reference")
    assert reference.isalpha()
    visit.close()
    # The enterprise's compliance officer finds the case on the console's disputes page,
    # the number masked, with its deadline.
    console = Visit(browser, served)
    console.sign_in("admin")
    console.page.click("a[href='/web/console/disputes']")
    console.page.wait_for_load_state()
    row = console.page.locator(f"#disputes tr[data-reference='{reference}']")
    assert row.count() == 1, console.page.inner_text("main")[:1500]
    shown = row.inner_text()
    assert msisdn not in shown and msisdn[-4:] in shown
    console.check("enterprise-console-disputes")
    console.close()


def _prove(visit: Visit, card: dict[str, Any], msisdn: str) -> None:
    """Document, name and number on the lookup page, then the code the phone got."""
    page = visit.page
    page.fill("#document_number", card["document"]["number"])
    page.fill("#name", card["name"])
    page.fill("#msisdn", msisdn)
    page.click("#send-code")
    page.wait_for_selector("#code")
    page.fill("#code", _code_sent_to(visit.served, msisdn))
    page.press("#code", "Enter")
    page.wait_for_selector("#total")


def _code_sent_to(served: Served, msisdn: str) -> str:
    """What the phone shows: the sealed SMS in the outbox, opened with the instance's keys."""
    settings = served.settings
    engine = create_engine_from_settings(settings)
    try:
        with engine.connect() as connection:
            body = connection.scalar(
                select(OutboxMessage.body)
                .where(OutboxMessage.destination == msisdn)
                .order_by(OutboxMessage.id.desc())
            )
    finally:
        engine.dispose()
    assert body is not None
    found = re.search(r"[0-9]{6}", open_body(keyring_from_settings(settings), body))
    assert found is not None
    return found.group()


def test_chromium_is_debians_not_a_download() -> None:
    assert CHROMIUM.exists() or shutil.which("chromium")
