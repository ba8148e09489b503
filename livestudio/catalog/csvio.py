"""CSV import (all-or-nothing, every bad row reported) and export (safe in spreadsheets)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

from livestudio.catalog import shops
from livestudio.catalog.errors import FieldError, InvalidInput
from livestudio.catalog.images import ImageError, PreparedImage, is_image_key, key_of_name
from livestudio.catalog.validation import EDITABLE, ProductFields, parse_product

COLUMNS = (
    "sku",
    "name",
    "description",
    "price",
    "compare_at_price",
    "currency",
    "url",
    "stock",
    "image",
)
"""Export columns, in order; an import may use any subset that identifies its products."""
MAX_ROWS = 5000
MAX_ERRORS = 200
"""Row errors reported at most (a wrong file would otherwise list every row)."""
_NUMERIC = {"price", "compare_at_price", "stock", "regular_price", "sale_price"}
MEDIA_PATH = "/media/products/"
"""Where this studio serves stored images (an export's image URLs point there)."""
_ALIASES = {"image_url": "image", "compare_at": "compare_at_price", "product_url": "url"}
# OWASP's list: a cell starting with one of these is run as a formula by Excel, LibreOffice
# and Google Sheets (tab and CR too, since some strip them first).
_FORMULA = re.compile(r"[=+\-@\t\r]")
_NEEDS_QUOTE = re.compile(r"'*[=+\-@\t\r]")
_ESCAPED = re.compile(r"'+[=+\-@\t\r]")


@dataclass(frozen=True)
class RowError:
    """What is wrong with one row (`row` counts lines from 1, the header being row 1)."""

    row: int
    column: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        """The error as the API reports it."""
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass(frozen=True)
class CsvRow:
    """A data row: its line number and its cells by column (only the header's columns)."""

    row: int
    cells: dict[str, str]


@dataclass(frozen=True)
class ImportItem:
    """One validated row: create (product_id None) or update that product."""

    row: int
    product_id: int | None
    fields: ProductFields
    set_image: bool
    "Whether the row's image column says anything (else the image is left alone)."
    image: str | None
    "The image key, or None for no image."


class CsvImportError(ValueError):
    """The file cannot be imported; `errors` says where and why."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} problem(s) in the CSV; nothing was imported")
        self.errors = errors[:MAX_ERRORS]
        self.total = len(errors)


def neutralize(cell: str) -> str:
    """`cell` made inert for spreadsheets: a leading = + - @ tab or CR gets a ' before it.

    Cells already starting with quotes before such a character get one more, so that
    `restore` gives back exactly the original text.
    """
    return "'" + cell if _NEEDS_QUOTE.match(cell) else cell


def restore(cell: str) -> str:
    """The inverse of `neutralize`: drop one ' before a formula character."""
    return cell[1:] if _ESCAPED.match(cell) else cell


def _plain(amount: Decimal | None) -> str:
    return "" if amount is None else format(amount, "f")


def export_csv(products: Iterable[tuple[ProductFields, str | None]]) -> str:
    """CSV text (UTF-8 BOM, CRLF) of (product, image URL) pairs, every cell neutralized."""
    out = io.StringIO()
    # The BOM is how Excel knows the file is UTF-8 (else "Café" opens as "CafÃ©").
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for product, image_url in products:
        cells = [
            product.sku or "",
            product.name,
            product.description,
            _plain(product.price),
            _plain(product.compare_at_price),
            product.currency,
            product.url or "",
            "" if product.stock is None else str(product.stock),
            image_url or "",
        ]
        writer.writerow([neutralize(cell) for cell in cells])
    return out.getvalue()


def _column(header: str) -> str:
    name = re.sub(r"[\s-]+", "_", header.strip().lower())
    return _ALIASES.get(name, name)


@dataclass(frozen=True)
class ReadResult:
    """A parsed file: its rows in our columns, the broken rows' problems, and notes."""

    rows: list[CsvRow]
    errors: list[RowError]
    notes: list[str]
    shop: str | None = None
    "The shop whose export the file is (Shopify, WooCommerce), None for our own format."


def read_rows(text: str) -> tuple[list[CsvRow], list[RowError]]:
    """Parse CSV text into rows and the problems of broken rows and formula cells.

    A bad header raises CsvImportError at once: without it no row can be read.
    """
    result = read_csv(text)
    return result.rows, result.errors


def read_csv(text: str, shop_url: str | None = None, currency: str = "USD") -> ReadResult:
    """`read_rows`, also reading Shopify and WooCommerce exports as they come.

    A shop's export may have any extra columns (ignored, and noted); `shop_url` builds the
    product URLs those exports lack, and `currency` is the one their prices are taken in.
    """
    text = text.removeprefix("\ufeff")
    first_line = text.split("\n", 1)[0]
    # Spreadsheets in many European locales save with ";" since "," is their decimal mark.
    delimiter = ";" if ";" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise CsvImportError([RowError(1, None, f"the header is not valid CSV: {exc}")]) from None
    if header is None or not any(cell.strip() for cell in header):
        raise CsvImportError([RowError(1, None, "the file is empty: a header row is needed")])
    shop = shops.detect(header)
    if shop is not None:
        return _read_shop(reader, header, shop, shop_url, currency)
    errors: list[RowError] = []
    columns = [_column(cell) for cell in header]
    for index, column in enumerate(columns):
        if column not in COLUMNS:
            errors.append(
                RowError(1, header[index][:40], f"unknown column (known: {', '.join(COLUMNS)})")
            )
        elif columns.index(column) != index:
            errors.append(RowError(1, column, "the column appears twice"))
    if "sku" not in columns and not {"name", "price"} <= set(columns):
        errors.append(
            RowError(1, None, "the header needs name and price columns (or sku, to update)")
        )
    if errors:
        raise CsvImportError(errors)
    rows = [
        CsvRow(number, _cells(number, zip(columns, record, strict=True), errors))
        for number, record in _records(reader, len(columns), errors)
    ]
    return ReadResult(rows, errors, [])


def _records(
    reader: Iterator[list[str]], width: int, errors: list[RowError]
) -> Iterator[tuple[int, list[str]]]:
    """The data rows with their line numbers; broken ones are added to `errors` instead."""
    count = 0
    while True:
        row_number = getattr(reader, "line_num", 0) + 1
        try:
            record = next(reader, None)
        except csv.Error as exc:
            errors.append(RowError(row_number, None, f"broken CSV from here on: {exc}"))
            return
        if record is None:
            return
        if not any(cell.strip() for cell in record):
            continue
        if count >= MAX_ROWS:
            errors.append(RowError(row_number, None, f"too many rows (at most {MAX_ROWS})"))
            return
        if len(record) != width:
            message = f"expected {width} cells, found {len(record)}"
            errors.append(RowError(row_number, None, message))
            continue
        count += 1
        yield row_number, record


def _cells(
    row_number: int, pairs: Iterable[tuple[str, str]], errors: list[RowError]
) -> dict[str, str]:
    """A row's cells by column, formula cells reported (and a leading ' removed)."""
    cells: dict[str, str] = {}
    for column, cell in pairs:
        if column not in _NUMERIC and _FORMULA.match(cell):
            errors.append(
                RowError(
                    row_number,
                    column,
                    f"starts with {cell[0]!r}, which spreadsheets run as a formula;"
                    " put a ' before it to keep it as text",
                )
            )
        cells[column] = restore(cell)
    return cells


def _read_shop(
    reader: Iterator[list[str]],
    header: list[str],
    shop: shops.Shop,
    shop_url: str | None,
    currency: str,
) -> ReadResult:
    """The rows of a shop's export, in our columns (see shops.Converter)."""
    errors: list[RowError] = []
    fields: list[str | None] = []
    ignored: list[str] = []
    for cell in header:
        key = shops.header_key(cell)
        field = shop.aliases.get(key)
        if field is None and not shops.is_ignored(key) and key:
            ignored.append(cell.strip()[:40])
        elif field is not None and field in fields:
            errors.append(RowError(1, cell.strip()[:40], "the column appears twice"))
        fields.append(field)
    if "name" not in fields or not {"price", "regular_price"} & set(fields):
        errors.append(RowError(1, None, f"a {shop.name} export needs its name and price columns"))
    if errors:
        raise CsvImportError(errors)
    converter = shops.Converter(shop, (f for f in fields if f), shop_url)
    rows: list[CsvRow] = []
    for number, record in _records(reader, len(header), errors):
        pairs = ((f, cell) for f, cell in zip(fields, record, strict=True) if f is not None)
        raw = _cells(number, pairs, errors)
        converted = converter.convert(raw)
        if converted.cells is None:
            continue
        if converted.url_missing:
            errors.append(RowError(number, "url", converter.url_error()))
        rows.append(CsvRow(number, converted.cells))
    return ReadResult(rows, errors, converter.notes(ignored, currency), shop.name)


def _short(url: str) -> str:
    """A URL as quoted in a row error (a signed CDN URL can run to hundreds of characters)."""
    return url if len(url) <= 100 else url[:99] + "…"


def _split_url(text: str) -> SplitResult:
    """An image cell holding a URL, split; FieldError unless it is http(s) with a host."""
    try:
        parts = urlsplit(text)
        valid = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed [ in an IPv6 host, or a bad port
        valid = False
    if not valid:
        raise FieldError("image", f"{_short(text)}: only http:// and https:// URLs are fetched")
    return parts


def _stored_key(name: str, is_stored: Callable[[str], bool]) -> str | None:
    """The key of a stored image a file name (or bare key) names, if it is stored here."""
    key = key_of_name(name) or (name if is_image_key(name) else None)
    return key if key is not None and is_stored(key) else None


def _stored_in_url(parts: SplitResult, is_stored: Callable[[str], bool]) -> str | None:
    # An export's URLs point to /media/products/<hash>.webp; images are stored by content
    # hash, so if that hash is stored here it is the same image, whichever studio's URL.
    path = unquote(parts.path)
    if not path.startswith(MEDIA_PATH):
        return None
    return _stored_key(path.removeprefix(MEDIA_PATH), is_stored)


def _local_name(text: str) -> str:
    """The file name a bare name or a /media/products/ path gives (FieldError for other paths)."""
    if not text.startswith("/"):
        return text
    path = unquote(text.split("?", 1)[0].split("#", 1)[0])
    if not path.startswith(MEDIA_PATH):
        raise FieldError(
            "image", "give a file name, an http(s) URL or a /media/products/ path of this studio"
        )
    return path.removeprefix(MEDIA_PATH)


def image_url(cell: str, is_stored: Callable[[str], bool]) -> str | None:
    """The URL the server must fetch for an image cell, or None (a name, or a stored image)."""
    text = cell.strip()
    if "://" not in text:
        return None
    try:
        parts = _split_url(text)
    except FieldError:
        return None  # resolve_image reports it
    return None if _stored_in_url(parts, is_stored) else text


def image_sources(
    rows: Iterable[CsvRow], is_stored: Callable[[str], bool]
) -> tuple[set[str], list[str]]:
    """What the rows' image cells need: upload file names, and URLs to fetch (each once)."""
    names: set[str] = set()
    urls: dict[str, None] = {}  # a dict keeps the file's order
    for row in rows:
        text = row.cells.get("image", "").strip()
        if not text:
            continue
        if "://" in text:
            url = image_url(text, is_stored)
            if url is not None:
                urls[url] = None
            continue
        try:
            names.add(_local_name(text))
        except FieldError:
            continue  # reported by resolve_image
    return names, list(urls)


def _key_of(label: str, image: PreparedImage | ImageError) -> str:
    if isinstance(image, ImageError):
        raise FieldError("image", f"{label}: {image}")
    return image.key


def resolve_image(
    cell: str,
    uploads: Mapping[str, PreparedImage | ImageError],
    fetched: Mapping[str, PreparedImage | ImageError],
    is_stored: Callable[[str], bool],
) -> str:
    """The image key an image cell means, or FieldError.

    `uploads` are the files sent with the CSV by name, `fetched` the URLs of `image_url`.
    """
    text = cell.strip()
    if "://" in text:
        stored = _stored_in_url(_split_url(text), is_stored)
        if stored is not None:
            return stored
        image = fetched.get(text)
        if image is None:
            raise FieldError("image", f"{_short(text)}: was not fetched")
        return _key_of(_short(text), image)
    name = _local_name(text)
    upload = uploads.get(name)
    if upload is not None:
        return _key_of(name, upload)
    key = _stored_key(name, is_stored)
    if key is None:
        raise FieldError("image", f"{name[:80]!r} is neither an uploaded file nor a stored image")
    return key


def plan_import(
    rows: list[CsvRow],
    existing: Mapping[str, tuple[int, ProductFields]],
    default_currency: str,
    resolve: Callable[[str], str],
    read_errors: Iterable[RowError] = (),
) -> list[ImportItem]:
    """Validate every row against the catalog (`existing` by SKU); CsvImportError if any is bad.

    A row whose SKU names an existing product updates the columns the file has; any other
    row creates a product. `read_errors` (from read_rows) are reported along, in row order.
    """
    errors: list[RowError] = list(read_errors)
    items: list[ImportItem] = []
    seen_skus: dict[str, int] = {}
    for row in rows:
        raw = {key: value for key, value in row.cells.items() if key in EDITABLE}
        sku = row.cells.get("sku", "").strip()
        if sku:
            if sku in seen_skus:
                errors.append(RowError(row.row, "sku", f"{sku!r} is also on row {seen_skus[sku]}"))
                continue
            seen_skus[sku] = row.row
        target = existing.get(sku) if sku else None
        try:
            if target is None:
                fields = parse_product(raw, None, default_currency)
            else:
                fields = parse_product(raw, target[1])
        except InvalidInput as exc:
            errors.extend(RowError(row.row, e.field, e.message) for e in exc.errors)
            continue
        image: str | None = None
        set_image = "image" in row.cells
        if set_image and row.cells["image"].strip():
            try:
                image = resolve(row.cells["image"])
            except FieldError as exc:
                errors.append(RowError(row.row, "image", exc.message))
                continue
        items.append(
            ImportItem(
                row=row.row,
                product_id=None if target is None else target[0],
                fields=fields,
                set_image=set_image or target is None,
                image=image,
            )
        )
    if errors:
        raise CsvImportError(sorted(errors, key=lambda e: e.row))
    return items
