"""In a real Chromium: the brand lists its site in the studio, pastes the studio's embed
code into a page of that site (another origin), and the player there turns live by itself,
shows the card when the host pins, and Buy opens the shop in the top window. A site the
brand did not list gets no player. After the show the same code plays the replay."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Frame, Page, expect

from .browser import CSP_WATCH, PageLog, chromium, eventually, log_in, static_site
from .conftest import MUG, Studio
from .utils import whip_publish

SHOP = "<!doctype html><title>Our shop</title><h1>Our shop</h1><main id='shop'></main>"
THANKS = "<!doctype html><title>Bought</title><h1>Thanks</h1>"
PASTE_JS = "code => document.getElementById('shop').insertAdjacentHTML('beforeend', code)"
WAIT = 8000


def origin(site: Any) -> str:
    return str(site.make_url("")).rstrip("/")


async def embedded(page: Page, show_id: str, log: PageLog) -> Frame:
    """The frame of the player, once it has a document (or an error page) in it."""

    def find() -> Frame | None:
        return next((f for f in page.frames if f is not page.main_frame and f.url), None)

    frame: Frame = await eventually(find, 10, "the embed's frame", log)
    return frame


async def test_player_on_the_brands_site(studio: Studio) -> None:
    token = await studio.api_token()
    async with (
        static_site({"/shop.html": SHOP, "/bought": THANKS}) as shop,
        static_site({"/shop.html": SHOP}) as stranger,
        chromium() as browser,
    ):
        product = await studio.create_product(token, like=MUG, url=f"{origin(shop)}/bought")
        show_id, key = await studio.create_show("On your site")

        # The studio: the brand lists its site, and copies the show's embed code.
        host = await browser.new_page()
        host_log = PageLog("studio").attach(host)
        await log_in(host, studio)
        await host.goto(studio.url("/studio/brand"))
        await host.fill("#embed-origins", f"{origin(shop)}/")
        await host.click("#save-brand")
        await expect(host.locator("#brand-status")).to_have_text("Saved.", timeout=WAIT)
        await expect(host.locator("#embed-origins")).to_have_value(origin(shop))
        await host.goto(studio.url(f"/studio/shows/{show_id}"))
        await host.click("#embed summary")
        await expect(host.locator("#embed-origins")).to_contain_text(origin(shop))
        await host.check("#embed-chat")
        assert "?chat=1" in await host.input_value("#embed-code")
        await host.uncheck("#embed-chat")
        code = await host.input_value("#embed-code")
        assert code.startswith(f'<iframe src="{studio.settings.base_url}/embed/{show_id}"')
        # The test server listens on its own port, not base_url's.
        code = code.replace(studio.settings.base_url, studio.base)

        # The brand's page, before the show: the player waits, then turns live by itself.
        page = await browser.new_page()
        await page.add_init_script(CSP_WATCH)  # in the frame too: the embed under its policy
        log = PageLog("shop").attach(page)
        await page.goto(f"{origin(shop)}/shop.html")
        await page.evaluate(PASTE_JS, code)
        frame = await embedded(page, show_id, log)
        await expect(frame.locator("#message")).to_contain_text("not started", timeout=WAIT)
        pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
        try:
            await eventually(
                lambda: frame.evaluate("document.getElementById('video').currentTime > 0.5"),
                20,
                "the embedded player plays",
                log,
            )
            t0 = await frame.evaluate("document.getElementById('video').currentTime")
            await eventually(
                lambda: frame.evaluate(f"document.getElementById('video').currentTime > {t0}"),
                5,
                "playback advances",
                log,
            )

            # The host pins: the card with Buy shows in the embed.
            status, _ = await studio.api(
                "POST", f"/api/shows/{show_id}/pin", token, json={"product": product["id"]}
            )
            assert status == 200
            await expect(frame.locator("#product-card")).to_be_visible(timeout=WAIT)
            await expect(frame.locator("#card-name")).to_have_text(MUG["name"])

            # A site the brand did not list: the browser refuses to show the player.
            other = await browser.new_page()
            other_log = PageLog("stranger").attach(other)
            await other.goto(f"{origin(stranger)}/shop.html")
            await other.evaluate(PASTE_JS, code)
            refused = await embedded(other, show_id, other_log)
            await eventually(
                lambda: refused.url.startswith("chrome-error:"),
                10,
                f"the frame is refused ({refused.url})",
                other_log,
            )
            assert await refused.locator("#video").count() == 0

            assert await frame.evaluate("window.violations") == [], "nothing blocked"

            # Buy opens the shop in the top window (not in the frame, not a new tab).
            await frame.click("#card-buy")
            await page.wait_for_url(f"{origin(shop)}/bought?**", timeout=WAIT)
            assert "utm_medium=embed" in page.url
            assert [len(c.pages) for c in browser.contexts] == [1, 1, 1], "no new tab"
            # The host ends the show (its replay is published at once).
            status, _ = await studio.api("POST", f"/api/shows/{show_id}/end", token)
            assert status == 200
            # Counted, though the frame kept no cookie.
            status, clicks = await studio.api("GET", f"/api/shows/{show_id}/clicks", token)
            assert clicks == {"clicks": {str(product["id"]): {"live": 1, "replay": 0}}}
        finally:
            await pub.close(studio.session)

        # After the show, the same code on the site plays the replay, card and Buy included.
        async def published() -> bool:
            show = await studio.store.get_show(show_id)
            return show is not None and show.state == "published"

        await eventually(published, 15, "the replay is published")
        later = await browser.new_page()
        later_log = PageLog("shop, later").attach(later)
        await later.goto(f"{origin(shop)}/shop.html")
        await later.evaluate(PASTE_JS, code)
        replay = await embedded(later, show_id, later_log)
        await eventually(
            lambda: replay.evaluate("window.livestudio && window.livestudio.ready"),
            10,
            "the replay loads in the frame",
            later_log,
        )
        await replay.evaluate("document.getElementById('video').play()")
        await expect(replay.locator("#product-card")).to_be_visible(timeout=WAIT)
        await replay.click("#card-buy")
        await later.wait_for_url(f"{origin(shop)}/bought?**", timeout=WAIT)
        status, clicks = await studio.api("GET", f"/api/shows/{show_id}/clicks", token)
        assert clicks == {"clicks": {str(product["id"]): {"live": 1, "replay": 1}}}
        for each in (log, host_log, later_log):
            assert not [line for line in each.lines if "pageerror" in line], str(each)


async def test_a_small_player_keeps_its_title_clear_of_the_unmute_button(studio: Studio) -> None:
    show_id, _ = await studio.create_show("Spring collection: linen, ceramics and more")
    async with chromium() as browser:
        for width, height in ((320, 180), (480, 270)):
            page = await browser.new_page(viewport={"width": width, "height": height})
            await page.goto(studio.url(f"/embed/{show_id}"))
            unmute = await page.locator("#unmute").bounding_box()
            title = await page.locator(".embed-title").bounding_box()
            badge = await page.locator("#state-badge").bounding_box()
            assert unmute and title and badge
            assert unmute["x"] + unmute["width"] <= title["x"], (width, unmute, title)
            assert title["x"] + title["width"] <= badge["x"], (width, title, badge)
            assert badge["x"] + badge["width"] <= width, (width, badge)
            await page.close()
