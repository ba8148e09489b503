"""Shopify and WooCommerce product exports, read as they come and turned into our columns."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from html.parser import HTMLParser
from urllib.parse import quote

SHOP_URL_OPTION = "shop_url"
"""The import option (query parameter or form field) giving the shop's address."""

# Header (lower case, spaces collapsed) -> our field, or a field only shops have.
SHOPIFY = {
    "handle": "handle",
    "title": "name",
    "body (html)": "body_html",
    "variant sku": "sku",
    "variant price": "price",
    "variant compare at price": "compare_at_price",
    "variant inventory qty": "stock",
    "variant inventory tracker": "tracker",
    "image src": "image",
}
WOOCOMMERCE = {
    "id": "id",
    "name": "name",
    "sku": "sku",
    "regular price": "regular_price",
    "sale price": "sale_price",
    "stock": "stock",
    "images": "image",
    "description": "body_html",
    "short description": "short_html",
    "external url": "url",
    "permalink": "url",
}
_KNOWN_IGNORED = {"published"}
"""Recognized yet unused: the catalog has no draft state, every row is a product."""


@dataclass(frozen=True)
class Shop:
    """An export format: its name and its header aliases."""

    name: str
    aliases: dict[str, str]


_Get = Callable[[str], str]

SHOPS = (Shop("Shopify", SHOPIFY), Shop("WooCommerce", WOOCOMMERCE))


def header_key(cell: str) -> str:
    """A header cell as matched against the aliases (case and spacing ignored)."""
    return re.sub(r"\s+", " ", cell.strip().lower())


def detect(header: Sequence[str]) -> Shop | None:
    """The shop whose export this header is, or None (our own format)."""
    keys = {header_key(cell) for cell in header}
    if "handle" in keys and ("title" in keys or "variant price" in keys):
        return SHOPS[0]
    if "regular price" in keys and "name" in keys:
        return SHOPS[1]
    return None


def is_ignored(key: str) -> bool:
    return key in _KNOWN_IGNORED


class _Text(HTMLParser):
    """The text of an HTML fragment: tags dropped, block ends as line breaks, scripts skipped."""

    _BLOCKS = frozenset(
        "p div br ul ol tr table h1 h2 h3 h4 h5 h6 blockquote section article".split()
    )
    _SKIPPED = frozenset(("script", "style", "template"))

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self.skipping += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """Plain text of shop HTML (the result is only ever shown as text, never as HTML)."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = (line.strip() for line in "".join(parser.parts).split("\n"))
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


@dataclass(frozen=True)
class Converted:
    """A shop row as our cells, or None for a continuation row; `url_missing` if no URL."""

    cells: dict[str, str] | None
    url_missing: bool = False


class Converter:
    """Turns one shop's rows (cells by shop field) into rows of our columns, in file order."""

    def __init__(self, shop: Shop, fields: Iterable[str], shop_url: str | None) -> None:
        self.shop = shop
        self.fields = set(fields)
        self.shop_url = shop_url.rstrip("/") if shop_url else None
        self.handle = ""
        self.skipped = 0

    def convert(self, raw: dict[str, str]) -> Converted:
        def get(key: str) -> str:
            return raw.get(key, "").strip()

        if self.shop is SHOPS[0]:
            handle = get("handle")
            if not get("name") and handle and handle == self.handle:
                self.skipped += 1  # a variant's or an extra image's row
                return Converted(None)
            self.handle = handle
            cells = self._shopify(raw, get)
        else:
            cells = self._woocommerce(raw, get)
        cells["name"] = raw.get("name", "")
        cells["sku"] = raw.get("sku", "")
        if "body_html" in self.fields or "short_html" in self.fields:
            html = get("body_html") or get("short_html")
            if self.shop is SHOPS[1]:
                html = html.replace("\\n", "\n")  # WooCommerce writes line breaks as \n
            cells["description"] = html_to_text(html)
        if "image" in self.fields:
            # WooCommerce lists every image, comma-separated: the first is the main one.
            cells["image"] = get("image").split(",")[0].strip()
        if "stock" in self.fields:
            stock = get("stock")
            # Shopify lets a shop oversell: a negative count means none left.
            cells["stock"] = "0" if re.fullmatch(r"-\d+", stock) else stock
            if "tracker" in self.fields and not get("tracker"):
                cells["stock"] = ""  # Shopify does not track this product's inventory
        missing = not cells.get("url")
        return Converted(cells, url_missing=missing)

    def _shopify(self, raw: dict[str, str], get: _Get) -> dict[str, str]:
        cells = {"price": raw.get("price", "")}
        if "compare_at_price" in self.fields:
            # Shopify keeps a compare-at price equal to (or below) the price: no sale shown.
            compare, price = _decimal(get("compare_at_price")), _decimal(get("price"))
            useless = compare is not None and price is not None and compare <= price
            cells["compare_at_price"] = "" if useless else get("compare_at_price")
        handle = get("handle")
        if self.shop_url and handle:
            cells["url"] = f"{self.shop_url}/products/{quote(handle, safe='')}"
        return cells

    def _woocommerce(self, raw: dict[str, str], get: _Get) -> dict[str, str]:
        sale, regular = get("sale_price"), get("regular_price")
        cells = {
            "price": sale or regular,
            "compare_at_price": regular if sale else "",
            "url": get("url"),
        }
        if not cells["url"] and self.shop_url and get("id"):
            # WordPress's shortlink, which redirects to the product's page.
            cells["url"] = f"{self.shop_url}/?p={quote(get('id'), safe='')}"
        return cells

    def url_error(self) -> str:
        if self.shop is SHOPS[0]:
            return (
                "Shopify exports have no product URL: pass the shop's address as the"
                f" {SHOP_URL_OPTION} option (e.g. ?{SHOP_URL_OPTION}=https://yourshop.example)"
                " to link each product to {shop_url}/products/{Handle}"
            )
        return (
            "this WooCommerce row has no product URL: pass the shop's address as the"
            f" {SHOP_URL_OPTION} option (e.g. ?{SHOP_URL_OPTION}=https://yourshop.example)"
            " to link it by its ID, or add an External URL"
        )

    def notes(self, ignored: list[str], currency: str) -> list[str]:
        notes = [f"Read as a {self.shop.name} product export."]
        if ignored:
            shown = ", ".join(ignored[:12]) + (", …" if len(ignored) > 12 else "")
            notes.append(f"{len(ignored)} column(s) ignored (no such product field): {shown}.")
        notes.append(f"No currency column: prices are taken as {currency} (the brand's currency).")
        if self.skipped:
            notes.append(
                f"{self.skipped} row(s) skipped: further variants or images of the product above."
            )
        return notes
