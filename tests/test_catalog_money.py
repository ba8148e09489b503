"""Prices: ISO 4217 currencies, minor units, locale formatting (Babel)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from livestudio.catalog.errors import FieldError
from livestudio.catalog.money import (
    format_price,
    minor_units,
    parse_price,
    validate_currency,
    validate_locale,
)

NBSP = "\xa0"


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        ("1299.00", "EUR", "de_DE", f"1.299,00{NBSP}€"),
        ("1299.00", "EUR", "en_US", "€1,299.00"),
        ("1299.00", "EUR", "fr_FR", f"1\u202f299,00{NBSP}€"),
        ("1299.00", "USD", "en_US", "$1,299.00"),
        ("1299.00", "USD", "de_DE", f"1.299,00{NBSP}$"),
        ("1299", "JPY", "ja_JP", "￥1,299"),
        ("1299", "JPY", "en_US", "¥1,299"),
        ("1299", "JPY", "de_DE", f"1.299{NBSP}¥"),
        ("0.5", "EUR", "de_DE", f"0,50{NBSP}€"),
    ],
)
def test_format_price(amount: str, currency: str, locale: str, expected: str) -> None:
    price = parse_price(amount, currency)
    assert format_price(price, currency, locale) == expected


def test_minor_units() -> None:
    assert minor_units("EUR") == 2
    assert minor_units("USD") == 2
    assert minor_units("JPY") == 0
    assert minor_units("BHD") == 3


def test_parse_price_quantizes_to_the_currency() -> None:
    assert str(parse_price("12.5", "EUR")) == "12.50"
    assert str(parse_price("12", "USD")) == "12.00"
    assert str(parse_price(Decimal("19.99"), "USD")) == "19.99"
    assert str(parse_price(1299, "JPY")) == "1299"
    assert str(parse_price("1299.0", "JPY")) == "1299"  # no fraction, only a trailing zero
    assert str(parse_price("0.125", "BHD")) == "0.125"
    assert str(parse_price(" 7.10 ", "EUR")) == "7.10"
    assert str(parse_price(19.99, "EUR")) == "19.99"  # floats from Python callers, via repr


@pytest.mark.parametrize(
    ("value", "currency", "message"),
    [
        ("abc", "EUR", "is not a number"),
        ("-1", "EUR", "must not be negative"),
        (Decimal("-0.01"), "USD", "must not be negative"),
        ("1000000000", "EUR", "must be less than 1,000,000,000"),
        ("1e12", "EUR", "is not a number"),
        ("NaN", "EUR", "is not a number"),
        (Decimal("Infinity"), "EUR", "finite"),
        ("1.5", "JPY", "JPY has no minor units"),
        ("12.345", "EUR", "EUR allows at most 2 decimal places"),
        ("12,50", "EUR", "write prices with a dot"),
        ("", "EUR", "is required"),
        (True, "EUR", "decimal number"),
        (None, "EUR", "decimal number"),
        ("1" * 50, "EUR", "is not a price"),
    ],
)
def test_parse_price_refuses(value: object, currency: str, message: str) -> None:
    with pytest.raises(FieldError) as caught:
        parse_price(value, currency)
    assert caught.value.field == "price"
    assert message in str(caught.value)


def test_currency_codes() -> None:
    assert validate_currency("EUR") == "EUR"
    assert validate_currency(" usd ") == "USD"
    assert validate_currency("JPY") == "JPY"
    for bad in ("EURO", "XYZ", "XXX", "XAU", "DEM", "€", "", None, 978):
        with pytest.raises(FieldError, match="currency"):
            validate_currency(bad)


def test_locales() -> None:
    assert validate_locale("de_DE") == "de_DE"
    assert validate_locale("de-de") == "de_DE"
    assert validate_locale("ja_JP") == "ja_JP"
    assert validate_locale("en") == "en"
    for bad in ("xx_YY", "en_ZZ", "", "de_DE; DROP", None, "a" * 100):
        with pytest.raises(FieldError, match="locale"):
            validate_locale(bad)
