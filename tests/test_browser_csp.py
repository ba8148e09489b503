"""The pages work under their Content-Security-Policy in a real browser: nothing is
blocked (scripts, styles, the events WebSocket, hls.js's worker and media), and what the
inline code did moves to static scripts (the replay poster's fallback, the brand preview's
accent, the studio's time zone)."""

from __future__ import annotations

from playwright.async_api import Page

from .browser import CSP_WATCH, PageLog, chromium, eventually, log_in
from .conftest import Studio, next_of, say
from .utils import recorded_show


async def clean(page: Page, log: PageLog, what: str) -> None:
    violations = await page.evaluate("window.violations")
    assert violations == [], f"{what}: blocked by the policy: {violations}"
    assert not [line for line in log.lines if "pageerror" in line], log.lines


async def test_every_page_runs_under_its_policy(studio: Studio) -> None:
    live_show, _ = await studio.create_live_show("On air")
    replay_show = await recorded_show(studio, "published")
    (studio.settings.recordings_dir / replay_show / "poster.jpg").unlink()  # no poster yet
    async with chromium() as browser:
        context = await browser.new_context()
        await context.add_init_script(CSP_WATCH)
        page = await context.new_page()
        log = PageLog("pages").attach(page)

        await page.goto(studio.url("/"))
        await eventually(
            lambda: page.evaluate(
                "[...document.images].some(i => i.src.endsWith('/static/img/og.png')"
                " && i.naturalWidth > 0)"
            ),
            10,
            "a replay without a poster shows the site's picture",
            log,
        )
        await clean(page, log, "home")

        await page.goto(studio.url(f"/live/{live_show}"))
        await eventually(lambda: page.evaluate("!!window.livestudio.chat"), 10, "ready", log)
        session, ws, _ = await studio.viewer_page(live_show)
        await say(ws, "over the events socket")
        await next_of(ws, "chat")
        await eventually(
            lambda: page.evaluate(
                "document.getElementById('chat-messages').textContent"
                ".includes('over the events socket')"
            ),
            10,
            "the page's events WebSocket connected",
            log,
        )
        await session.close()
        await clean(page, log, "viewer page")

        await page.goto(studio.url(f"/replay/{replay_show}"))
        await eventually(lambda: page.evaluate("window.livestudio.ready"), 15, "replay", log)
        await clean(page, log, "replay (hls.js)")

        await log_in(page, studio)
        await page.goto(studio.url("/studio"))
        offset = await page.evaluate("document.querySelector('[name=tz_offset]').value")
        assert offset != "", "the new-show form knows the browser's time zone"
        await clean(page, log, "studio")
        for path in (
            f"/studio/shows/{live_show}",
            "/studio/products",
            "/studio/sessions",
        ):
            await page.goto(studio.url(path))
            await page.wait_for_load_state("networkidle")
            await clean(page, log, path)
        await page.goto(studio.url("/studio/brand"))
        accent = await page.evaluate(
            "getComputedStyle(document.getElementById('preview'))"
            ".getPropertyValue('--card-accent').trim()"
        )
        assert accent == (await studio.store.get_brand()).accent, "the preview's accent"
        await clean(page, log, "brand")
