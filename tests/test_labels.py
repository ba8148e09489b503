"""The card's fixed words in the brand's language: the catalog and its plural forms, the
burned-in card and the viewer page's card (same words), and that they fit on the card."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from livestudio.catalog.labels import MESSAGES, card_words, catalog_language
from livestudio.media.overlays import (
    CardLayout,
    CardModel,
    Labels,
    format_countdown,
    render_card,
    render_countdown,
)
from livestudio.media.scene import REFERENCE_SIDE
from livestudio.media.text import ELLIPSIS, ellipsize, text_width

from .browser import PageLog, chromium, eventually
from .conftest import MUG, Studio
from .utils import until, whip_publish

PROGRAM_720 = (1280, 720)
SCALE_720 = min(PROGRAM_720) / REFERENCE_SIDE

# One locale per catalog language, as a brand would set it.
LOCALES = {
    "en": "en_US",
    "de": "de_DE",
    "fr": "fr_FR",
    "es": "es_ES",
    "it": "it_IT",
    "nl": "nl_NL",
    "pt": "pt_BR",
    "pl": "pl_PL",
    "sv": "sv_SE",
    "da": "da_DK",
    "nb": "nb_NO",
    "fi": "fi_FI",
    "cs": "cs_CZ",
    "ru": "ru_RU",
    "ja": "ja_JP",
    "zh": "zh_Hans_CN",
    "zh_Hant": "zh_Hant_TW",
    "ko": "ko_KR",
}


def labels(locale: str) -> Labels:
    words = card_words(locale)
    return Labels(ends_in=words.ends_in, only_left=words.only_left, sold_out=words.sold_out)


def test_english() -> None:
    words = card_words("en_US")
    assert words.language == "en"
    assert words.only_left(1) == "Only 1 left"
    assert words.only_left(3) == "Only 3 left"
    assert (words.sold_out, words.buy) == ("Sold out", "Buy")
    assert words.ends_in.format(time="0:42") == "Ends in 0:42"
    assert words.sale_ends_in.format(time="0:42") == "Flash sale · ends in 0:42"


def test_german() -> None:
    words = card_words("de_DE")
    assert words.language == "de"
    assert words.only_left(1) == "Nur noch 1 übrig"
    assert words.only_left(3) == "Nur noch 3 übrig"
    assert (words.sold_out, words.buy) == ("Ausverkauft", "Kaufen")
    assert words.ends_in.format(time="0:42") == "Endet in 0:42"
    assert card_words("de_AT").sold_out == card_words("de-CH").sold_out == "Ausverkauft"


def test_french_singular_for_zero_and_one() -> None:
    words = card_words("fr_FR")
    assert words.only_left(0) == "Plus que 0 article"
    assert words.only_left(1) == "Plus que 1 article"
    assert words.only_left(2) == "Plus que 2 articles"
    assert words.only_left(5) == "Plus que 5 articles"
    assert (words.sold_out, words.buy) == ("Épuisé", "Acheter")
    assert card_words("fr_CA").only_left(0) == "Plus que 0 article"


def test_polish_three_forms() -> None:
    words = card_words("pl_PL")
    assert words.only_left(1) == "Została tylko 1 sztuka"  # one
    assert words.only_left(3) == "Zostały tylko 3 sztuki"  # few
    assert words.only_left(5) == "Zostało tylko 5 sztuk"  # many
    assert words.only_left(22) == "Zostały tylko 22 sztuki"  # few again
    assert words.only_left(12) == "Zostało tylko 12 sztuk"  # 12-14 are many
    assert words.sold_out == "Wyprzedane"


def test_russian_forms() -> None:
    words = card_words("ru_RU")
    assert words.only_left(1) == "Осталась всего 1 штука"
    assert words.only_left(3) == "Осталось всего 3 штуки"
    assert words.only_left(5) == "Осталось всего 5 штук"
    assert words.only_left(21) == "Осталась всего 21 штука"
    assert words.only_left(11) == "Осталось всего 11 штук"
    assert words.sold_out == "Распродано"


def test_japanese_and_other_cjk() -> None:
    words = card_words("ja_JP")
    assert words.only_left(1) == "残り1点" and words.only_left(3) == "残り3点"
    assert words.sold_out == "売り切れ"
    assert card_words("zh_Hans_CN").sold_out == "已售罄"
    assert card_words("zh_Hant_TW").sold_out == "已售完"  # Traditional script
    assert card_words("zh_TW").language == "zh_Hant"  # the script is implied
    assert card_words("ko_KR").only_left(2) == "2개 남음"


def test_numbers_in_the_locale() -> None:
    # N is written with Babel: grouping per locale (the card's N is small; still).
    assert card_words("de_DE").only_left(1234) == "Nur noch 1.234 übrig"
    assert card_words("en_US").only_left(1234) == "Only 1,234 left"
    # pt_PT and pt_BR have different plural rules for 0: the whole locale decides.
    assert card_words("pt_BR").only_left(0) == "Só resta 0"
    assert card_words("pt_PT").only_left(0) == "Só restam 0"


@pytest.mark.parametrize("locale", ["hu_HU", "sw_KE", "xx_YY", "", "not a locale"])
def test_unknown_languages_fall_back_to_english(locale: str) -> None:
    words = card_words(locale)
    assert words.language == "en" == catalog_language(locale)
    assert words == card_words("en")
    assert words.only_left(1) == "Only 1 left" and words.only_left(3) == "Only 3 left"
    assert (words.sold_out, words.buy) == ("Sold out", "Buy")


def test_every_language_has_every_word() -> None:
    assert set(LOCALES) == set(MESSAGES)
    for language, messages in MESSAGES.items():
        assert "other" in messages.only_left, language
        assert all("{n}" in t for t in messages.only_left.values()), language
        assert "{time}" in messages.ends_in and "{time}" in messages.sale_ends_in, language
        for n in range(0, 30):
            assert str(n) in card_words(LOCALES[language]).only_left(n), (language, n)
        assert card_words(LOCALES[language]).language == language


def test_card_model_uses_the_labels() -> None:
    de = labels("de_DE")
    card = CardModel(name="Tasse", price_text="24,90 €", stock=3, labels=de)
    assert card.stock_text() == "Nur noch 3 übrig"
    assert CardModel(name="Tasse", price_text="1 €", stock=0, labels=de).stock_text() == (
        "Ausverkauft"
    )
    # Equal words make equal cards (the scene reuses renders of an unchanged card).
    assert card == CardModel(name="Tasse", price_text="24,90 €", stock=3, labels=labels("de_DE"))
    assert card != CardModel(name="Tasse", price_text="24,90 €", stock=3, labels=labels("fr_FR"))
    # A plain template still works.
    assert Labels(only_left="Nur {n}").left(2) == "Nur 2"


def _red_ink_extent(image: Any) -> tuple[int, int]:
    """Leftmost and rightmost column of the (red) sold-out line on a rendered card."""
    rgb = np.asarray(image)[..., :3].astype(int)
    red = (rgb[..., 0] - rgb[..., 1] > 60) & (rgb[..., 0] - rgb[..., 2] > 60)
    columns = np.flatnonzero(red.any(axis=0))
    assert columns.size, "the stock line is drawn"
    return int(columns[0]), int(columns[-1])


@pytest.mark.parametrize("image", [True, False], ids=["thumbnail", "no-thumbnail"])
def test_german_sold_out_card_is_not_ellipsized_at_720p(image: bool) -> None:
    from PIL import Image

    lay = CardLayout(SCALE_720)
    thumb = Image.new("RGB", (200, 200), (40, 90, 160)) if image else None
    width = lay.width if image else lay.width_no_image
    text_x = lay.padding + (lay.thumb + lay.padding if image else 0)
    column = width - text_x - lay.padding
    text = card_words("de_DE").sold_out
    needed = text_width(text, lay.stock)
    assert needed <= column, (needed, column)
    assert ELLIPSIS not in ellipsize(text, lay.stock, column)

    model = CardModel(
        name="Kaffeetasse", price_text="24,90 €", image=thumb, stock=0, labels=labels("de_DE")
    )
    rendered = render_card(model, SCALE_720).image
    assert rendered.width == width
    left, right = _red_ink_extent(rendered)
    # The whole word is drawn: its ink is as wide as the word (an ellipsized "Ausverk…"
    # would be narrower), starting at the text column and ending inside it.
    assert abs(left - text_x) <= 2
    assert abs((right - left + 1) - needed) <= 3, (right - left + 1, needed)
    assert right < text_x + column


@pytest.mark.parametrize("language", sorted(LOCALES))
def test_every_language_fits_the_card_at_720p(language: str) -> None:
    lay = CardLayout(SCALE_720)
    column = lay.width - 3 * lay.padding - lay.thumb  # the narrower column (thumbnail)
    words = card_words(LOCALES[language])
    for text in [words.sold_out, *(words.only_left(n) for n in range(1, 10))]:
        assert text_width(text, lay.stock) <= column, (language, text)
    for seconds in (59, 3599, 35999):
        line = words.ends_in.format(time=format_countdown(seconds))
        assert text_width(line, lay.countdown) <= column, (language, line)
    # And the countdown line as drawn: the word differs from English, nothing is cut.
    slot = (column, lay.countdown.line_height)
    drawn = render_countdown(42, slot, SCALE_720, "#e11d48", labels(LOCALES[language]))
    assert drawn.size == slot and np.asarray(drawn)[..., 3].any()


async def test_card_json_and_burned_in_words_follow_the_brand_locale(studio: Studio) -> None:
    token = await studio.store.create_api_token("t")
    status, brand = await studio.api("PUT", "/api/brand", token, json={"locale": "de_DE"})
    assert status == 200 and brand["locale"] == "de_DE", brand
    product = await studio.create_product(token, like=MUG, stock=3)
    show_id, key = await studio.create_show()
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    live = studio.onair.get(show_id)
    assert live is not None
    await until(lambda: live.on_air and live.stats().program_frames > 5, 10)
    german = card_words("de_DE")

    status, event = await studio.api(
        "POST", f"/api/shows/{show_id}/pin", token, json={"product": product["id"]}
    )
    assert status == 200, event
    card = event["card"]
    assert card["price"] == "24,90\xa0€"  # Babel, as before
    assert card["stock_text"] == "Nur noch 3 übrig"
    assert card["labels"] == {
        "buy": "Kaufen",
        "sold_out": "Ausverkauft",
        "sale_ends_in": "Blitzangebot · endet in {time}",
    }
    stored = [e for e in await studio.store.list_events(show_id) if e.kind == "pin"]
    assert stored[-1].data["card"]["labels"]["buy"] == "Kaufen"
    # The burned-in card has the same words.
    stage = studio.onair.products(show_id)
    assert stage is not None and stage.scene is not None and stage.scene.card is not None
    burned = stage.scene.card
    assert burned.labels.sold_out == "Ausverkauft" and burned.stock_text() == "Nur noch 3 übrig"
    assert burned.labels.ends_in == german.ends_in

    status, sale = await studio.api(
        "POST",
        f"/api/shows/{show_id}/sale",
        token,
        json={"product": product["id"], "price": "19.90", "seconds": 120},
    )
    assert status == 200, sale
    assert sale["card"]["sale_ends_pts"] and sale["card"]["labels"]["buy"] == "Kaufen"
    assert stage.scene.countdown is not None  # drawn with the German "Endet in"

    status, _ = await studio.api(
        "PATCH", f"/api/products/{product['id']}", token, json={"stock": 0}
    )
    assert status == 200
    stock = [e for e in studio.onair.hub.channel(show_id).backlog if e["type"] == "stock"]
    assert stock and stock[-1]["card"]["stock_text"] == "Ausverkauft"
    assert stock[-1]["card"]["sold_out"] is True
    sold_card = stock[-1]["card"]
    assert stage.scene.card is not None and stage.scene.card.stock_text() == "Ausverkauft"

    # The viewer page's card shows the server's words (cards.js), not English ones.
    async with chromium() as browser:
        page = await browser.new_page()
        log = PageLog("viewer").attach(page)
        await page.route("**/whep/**", lambda route: route.abort())  # no playback: no pts
        await page.goto(studio.url(f"/live/{show_id}"))
        await eventually(
            lambda: page.evaluate("!document.getElementById('product-card').hidden"),
            10,
            "the on-air card from the snapshot",
            log,
        )
        assert await page.text_content("#card-stock") == "Ausverkauft"
        assert await page.text_content("#card-buy") == "Ausverkauft"
        countdown = await page.evaluate(
            """(card) => {
              const cards = window.livestudio.cards;
              cards.show({...card, sold_out: false}, "test");
              cards.at(card.sale_ends_pts - 42 * 90000);
              return [document.getElementById("card-countdown").textContent,
                      document.getElementById("card-buy").textContent];
            }""",
            sold_card,
        )
        assert countdown == ["Blitzangebot · endet in 0:42", "Kaufen"]
        # Events recorded before cards carried words: English, as before.
        old = await page.evaluate(
            """(card) => {
              const {labels, ...old} = card;
              window.livestudio.cards.show({...old, sold_out: false}, "test");
              return [document.getElementById("card-countdown").textContent,
                      document.getElementById("card-buy").textContent];
            }""",
            sold_card,
        )
        assert old == ["Flash sale · ends in 0:42", "Buy"]
    await pub.close(studio.session)


def test_words_are_cached_per_locale() -> None:
    assert card_words("de_DE") is card_words("de_DE")
