"""Issue #16 below the pages: ending a sale early, bans that remove messages only when
asked (and say what went), the host's program preview not counted, prices typed the
locale's way, drafts unlisted, and the public pages' words in the brand's language."""

from __future__ import annotations

import re
import time

import aiohttp
import pytest

from livestudio.catalog.errors import FieldError
from livestudio.catalog.labels import MESSAGES
from livestudio.catalog.money import parse_price
from livestudio.catalog.page_words import KEYS, WORDS, page_words
from livestudio.live.chat import viewer_tag

from .conftest import MUG, Studio, next_of, say
from .utils import until, whep_play, whip_publish


def test_every_card_language_has_every_page_word() -> None:
    assert set(WORDS) == set(MESSAGES), "the same 18 languages as the card"
    for language, words in WORDS.items():
        assert set(words) == set(KEYS), language
        for key in ("watching", "starts_in"):
            assert re.search(r"\{(n|time)\}", words[key]), (language, key)
        assert "{when}" in words["starts"] and "{when}" in words["recorded"], language
    assert page_words("de_AT")["unmute"] == "Ton an"
    assert page_words("zh_Hant_TW")["send"] == "傳送"
    assert page_words("sw_KE")["unmute"] == "Tap to unmute", "English for the others"


@pytest.mark.parametrize(
    ("typed", "locale", "expected"),
    [
        ("24,90", "de_DE", "24.90"),
        ("1.299,00", "de_DE", "1299.00"),
        ("24.90", "de_DE", "24.90"),  # plain, and not a German number: taken as plain
        ("1 299,50", "fr_FR", "1299.50"),  # a typed space for the narrow no-break one
        ("1'299.50", "de_CH", "1299.50"),
        ("1,299.00", "en_US", "1299.00"),
    ],
)
def test_prices_as_the_locale_writes_them(typed: str, locale: str, expected: str) -> None:
    assert str(parse_price(typed, "EUR", "price", locale)) == expected


def test_a_misplaced_separator_is_refused_with_what_was_meant() -> None:
    with pytest.raises(FieldError, match=r"as en_US writes it.*1,299\.90"):
        parse_price("24,90", "EUR", "price", "en_US")
    with pytest.raises(FieldError, match="dot"):
        parse_price("24,90", "EUR", "price")  # the API's plain form, as before


async def test_the_studio_sends_prices_the_brand_way_scripts_the_plain_way(
    studio: Studio,
) -> None:
    token = await studio.api_token()
    status, _ = await studio.api("PUT", "/api/brand", token, json={"locale": "de_DE"})
    assert status == 200
    local = {"X-Price-Format": "locale"}
    reply = await studio.call(
        "POST", "/api/products", json={**MUG, "price": "24,90", "compare_at_price": "1.299,00"},
        headers=local,
    )  # fmt: skip
    assert reply.status == 201, reply.text
    assert reply.json()["price"] == "24.90" and reply.json()["compare_at_price"] == "1299.00"
    plain = await studio.call("POST", "/api/products", json={**MUG, "price": "24,90"})
    assert plain.status == 422 and "dot" in plain.text, "without the header: plain only"
    product = reply.json()["id"]
    patched = await studio.call(
        "PATCH", f"/api/products/{product}", json={"price": "19,5"}, headers=local
    )
    assert patched.status == 200 and patched.json()["price"] == "19.50", patched.text
    wrong = await studio.call(
        "PATCH", f"/api/products/{product}", json={"price": "1,2,3"}, headers=local
    )
    assert wrong.status == 422 and "de_DE" in wrong.text


async def test_a_sale_ends_early_and_the_snapshot_tells_the_studio(studio: Studio) -> None:
    token = await studio.api_token()
    product = await studio.create_product(token, like=MUG)
    show_id, key = await studio.create_show()
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    session, ws, _ = await studio.viewer_page(show_id)
    try:
        await until(lambda: studio.onair.get(show_id) is not None, 5)
        await until(lambda: studio.onair.get(show_id).on_air, 10)  # type: ignore[union-attr]
        status, nothing = await studio.api("DELETE", f"/api/shows/{show_id}/sale", token)
        assert status == 409 and "no flash sale" in str(nothing)
        status, started = await studio.api(
            "POST",
            f"/api/shows/{show_id}/sale",
            token,
            json={"product": product["id"], "price": "19.90", "seconds": 600},
        )
        assert status == 200, started
        event = await next_of(ws, "sale")
        assert event["sale"]["product"] == product["id"] and event["sale"]["price"] == "€19.90"
        assert 590 < event["sale"]["ends_at"] - time.time() <= 600
        _, ws2, snapshot = await studio.viewer_page(show_id)
        assert snapshot["sale"]["product"] == product["id"]
        status, ended = await studio.api("DELETE", f"/api/shows/{show_id}/sale", token)
        assert status == 200 and ended["kind"] == "sale_end", ended
        event = await next_of(ws, "sale_end")
        assert event["early"] is True and event["card"]["price"] == "€24.90"
        assert studio.onair.products(show_id).state.sale is None  # type: ignore[union-attr]
        assert studio.onair.products(show_id).state.pinned == product["id"]  # type: ignore[union-attr]
        await ws2.close()
    finally:
        await ws.close()
        await session.close()
        await pub.close(studio.session)


async def test_ban_keeps_or_removes_messages_and_says_what_went(studio: Studio) -> None:
    token = await studio.api_token()
    show_id, _ = await studio.create_live_show()
    troll_session, troll, snapshot = await studio.viewer_page(show_id)
    assert snapshot["banned"] is False
    other_session, other, _ = await studio.viewer_page(show_id)
    await say(troll, "first", name="Troll")
    first = await next_of(other, "chat")
    await say(troll, "second", name="Troll")
    second = await next_of(other, "chat")

    status, kept = await studio.api(
        "POST",
        f"/api/shows/{show_id}/chat/{first['id']}/ban",
        token,
        json={"remove_messages": False},
    )
    assert status == 200, kept
    assert kept["removed"] == 0 and kept["question_dismissed"] is False
    banned = await next_of(troll, "banned")
    async with troll_session.get(studio.url(f"/live/{show_id}")) as r:
        page = await r.text()
    tag = re.search(r'"viewerTag": "([0-9a-f]+)"', page)
    assert tag and banned["viewer"] == tag.group(1), "the page knows the ban is its own"
    assert banned["viewer"] != viewer_tag("someone else")
    _, again, snapshot = await studio.viewer_page(show_id)
    assert snapshot["banned"] is False, "another viewer is not banned"
    await again.close()
    reopened = await troll_session.ws_connect(studio.url(f"/live/{show_id}/events"))
    assert (await reopened.receive_json(timeout=5))["banned"] is True, "says so on a reload"
    await reopened.close()
    await say(troll, "third", name="Troll")
    assert (await next_of(troll, "error"))["code"] == "banned"

    # Removing is its own choice; the highlighted question goes off the screen with it.
    status, _ = await studio.api(
        "POST", f"/api/shows/{show_id}/highlight", token, json={"message": second["id"]}
    )
    assert status in (200, 409)  # no media on air: the question may not burn in
    status, removed = await studio.api(
        "POST",
        f"/api/shows/{show_id}/chat/{second['id']}/ban",
        token,
        json={"remove_messages": True},
    )
    assert status == 200 and removed["removed"] == 2, removed
    gone = {(await next_of(other, "chat_delete"))["message"] for _ in range(2)}
    assert gone == {first["id"], second["id"]}
    status, bad = await studio.api(
        "POST",
        f"/api/shows/{show_id}/chat/{second['id']}/ban",
        token,
        json={"remove_messages": "yes"},
    )
    assert status == 422, bad
    for ws, session in ((troll, troll_session), (other, other_session)):
        await ws.close()
        await session.close()


async def test_the_hosts_program_preview_is_not_a_viewer(studio: Studio) -> None:
    show_id, key = await studio.create_show()
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    await studio.log_in()  # the studio's session: logged in as the host
    preview = await whep_play(studio.session, studio.url(f"/whep/{show_id}?preview=host"))
    try:
        await until(lambda: len(preview.pts) > 3, 15)
        assert studio.onair.audience(show_id) == 0
        assert studio.onair.get(show_id).viewer_count == 1  # type: ignore[union-attr]
        # The flag means nothing without the host's login: a viewer is a viewer.
        async with aiohttp.ClientSession() as anonymous:
            viewer = await whep_play(anonymous, studio.url(f"/whep/{show_id}?preview=host"))
            await until(lambda: len(viewer.pts) > 3, 15)
            assert studio.onair.audience(show_id) == 1
            token = await studio.api_token()
            status, shown = await studio.api("GET", f"/api/shows/{show_id}", token)
            assert status == 200 and shown["viewers"] == 1
            await viewer.close(anonymous)
    finally:
        await preview.close(studio.session)
        await pub.close(studio.session)
    await until(lambda: not studio.onair._previews, 10)


async def test_drafts_are_unlisted_until_they_have_a_start_time(studio: Studio) -> None:
    draft, _ = await studio.store.create_show("Test show", None)
    await studio.store.create_show("Autumn coffee", "2099-10-01T18:00:00+00:00")
    await studio.store.create_show("Forgotten", "2020-01-01T18:00:00+00:00")
    async with studio.session.get(studio.url("/")) as r:
        home = await r.text()
    assert "Autumn coffee" in home
    assert "Test show" not in home and "Forgotten" not in home
    async with studio.session.get(studio.url(f"/live/{draft.id}")) as r:
        assert r.status == 200, "unlisted, not private: the link works"
