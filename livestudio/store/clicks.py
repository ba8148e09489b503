"""Buy clicks per show and product, counted live and in the replay separately."""

from __future__ import annotations

import time

from .base import StoreBase, ValidationError

SOURCES = ("live", "replay")


class ClickStore(StoreBase):
    """Counting the Buy clicks that went through /go/."""

    async def add_click(self, show_id: str, product_id: int, source: str) -> None:
        """Count one click (source: live or replay)."""
        if source not in SOURCES:
            raise ValidationError(f"unknown click source {source!r}")
        async with self._write() as db:
            await db.execute(
                "INSERT INTO clicks (show_id, product_id, source, at) VALUES (?, ?, ?, ?)",
                (show_id, product_id, source, time.time()),
            )

    async def click_counts(self, show_id: str) -> dict[int, dict[str, int]]:
        """{product id: {"live": n, "replay": n}} for a show."""
        rows = await self._fetchall(
            "SELECT product_id, source, COUNT(*) AS n FROM clicks WHERE show_id = ?"
            " GROUP BY product_id, source",
            (show_id,),
        )
        counts: dict[int, dict[str, int]] = {}
        for row in rows:
            counts.setdefault(row["product_id"], {s: 0 for s in SOURCES})[row["source"]] = row["n"]
        return counts
