"""The studio's Destinations panel in a real Chromium: presets fill the server URL, the key
is typed once and never shown again, the state follows the show live, Remove stops it."""

from __future__ import annotations

from pathlib import Path

from .browser import PageLog, chromium, eventually, log_in
from .conftest import Studio
from .rtmp_servers import NginxRtmp
from .utils import whip_publish

KEY = "browser-key-7c1e"


async def test_destinations_panel_adds_follows_and_removes(studio: Studio, tmp_path: Path) -> None:
    nginx = NginxRtmp(tmp_path / "nginx").start()
    show_id, stream_key = await studio.create_show()
    base = studio.base
    try:
        async with chromium() as browser:
            page = await browser.new_page()
            log = PageLog("studio").attach(page)
            await log_in(page, studio)
            await page.goto(f"{base}/studio/shows/{show_id}")
            await page.select_option("#destination-preset", "twitch")
            assert await page.input_value("#destination-url") == "rtmp://live.twitch.tv/app"
            await page.select_option("#destination-preset", "rtmp")
            await page.fill("#destination-url", nginx.url)
            await page.fill("#destination-key", KEY)
            await page.click("#destination-form button[type=submit]")
            item = "#destinations li[data-state=idle]"
            await eventually(lambda: page.locator(item).count(), 10, "listed, idle", log)
            assert await page.input_value("#destination-key") == "", "the key field is cleared"
            assert KEY not in await page.content(), "the key is never shown back"
            (record,) = await studio.store.destinations(show_id)
            assert record.url == nginx.url and record.key == KEY

            pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), stream_key)
            try:
                live = "#destinations li[data-state=live]"
                await eventually(lambda: page.locator(live).count(), 30, "shown live", log)
                await page.click("#destinations li button")

                async def none_listed() -> bool:
                    return await page.locator("#destinations li").count() == 0

                await eventually(none_listed, 10, "removed", log)
                assert await studio.store.destinations(show_id) == []
            finally:
                await pub.close(studio.session)
            assert not [line for line in log.lines if "pageerror" in line], log
    finally:
        nginx.kill()
    assert any(nginx.files()), "nginx received the restream while it was listed live"
