"""Issue #16's phone layout for the normal, landscape (16:9, 720p) program, in Chromium
emulating a phone (390x844, touch): the picture stays on screen (sticky) while the page
scrolls through a long chat, the chat form and the card's Buy stay within the thumb's
reach and are not covered, the chat comes before the product list, and the page's card is
readable. (The portrait program is tests/test_browser_ux.py's.)"""

from __future__ import annotations

from typing import Any

from .browser import PHONE, chromium, eventually, watch_on_phone
from .conftest import LAMP, MUG, Studio, next_of, say
from .utils import until, whip_publish

HEIGHT = PHONE["viewport"]["height"]

HIT_JS = """(selector) => {
  const el = document.querySelector(selector);
  const r = el.getBoundingClientRect();
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return !!hit && (hit === el || el.contains(hit));
}"""
"Whether a tap at the element's centre lands on it (nothing sticky painted over it)."


async def _box(page: Any, selector: str) -> dict[str, float]:
    box = await page.locator(selector).bounding_box()
    assert box, f"{selector} is laid out"
    return box  # type: ignore[no-any-return]


async def _layout(page: Any, where: str) -> dict[str, dict[str, float]]:
    """The picture on screen; the chat form and Buy on screen under it, in the lower half
    (the thumb's), and tappable (not covered)."""
    video = await _box(page, "#video")
    assert video["y"] >= -1 and video["y"] + video["height"] <= HEIGHT, (where, video)
    assert video["height"] >= 390 * 9 / 16 - 2, (where, "full width", video)
    boxes = {"video": video}
    for selector in ("#chat-form input[name=text]", "#chat-form button[type=submit]", "#card-buy"):
        box = await _box(page, selector)
        boxes[selector] = box
        assert box["y"] >= video["y"] + video["height"] - 1, (where, selector, "under it", box)
        assert box["y"] + box["height"] <= HEIGHT, (where, selector, "on screen", box)
        assert box["y"] + box["height"] / 2 >= HEIGHT / 2, (where, selector, "thumb's half", box)
        assert await page.evaluate(HIT_JS, selector), (where, selector, "covered")
    return boxes


async def test_landscape_program_on_a_phone(studio_factory: Any) -> None:
    # Every viewer here chats from 127.0.0.1: the per-address limit must not stop the test.
    studio: Studio = await studio_factory(chat_messages_per_ip=100)
    token = await studio.api_token()
    mug = await studio.create_product(token, like=MUG)
    lamp = await studio.create_product(token, like=LAMP)
    status, show = await studio.api("POST", "/api/shows", token, json={"title": "Quer"})
    assert status == 201, show
    show_id = show["id"]
    await studio.api("PUT", f"/api/shows/{show_id}/products", token, json=[mug["id"], lamp["id"]])
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), show["stream_key"])
    sessions: list[Any] = []
    try:
        await until(lambda: studio.onair.get(show_id) is not None, 10)
        async with chromium() as browser:
            page, log = await watch_on_phone(browser, f"{studio.base}/live/{show_id}")
            size = await page.evaluate(
                "[document.getElementById('video').videoWidth,"
                " document.getElementById('video').videoHeight]"
            )
            assert size[0] * 9 == size[1] * 16, f"a landscape 16:9 program: {size}"
            assert not await page.evaluate("document.body.classList.contains('portrait')")
            status, _ = await studio.api(
                "POST", f"/api/shows/{show_id}/pin", token, json={"product": mug["id"]}
            )
            assert status == 200
            await eventually(lambda: page.is_visible("#product-card"), 10, "card", log)

            # A short chat: everything fits, nothing scrolled yet.
            top = await _layout(page, "at the top")

            # The page's card is readable on the phone, on screen with the picture. (The card
            # burned into a landscape picture is not: it scales with the picture, its name
            # 22 px of 720 shown 219 px high, ~6.7 px. The portrait program is the answer.)
            for selector in ("#card-name", "#card-price"):
                px = await page.evaluate(
                    f"parseFloat(getComputedStyle(document.querySelector({selector!r})).fontSize)"
                )
                assert px >= 12, (selector, px)

            # The chat comes before the product list.
            featured = await _box(page, "#featured-section")
            assert top["#chat-form input[name=text]"]["y"] < featured["y"], featured

            # A long chat: the page scrolls, the picture stays, the form and Buy too.
            # (Five messages per viewer per 10 s: six viewers say five each.)
            for v in range(6):
                session, ws, _ = await studio.viewer_page(show_id)
                sessions.append(session)
                for n in range(5):
                    await say(ws, f"message {n}: " + "so schön " * 6, name=f"V{v}")
                    await next_of(ws, "chat")
            await eventually(
                lambda: page.evaluate(
                    "document.querySelectorAll('#chat-messages li').length === 30"
                ),
                10,
                "30 messages",
                log,
            )
            room = await page.evaluate(
                "document.scrollingElement.scrollHeight - window.innerHeight"
            )
            assert room > HEIGHT, f"the page is long enough to scroll ({room})"
            for fraction in (0.5, 1.0):
                await page.evaluate(f"window.scrollTo(0, {room * fraction})")
                await page.wait_for_timeout(300)
                scrolled = await page.evaluate("window.scrollY")
                assert scrolled >= room * fraction - 2, scrolled
                boxes = await _layout(page, f"scrolled {scrolled}")
                assert abs(boxes["video"]["y"] - top["video"]["y"]) <= 60, "sticky, not gone"
            # And typing there still reaches the others.
            await page.fill("#chat-form input[name=name]", "Daumen")
            await page.fill("#chat-form input[name=text]", "scrolled and still here")
            await page.tap("#chat-form button[type=submit]")
            assert (await next_of(ws, "chat"))["text"] == "scrolled and still here"
            assert not [line for line in log.lines if "pageerror" in line], str(log)
    finally:
        for session in sessions:
            await session.close()
        await pub.close(studio.session)
