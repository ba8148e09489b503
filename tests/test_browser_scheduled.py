"""In a real Chromium: a show scheduled in the studio has a page that counts down in the
brand's language (#16: not the browser's) and the viewer's time zone, offers "Add to
calendar", and turns into the live player by itself when the host goes live, without a
reload."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from playwright.async_api import expect

from .browser import PageLog, chromium, eventually, log_in
from .conftest import Studio
from .utils import whip_publish

WAIT = 8000
ARTIFACTS = Path(__file__).parent / "artifacts"


async def test_scheduled_page_counts_down_and_turns_live(studio: Studio) -> None:
    async with chromium() as browser:
        context = await browser.new_context(locale="de-DE", timezone_id="Europe/Berlin")
        page = await context.new_page()
        log = PageLog("viewer").attach(page)

        # The host schedules the show in the studio, in two hours' time (their local time).
        await log_in(page, studio)
        starts = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2, minutes=30)).replace(
            second=0, microsecond=0
        )
        berlin = await page.evaluate(
            """(iso) => new Date(iso).toLocaleString("sv-SE", {timeZone: "Europe/Berlin"})
                 .replace(" ", "T").slice(0, 16)""",
            starts.isoformat(),
        )
        await page.fill("#create-show [name=title]", "Frühjahrs-Show")
        await page.fill("#create-show [name=starts_at]", berlin)
        await page.click("#create-show button[type=submit]")
        await page.wait_for_url(re.compile(r".*/studio/shows/[\w-]+$"))
        show_id = page.url.rsplit("/", 1)[1]
        show = await studio.store.get_show(show_id)
        assert show is not None and show.starts_at == starts.isoformat()
        key = await page.input_value("#stream-key")  # shown this once, for OBS

        # The viewer page: when, in the brand's language (en_US here, though this browser
        # is German: the page around the card speaks the shop's language) and Berlin time
        # (the viewer's zone), as intl.js's localizeTimes writes a show's start; a
        # countdown; the calendar.
        await page.goto(studio.url(f"/live/{show_id}"))
        expected = await page.evaluate(
            """(iso) => new Intl.DateTimeFormat("en-US",
                 {weekday: "short", day: "numeric", month: "short", year: "numeric",
                  hour: "2-digit", minute: "2-digit", timeZoneName: "short",
                  timeZone: "Europe/Berlin"})
                 .format(new Date(iso))""",
            starts.isoformat(),
        )
        await expect(page.locator("#scheduled time")).to_have_text(expected)
        await expect(page.locator("#countdown")).to_have_text(
            re.compile(r"Starts in 2:(29|30):\d\d"), timeout=WAIT
        )
        # Said once, on the picture (not again beside it); nobody is "watching" yet.
        await expect(page.locator("time[data-local]")).to_have_count(1)
        await expect(page.locator("#viewers")).to_have_text("")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "scheduled-viewer-page.png"))
        ics = await page.evaluate(
            """async () => {
                 const r = await fetch(document.getElementById("add-to-calendar").href);
                 return [r.status, r.headers.get("content-type"), await r.text()];
               }"""
        )
        assert ics[0] == 200 and ics[1].startswith("text/calendar"), ics
        assert f"UID:{show_id}@" in ics[2] and f"DTSTART:{starts:%Y%m%dT%H%M%SZ}" in ics[2]
        google = await page.get_attribute("#google-calendar", "href")
        assert google and google.startswith("https://calendar.google.com/")

        # The host goes live: the same document starts playing.
        await page.evaluate("window.sameDocument = true")
        pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
        try:
            await eventually(
                lambda: page.evaluate("document.getElementById('video').currentTime > 0.3"),
                20,
                "the page plays the show",
                log,
            )
            assert await page.evaluate("window.sameDocument === true"), "no reload"
            await expect(page.locator("#scheduled")).to_be_hidden()
            await expect(page.locator("#countdown")).to_have_text("")
            await expect(page.locator("#state-badge")).to_have_text("Live")
            await expect(page.locator("#viewers")).to_have_text("1 watching", timeout=WAIT)
        finally:
            await pub.close(studio.session)
        assert not [line for line in log.lines if "pageerror" in line], str(log)
