"""Chapters and the replay: a chapter lands on the first recorded frame showing the card,
and in Chromium the replay plays, a chapter click seeks, the card shows at its moment."""

from __future__ import annotations

import asyncio
from typing import Any

import av

from livestudio.http.replay import product_chapters
from livestudio.media.record import RECORDING
from livestudio.store import EventRecord

from .browser import PageLog, chromium, eventually
from .conftest import MUG, Studio
from .utils import card_score, until, whep_play, whip_publish


async def record_with_pins(studio: Studio) -> tuple[str, dict[str, Any], Any, list[dict[str, Any]]]:
    token = await studio.store.create_api_token("t")
    first = await studio.create_product(token, like=MUG)
    second = await studio.create_product(
        token, like=MUG, name="Кресло Поэнг", sku="P-2", price="99.00", compare_at_price=None
    )
    show_id, key = await studio.create_show("Chapters")
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    viewer = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
    await until(lambda: len(viewer.stamps) > 45, 15)
    events = []
    for product in (first, second):
        status, event = await studio.api(
            "POST", f"/api/shows/{show_id}/pin", token, json={"product": product["id"]}
        )
        assert status == 200
        events.append(event)
        stage = studio.onair.products(show_id)
        assert stage is not None and stage.scene is not None
        rect = stage.scene.card_rect
        await asyncio.sleep(1.5)  # deliberately: each card on air for a while
    status, unpin = await studio.api("DELETE", f"/api/shows/{show_id}/pin", token)
    events.append(unpin)
    await asyncio.sleep(1.0)  # deliberately: a second without a card after the unpin
    await viewer.close(studio.session)
    await pub.close(studio.session)
    await until(lambda: studio.onair.get(show_id) is None, 15)
    return show_id, first, rect, events


async def test_chapter_time_is_the_first_recorded_frame_with_the_card(studio: Studio) -> None:
    show_id, _first, rect, events = await record_with_pins(studio)
    async with studio.session.get(studio.url(f"/replay/{show_id}")) as r:
        html = await r.text()
    assert "Kaffeetasse Café" in html and "Кресло Поэнг" in html, "chapters name the products"
    chapter_seconds = events[0]["pts"] / 90000
    path = str(studio.settings.recordings_dir / show_id / RECORDING)
    with av.open(path) as f:
        first_card = next(
            float(frame.time) for frame in f.decode(video=0) if card_score(frame, rect) > 30
        )
    assert abs(first_card - chapter_seconds) <= 2 / 30, (first_card, chapter_seconds)


async def test_replay_plays_seeks_by_chapter_and_shows_the_card(studio: Studio) -> None:
    show_id, _first, _, _events = await record_with_pins(studio)
    async with chromium() as browser:
        page = await browser.new_page()
        log = PageLog("replay").attach(page)
        await page.goto(studio.url(f"/replay/{show_id}"))
        await eventually(lambda: page.evaluate("window.livestudio.ready"), 15, "metadata", log)
        await page.evaluate("document.getElementById('video').muted = true")
        await page.evaluate("document.getElementById('video').play()")
        await eventually(
            lambda: page.evaluate("document.getElementById('video').currentTime > 0.5"),
            15,
            "the replay plays",
            log,
        )
        assert await page.is_hidden("#product-card"), "no card before the first pin"
        second_chapter = page.locator(".chapter").nth(1)
        target = float(await second_chapter.get_attribute("data-seconds") or 0)
        await second_chapter.click()
        await eventually(
            lambda: page.evaluate(
                f"Math.abs(document.getElementById('video').currentTime - {target}) < 0.6"
            ),
            10,
            "the chapter click seeks",
            log,
        )
        await eventually(lambda: page.is_visible("#product-card"), 10, "card shown", log)
        assert await page.text_content("#card-name") == "Кресло Поэнг"
        href = await page.get_attribute("#card-buy", "href")
        assert href and href.endswith("?from=replay")
        # After the unpin moment the card goes away, as it did live.
        await eventually(
            lambda: page.is_hidden("#product-card"), 10, "card hidden after unpin", log
        )


def test_a_chapter_wherever_a_product_goes_on_air() -> None:
    def event(kind: str, seconds: float, product: int | None, name: str = "") -> EventRecord:
        return EventRecord(
            0, "s", kind, round(seconds * 90000), 0.0, {"product": product, "name": name}
        )

    events = [
        event("pin", 1, 1, "Mug"),
        event("sale", 2, 1, "Mug"),  # a sale on the pinned product: the same chapter
        event("stock", 3, 1, "Mug"),
        event("sale", 4, 2, "Chair"),  # a sale pins another product: a chapter
        event("chat", 5, None),
        event("unpin", 6, None),
        event("pin", 7, 2, "Chair"),  # back on air after an unpin: a chapter again
    ]
    assert [(c["seconds"], c["title"]) for c in product_chapters(events)] == [
        (1, "Mug"),
        (4, "Chair"),
        (7, "Chair"),
    ]
