"""Prices as Decimals checked against ISO 4217 minor units, and formatted per locale (Babel)."""

from __future__ import annotations

import functools
import re
from decimal import Decimal, InvalidOperation

from babel.core import get_global
from babel.localedata import locale_identifiers
from babel.numbers import (
    NumberFormatError,
    format_currency,
    format_decimal,
    get_currency_precision,
    get_group_symbol,
    parse_decimal,
)

from livestudio.catalog.errors import FieldError

PRICE_MAX = Decimal(1_000_000_000)
"""Prices must be below this: anything larger is a typo (or an attack), in any currency."""
_PRICE_TEXT_MAX = 40
_CURRENCY = re.compile(r"[A-Z]{3}")
_LOCALE = re.compile(r"[A-Za-z]{2,8}(?:[_-][A-Za-z0-9]{1,8}){0,3}")


@functools.cache
def _active_currencies() -> frozenset[str]:
    # CLDR's territory table lists every currency with its validity; the ones still legal
    # tender somewhere are ISO 4217's active list (without XAU, XTS, XXX and other funds).
    codes: set[str] = set()
    for entries in get_global("territory_currencies").values():
        for code, _start, end, tender in entries:
            if end is None and tender:
                codes.add(code)
    return frozenset(codes)


@functools.cache
def _locales() -> dict[str, str]:
    return {identifier.casefold(): identifier for identifier in locale_identifiers()}


def active_currencies() -> frozenset[str]:
    """Every active ISO 4217 currency code (what validate_currency accepts)."""
    return _active_currencies()


def locale_names() -> list[str]:
    """Every locale identifier Babel knows (what validate_locale accepts, as spelled)."""
    return sorted(_locales().values())


def is_currency(code: str) -> bool:
    """Whether `code` is an active ISO 4217 currency (upper case, e.g. "EUR")."""
    return code in _active_currencies()


def validate_currency(value: object, field: str = "currency") -> str:
    """An ISO 4217 code (upper-cased), or FieldError if it is not an active currency."""
    if not isinstance(value, str):
        raise FieldError(field, "must be a 3-letter ISO 4217 code such as EUR")
    code = value.strip().upper()
    if not _CURRENCY.fullmatch(code) or not is_currency(code):
        shown = value.strip()[:20]
        raise FieldError(field, f"{shown!r} is not an ISO 4217 currency code (e.g. EUR, USD, JPY)")
    return code


def minor_units(currency: str) -> int:
    """Decimal places the currency has (EUR 2, JPY 0, BHD 3), per CLDR via Babel."""
    return int(get_currency_precision(currency))


def read_local_number(text: str, locale: str, field: str = "price") -> str:
    """A number as `locale` writes it ("1.299,90" in de_DE, "1 299,90" in fr_FR) as
    plain decimal text ("1299.90"), read strictly (Babel): misplaced separators are refused
    with what was probably meant. Text that the locale cannot read but that is already
    plain ("24.90" typed in de_DE) is taken as plain, so either way works."""
    group = get_group_symbol(locale)
    if group.isspace():  # fr_FR groups with U+202F: hosts type a plain space
        text = re.sub(r"[ \u00a0\u202f]", group, text)
    elif group in "’'":  # de_CH groups with ’: hosts type '
        text = text.replace("'", group).replace("’", group)
    try:
        amount = parse_decimal(text, locale=locale, strict=True)
    except NumberFormatError:
        if re.fullmatch(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", text):
            return text
        example = format_decimal(Decimal("1299.90"), format="#,##0.00", locale=locale)
        raise FieldError(
            field, f"{text!r} is not a price as {locale} writes it, e.g. {example}"
        ) from None
    except (ValueError, InvalidOperation):
        raise FieldError(field, f"{text!r} is not a number") from None
    return format(amount, "f")


def parse_price(
    value: object, currency: str, field: str = "price", locale: str | None = None
) -> Decimal:
    """A price from JSON or CSV ("12.50", 12, Decimal) quantized to the currency's minor units.

    With `locale` (the studio's forms: the brand's locale) text may also be written as
    that locale writes numbers ("24,90" in de_DE), see `read_local_number`.

    Refuses floats' cousins too: booleans, NaN, infinities, negatives, amounts of
    PRICE_MAX or more, and more decimals than the currency has (JPY 1.5).
    """
    if locale is not None and isinstance(value, str) and value.strip():
        if len(value.strip()) > _PRICE_TEXT_MAX:
            raise FieldError(field, "is not a price")
        value = read_local_number(value.strip(), locale, field)
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise FieldError(field, 'must be a decimal number written as text, e.g. "19.99"')
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise FieldError(field, "is required")
        if len(text) > _PRICE_TEXT_MAX:
            raise FieldError(field, "is not a price")
        if "," in text:
            raise FieldError(
                field, f"{text!r}: write prices with a dot and no separators, e.g. 1299.00"
            )
        # Decimal() also reads "1e3" and "NaN"; a price is plain digits and one dot.
        if not re.fullmatch(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", text):
            raise FieldError(field, f"{text!r} is not a number")
        amount = Decimal(text)
    elif isinstance(value, float):
        # Python callers only: the API parses JSON numbers straight to Decimal.
        amount = Decimal(repr(value))
    else:
        amount = Decimal(value)
    if not amount.is_finite():
        raise FieldError(field, "must be a finite number")
    if amount < 0:
        raise FieldError(field, "must not be negative")
    if amount >= PRICE_MAX:
        raise FieldError(field, f"must be less than {PRICE_MAX:,}")
    places = minor_units(currency)
    try:
        quantized = amount.quantize(Decimal(1).scaleb(-places))
    except InvalidOperation:
        raise FieldError(field, "is not a price") from None
    if quantized != amount:
        if places == 0:
            raise FieldError(field, f"{currency} has no minor units: use a whole number")
        raise FieldError(field, f"{currency} allows at most {places} decimal places")
    return quantized


def validate_locale(value: object, field: str = "locale") -> str:
    """A Babel locale identifier such as "de_DE" ("de-de" is accepted), or FieldError."""
    if not isinstance(value, str) or not _LOCALE.fullmatch(value.strip()):
        raise FieldError(field, "must be a locale such as en_US, de_DE or ja_JP")
    identifier = _locales().get(value.strip().replace("-", "_").casefold())
    if identifier is None:
        raise FieldError(field, f"{value.strip()!r} is not a known locale (e.g. en_US, de_DE)")
    return identifier


def format_price(amount: Decimal, currency: str, locale: str) -> str:
    """The price as shoppers in `locale` read it: "1.299,00 €" (de_DE), "$1,299.00" (en_US)."""
    return str(format_currency(amount, currency, locale=locale))
