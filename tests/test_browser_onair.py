"""In a real Chromium, the viewer page's product card appears when the viewer's own video
shows the burned-in card, even with a 1.5 s jitter buffer (not when the event arrives)."""

from __future__ import annotations

import asyncio

import pytest

from .browser import PageLog, chromium, eventually, log_in, pin_and_watch, watch
from .conftest import MUG, Studio
from .utils import until, whip_publish

WITHOUT_RTP_METADATA_JS = """(() => {
  // As in Firefox and Safari: frame callbacks without rtpTimestamp.
  const real = HTMLVideoElement.prototype.requestVideoFrameCallback;
  HTMLVideoElement.prototype.requestVideoFrameCallback = function (callback) {
    return real.call(this, (now, meta) => {
      const copy = { ...meta };
      delete copy.rtpTimestamp;
      callback(now, copy);
    });
  };
})();"""


@pytest.mark.parametrize("rtp_from", ["frame metadata", "synchronization source"])
async def test_card_in_step_with_playback_and_buy(studio: Studio, rtp_from: str) -> None:
    token = await studio.store.create_api_token("t")
    product = await studio.create_product(token, like=MUG, url="https://shop.example/p/1")
    show_id, key = await studio.create_show("In step")
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    live = studio.onair.get(show_id)
    assert live is not None
    await until(lambda: live.stats().program_frames > 5, 10)
    async with chromium() as browser:
        hidden = WITHOUT_RTP_METADATA_JS if rtp_from == "synchronization source" else ""
        page, log = await watch(browser, studio.url(f"/live/{show_id}"), hidden)
        # A slow link: the browser plays 1.5 s behind what it has received.
        await page.evaluate(
            "window.livestudio.session.pc.getReceivers().forEach(r => r.jitterBufferTarget = 1500)"
        )
        # Deliberately let time pass: Chromium grows its buffer toward the target over a
        # few seconds and tells nobody when it gets there.
        await asyncio.sleep(3.0)
        t0, probe, shown = await pin_and_watch(studio, page, log, show_id, token, product["id"])
        assert shown["at"] - t0 >= 1200, (
            f"the page waited for its own playback ({shown['at'] - t0} ms)"
        )
        assert abs(shown["at"] - probe["seenAt"]) <= 150, (shown, probe)
        assert await page.text_content("#card-name") == "Kaffeetasse Café"
        assert await page.text_content("#card-price") == "€24.90"
        assert await page.text_content("#card-compare") == "€29.90"

        # Buy goes through /go/ and is counted.
        href = await page.get_attribute("#card-buy", "href")
        assert href == f"/go/{show_id}/{product['id']}"
        async with page.expect_popup() as popup_info:
            await page.click("#card-buy")
        popup = await popup_info.value

        async def clicked() -> bool:  # /go/ counts the click, then redirects
            counts = await studio.store.click_counts(show_id)
            return counts.get(product["id"], {}).get("live", 0) >= 1

        await until(clicked, 10)
        await popup.close()
        status, counts = await studio.api("GET", f"/api/shows/{show_id}/clicks", token)
        assert status == 200
        assert counts["clicks"][str(product["id"])]["live"] == 1
        featured = await page.text_content("#featured")
        assert featured is not None and "Kaffeetasse Café" in featured
    await pub.close(studio.session)


async def test_studio_buttons_pin_sale_and_stock(studio: Studio) -> None:
    token = await studio.store.create_api_token("t")
    product = await studio.create_product(token, like=MUG, name="Lamp <b>x</b>", stock=4)
    show_id, key = await studio.create_show("Buttons")
    await studio.store.set_running_order(show_id, [product["id"]])
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    live = studio.onair.get(show_id)
    assert live is not None
    await until(lambda: live.stats().program_frames > 5, 10)
    async with chromium() as browser:
        page = await browser.new_page()
        log = PageLog("studio").attach(page)
        await log_in(page, studio)
        await page.goto(f"{studio.base}/studio/shows/{show_id}")
        row = page.locator(f"#onair-products li[data-product='{product['id']}']")
        await row.wait_for()
        assert await row.locator(".name").text_content() == "Lamp <b>x</b>", "escaped"
        await row.get_by_role("button", name="Pin").click()
        await eventually(
            lambda: row.evaluate("li => li.classList.contains('pinned')"), 10, "pinned", log
        )
        assert studio.onair.products(show_id).state.pinned == product["id"]  # type: ignore[union-attr]
        await row.get_by_role("button", name="−1 stock").click()
        await eventually(lambda: _stock(studio, product["id"], 3), 10, "stock decremented", log)
        await row.get_by_role("button", name="Flash sale").click()
        await page.fill("#sale-form input[name=price]", "19.90")
        await page.fill("#sale-form input[name=seconds]", "30")
        await page.click("#sale-form button[type=submit]")
        await eventually(
            lambda: studio.onair.products(show_id).state.sale is not None,  # type: ignore[union-attr]
            10,
            "sale running",
            log,
        )
        await page.click("#unpin")
        await eventually(
            lambda: studio.onair.products(show_id).state.pinned is None,  # type: ignore[union-attr]
            10,
            "unpinned",
            log,
        )
    await pub.close(studio.session)


async def _stock(studio: Studio, product_id: int, expected: int) -> bool:
    product = await studio.store.get_product(product_id)
    return product is not None and product.stock == expected
