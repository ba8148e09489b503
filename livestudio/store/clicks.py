"""Buy clicks per show and product, counted live and in the replay separately."""

from __future__ import annotations

import time

from .base import StoreBase, ValidationError

SOURCES = ("live", "replay")


class ClickStore(StoreBase):
    """Counting the Buy clicks that went through /go/."""

    async def add_click(self, show_id: str, product_id: int, source: str, viewer: str) -> bool:
        """Count a viewer's click (source: live or replay) once; True if it was new."""
        if source not in SOURCES:
            raise ValidationError(f"unknown click source {source!r}")
        async with self._write() as db:
            cursor = await db.execute(
                "INSERT OR IGNORE INTO clicks (show_id, product_id, source, at, viewer)"
                " VALUES (?, ?, ?, ?, ?)",
                (show_id, product_id, source, time.time(), viewer),
            )
            return cursor.rowcount == 1

    async def in_show(self, show_id: str, product_id: int) -> bool:
        """Whether the product is in the show's running order or was on air in it."""
        rows = await self._fetchall(
            "SELECT 1 FROM show_products WHERE show_id = ? AND product_id = ?"
            " UNION ALL SELECT 1 FROM show_events WHERE show_id = ? AND kind IN ('pin', 'sale')"
            " AND json_extract(data, '$.product') = ? LIMIT 1",
            (show_id, product_id, show_id, product_id),
        )
        return bool(rows)

    async def click_counts(self, show_id: str) -> dict[int, dict[str, int]]:
        """{product id: {"live": n, "replay": n}} for a show: viewers who clicked Buy."""
        rows = await self._fetchall(
            "SELECT product_id, source, COUNT(*) AS n FROM clicks WHERE show_id = ?"
            " GROUP BY product_id, source",
            (show_id,),
        )
        counts: dict[int, dict[str, int]] = {}
        for row in rows:
            counts.setdefault(row["product_id"], {s: 0 for s in SOURCES})[row["source"]] = row["n"]
        return counts
