"""Products (soft-deleted, never removed) and each show's running order."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiosqlite

from livestudio.catalog.csvio import ImportItem
from livestudio.catalog.validation import ProductFields, parse_product, trusted_fields
from livestudio.store.base import ConflictError, NotFoundError, StoreBase, ValidationError

RUNNING_ORDER_MAX = 500
SEARCH_MAX = 200


@dataclass(frozen=True)
class ProductRecord:
    """One product as stored."""

    id: int
    fields: ProductFields
    "Name, prices, currency, URL, stock, SKU, description: everything a user sets."
    image: str | None
    "Key of the image in the media library (see catalog.images), or None."
    created_at: float
    updated_at: float
    deleted_at: float | None
    "Set when deleted: hidden from the catalog, kept for the history of past shows."

    @property
    def name(self) -> str:
        """The product's name."""
        return self.fields.name

    @property
    def price(self) -> Decimal:
        """The price, in `currency`."""
        return self.fields.price

    @property
    def currency(self) -> str:
        """ISO 4217 code of the prices."""
        return self.fields.currency

    @property
    def stock(self) -> int | None:
        """Units left, or None when stock is not tracked."""
        return self.fields.stock


_COLUMNS = (
    "id, name, description, price, compare_at_price, currency, url, stock, sku, image,"
    " created_at, updated_at, deleted_at"
)

_JOINED_COLUMNS = ", ".join("p." + column.strip() for column in _COLUMNS.split(","))


def _record(row: sqlite3.Row) -> ProductRecord:
    compare = row["compare_at_price"]
    fields = trusted_fields(
        {
            "name": row["name"],
            "description": row["description"],
            "price": Decimal(row["price"]),
            "compare_at_price": None if compare is None else Decimal(compare),
            "currency": row["currency"],
            "url": row["url"],
            "stock": row["stock"],
            "sku": row["sku"],
        }
    )
    return ProductRecord(
        id=row["id"],
        fields=fields,
        image=row["image"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deleted_at=row["deleted_at"],
    )


def _values(fields: ProductFields) -> tuple[Any, ...]:
    return (
        fields.name,
        fields.description,
        format(fields.price, "f"),
        None if fields.compare_at_price is None else format(fields.compare_at_price, "f"),
        fields.currency,
        fields.url,
        fields.stock,
        fields.sku,
    )


_SET_FIELDS = (
    "name = ?, description = ?, price = ?, compare_at_price = ?, currency = ?, url = ?,"
    " stock = ?, sku = ?"
)


def _sku_taken(sku: str | None) -> ConflictError:
    return ConflictError(f"sku: {sku!r} is already used by another product")


async def _live_row(db: aiosqlite.Connection, product_id: int) -> sqlite3.Row:
    rows = list(
        await db.execute_fetchall(
            f"SELECT {_COLUMNS} FROM products WHERE id = ? AND deleted_at IS NULL",
            (product_id,),
        )
    )
    if not rows:
        raise NotFoundError(f"no product {product_id}")
    return rows[0]


def _matches(record: ProductRecord, needle: str) -> bool:
    haystack = (record.fields.name, record.fields.sku or "", record.fields.description)
    return any(needle in text.casefold() for text in haystack)


class ProductStore(StoreBase):
    """Product and running-order methods of the Store."""

    async def create_product(
        self, fields: ProductFields, image: str | None = None
    ) -> ProductRecord:
        """Add a product. ValidationError if its SKU is taken."""
        now = time.time()
        try:
            async with self._write() as db:
                cursor = await db.execute(
                    "INSERT INTO products (name, description, price, compare_at_price, currency,"
                    " url, stock, sku, image, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*_values(fields), image, now, now),
                )
                product_id = cursor.lastrowid
        except sqlite3.IntegrityError:
            raise _sku_taken(fields.sku) from None
        assert product_id is not None  # an INSERT always sets it
        return ProductRecord(product_id, fields, image, now, now, None)

    async def get_product(
        self, product_id: int, *, include_deleted: bool = False
    ) -> ProductRecord | None:
        """The product with this id, or None (also None when deleted, unless asked for)."""
        row = await self._fetchone(f"SELECT {_COLUMNS} FROM products WHERE id = ?", (product_id,))
        if row is None or (row["deleted_at"] is not None and not include_deleted):
            return None
        return _record(row)

    async def get_products(self, product_ids: Iterable[int]) -> dict[int, ProductRecord]:
        """Products by id, deleted ones included (history: chapters, running orders)."""
        ids = sorted(set(product_ids))
        found: dict[int, ProductRecord] = {}
        # Chunks stay under SQLite's limit on bound parameters.
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = await self._fetchall(
                f"SELECT {_COLUMNS} FROM products WHERE id IN ({marks})", chunk
            )
            found.update((row["id"], _record(row)) for row in rows)
        return found

    async def list_products(self, query: str = "") -> list[ProductRecord]:
        """The catalog (not deleted), newest first; `query` filters on name, SKU, description."""
        rows = await self._fetchall(
            f"SELECT {_COLUMNS} FROM products WHERE deleted_at IS NULL ORDER BY id DESC"
        )
        records = [_record(row) for row in rows]
        # In Python rather than SQL LIKE: SQLite folds case for ASCII only ("É" ≠ "é").
        needle = query.strip()[:SEARCH_MAX].casefold()
        return [r for r in records if _matches(r, needle)] if needle else records

    async def products_by_sku(self) -> dict[str, ProductRecord]:
        """Every product with a SKU (not deleted), by SKU."""
        rows = await self._fetchall(
            f"SELECT {_COLUMNS} FROM products WHERE deleted_at IS NULL AND sku IS NOT NULL"
        )
        return {row["sku"]: _record(row) for row in rows}

    async def update_product(
        self, product_id: int, changes: Mapping[str, Any], default_currency: str | None = None
    ) -> ProductRecord:
        """Apply `changes` (as sent to PATCH) atomically; InvalidInput, NotFoundError, or
        ValidationError (SKU taken).

        Validation runs on the current row inside the write, so concurrent edits of
        different fields (stock from a phone, the name from the studio) never undo each other.
        """
        try:
            async with self._write() as db:
                current = _record(await _live_row(db, product_id))
                fields = parse_product(changes, current.fields, default_currency)
                await db.execute(
                    f"UPDATE products SET {_SET_FIELDS}, updated_at = ? WHERE id = ?",
                    (*_values(fields), time.time(), product_id),
                )
                row = await _live_row(db, product_id)
        except sqlite3.IntegrityError:
            raise _sku_taken(changes.get("sku")) from None
        return _record(row)

    async def set_product_image(self, product_id: int, image: str | None) -> ProductRecord:
        """Set (or with None remove) the product's image; NotFoundError if there is none."""
        async with self._write() as db:
            await _live_row(db, product_id)
            await db.execute(
                "UPDATE products SET image = ?, updated_at = ? WHERE id = ?",
                (image, time.time(), product_id),
            )
            row = await _live_row(db, product_id)
        return _record(row)

    async def delete_product(self, product_id: int) -> None:
        """Hide the product from the catalog; past shows keep naming it. NotFoundError if gone."""
        async with self._write() as db:
            cursor = await db.execute(
                "UPDATE products SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
                (time.time(), product_id),
            )
            if cursor.rowcount != 1:
                raise NotFoundError(f"no product {product_id}")

    async def import_products(self, items: Sequence[ImportItem]) -> tuple[int, int]:
        """Apply a validated CSV import in one transaction; return (created, updated).

        ValidationError (and nothing written) if the catalog changed meanwhile so that a
        row no longer applies.
        """
        now = time.time()
        created = updated = 0
        try:
            async with self._write() as db:
                for item in items:
                    if item.product_id is None:
                        await db.execute(
                            "INSERT INTO products (name, description, price, compare_at_price,"
                            " currency, url, stock, sku, image, created_at, updated_at)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (*_values(item.fields), item.image, now, now),
                        )
                        created += 1
                        continue
                    image_sql = ", image = ?" if item.set_image else ""
                    image_arg = (item.image,) if item.set_image else ()
                    cursor = await db.execute(
                        f"UPDATE products SET {_SET_FIELDS}{image_sql}, updated_at = ?"
                        " WHERE id = ? AND deleted_at IS NULL",
                        (*_values(item.fields), *image_arg, now, item.product_id),
                    )
                    if cursor.rowcount != 1:
                        raise ValidationError(
                            f"row {item.row}: the product was deleted during the import;"
                            " nothing was imported, try again"
                        )
                    updated += 1
        except sqlite3.IntegrityError:
            raise ValidationError(
                "a SKU in the file was taken by another product during the import;"
                " nothing was imported, try again"
            ) from None
        return created, updated

    async def get_running_order(self, show_id: str) -> list[ProductRecord]:
        """The show's products in order, deleted ones included (they are its history)."""
        rows = await self._fetchall(
            f"SELECT {_JOINED_COLUMNS} FROM show_products AS sp"
            " JOIN products AS p ON p.id = sp.product_id WHERE sp.show_id = ? ORDER BY sp.position",
            (show_id,),
        )
        return [_record(row) for row in rows]

    async def set_running_order(self, show_id: str, product_ids: Sequence[int]) -> None:
        """Replace the show's running order.

        ValidationError for duplicates, NotFoundError for an unknown show or product,
        ConflictError for a deleted product that was not already in the order.
        """
        if len(product_ids) > RUNNING_ORDER_MAX:
            raise ValidationError(f"a running order holds at most {RUNNING_ORDER_MAX} products")
        seen: set[int] = set()
        for product_id in product_ids:
            if product_id in seen:
                raise ValidationError(f"product {product_id} is in the list twice")
            seen.add(product_id)
        async with self._write() as db:
            show = list(
                await db.execute_fetchall(
                    "SELECT 1 FROM shows WHERE id = ? AND state != 'deleted'", (show_id,)
                )
            )
            if not show:
                raise NotFoundError(f"no show {show_id!r}")
            before = {
                row[0]
                for row in await db.execute_fetchall(
                    "SELECT product_id FROM show_products WHERE show_id = ?", (show_id,)
                )
            }
            marks = ", ".join("?" * len(seen))
            states = {
                row[0]: row[1]
                for row in await db.execute_fetchall(
                    f"SELECT id, deleted_at FROM products WHERE id IN ({marks})", sorted(seen)
                )
            }
            for product_id in product_ids:
                if product_id not in states:
                    raise NotFoundError(f"there is no product {product_id}")
                if states[product_id] is not None and product_id not in before:
                    raise ConflictError(f"product {product_id} was deleted")
            await db.execute("DELETE FROM show_products WHERE show_id = ?", (show_id,))
            await db.executemany(
                "INSERT INTO show_products (show_id, product_id, position) VALUES (?, ?, ?)",
                [
                    (show_id, product_id, position)
                    for position, product_id in enumerate(product_ids)
                ],
            )
