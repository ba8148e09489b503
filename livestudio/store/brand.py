"""The brand settings: one row, defaults until the host changes something."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import aiosqlite

from livestudio.catalog.brand import BrandSettings, parse_brand
from livestudio.store.base import StoreBase

_COLUMNS = "name, accent, corner, locale, currency, logo, embed_origins"


async def _read(db: aiosqlite.Connection) -> BrandSettings:
    rows = list(await db.execute_fetchall(f"SELECT {_COLUMNS} FROM brand WHERE id = 1"))
    if not rows:
        return BrandSettings()
    values = {key: rows[0][key] for key in rows[0].keys()}
    values["embed_origins"] = tuple(json.loads(values["embed_origins"]))
    return BrandSettings(**values)


async def _write_brand(db: aiosqlite.Connection, brand: BrandSettings) -> None:
    await db.execute(
        f"INSERT INTO brand (id, {_COLUMNS}, updated_at) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name, accent = excluded.accent,"
        " corner = excluded.corner, locale = excluded.locale, currency = excluded.currency,"
        " logo = excluded.logo, embed_origins = excluded.embed_origins,"
        " updated_at = excluded.updated_at",
        (
            brand.name,
            brand.accent,
            brand.corner,
            brand.locale,
            brand.currency,
            brand.logo,
            json.dumps(list(brand.embed_origins)),
            time.time(),
        ),
    )


class BrandStore(StoreBase):
    """Brand methods of the Store."""

    async def get_brand(self) -> BrandSettings:
        """The brand settings (defaults if never set)."""
        async with self._lock:
            return await _read(self._db)

    async def update_brand(self, changes: Mapping[str, Any]) -> BrandSettings:
        """Apply `changes` (as sent to PUT /api/brand) atomically; InvalidInput if wrong."""
        async with self._write() as db:
            brand = parse_brand(changes, await _read(db))
            await _write_brand(db, brand)
        return brand

    async def set_brand_logo(self, logo: str | None) -> BrandSettings:
        """Set (or with None remove) the logo: an image key of the media library."""
        async with self._write() as db:
            brand = replace(await _read(db), logo=logo)
            await _write_brand(db, brand)
        return brand
