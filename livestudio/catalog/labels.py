"""The fixed words of the on-air product card, in the brand's language.

The card burned into the video ("Only 3 left", "Sold out", "Ends in 0:42") and the
clickable card on the viewer page ("Buy", "Flash sale · ends in 0:42") say the same
words, picked from a small message catalog by the language (and script) of the brand's
locale, falling back to English for languages it does not have. "Only N left" follows
the locale's CLDR plural rules (Babel), and N is written with the locale's digits.

Keep translations short: the burned-in stock line is one line of the card's text column
(about 280 px at 720p) and is ellipsized if longer (tests/test_labels.py checks).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from babel import Locale, UnknownLocaleError
from babel.numbers import format_decimal

FALLBACK = "en"
"The catalog entry (and plural rules) used for languages the catalog does not have."


@dataclass(frozen=True)
class Plural:
    """A message with a count in it, in each of a language's CLDR plural forms.

    Callable: `Plural(...)(3)` is the text for 3. A frozen dataclass, so two cards with
    the same words compare equal (the overlay scene reuses renders of equal cards).
    """

    locale: str
    "Babel locale whose plural rules pick the form and whose digits write the count."
    forms: tuple[tuple[str, str], ...]
    "(CLDR category: zero, one, two, few, many, other; template with {n}); needs 'other'."

    def __call__(self, n: int) -> str:
        locale = _parse(self.locale) or _parse(FALLBACK)
        assert locale is not None
        forms = dict(self.forms)
        template = forms.get(str(locale.plural_form(n)), forms["other"])
        return template.format(n=format_decimal(n, locale=locale))


@dataclass(frozen=True)
class Messages:
    """One language's card words (templates; `only_left` maps CLDR categories)."""

    only_left: dict[str, str]
    "'Only {n} left' by plural category; 'other' is required."
    sold_out: str
    ends_in: str
    "Burned-in countdown line, with {time} (e.g. 0:42)."
    buy: str
    "The viewer page's buy button."
    sale_ends_in: str
    "The viewer page's countdown line, with {time}."


# fmt: off
MESSAGES: dict[str, Messages] = {
    "en": Messages(
        only_left={"one": "Only {n} left", "other": "Only {n} left"},
        sold_out="Sold out", ends_in="Ends in {time}", buy="Buy",
        sale_ends_in="Flash sale · ends in {time}",
    ),
    "de": Messages(
        only_left={"one": "Nur noch {n} übrig", "other": "Nur noch {n} übrig"},
        sold_out="Ausverkauft", ends_in="Endet in {time}", buy="Kaufen",
        sale_ends_in="Blitzangebot · endet in {time}",
    ),
    "fr": Messages(
        # French "one" covers 0 and 1 (CLDR): "Plus que 1 article", "Plus que 2 articles".
        only_left={"one": "Plus que {n} article", "other": "Plus que {n} articles"},
        sold_out="Épuisé", ends_in="Fin dans {time}", buy="Acheter",
        sale_ends_in="Vente flash · fin dans {time}",
    ),
    "es": Messages(
        only_left={"one": "Solo queda {n}", "other": "Solo quedan {n}"},
        sold_out="Agotado", ends_in="Termina en {time}", buy="Comprar",
        sale_ends_in="Oferta flash · termina en {time}",
    ),
    "it": Messages(
        only_left={"one": "Ne resta solo {n}", "other": "Ne restano solo {n}"},
        sold_out="Esaurito", ends_in="Termina tra {time}", buy="Compra",
        sale_ends_in="Offerta lampo · termina tra {time}",
    ),
    "nl": Messages(
        only_left={"one": "Nog maar {n} over", "other": "Nog maar {n} over"},
        sold_out="Uitverkocht", ends_in="Eindigt over {time}", buy="Kopen",
        sale_ends_in="Flitsaanbieding · eindigt over {time}",
    ),
    "pt": Messages(
        only_left={"one": "Só resta {n}", "other": "Só restam {n}"},
        sold_out="Esgotado", ends_in="Termina em {time}", buy="Comprar",
        sale_ends_in="Oferta relâmpago · termina em {time}",
    ),
    "pl": Messages(
        only_left={
            "one": "Została tylko {n} sztuka",    # 1
            "few": "Zostały tylko {n} sztuki",    # 2-4, 22-24, ...
            "many": "Zostało tylko {n} sztuk",    # 0, 5-21, 25-31, ...
            "other": "Zostało tylko {n} sztuki",  # fractions
        },
        sold_out="Wyprzedane", ends_in="Koniec za {time}", buy="Kup",
        sale_ends_in="Promocja błyskawiczna · koniec za {time}",
    ),
    "sv": Messages(
        only_left={"one": "Bara {n} kvar", "other": "Bara {n} kvar"},
        sold_out="Slutsåld", ends_in="Slutar om {time}", buy="Köp",
        sale_ends_in="Blixtrea · slutar om {time}",
    ),
    "da": Messages(
        only_left={"one": "Kun {n} tilbage", "other": "Kun {n} tilbage"},
        sold_out="Udsolgt", ends_in="Slutter om {time}", buy="Køb",
        sale_ends_in="Lynudsalg · slutter om {time}",
    ),
    "nb": Messages(
        only_left={"one": "Kun {n} igjen", "other": "Kun {n} igjen"},
        sold_out="Utsolgt", ends_in="Slutter om {time}", buy="Kjøp",
        sale_ends_in="Lynsalg · slutter om {time}",
    ),
    "fi": Messages(
        only_left={"one": "Vain {n} jäljellä", "other": "Vain {n} jäljellä"},
        sold_out="Loppuunmyyty", ends_in="Aikaa {time}", buy="Osta",
        sale_ends_in="Salamatarjous · aikaa {time}",
    ),
    "cs": Messages(
        only_left={
            "one": "Zbývá jen {n} kus",
            "few": "Zbývají jen {n} kusy",
            "many": "Zbývá jen {n} kusu",  # fractions
            "other": "Zbývá jen {n} kusů",
        },
        sold_out="Vyprodáno", ends_in="Končí za {time}", buy="Koupit",
        sale_ends_in="Bleskový výprodej · končí za {time}",
    ),
    "ru": Messages(
        only_left={
            "one": "Осталась всего {n} штука",   # 1, 21, 31, ...
            "few": "Осталось всего {n} штуки",   # 2-4, 22-24, ...
            "many": "Осталось всего {n} штук",   # 0, 5-20, 25-30, ...
            "other": "Осталось всего {n} штуки",  # fractions
        },
        sold_out="Распродано", ends_in="До конца {time}", buy="Купить",
        sale_ends_in="Распродажа · до конца {time}",
    ),
    "ja": Messages(
        only_left={"other": "残り{n}点"},
        sold_out="売り切れ", ends_in="終了まで {time}", buy="購入",
        sale_ends_in="タイムセール · 終了まで {time}",
    ),
    "zh": Messages(  # Simplified (zh_Hans_CN, zh_Hans_SG, ...)
        only_left={"other": "仅剩 {n} 件"},
        sold_out="已售罄", ends_in="距结束 {time}", buy="购买",
        sale_ends_in="限时抢购 · 距结束 {time}",
    ),
    "zh_Hant": Messages(  # Traditional (zh_Hant_TW, zh_Hant_HK, ...)
        only_left={"other": "僅剩 {n} 件"},
        sold_out="已售完", ends_in="距結束 {time}", buy="購買",
        sale_ends_in="限時搶購 · 距結束 {time}",
    ),
    "ko": Messages(
        only_left={"other": "{n}개 남음"},
        sold_out="품절", ends_in="종료까지 {time}", buy="구매",
        sale_ends_in="타임세일 · 종료까지 {time}",
    ),
}
# fmt: on


@dataclass(frozen=True)
class CardWords:
    """The card's fixed words for one brand locale (from `card_words`)."""

    language: str
    "The catalog entry used: 'de', 'zh_Hant', ... ('en' when the language is missing)."
    only_left: Plural
    "Called with the count: `words.only_left(3)` → 'Nur noch 3 übrig'."
    sold_out: str
    ends_in: str
    "With {time}."
    buy: str
    sale_ends_in: str
    "With {time}."

    def page(self) -> dict[str, str]:
        """The words the viewer page's card shows itself (it fills in {time})."""
        return {"buy": self.buy, "sold_out": self.sold_out, "sale_ends_in": self.sale_ends_in}


@functools.lru_cache(maxsize=64)
def _parse(identifier: str) -> Locale | None:
    try:
        return Locale.parse(identifier.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None


def catalog_language(locale: str) -> str:
    """The MESSAGES key for a locale: language_Script, else language, else FALLBACK."""
    parsed = _parse(locale)
    if parsed is None:
        return FALLBACK
    if parsed.script and f"{parsed.language}_{parsed.script}" in MESSAGES:
        return f"{parsed.language}_{parsed.script}"
    return parsed.language if parsed.language in MESSAGES else FALLBACK


@functools.lru_cache(maxsize=64)
def card_words(locale: str) -> CardWords:
    """The card words for a Babel locale such as "de_DE" (English for unknown languages).

    Plural rules and digits follow the whole locale (pt_PT and pt_BR differ) when the
    catalog has its language; English ones otherwise, so the words and rules match.
    """
    language = catalog_language(locale)
    messages = MESSAGES[language]
    parsed = _parse(locale)
    own_rules = parsed is not None and (language != FALLBACK or parsed.language == FALLBACK)
    rules = locale if own_rules else FALLBACK
    return CardWords(
        language=language,
        only_left=Plural(rules, tuple(sorted(messages.only_left.items()))),
        sold_out=messages.sold_out,
        ends_in=messages.ends_in,
        buy=messages.buy,
        sale_ends_in=messages.sale_ends_in,
    )


__all__ = ["MESSAGES", "CardWords", "Messages", "Plural", "card_words", "catalog_language"]
