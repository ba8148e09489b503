"""Brand settings: the name, logo, colour, corner and money conventions of the shop."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from livestudio.catalog.errors import FieldError, InvalidInput
from livestudio.catalog.money import validate_currency, validate_locale
from livestudio.catalog.validation import validate_line

BRAND_NAME_MAX = 100
CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
"""Where the on-air product card sits."""
_ACCENT = re.compile(r"#[0-9a-fA-F]{6}")
EMBED_ORIGINS_MAX = 20
"How many sites a brand may list as allowed to embed its player."
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


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
    embed_origins: tuple[str, ...] = ()
    "Origins (scheme://host[:port]) whose pages may frame the embeddable player; '*': any."


BRAND_EDITABLE = ("name", "accent", "corner", "locale", "currency", "logo", "embed_origins")


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


def _local_host(host: str) -> bool:
    """localhost, *.localhost or a loopback address: where plain http is fine (development)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def validate_embed_origin(value: object, field: str = "embed_origins") -> str:
    """An origin as a CSP frame-ancestors source: `https://shop.example[:port]`, a subdomain
    wildcard `https://*.shop.example`, plain http only for localhost-like hosts, or `*`.

    Returned normalised (lower case, no default port, no trailing slash), so the header
    the embed sends says exactly what the brand page shows."""
    if not isinstance(value, str):
        raise FieldError(field, "must be a list of site addresses (text)")
    text = value.strip()
    if text == "*":
        return text
    example = "e.g. https://shop.example (scheme, host and port only)"
    if not text or len(text) > 300 or any(c.isspace() or c in "'\";," for c in text):
        raise FieldError(field, f"{text[:80]!r} is not a site address: {example}")
    parts = urlsplit(text.rstrip("/"))
    try:
        port = parts.port
    except ValueError:
        raise FieldError(field, f"{text[:80]!r} has a bad port: {example}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise FieldError(field, f"{text[:80]!r} must start with https:// ({example})")
    if parts.username or parts.password or parts.path or parts.query or parts.fragment:
        raise FieldError(field, f"{text[:80]!r} must be only an origin: {example}")
    if "?" in text or "#" in text:
        raise FieldError(field, f"{text[:80]!r} must be only an origin: {example}")
    host = parts.hostname  # lower-cased by urlsplit
    if ":" in host:  # an IPv6 literal
        try:
            host = f"[{ipaddress.IPv6Address(host).compressed}]"
        except ValueError:
            raise FieldError(field, f"{text[:80]!r} has a bad address: {example}") from None
    else:
        wildcard = host.startswith("*.")
        name = host[2:] if wildcard else host
        try:
            name = name.encode("idna").decode("ascii")  # a shop.bücher.example works too
        except UnicodeError:
            raise FieldError(field, f"{text[:80]!r} has a bad host name: {example}") from None
        labels = name.split(".")
        if not all(_LABEL.fullmatch(label) for label in labels):
            raise FieldError(field, f"{text[:80]!r} has a bad host name: {example}")
        host = f"*.{name}" if wildcard else name
    if scheme == "http" and not _local_host(host):
        raise FieldError(
            field, f"{text[:80]!r}: use https:// (plain http only for localhost, in development)"
        )
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        host = f"{host}:{port}"
    return f"{scheme}://{host}"


def validate_embed_origins(value: object, field: str = "embed_origins") -> tuple[str, ...]:
    """A list of origins (see validate_embed_origin), duplicates dropped, order kept."""
    if not isinstance(value, list):
        raise FieldError(field, 'must be a list of site addresses, e.g. ["https://shop.example"]')
    if len(value) > EMBED_ORIGINS_MAX:
        raise FieldError(field, f"at most {EMBED_ORIGINS_MAX} sites")
    origins: list[str] = []
    for item in value:
        origin = validate_embed_origin(item, field)
        if origin not in origins:
            origins.append(origin)
    return tuple(origins)


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
        "embed_origins": validate_embed_origins,
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
