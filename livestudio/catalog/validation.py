"""What a valid product is: every field checked and normalized, all errors reported at once."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from livestudio.catalog.errors import FieldError, InvalidInput
from livestudio.catalog.money import parse_price, validate_currency

NAME_MAX = 200
DESCRIPTION_MAX = 5000
URL_MAX = 2048
STOCK_MAX = 1_000_000_000
_SKU = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/#-]{0,63}")
# Line and paragraph separators break one-line displays just like a newline does.
_BREAKING = {"Cc", "Zl", "Zp"}


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def validate_line(value: object, field: str, maximum: int) -> str:
    """One line of text (stripped, NFC): 1..maximum characters, no control characters."""
    if not isinstance(value, str):
        raise FieldError(field, "must be text")
    text = unicodedata.normalize("NFC", value.strip())
    if not text:
        raise FieldError(field, "must not be empty")
    if len(text) > maximum:
        raise FieldError(field, f"must be at most {maximum} characters (got {len(text)})")
    if any(unicodedata.category(ch) in _BREAKING for ch in text):
        raise FieldError(field, "must be one line without control characters")
    return text


def validate_name(value: object, field: str = "name") -> str:
    """A product name: 1 to 200 characters on one line."""
    return validate_line(value, field, NAME_MAX)


def validate_description(value: object, field: str = "description") -> str:
    """Free text up to 5000 characters; line breaks and tabs allowed, "" if absent."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FieldError(field, "must be text")
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n").strip())
    if len(text) > DESCRIPTION_MAX:
        raise FieldError(field, f"must be at most {DESCRIPTION_MAX} characters (got {len(text)})")
    if any(unicodedata.category(ch) in _BREAKING and ch not in "\n\t" for ch in text):
        raise FieldError(field, "must not contain control characters")
    return text


def validate_url(value: object, field: str = "url") -> str | None:
    """An absolute http(s) URL (where Buy sends the viewer), or None if blank."""
    if _is_blank(value):
        return None
    if not isinstance(value, str):
        raise FieldError(field, "must be text")
    text = value.strip()
    if len(text) > URL_MAX:
        raise FieldError(field, f"must be at most {URL_MAX} characters")
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in text):
        raise FieldError(field, "must not contain spaces or control characters")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise FieldError(field, "is not a valid URL") from None
    # Anything else (javascript:, data:, file:, relative) would run or leak in the viewer.
    if parts.scheme.lower() not in ("http", "https"):
        raise FieldError(field, "must start with http:// or https://")
    if not parts.hostname:
        raise FieldError(field, "must name a host, e.g. https://shop.example/item")
    if parts.username is not None or parts.password is not None:
        # https://shop.example@evil.example reads like the shop but goes elsewhere.
        raise FieldError(field, "must not contain a user name or password")
    return text


def validate_sku(value: object, field: str = "sku") -> str | None:
    """A stock-keeping unit (letters, digits, . _ / # -), or None if blank."""
    if _is_blank(value):
        return None
    if not isinstance(value, str) or not _SKU.fullmatch(value.strip()):
        raise FieldError(
            field, "1 to 64 letters, digits or . _ / # - starting with a letter or digit"
        )
    return value.strip()


def validate_stock(value: object, field: str = "stock") -> int | None:
    """Units in stock: a whole number ≥ 0, or None (not tracked) if blank."""
    if _is_blank(value):
        return None
    if isinstance(value, bool):
        raise FieldError(field, "must be a whole number ≥ 0, or empty")
    number: int
    if isinstance(value, int):
        number = value
    elif isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"[+-]?\d{1,12}", value.strip()):
        number = int(value.strip())
    else:
        raise FieldError(field, "must be a whole number ≥ 0, or empty")
    if number < 0:
        raise FieldError(field, "must not be negative")
    if number > STOCK_MAX:
        raise FieldError(field, f"must be at most {STOCK_MAX:,}")
    return number


@dataclass(frozen=True)
class ProductFields:
    """Everything about a product a user sets (not its id, image or times), validated."""

    name: str
    price: Decimal
    "Quantized to the currency's minor units (JPY 1299, EUR 1299.00)."
    currency: str
    "ISO 4217, upper case."
    description: str = ""
    compare_at_price: Decimal | None = None
    "The crossed-out 'was' price; greater than `price` when set."
    url: str | None = None
    "Where Buy sends the viewer: http(s) only."
    stock: int | None = None
    "None: not tracked."
    sku: str | None = None

    def __post_init__(self) -> None:
        # Constructed directly (not through parse_product) the fields must already be
        # valid and normalized: the store relies on it.
        again = parse_product({f.name: getattr(self, f.name) for f in fields(self)})
        # repr, not ==: Decimal("1.5") == Decimal("1.50"), yet only one is normalized.
        if any(repr(getattr(again, f)) != repr(getattr(self, f)) for f in EDITABLE):
            raise FieldError("product", "fields are not normalized; use parse_product")


EDITABLE = tuple(f.name for f in fields(ProductFields))
"""The keys a client may send to create or change a product."""


def parse_product(
    raw: Mapping[str, Any],
    base: ProductFields | None = None,
    default_currency: str | None = None,
) -> ProductFields:
    """Validate `raw` (a new product, or changes to `base`) into ProductFields.

    Keys absent from `raw` keep `base`'s value; unknown keys are errors. Raises
    InvalidInput listing every wrong field.
    """
    errors: list[FieldError] = []
    unknown = sorted(set(raw) - set(EDITABLE))
    for key in unknown:
        errors.append(FieldError(str(key)[:40], f"unknown field (known: {', '.join(EDITABLE)})"))
    values: dict[str, Any] = {} if base is None else {f: getattr(base, f) for f in EDITABLE}

    def take(key: str, check: Any, *args: Any) -> None:
        if key not in raw and base is not None:
            return
        try:
            values[key] = check(raw.get(key), *args)
        except FieldError as exc:
            errors.append(exc)

    take("name", validate_name)
    take("description", validate_description)
    take("url", validate_url)
    take("stock", validate_stock)
    take("sku", validate_sku)

    currency_raw = raw.get("currency")
    if "currency" in raw or base is None:
        if _is_blank(currency_raw) and default_currency is not None and base is None:
            currency_raw = default_currency
        try:
            values["currency"] = validate_currency(currency_raw)
        except FieldError as exc:
            errors.append(exc)
            values.pop("currency", None)
    currency = values.get("currency")
    if currency is not None:
        # Re-check prices when the currency changes too: EUR 12.50 cannot become JPY.
        for key in ("price", "compare_at_price"):
            value = raw[key] if key in raw else values.get(key)
            if key == "compare_at_price" and _is_blank(value):
                values[key] = None
                continue
            if key == "price" and value is None:
                errors.append(FieldError("price", "is required"))
                continue
            try:
                values[key] = parse_price(value, currency, key)
            except FieldError as exc:
                errors.append(exc)
                values[key] = None
        price, compare = values.get("price"), values.get("compare_at_price")
        if price is not None and compare is not None and compare <= price:
            errors.append(FieldError("compare_at_price", "must be greater than the price"))
    if errors:
        raise InvalidInput(errors)
    return trusted_fields(values)


def trusted_fields(values: Mapping[str, Any]) -> ProductFields:
    """ProductFields from values already validated (by parse_product, or read back from the store).

    Skips re-validation: rules may tighten later, and old rows must still load.
    """
    product = object.__new__(ProductFields)
    for key in EDITABLE:
        object.__setattr__(product, key, values[key])
    return product
