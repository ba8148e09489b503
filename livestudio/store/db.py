"""The Store: the one object through which LiveStudio reads and writes its database."""

from __future__ import annotations

import secrets

from livestudio.store.analytics import AnalyticsStore
from livestudio.store.auth import AuthStore
from livestudio.store.brand import BrandStore
from livestudio.store.clicks import ClickStore
from livestudio.store.clips import ClipStore
from livestudio.store.destinations import DestinationStore
from livestudio.store.moderation import ModerationStore
from livestudio.store.products import ProductStore
from livestudio.store.shows import ShowStore

_SESSION_SECRET_KEY = "session_secret"


class Store(
    ShowStore,
    AuthStore,
    ProductStore,
    BrandStore,
    ClickStore,
    ModerationStore,
    DestinationStore,
    AnalyticsStore,
    ClipStore,
):
    """LiveStudio's SQLite database (WAL, one serialized writer); open with `Store.open`."""

    async def get_meta(self, key: str) -> str | None:
        """A stored setting or secret, or None."""
        row = await self._fetchone("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    async def set_meta(self, key: str, value: str) -> None:
        """Store a setting or secret, replacing any earlier value."""
        async with self._write() as db:
            await db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    async def session_secret(self) -> bytes:
        """32 random bytes for signing session cookies, created on first use and then kept."""
        stored = await self.get_meta(_SESSION_SECRET_KEY)
        if stored is None:
            async with self._write() as db:
                # OR IGNORE: another process may have created it since we looked; theirs wins.
                await db.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                    (_SESSION_SECRET_KEY, secrets.token_hex(32)),
                )
                rows = list(
                    await db.execute_fetchall(
                        "SELECT value FROM meta WHERE key = ?", (_SESSION_SECRET_KEY,)
                    )
                )
            stored = str(rows[0]["value"])
        return bytes.fromhex(stored)
