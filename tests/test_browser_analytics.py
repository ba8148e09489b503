"""In Chromium, after a real show with a viewer and a pinned product: the studio's
analytics page draws its charts with the pin marked and counts that viewer, the overview
lists the show and its product; the clips
page makes a clip and a vertical clip in one click each (progress shown), trims one, and
the clip's share page plays."""

from __future__ import annotations

import asyncio
from typing import Any

from livestudio.http.keys import AUDIENCE

from .browser import PageLog, chromium, eventually, log_in, watch
from .conftest import MUG, Studio
from .utils import until, whip_publish


async def test_analytics_page_and_clips_from_the_studio(studio: Studio) -> None:
    token = await studio.api_token()
    product = await studio.create_product(like=MUG)
    show_id, key = await studio.create_show("Browser clips")
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    live = studio.onair.get(show_id)
    assert live is not None
    await until(lambda: live.on_air and live.stats().program_frames > 5, 10)
    async with chromium() as browser:
        viewer, log = await watch(browser, studio.url(f"/live/{show_id}"))
        # The viewer's player counts as watching (its session, the peak of 1 below).
        await until(lambda: studio.app[AUDIENCE].watching(show_id) == 1, 15)
        status, _ = await studio.api(
            "POST", f"/api/shows/{show_id}/pin", token, json={"product": product["id"]}
        )
        assert status == 200
        await asyncio.sleep(4.5)  # deliberately: the pinned chapter the clips are cut from
        status, _ = await studio.api("POST", f"/api/shows/{show_id}/end", token)
        assert status == 200
        await viewer.close()
        await until(lambda: studio.onair.get(show_id) is None, 15)

        host = await browser.new_page()
        host_log = PageLog("studio").attach(host)
        await log_in(host, studio)
        await host.goto(studio.url(f"/studio/shows/{show_id}"))
        await host.click("#analytics-link")
        await host.wait_for_url(f"**/studio/shows/{show_id}/analytics")
        assert await host.text_content("#peak") == "1", log  # the Chromium viewer
        assert await host.text_content("#unique") == "1"
        assert await host.locator("svg.chart.viewers").count() == 1
        assert await host.locator("svg.chart.activity").count() == 1
        pins = host.locator(f"svg.chart.viewers g.marker.pin[data-product='{product['id']}']")
        assert await pins.count() == 1
        assert "Pinned Kaffeetasse Café" in (await pins.first.locator("title").text_content() or "")
        line = await host.get_attribute("svg.chart.viewers path.line.viewers", "d")
        assert line and line.startswith("M")
        row = host.locator(f"#products tr[data-product='{product['id']}']")
        assert "Kaffeetasse Café" in (await row.text_content() or "")
        box = await host.locator("svg.chart.viewers").bounding_box()
        assert box and box["width"] > 300 and box["height"] > 80, "the chart is drawn, sized"
        # Across shows: the header's Analytics link, this show's row, its product.
        await host.click("header.site a[href='/studio/analytics']")
        await host.wait_for_url("**/studio/analytics")
        show_row = host.locator(f"#shows tr[data-show='{show_id}']")
        assert "Browser clips" in (await show_row.text_content() or "")
        assert await host.locator(f"#products tr[data-product='{product['id']}']").count() == 1

        # Clips: one click per chapter, plain then vertical.
        await host.goto(studio.url(f"/studio/shows/{show_id}/clips"))
        await host.click("#chapters li[data-chapter='0'] button.make-clip")
        ready = host.locator("#clips li[data-kind='plain'][data-status='ready']")
        await ready.wait_for(timeout=10_000)
        await host.click("#chapters li[data-chapter='0'] button.make-vertical")
        working = host.locator("#clips li[data-kind='vertical'][data-status='working'] progress")
        await working.wait_for(timeout=10_000)  # the progress of the re-encode, shown
        vertical = host.locator("#clips li[data-kind='vertical'][data-status='ready']")
        await vertical.wait_for(timeout=60_000)

        # Trim the plain clip from the studio: a new version, starting at a keyframe.
        clips = (await studio.api("GET", f"/api/shows/{show_id}/clips", token))[1]["clips"]
        plain = next(c for c in clips if c["kind"] == "plain")
        await ready.locator("input[name=start]").fill(str(plain["start"] + 1.0))
        await ready.locator("button[type=submit]").click()

        async def trimmed() -> Any:
            _, now = await studio.api("GET", f"/api/clips/{plain['id']}", token)
            return now["version"] == 2 and now

        after = await eventually(trimmed, 10, "the trimmed clip", host_log)
        assert after["start"] == round(plain["start"] + 1.0, 3)
        assert after["cut_start"] <= after["start"]

        # Its share page plays, and previews as a video.
        share = await browser.new_page()
        await share.goto(studio.url(f"/clips/{plain['id']}"))
        og = await share.get_attribute('meta[property="og:video"]', "content")
        assert og and og.endswith(f"/clips/{plain['id']}/video.mp4")
        await share.evaluate("document.getElementById('video').muted = true")
        await share.evaluate("document.getElementById('video').play()")
        await eventually(
            lambda: share.evaluate(
                "(() => { const v = document.getElementById('video');"
                " return v.videoWidth > 0 && v.currentTime > 0.5; })()"
            ),
            15,
            "the clip plays",
        )
        assert await share.text_content("#clip-product h2") == "Kaffeetasse Café"
        vertical_id = next(c["id"] for c in clips if c["kind"] == "vertical")
        await share.goto(studio.url(f"/clips/{vertical_id}"))
        await share.evaluate("document.getElementById('video').muted = true")
        await share.evaluate("document.getElementById('video').play()")
        size = await eventually(
            lambda: share.evaluate(
                "(() => { const v = document.getElementById('video');"
                " return v.videoWidth > 0 && v.currentTime > 0.2"
                " && [v.videoWidth, v.videoHeight]; })()"
            ),
            15,
            "the vertical clip plays",
        )
        assert size == [720, 1280]
    await pub.close(studio.session, delete=False)
