"""What a valid product and brand are (pure rules, no server)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from livestudio.catalog.brand import BrandSettings, parse_brand
from livestudio.catalog.errors import FieldError, InvalidInput
from livestudio.catalog.validation import (
    ProductFields,
    parse_product,
    validate_name,
    validate_sku,
    validate_stock,
    validate_url,
)


def test_parse_a_product() -> None:
    product = parse_product(
        {
            "name": "  Café chair ",
            "price": "129.9",
            "compare_at_price": "199",
            "currency": "eur",
            "url": "https://shop.example/chair?ref=live",
            "stock": 3,
            "sku": "CH-1",
            "description": "Oak.\r\nHandmade.",
        }
    )
    assert product.name == "Café chair"
    assert product.price == Decimal("129.90") and str(product.price) == "129.90"
    assert str(product.compare_at_price) == "199.00"
    assert product.currency == "EUR"
    assert product.stock == 3 and product.sku == "CH-1"
    assert product.description == "Oak.\nHandmade."


def test_default_currency_and_optional_fields() -> None:
    product = parse_product({"name": "Mug", "price": "1200"}, None, "JPY")
    assert product.currency == "JPY" and str(product.price) == "1200"
    assert product.url is None and product.stock is None and product.sku is None
    assert product.compare_at_price is None and product.description == ""


def test_every_error_is_reported_at_once() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_product({"name": "", "price": "abc", "currency": "EUR", "url": "javascript:x"})
    fields = [e.field for e in caught.value.errors]
    assert fields == ["name", "url", "price"]
    assert "name: must not be empty" in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        ({"name": "x" * 201}, "name", "at most 200"),
        ({"name": "x" * 10_000}, "name", "at most 200"),
        ({"name": "two\nlines"}, "name", "one line"),
        ({"name": 5}, "name", "must be text"),
        ({"price": "-1"}, "price", "negative"),
        ({"price": None}, "price", "is required"),
        ({"currency": "ABC"}, "currency", "not an ISO 4217"),
        ({"compare_at_price": "5"}, "compare_at_price", "greater than the price"),
        ({"compare_at_price": "10.00"}, "compare_at_price", "greater than the price"),
        ({"stock": -1}, "stock", "negative"),
        ({"stock": 1.5}, "stock", "whole number"),
        ({"stock": True}, "stock", "whole number"),
        ({"sku": "has space"}, "sku", "letters, digits"),
        ({"url": "ftp://x.example"}, "url", "http:// or https://"),
        ({"colour": "red"}, "colour", "unknown field"),
    ],
)
def test_bad_fields(raw: dict[str, object], field: str, message: str) -> None:
    base = {"name": "Lamp", "price": "10", "currency": "EUR"}
    with pytest.raises(InvalidInput) as caught:
        parse_product({**base, **raw})
    assert [e.field for e in caught.value.errors] == [field]
    assert message in caught.value.errors[0].message


def test_partial_changes_keep_the_rest() -> None:
    base = parse_product({"name": "Lamp", "price": "10", "currency": "EUR", "stock": 5})
    changed = parse_product({"stock": 3}, base)
    assert changed.stock == 3 and changed.name == "Lamp" and str(changed.price) == "10.00"
    assert parse_product({"stock": None}, base).stock is None
    # A new currency re-checks the prices: EUR 10.00 is JPY 10, EUR 10.50 is no JPY price.
    assert str(parse_product({"currency": "JPY"}, base).price) == "10"
    cents = parse_product({"price": "10.50"}, base)
    with pytest.raises(InvalidInput, match="JPY has no minor units"):
        parse_product({"currency": "JPY"}, cents)
    with pytest.raises(InvalidInput, match="name"):
        parse_product({"name": None}, base)


def test_direct_construction_is_checked() -> None:
    good = ProductFields(name="Lamp", price=Decimal("10.00"), currency="EUR")
    assert good.price == Decimal("10.00")
    with pytest.raises(InvalidInput):
        ProductFields(name="", price=Decimal("10.00"), currency="EUR")
    with pytest.raises(FieldError, match="normalized"):
        ProductFields(name="Lamp", price=Decimal("10"), currency="EUR")


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "//evil.example/x",
        "/relative",
        "https://",
        "https://shop.example@evil.example/",
        "https://shop.example/a b",
        "https://shop.example:99999/",
        "https://x.example/" + "a" * 2100,
    ],
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(FieldError):
        validate_url(url)


def test_good_urls_and_blank() -> None:
    assert validate_url("https://shop.example/p/1?x=1#y") == "https://shop.example/p/1?x=1#y"
    assert validate_url("HTTP://shop.example") == "HTTP://shop.example"
    assert validate_url("") is None and validate_url(None) is None


def test_small_validators() -> None:
    assert validate_name(" Кресло Поэнг ") == "Кресло Поэнг"
    assert validate_name("椅子") == "椅子"
    assert validate_sku(" A-1/b.2#3 ") == "A-1/b.2#3"
    assert validate_sku("") is None
    assert validate_stock("0") == 0 and validate_stock("") is None
    assert validate_stock(Decimal("4.0")) == 4
    for bad in ("-SKU", "=1+1", "x" * 65):
        with pytest.raises(FieldError):
            validate_sku(bad)


def test_brand() -> None:
    brand = parse_brand(
        {"name": "Acme", "accent": "#AABBCC", "corner": "top-right", "locale": "de-DE"},
        BrandSettings(),
    )
    assert brand.accent == "#aabbcc" and brand.locale == "de_DE" and brand.name == "Acme"
    assert brand.currency == "USD"
    with pytest.raises(InvalidInput) as caught:
        parse_brand(
            {"accent": "red", "corner": "middle", "locale": "xx", "currency": "XXX", "bad": 1},
            BrandSettings(),
        )
    assert sorted(e.field for e in caught.value.errors) == [
        "accent",
        "bad",
        "corner",
        "currency",
        "locale",
    ]
    with pytest.raises(InvalidInput, match="upload a logo"):
        parse_brand({"logo": "0" * 32}, BrandSettings())
    assert parse_brand({"logo": None}, BrandSettings(logo="a" * 32)).logo is None
