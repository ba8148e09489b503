"""Brand settings: the name, logo, colour, corner and money conventions of the shop."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from livestudio.catalog.errors import FieldError, InvalidInput
from livestudio.catalog.money import validate_currency, validate_locale
from livestudio.catalog.validation import validate_line

BRAND_NAME_MAX = 100
CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
"""Where the on-air product card sits."""
_ACCENT = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True)
class BrandSettings:
    """The brand as validated; `logo` is an image key of the media library or None."""

    name: str = "LiveStudio"
    accent: str = "#e11d48"
    "#rrggbb, lower case."
    corner: str = "bottom-left"
    locale: str = "en_US"
    "Babel locale used to format prices (e.g. de_DE: 1.299,00 €)."
    currency: str = "USD"
    "Default ISO 4217 currency of new products."
    logo: str | None = None


BRAND_EDITABLE = ("name", "accent", "corner", "locale", "currency", "logo")


def validate_accent(value: object, field: str = "accent") -> str:
    """A colour as #rrggbb (lower-cased)."""
    if not isinstance(value, str) or not _ACCENT.fullmatch(value.strip()):
        raise FieldError(field, "must be a colour written #rrggbb, e.g. #e11d48")
    return value.strip().lower()


def validate_corner(value: object, field: str = "corner") -> str:
    """One of CORNERS."""
    if not isinstance(value, str) or value.strip() not in CORNERS:
        raise FieldError(field, f"must be one of {', '.join(CORNERS)}")
    return value.strip()


def parse_brand(raw: Mapping[str, Any], base: BrandSettings) -> BrandSettings:
    """Apply the changes in `raw` to `base`; InvalidInput lists every wrong field.

    `logo` may only be set to None (remove) here: a new logo is uploaded as an image.
    """
    errors: list[FieldError] = []
    values = {f.name: getattr(base, f.name) for f in fields(base)}
    checks: dict[str, Any] = {
        "name": lambda v: validate_line(v, "name", BRAND_NAME_MAX),
        "accent": validate_accent,
        "corner": validate_corner,
        "locale": validate_locale,
        "currency": validate_currency,
    }
    for key, value in raw.items():
        if key == "logo":
            if value is not None and value != base.logo:
                errors.append(FieldError("logo", "upload a logo with POST /api/brand/logo"))
            values["logo"] = value
            continue
        check = checks.get(key)
        if check is None:
            known = ", ".join(BRAND_EDITABLE)
            errors.append(FieldError(str(key)[:40], f"unknown field (known: {known})"))
            continue
        try:
            values[key] = check(value)
        except FieldError as exc:
            errors.append(exc)
    if errors:
        raise InvalidInput(errors)
    return BrandSettings(**values)
