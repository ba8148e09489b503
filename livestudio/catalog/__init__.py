"""The product catalog's domain rules: money, validation, images, CSV, shop imports.

No SQL and no web handlers; the only network use is fetching the image URLs of an
import (catalog/fetch.py, an HTTP client).
"""

from livestudio.catalog.errors import FieldError, InvalidInput
from livestudio.catalog.money import (
    PRICE_MAX,
    format_price,
    is_currency,
    minor_units,
    parse_price,
    validate_currency,
    validate_locale,
)
from livestudio.catalog.validation import ProductFields, parse_product

__all__ = [
    "PRICE_MAX",
    "FieldError",
    "InvalidInput",
    "ProductFields",
    "format_price",
    "is_currency",
    "minor_units",
    "parse_price",
    "parse_product",
    "validate_currency",
    "validate_locale",
]
