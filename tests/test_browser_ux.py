"""Issue #16 as a new user met it: a German brand (de_DE, EUR), a laptop studio (1280x800)
and a phone viewer (390x844), in one Chromium. Screenshots go to tests/artifacts/.

One session walks the whole show, so CI pays for one browser: the brand on the pages,
drafts unlisted, prices typed the German way, the program preview with its delay, a flash
sale shown and ended early, stock set to a number, a ban that says what it did, the phone
layout, and "ended" everywhere at once. A second, short one plays a portrait program.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Dialog, Page

from .browser import (
    PageLog,
    chromium,
    eventually,
    log_in,
    media_browser,
    phone,
    watch_on_phone,
)
from .conftest import LAMP, MUG, Studio
from .utils import image_bytes, until, whip_publish

ARTIFACTS = Path(__file__).parent / "artifacts"
BRAND = {
    "name": "Kaffeerösterei Lange",
    "locale": "de_DE",
    "currency": "EUR",
    "accent": "#0f766e",
    "corner": "bottom-left",
}


FONTS = Path(__file__).parent.parent / "livestudio" / "media" / "fonts"


def emoji_fonts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Let Chromium draw the chat's emoji (reactions, "🔇") in the screenshots.

    Phones have an emoji font; this test machine has none, so the reactions came out as
    empty boxes. The program's own emoji font (Symbola, in livestudio/media/fonts) is
    added to the system's fontconfig for the browser the test starts (it inherits the
    environment when Playwright starts). The pages themselves load no font.
    """
    conf = tmp_path / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
        '  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>\n'
        f"  <dir>{FONTS}</dir>\n  <cachedir>{tmp_path / 'fontcache'}</cachedir>\n"
        "</fontconfig>\n"
    )
    monkeypatch.setenv("FONTCONFIG_FILE", str(conf))


def accept_dialogs(page: Page) -> None:
    """Say yes to every confirm() (End show, Ban)."""

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.on("dialog", accept)


async def german_brand(studio: Studio) -> str:
    """The brand of the issue, with a logo; returns the API token."""
    token = await studio.api_token()
    status, brand = await studio.api("PUT", "/api/brand", token, json=BRAND)
    assert status == 200, brand
    reply = await studio.call(
        "POST",
        "/api/brand/logo",
        data=image_bytes("PNG", (200, 80)),
        headers={"Content-Type": "image/png"},
    )
    assert reply.status == 200, reply.text
    return token


def text_of(page: Page, selector: str) -> Any:
    return page.evaluate(f"(document.querySelector({selector!r}) || {{}}).textContent || ''")


async def test_a_german_show_from_laptop_studio_to_phone(
    studio: Studio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    emoji_fonts(monkeypatch, tmp_path)
    token = await german_brand(studio)
    mug = await studio.create_product(token, like=MUG)
    filter_ = await studio.create_product(token, like=LAMP, name="Handfilter Porzellan")
    draft, _ = await studio.store.create_show("Testshow (Entwurf)", None)
    status, show = await studio.api(
        "POST",
        "/api/shows",
        token,
        json={"title": "Herbstkaffee live", "starts_at": "2099-12-04T18:00:00Z"},
    )
    assert status == 201, show
    show_id = show["id"]
    status, _order = await studio.api(
        "PUT", f"/api/shows/{show_id}/products", token, json=[mug["id"], filter_["id"]]
    )
    assert status == 200

    async with await media_browser(tmp_path) as browser:
        browser: Browser  # type: ignore[no-redef]
        handset = await phone(browser)
        viewer = await handset.new_page()
        vlog = PageLog("phone").attach(viewer)

        # -- the home page: the shop's, in German; drafts are not listed -----------------------
        await viewer.goto(studio.base + "/")
        assert await viewer.locator("html").get_attribute("lang") == "de-DE"
        home = await viewer.text_content("main") or ""
        assert "Kaffeerösterei Lange" in (await viewer.text_content("header.site") or "")
        assert await viewer.locator("header.site img.brand-logo").count() == 1
        assert "Herbstkaffee live" in home and "Demnächst" in home, home
        assert "Testshow (Entwurf)" not in home, "a show without a start time is a draft"
        assert "Host login" not in home and "LiveStudio" not in home
        footer_link = viewer.locator("footer.site a.host-login")
        assert await footer_link.text_content() == "Anmelden"
        accent = await viewer.evaluate(
            "getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()"
        )
        assert accent == "#0f766e", accent
        when = await text_of(viewer, ".show-row time")
        assert "Dez." in when and "2099" in when, when
        # The draft's link still works, for whoever has it (unlisted, not private).
        response = await viewer.goto(f"{studio.base}/live/{draft.id}")
        assert response is not None and response.status == 200
        assert "Noch kein Termin." in (await viewer.text_content("aside") or "")

        # -- the studio on a laptop: prices the German way, sale, stock ------------------------
        desk = await browser.new_context(viewport={"width": 1280, "height": 800})
        host = await desk.new_page()
        hlog = PageLog("studio").attach(host)
        accept_dialogs(host)
        await log_in(host, studio)
        await host.goto(f"{studio.base}/studio/products")
        await host.click(f"tr[data-id='{mug['id']}'] button:has-text('Edit')")
        price_field = host.locator("#product-form input[name=price]")
        assert await price_field.input_value() == "24,90", "shown as de_DE writes it"
        await price_field.fill("22,50")
        await host.click("#product-form button[type=submit]")

        async def price() -> str:
            product = await studio.store.get_product(mug["id"])
            return "" if product is None else str(product.fields.price)

        await eventually(lambda: _is(price(), "22.50"), 5, "typed 22,50: saved 22.50", hlog)

        await host.goto(f"{studio.base}/studio/shows/{show_id}")
        assert "Bearer token" in (await host.text_content("main") or "")
        hint = await host.text_content("#encoder-hint") or ""
        assert "keyframe interval 1 s" in hint and "no B-frames" in hint
        assert await host.is_hidden("#dismiss-question"), "no question on screen yet"
        assert await host.is_visible("#bans"), "the ban list is out in the open"
        empty_chat = await host.evaluate(
            "getComputedStyle(document.getElementById('chat-messages'), '::before').content"
        )
        assert "No messages yet" in empty_chat
        await eventually(lambda: host.is_enabled("#go-live"), 15, "devices ready", hlog)
        await host.click("#go-live")
        await eventually(
            lambda: studio.onair.get(show_id) is not None and studio.onair.get(show_id).on_air,  # type: ignore[union-attr]
            20,
            "on air",
            hlog,
        )

        # -- the phone viewer: German words, the picture stays, unmute beside it -------------
        await viewer.goto(f"{studio.base}/live/{show_id}")
        await eventually(
            lambda: viewer.evaluate("document.getElementById('video').videoWidth > 0"),
            20,
            "the phone plays",
            vlog,
        )
        assert await viewer.text_content("#unmute") == "🔇 Ton an"
        assert await viewer.get_attribute("input[name=text]", "placeholder") == "Stell eine Frage…"
        assert await text_of(viewer, "#state-badge") == "Live"
        chat_hint = await viewer.evaluate(
            "getComputedStyle(document.getElementById('chat-messages'), '::before').content"
        )
        assert "Noch keine Nachrichten" in chat_hint
        await eventually(
            lambda: viewer.evaluate(
                "document.getElementById('viewers').textContent === '1 schauen zu'"
            ),
            10,
            "the count, in German",
            vlog,
        )
        video_box = await viewer.locator("#video").bounding_box()
        unmute_box = await viewer.locator("#unmute").bounding_box()
        assert video_box and unmute_box
        assert unmute_box["y"] >= video_box["y"] + video_box["height"] - 1, "not over the picture"

        # -- the program preview: what viewers see, not counted, with the delay --------------
        await host.click("button[data-view=both]")
        await eventually(
            lambda: host.evaluate("document.getElementById('program').videoWidth > 0"),
            20,
            "the program plays in the studio",
            hlog,
        )
        assert await host.is_visible("#preview") and await host.is_visible("#program")
        await eventually(
            lambda: host.evaluate(
                "/Viewers see you \\d+\\.\\d s later/.test("
                "document.getElementById('program-delay').textContent)"
            ),
            10,
            "the host's delay",
            hlog,
        )
        delay = await host.evaluate("window.livestudio.program.delay()")
        assert 0 <= delay < 3, delay
        await asyncio.sleep(0.5)
        assert await text_of(host, "#viewers") == "1", "the preview is not a viewer"
        assert await text_of(viewer, "#viewers") == "1 schauen zu"

        # -- pin, a flash sale typed "19,90", shown running, ended early ----------------------
        row = host.locator(f"#onair-products li[data-product='{mug['id']}']")
        await row.locator("button[data-role=pin]").click()
        await eventually(lambda: viewer.is_visible("#product-card"), 10, "card on the phone", vlog)
        await row.locator("button[data-role=sale]").click()
        await host.fill("#sale-form input[name=price]", "19,90")
        await host.fill("#sale-form input[name=seconds]", "300")
        await host.click("#sale-form button[type=submit]")
        sale_line = row.locator("[data-role=sale-now]")
        await eventually(lambda: sale_line.count(), 10, "the sale shows in the studio", hlog)
        sale_text = (await sale_line.first.text_content() or "").replace("\xa0", " ")
        assert "19,90 €" in sale_text and re.search(r"ends in [45]:\d\d", sale_text), sale_text
        await eventually(
            lambda: viewer.evaluate(
                "(document.getElementById('card-price').textContent || '').includes('19,90')"
            ),
            10,
            "the sale price on the phone",
            vlog,
        )
        await viewer.screenshot(path=str(ARTIFACTS / "ux-phone-390x844-de.png"))
        await host.screenshot(path=str(ARTIFACTS / "ux-studio-1280x800-de.png"), full_page=True)
        await row.locator("button[data-role=end-sale]").click()
        await eventually(
            lambda: row.locator("button[data-role=sale]").count(),
            10,
            "sale over: the Flash sale button is back",
            hlog,
        )
        await eventually(
            lambda: viewer.evaluate(
                "(document.getElementById('card-price').textContent || '').includes('22,50')"
            ),
            10,
            "the phone's card back at the price",
            vlog,
        )

        # -- stock: a number, also for a product that did not track it -----------------------
        await row.locator(".stock-form input").fill("30")
        await row.locator(".stock-form button").click()
        # Waits for 30 itself: the mug already had a stock (12), truthy before the change.
        await eventually(
            lambda: _is(_stock(studio, mug["id"]), 30), 5, "stock 30", hlog, interval=0.1
        )
        assert await _stock(studio, mug["id"]) == 30
        other = host.locator(f"#onair-products li[data-product='{filter_['id']}']")
        assert await other.locator(".stock-form button").text_content() == "Track stock"
        await other.locator(".stock-form input").fill("5")
        await other.locator(".stock-form button").click()
        await eventually(lambda: _stock(studio, filter_["id"]), 5, "tracked now", hlog)
        assert await _stock(studio, filter_["id"]) == 5

        # -- a question on screen, a ban that says what it did --------------------------------
        await viewer.fill("input[name=name]", "Jonas")
        await viewer.fill("input[name=text]", "Gibt es die Tasse in Blau?")
        await viewer.click("#chat-form button[type=submit]")
        message = host.locator("#chat-messages li", has_text="Gibt es die Tasse in Blau?")
        await eventually(lambda: message.count(), 10, "the question in the studio", hlog)
        await message.locator("button", has_text="Highlight").click()
        await eventually(lambda: host.is_visible("#dismiss-question"), 10, "dismiss shown", hlog)
        await message.locator("button", has_text="Ban").first.click()
        await eventually(
            lambda: host.evaluate(
                "document.getElementById('status').textContent.includes('Banned Jonas')"
            ),
            10,
            "the host reads what the ban did",
            hlog,
        )
        said = await text_of(host, "#status")
        assert "Their messages stay." in said, said
        assert await message.count() == 1, "banning kept the message (a separate choice)"
        await eventually(
            lambda: host.locator("#bans li", has_text="Jonas").count(), 5, "listed", hlog
        )
        await eventually(
            lambda: viewer.is_disabled("input[name=text]"), 10, "the phone stops taking input", vlog
        )
        assert (
            await text_of(viewer, "#chat-status") == "Der Host hat dich aus diesem Chat entfernt."
        )
        await host.click("#dismiss-question")
        await eventually(lambda: host.is_hidden("#dismiss-question"), 10, "dismissed", hlog)

        # -- End show: ended everywhere, at once ---------------------------------------------
        tracks = await host.evaluate(
            "window.livestudio.stream.getTracks().map((t) => t.readyState)"
        )
        assert tracks and set(tracks) == {"live"}
        await host.evaluate("window.cameraTracks = window.livestudio.stream.getTracks()")
        await host.click("#end-show")
        await eventually(lambda: host.is_visible("#ended-banner"), 10, "the studio says so", hlog)
        assert await host.evaluate("window.cameraTracks.every((t) => t.readyState === 'ended')"), (
            "camera and microphone off"
        )
        assert await host.evaluate("window.livestudio.session === null")
        assert await host.evaluate("window.livestudio.program.session === null")
        assert await text_of(host, "#outgoing") == "–"
        assert await text_of(host, "#health") == "ended"
        assert await text_of(host, "#viewers") == "–"
        assert await row.locator("button[data-role=pin]").is_disabled()
        assert await host.is_disabled("#unpin")
        await asyncio.sleep(1.1)  # the clock's last tick
        elapsed = await text_of(host, "#elapsed")
        await asyncio.sleep(1.3)
        assert await text_of(host, "#elapsed") == elapsed, "the clock stopped"
        await eventually(
            lambda: viewer.evaluate(
                "document.getElementById('state-badge').textContent === 'Beendet'"
            ),
            10,
            "the phone says ended",
            vlog,
        )
        assert await text_of(viewer, "#viewers") == ""
        assert await viewer.is_disabled("#chat-form button[type=submit]")
        await eventually(lambda: viewer.is_visible("#replay-link"), 20, "the replay link", vlog)
        assert await text_of(viewer, "#replay-link") == "Aufzeichnung ansehen"
        assert await text_of(viewer, "#message") == "Die Show ist vorbei. Danke fürs Zuschauen!"

        # -- the replay, in German too -------------------------------------------------------
        await viewer.click("#replay-link")
        await viewer.wait_for_url(f"**/replay/{show_id}")
        side = await viewer.text_content("aside") or ""
        assert "Aufzeichnung" in side and "Produkte in dieser Show" in side, side
        assert "MP4 herunterladen" in side
        for log in (vlog, hlog):
            assert not [line for line in log.lines if "pageerror" in line], str(log)


async def _is(value: Any, expected: Any) -> bool:
    return await value == expected


async def _stock(studio: Studio, product_id: int) -> int | None:
    product = await studio.store.get_product(product_id)
    return None if product is None else product.fields.stock


async def test_portrait_program_on_a_phone(
    studio: Studio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    emoji_fonts(monkeypatch, tmp_path)
    token = await german_brand(studio)
    mug = await studio.create_product(token, like=MUG)
    status, show = await studio.api(
        "POST", "/api/shows", token, json={"title": "Fürs Handy", "orientation": "portrait"}
    )
    assert status == 201, show
    await studio.api("PUT", f"/api/shows/{show['id']}/products", token, json=[mug["id"]])
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show['id']}"), show["stream_key"])
    try:
        await until(lambda: studio.onair.get(show["id"]) is not None, 10)
        async with chromium() as browser:
            page, log = await watch_on_phone(browser, f"{studio.base}/live/{show['id']}")
            size = await page.evaluate(
                "[document.getElementById('video').videoWidth,"
                " document.getElementById('video').videoHeight]"
            )
            assert size == [720, 1280], size
            status, _ = await studio.api(
                "POST", f"/api/shows/{show['id']}/pin", token, json={"product": mug["id"]}
            )
            assert status == 200
            await eventually(lambda: page.is_visible("#product-card"), 10, "card", log)
            box = await page.locator("#video").bounding_box()
            assert box and box["height"] > 500, box
            buy = await page.locator("#card-buy").bounding_box()
            assert buy and buy["y"] + buy["height"] <= 844, "Buy within the thumb's reach"
            # The burned-in card's text is readable on the phone: ≥ 12 px on screen.
            scene = studio.onair.products(show["id"]).scene  # type: ignore[union-attr]
            assert scene is not None
            name_px = 22 * scene.scale * box["height"] / 1280
            assert name_px >= 12, name_px
            await asyncio.sleep(1)
            await page.screenshot(path=str(ARTIFACTS / "ux-phone-portrait-390x844-de.png"))
    finally:
        await pub.close(studio.session)
