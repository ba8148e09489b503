"""Helpers for real-browser tests: launch Debian's Chromium, serve test pages, collect logs.

Never `playwright install`: the tests drive the system Chromium at CHROMIUM. If it is
missing, browser tests fail (they never skip) with a message saying how to install it.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    Response,
    async_playwright,
)

from .conftest import ADMIN, PASSWORD, Studio
from .media_files import write_tone, write_y4m

CHROMIUM = os.environ.get("LIVESTUDIO_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--use-fake-device-for-media-stream",  # a synthetic camera and microphone
    "--use-fake-ui-for-media-stream",  # grant camera/mic without a prompt
    "--allow-loopback-in-peer-connection",  # ICE over 127.0.0.1 (the server offers it)
    "--autoplay-policy=no-user-gesture-required",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VENDOR = Path(__file__).parent / "vendor"


def require_chromium() -> str:
    """The Chromium executable; fails the test (never skips) when it is missing."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"browser tests need Chromium at {CHROMIUM} (Debian: `apt-get install -y chromium`, "
            "or set LIVESTUDIO_TEST_CHROMIUM); `playwright install` is not used",
            pytrace=False,
        )
    return CHROMIUM


@asynccontextmanager
async def chromium(extra_args: Sequence[str] = ()) -> AsyncIterator[Browser]:
    """A headless Chromium (the system one), closed on exit."""
    executable = require_chromium()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=executable, headless=True, args=[*CHROMIUM_ARGS, *extra_args]
        )
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class PageLog:
    """What a page printed and which requests it made, for assertions and failure messages."""

    name: str
    lines: list[str] = field(default_factory=list)
    responses: list[tuple[str, str, int]] = field(default_factory=list)
    "(method, url, status) of every response the page received."
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    "(method, url, error) of every request that got no usable response (e.g. CORS)."

    def attach(self, page: Page) -> PageLog:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.lines.append(f"pageerror: {exc}"))
        page.on("response", self._response)
        page.on("requestfailed", self._failed)
        return self

    def _console(self, msg: ConsoleMessage) -> None:
        self.lines.append(f"console.{msg.type}: {msg.text}")

    def _response(self, response: Response) -> None:
        self.responses.append((response.request.method, response.url, response.status))

    def _failed(self, request: Request) -> None:
        self.failed.append((request.method, request.url, request.failure or "?"))

    def __str__(self) -> str:
        parts = [f"--- {self.name} page ---", *self.lines]
        parts += [f"{m} {u} -> {s}" for m, u, s in self.responses]
        parts += [f"{m} {u} FAILED {e}" for m, u, e in self.failed]
        return "\n".join(parts)


@asynccontextmanager
async def static_site(
    pages: Mapping[str, str], directories: Mapping[str, Path] | None = None
) -> AsyncIterator[TestServer]:
    """An HTTP server on 127.0.0.1 (a secure context for getUserMedia) serving test pages.

    `pages` maps paths to HTML text; `directories` maps URL prefixes to folders (by default
    `/vendor` → tests/vendor). Its origin differs from the studio server's (another port),
    so the pages talk to the studio cross-origin, as a third-party client would.
    """
    app = web.Application()
    for path, html in pages.items():

        async def handler(_request: web.Request, html: str = html) -> web.Response:
            return web.Response(
                text=html, content_type="text/html", headers={"Cache-Control": "no-store"}
            )

        app.router.add_get(path, handler)
    for prefix, folder in (directories or {"/vendor": VENDOR}).items():
        app.router.add_static(prefix, folder)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


async def eventually(
    check: Callable[[], Any],
    within: float,
    what: str,
    log: PageLog | None = None,
    interval: float = 0.2,
) -> Any:
    """Poll `check` (plain or async: a page, the store, server state) until it returns
    something truthy, and return that; fail naming `what`, with the page's log."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"{what} (within {within}s); last: {last}\n{log or ''}")


PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
"A 390x844 phone (the size issue #16 tried), touch and mobile viewport."


async def phone(browser: Browser) -> BrowserContext:
    """A browser context that is a PHONE."""
    return await browser.new_context(**PHONE)


async def watch_on_phone(browser: Browser, url: str) -> tuple[Page, PageLog]:
    """A viewer page at `url` on a PHONE, once its video plays."""
    page = await (await phone(browser)).new_page()
    log = PageLog("phone").attach(page)
    await page.goto(url)
    await eventually(
        lambda: page.evaluate("document.getElementById('video').videoWidth > 0"),
        20,
        "playing",
        log,
    )
    return page, log


async def watch(browser: Browser, url: str, init_script: str = "") -> tuple[Page, PageLog]:
    """A viewer page at `url`, once its video plays (an init script runs before the page's)."""
    page = await browser.new_page()
    if init_script:
        await page.add_init_script(init_script)
    log = PageLog("viewer").attach(page)
    await page.goto(url)
    await eventually(
        lambda: page.evaluate("document.getElementById('video').videoWidth > 0"),
        15,
        "playing",
        log,
    )
    return page, log


async def log_in(page: Page, studio: Studio, base: str = "") -> None:
    """Log `page` in to the studio through the login form as the admin (created if needed);
    `base` when the page reaches the server by another name than `studio.base`."""
    await studio.ensure_admin()
    base = base or studio.base
    await page.goto(f"{base}/studio")
    assert "/login" in page.url, "the studio asks for a login first"
    await page.fill("input[name=username]", ADMIN)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/studio")


CARD_PROBE_JS = """(rect) => {
  const v = document.getElementById("video");
  const c = document.createElement("canvas");
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext("2d", {willReadFrequently: true});
  window.probe = {seenAt: null, frames: 0};
  const base = [90, 60, 200];
  const onFrame = () => {
    g.drawImage(v, 0, 0);
    const d = g.getImageData(rect.x, rect.y, rect.width, rect.height).data;
    let diff = 0;
    for (let i = 0; i < d.length; i += 16) {
      diff += Math.abs(d[i] - base[0]) + Math.abs(d[i + 1] - base[1])
        + Math.abs(d[i + 2] - base[2]);
    }
    window.probe.frames += 1;
    if (window.probe.seenAt === null && diff / (d.length / 16) / 3 > 30) {
      window.probe.seenAt = performance.now();
    }
    v.requestVideoFrameCallback(onFrame);
  };
  v.requestVideoFrameCallback(onFrame);
}"""
"""Watches the viewer's <video> for the burned-in card: window.probe.seenAt is when the
card's rectangle (in video pixels) first differs from the stamped camera's colour."""


async def watch_for_card(page: Page, rect: Any) -> None:
    """Start CARD_PROBE_JS on the burned-in card's rectangle, 4 px inside its edges."""
    inset = {"x": rect.x + 4, "y": rect.y + 4, "width": rect.width - 8, "height": rect.height - 8}
    await page.evaluate(CARD_PROBE_JS, inset)


async def pin_and_watch(
    studio: Any, page: Page, log: PageLog, show_id: int, token: str, product_id: int
) -> tuple[float, dict[str, Any], dict[str, Any]]:
    """Pin the product and wait until the page has both seen the card burned into its
    video and shown the clickable card: (page time of the pin, probe, the 'shown' entry)."""
    t0 = float(await page.evaluate("performance.now()"))
    status, _ = await studio.api(
        "POST", f"/api/shows/{show_id}/pin", token, json={"product": product_id}
    )
    assert status == 200
    stage = studio.onair.products(show_id)
    assert stage is not None and stage.scene is not None and stage.scene.card_rect
    await watch_for_card(page, stage.scene.card_rect)

    async def both() -> Any:
        probe = await page.evaluate("window.probe")
        shown = await page.evaluate("window.livestudio.cards.log.filter(e => e.type === 'shown')")
        return probe["seenAt"] is not None and shown and (probe, shown[0])

    probe, shown = await eventually(both, 15, "card burned in and shown on the page", log)
    return t0, probe, shown


# An init script that collects the page's CSP violations in window.violations.
CSP_WATCH = """window.violations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.violations.push(`${e.violatedDirective} ${e.blockedURI}`));"""


async def media_browser(tmp_path: Path, *extra: str) -> Any:
    """Chromium whose fake camera and microphone play a y4m clip and a tone."""
    clip = write_y4m(tmp_path / "clip.y4m")
    tone = write_tone(tmp_path / "tone.wav")
    return chromium(
        [
            f"--use-file-for-fake-video-capture={clip}",
            f"--use-file-for-fake-audio-capture={tone}",
            *extra,
        ]
    )
