"""The timeline web page in a real headless Chromium, against a real timeline server.

The data goes in through the real storage path (`process_chunk`, as the enrich worker runs it) into
the suite's PostgreSQL and Redis; the server is `uvicorn` in its own process; the browser is
Debian's `chromium` driven by PyPI `playwright` (no browser is downloaded).
"""

from __future__ import annotations

import html
import os
import re
import struct
import subprocess
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from pivotwatch.embedded import free_port
from services.enrich.service import process_chunk
from services.timeline.web import STREAM_ROUTE
from shared.db import make_engine, session_factory
from shared.events import event_uuid
from shared.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SEED = Path(__file__).resolve().parents[2] / "data" / "seed"
# Entity-encoded on purpose: normalisation strips real tags but decodes entities, so the stored
# title holds the literal markup below, which is exactly what the page must show as text.
HOSTILE_SENT = (
    "&lt;script&gt;alert(1)&lt;/script&gt; OpenAI board &lt;img src=x onerror=alert(2)&gt; memo"
)
HOSTILE_TITLE = "<script>alert(1)</script> OpenAI board <img src=x onerror=alert(2)> memo"
# A second event whose every displayed field is markup, and whose sources were tampered with on
# the way to the store (ingest refuses a javascript: URL; the worker does not check again).
DRAWER_TITLE = '<b onmouseover="alert(4)">bold</b> OpenAI drawer check <svg onload=alert(5)>'
DRAWER_SUMMARY = "<iframe src=javascript:alert(6)></iframe> summary & <a href=x>link</a>"
DRAWER_PUBLISHER = "<img src=x onerror=alert(7)> Publisher"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=(
        "the browser test needs Debian's Chromium at /usr/bin/chromium: "
        "run `apt-get install chromium` (as root; .ci/run does it in CI)"
    ),
)


def cloudevent(ce_id: str, **data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": ce_id,
        "source": "/tests/browser",
        "type": "dev.pivotwatch.strategy.reported",
        "subject": data["company"],
        "data": data,
    }


def entry(ce: dict[str, Any]) -> dict[str, str]:
    """A CloudEvent as the relay hands it to the worker (one pw:ingest stream entry)."""
    return {
        "id": str(event_uuid(ce["source"], ce["id"])),
        "kind": "event",
        "ce": orjson.dumps(ce).decode(),
        "received_at": datetime.now(UTC).isoformat(),
        "cid": "",
    }


@dataclass
class Store:
    sessions: sessionmaker[Session]
    redis: Redis

    def add(self, events: list[dict[str, Any]]) -> None:
        process_chunk(self.sessions, self.redis, [entry(ce) for ce in events], lambda ids: None)


@pytest.fixture(scope="module")
def store(migrated: Any) -> Iterator[Store]:
    with psycopg.connect(migrated.database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE events, api_keys RESTART IDENTITY CASCADE")
    settings = Settings(
        env="test", database_url=migrated.database_url, redis_url=migrated.redis_url
    )
    engine = make_engine(settings)
    client = Redis.from_url(migrated.redis_url)
    client.flushdb()
    s = Store(session_factory(engine), client)
    for path in sorted(SEED.glob("*.json")):
        s.add(orjson.loads(path.read_bytes()))
    s.add(
        [
            cloudevent(
                "hostile",
                company="openai",
                occurred="2023-11",
                title=HOSTILE_SENT,
                summary="A made-up event whose text is markup; it must show as plain text.",
                sources=[{"url": "https://example.com/memo?a=1&b=2", "publisher": "Example"}],
            ),
            cloudevent(
                "hostile-drawer",
                company="openai",
                occurred="2022-06",
                title=html.escape(DRAWER_TITLE),
                summary=html.escape(DRAWER_SUMMARY),
                actors=["<b>Mallory</b>"],
                tags=["<script>alert(8)</script>"],
                sources=[
                    {
                        "url": 'https://example.com/a?q="><script>alert(9)</script>',
                        "publisher": html.escape(DRAWER_PUBLISHER),
                    },
                    {"url": "javascript:alert(10)", "publisher": "Tampered"},
                ],
            ),
        ]
    )
    try:
        yield s
    finally:
        client.close()
        engine.dispose()


@pytest.fixture(scope="module")
def server(store: Store, migrated: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("timeline") / "server.log"
    env = {
        **os.environ,
        "PIVOTWATCH_ENV": "test",
        "PIVOTWATCH_DATABASE_URL": migrated.database_url,
        "PIVOTWATCH_REDIS_URL": migrated.redis_url,
    }
    cmd = [sys.executable, "-m", "uvicorn", "services.timeline.app:create_app", "--factory"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the timeline server exited: {log.read_text()}")
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the timeline server did not become ready: {log.read_text()}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            b.close()


@dataclass
class Tab:
    page: Any
    base: str
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def open(self, path: str = "/companies/openai") -> None:
        self.page.goto(self.base + path)
        self.page.wait_for_selector("body[data-ready='1']", timeout=20_000)

    def count(self, selector: str) -> int:
        n: int = self.page.locator(selector).count()
        return n

    def assert_clean(self) -> None:
        assert self.console_errors == [], self.console_errors
        assert self.dialogs == [], f"a dialog fired: {self.dialogs}"


@pytest.fixture
def tab(browser: Any, server: str) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    t = Tab(page, server)

    def on_console(msg: Any) -> None:
        if msg.type == "error":
            t.console_errors.append(msg.text)

    def on_dialog(dialog: Any) -> None:
        t.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("console", on_console)
    page.on("pageerror", lambda exc: t.console_errors.append(f"uncaught: {exc}"))
    page.on("dialog", on_dialog)
    try:
        yield t
    finally:
        context.close()


@pytest.fixture
def api(server: str) -> Callable[[str], Any]:
    def get(path: str) -> Any:
        r = httpx.get(server + path, timeout=10)
        r.raise_for_status()
        return r.json()

    return get


def openai_events(api: Callable[[str], Any]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = api("/v1/companies/openai/timeline?limit=500")["events"]
    return events


# --- a PNG decoder small enough to read (8-bit RGB/RGBA, not interlaced: what Chromium writes) ---


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode_png(data: bytes) -> tuple[int, int, int, bytes]:
    """(width, height, channels, pixel bytes) of a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    (width, height, depth, colour, interlace), idat = _png_chunks(data)
    assert depth == 8 and interlace == 0 and colour in (2, 6), (depth, colour, interlace)
    bpp = 3 if colour == 2 else 4
    stride = width * bpp
    raw = zlib.decompress(idat)
    out = bytearray()
    prev = bytearray(stride)
    for y in range(height):
        base = y * (stride + 1)
        line = bytearray(raw[base + 1 : base + 1 + stride])
        _unfilter(raw[base], line, prev, bpp, stride)
        out += line
        prev = line
    return width, height, bpp, bytes(out)


def _png_chunks(data: bytes) -> tuple[tuple[int, int, int, int, int], bytes]:
    """The header's (width, height, bit depth, colour type, interlace), zeros without one, and
    the image data joined, read up to IEND."""
    pos, idat = 8, []
    width = height = depth = colour = interlace = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        elif kind == b"IEND":
            break
    return (width, height, depth, colour, interlace), b"".join(idat)


def _unfilter(kind: int, line: bytearray, prev: bytearray, bpp: int, stride: int) -> None:
    """Undoes a scanline's filter (`kind`: 0 none, 1 sub, 2 up, 3 average, 4 Paeth) in place,
    against the line above, `prev`, already unfiltered."""
    if kind == 1:
        for i in range(bpp, stride):
            line[i] = (line[i] + line[i - bpp]) & 0xFF
    elif kind == 2:
        for i in range(stride):
            line[i] = (line[i] + prev[i]) & 0xFF
    elif kind == 3:
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
    elif kind == 4:
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up_left = prev[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + _paeth(left, prev[i], up_left)) & 0xFF


def colour_counts(png: bytes) -> Counter[tuple[int, int, int]]:
    _, _, bpp, pixels = decode_png(png)
    return Counter(zip(pixels[0::bpp], pixels[1::bpp], pixels[2::bpp], strict=True))


def rgb(css: str) -> tuple[int, int, int]:
    m = re.fullmatch(r"rgba?\((\d+), (\d+), (\d+)(?:, [\d.]+)?\)", css)
    assert m, css
    return int(m[1]), int(m[2]), int(m[3])


# --------------------------------------------------------------------------------------------


class TestDrawing:
    def test_phases_are_bands_and_every_event_is_a_mark(
        self, tab: Tab, api: Callable[[str], Any], tmp_path: Path
    ) -> None:
        tab.open()
        events = openai_events(api)
        bands = tab.page.eval_on_selector_all(
            "#chart .band", "els => els.map(e => e.dataset.phase)"
        )
        assert bands == ["nonprofit", "capped-profit", "public-benefit-corporation"]
        assert tab.count("#chart .mark") == len(events)
        assert tab.count("#list .row") == len(events)
        assert tab.count("#legend .chip") == len({e["category"] for e in events})

        shot = tab.page.locator("#chart").screenshot(path=str(tmp_path / "chart.png"))
        tab.page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        colours = colour_counts(shot)
        band_colours = tab.page.eval_on_selector_all(
            "#chart .band", "els => els.map(e => getComputedStyle(e).backgroundColor)"
        )
        for css in band_colours:
            assert colours[rgb(css)] > 2000, f"band colour {css} barely drawn"
        day_marks = tab.page.eval_on_selector_all(
            "#chart .mark.p-day:not(.approx)",
            "els => els.map(e => getComputedStyle(e).backgroundColor)",
        )
        for css in set(day_marks):
            assert colours[rgb(css)] > 20, f"mark colour {css} not in the screenshot"
        tab.assert_clean()

    def test_company_switcher_lists_companies_and_switches(self, tab: Tab) -> None:
        tab.open()
        options = tab.page.eval_on_selector_all("#company option", "els => els.map(e => e.value)")
        assert options == ["deepseek", "meta", "openai"]
        with tab.page.expect_navigation():
            tab.page.select_option("#company", "deepseek")
        tab.page.wait_for_selector("body[data-ready='1']")
        assert tab.page.url.endswith("/companies/deepseek")
        assert tab.page.text_content("#heading") == "deepseek"
        assert tab.count("#chart .mark") > 0
        tab.assert_clean()

    def test_root_opens_the_company_with_most_events(self, tab: Tab) -> None:
        tab.open("/")
        assert tab.page.url.endswith("/companies/openai")
        assert tab.count("#chart .band") == 3
        tab.assert_clean()


class TestEscaping:
    def test_markup_in_a_title_is_shown_as_text_and_never_runs(
        self, tab: Tab, api: Callable[[str], Any]
    ) -> None:
        assert HOSTILE_TITLE in [e["title"] for e in openai_events(api)]
        tab.open()
        row = tab.page.locator("#list .row", has_text="OpenAI board")
        assert row.locator(".row-title").text_content() == HOSTILE_TITLE
        row.click()
        assert tab.page.text_content("#detail-title") == HOSTILE_TITLE
        assert tab.page.locator("#detail").get_by_text(HOSTILE_TITLE).is_visible()
        assert tab.count("img") == 0
        assert tab.count("script") == 1
        assert tab.page.evaluate("typeof window.alert") == "function"
        tab.assert_clean()

    def test_every_field_of_the_detail_drawer_is_text_and_only_http_sources_are_links(
        self, tab: Tab, api: Callable[[str], Any]
    ) -> None:
        (stored,) = [e for e in openai_events(api) if e["title"] == DRAWER_TITLE]
        event = api(f"/v1/events/{stored['id']}")
        assert event["summary"] == DRAWER_SUMMARY
        tab.open()
        row = tab.page.locator("#list .row", has_text="OpenAI drawer check")
        assert row.locator(".row-title").text_content() == DRAWER_TITLE
        mark = tab.page.locator(f"#chart .mark[data-id='{stored['id']}']")
        assert DRAWER_TITLE in (mark.get_attribute("aria-label") or "")
        mark.hover()
        assert DRAWER_TITLE in (tab.page.text_content("#tip") or "")
        row.click()
        detail = tab.page.locator("#detail")
        detail.wait_for(state="visible")
        assert tab.page.text_content("#detail-title") == DRAWER_TITLE
        assert tab.page.text_content("#detail .lead") == DRAWER_SUMMARY
        entities = tab.page.eval_on_selector_all(
            "#detail .entities li", "els => els.map(e => e.firstChild.textContent)"
        )
        assert entities == [str(e["value"]) for e in event["entities"] if e.get("value")]
        sources = tab.page.locator("#detail .sources li")
        assert sources.count() == 2
        first = sources.nth(0).locator("a")
        assert first.text_content() == DRAWER_PUBLISHER
        assert first.get_attribute("href") == event["sources"][0]["url"]
        assert first.get_attribute("rel") == "noopener noreferrer"
        assert sources.nth(1).locator("a").count() == 0  # javascript: is shown, never linked
        assert sources.nth(1).text_content() == "Tampered"
        protocols = tab.page.eval_on_selector_all(
            "a[href]", "els => [...new Set(els.map(a => a.protocol))]"
        )
        assert set(protocols) <= {"http:", "https:"}
        handlers = tab.page.evaluate(
            "[...document.querySelectorAll('*')].filter(e => [...e.attributes]"
            ".some(a => a.name.startsWith('on'))).length"
        )
        assert handlers == 0
        for tag in ("img", "iframe", "svg b", "b", "script:not([src])"):
            assert tab.count(f"body {tag}") == 0, tag
        tab.assert_clean()


class TestKeyboard:
    def test_tab_reaches_the_events_and_enter_opens_the_detail_with_sources(
        self, tab: Tab, api: Callable[[str], Any]
    ) -> None:
        tab.open()
        for _ in range(40):
            tab.page.keyboard.press("Tab")
            if tab.page.evaluate("document.activeElement.classList.contains('mark')"):
                break
        else:
            pytest.fail("Tab never reached an event on the chart")
        first = tab.page.evaluate("document.activeElement.dataset.id")
        outline = tab.page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none", "the focused event has no visible focus"
        tab.page.keyboard.press("ArrowRight")
        second = tab.page.evaluate("document.activeElement.dataset.id")
        assert second != first

        tab.page.keyboard.press("Enter")
        detail = tab.page.locator("#detail")
        detail.wait_for(state="visible")
        event = api(f"/v1/events/{second}")
        assert tab.page.text_content("#detail-title") == event["title"]
        assert tab.page.text_content("#detail .when time") == event["occurred"]
        links = tab.page.eval_on_selector_all("#detail .sources a", "els => els.map(a => a.href)")
        assert links and links == [s["url"] for s in event["sources"]]

        tab.page.keyboard.press("Escape")
        detail.wait_for(state="hidden")
        assert tab.page.evaluate("document.activeElement.dataset.id") == second
        tab.assert_clean()

    def test_a_month_precision_date_is_shown_as_the_month(self, tab: Tab) -> None:
        tab.open()
        row = tab.page.locator("#list .row", has_text="OpenAI board")
        assert row.locator("time").text_content() == "2023-11"
        row.focus()
        tab.page.keyboard.press("Enter")
        when = tab.page.text_content("#detail .when") or ""
        assert tab.page.text_content("#detail .when time") == "2023-11"
        assert "November 2023" in when and "month precision" in when
        assert "2023-11-01" not in when
        tab.assert_clean()


class TestFilters:
    def test_unticking_a_category_hides_its_events(self, tab: Tab) -> None:
        tab.open()
        total = tab.count("#chart .mark")
        funding = tab.count("#chart .mark[data-category='funding']")
        assert funding > 0
        tab.page.locator("#legend .chip[data-category='funding'] input").uncheck()
        assert tab.count("#chart .mark[data-category='funding']") == 0
        assert tab.count("#chart .mark") == total - funding
        assert tab.count("#list .row") == total - funding
        tab.assert_clean()

    def test_min_importance_and_dates_and_search_narrow_the_events(
        self, tab: Tab, api: Callable[[str], Any]
    ) -> None:
        events = openai_events(api)
        tab.open()
        tab.page.locator("#importance").fill("60")
        assert tab.count("#chart .mark") == sum(e["importance"] >= 60 for e in events)
        tab.page.locator("#importance").fill("0")

        tab.page.fill("#from", "2019-01-01")
        tab.page.fill("#to", "2019-12-31")
        in_2019 = [
            e
            for e in events
            if e["occurred_end"] >= "2019-01-01" and e["occurred_start"] <= "2019-12-31"
        ]
        assert 0 < len(in_2019) < len(events)
        assert tab.count("#chart .mark") == len(in_2019)
        assert tab.count("#chart .band") >= 1

        tab.page.click("#reset")
        tab.page.fill("#q", "microsoft")
        matches = tab.count("#list .row")
        assert 0 < matches < len(events)
        titles = tab.page.eval_on_selector_all(
            "#list .row-title", "els => els.map(e => e.textContent)"
        )
        assert any("Microsoft" in t for t in titles)
        assert "q=microsoft" in tab.page.url
        tab.assert_clean()


class TestLive:
    def test_an_event_stored_while_the_page_is_open_appears(self, tab: Tab, store: Store) -> None:
        tab.open()
        if tab.page.get_attribute("body", "data-stream-api") != "1":
            pytest.skip(
                f"{STREAM_ROUTE} is not in this build of the timeline service yet"
                " (issue #5 item 3); the page degrades to 'live updates not available' (test below)"
            )
        tab.page.wait_for_selector("#live.on", timeout=15_000)
        title = "OpenAI announces a live test event for the browser"
        store.add(
            [
                cloudevent(
                    "live-1",
                    company="openai",
                    occurred="2025-11-03",
                    title=title,
                    summary="Stored while the page was open.",
                    sources=[{"url": "https://example.com/live", "publisher": "Example"}],
                )
            ]
        )
        tab.page.locator("#list .row", has_text=title).wait_for(timeout=20_000)
        assert tab.count(f"#chart .mark[aria-label*='{title}']") == 1
        tab.assert_clean()

    def test_without_a_stream_the_page_says_so_and_still_works(self, tab: Tab) -> None:
        tab.open()
        has_stream = tab.page.get_attribute("body", "data-stream-api") == "1"
        status = tab.page.text_content("#live .live-text") or ""
        if has_stream:
            assert "not available" not in status
        else:
            assert status == "live updates not available on this server"
        assert tab.count("#chart .mark") > 0
        tab.assert_clean()
