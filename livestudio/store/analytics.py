"""What analytics keep: viewer sessions (hashed viewer ids), page views, and the rows a
report reads (clicks, on-air and chat events) in one place."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from .base import StoreBase

_SECRET_KEY = "analytics_secret"


@dataclass(frozen=True)
class SessionRow:
    """One player's watch of a live show, as stored."""

    viewer: str
    "The keyed hash of the viewer's cookie."
    kind: str
    "webrtc or hls."
    joined_at: float
    left_at: float | None
    "None while it watches (or when the server stopped before it left)."


@dataclass(frozen=True)
class ClickRow:
    """One counted Buy click."""

    product_id: int
    source: str
    "live, replay or clip."
    at: float
    viewer: str | None
    "Keyed hash of the viewer (None for clicks counted before it was kept)."


@dataclass(frozen=True)
class TimedEvent:
    """A show event as a report needs it: kind, wall time, program pts and its data."""

    kind: str
    wall: float
    pts: int | None
    data: dict[str, Any]


SessionWrite = tuple[str, str, str, str, float, float | None]
"(key, show id, viewer hash, kind, joined_at, left_at) of a new session."
SessionEnd = tuple[str, float]
"(key, left_at) of a session that ended."


class AnalyticsStore(StoreBase):
    """Viewer sessions and page views; reads for the reports."""

    async def analytics_secret(self) -> bytes:
        """The key of the viewer-id hash: 32 random bytes made on first use, then kept."""
        row = await self._fetchone("SELECT value FROM meta WHERE key = ?", (_SECRET_KEY,))
        if row is None:
            async with self._write() as db:
                await db.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                    (_SECRET_KEY, secrets.token_hex(32)),
                )
            row = await self._fetchone("SELECT value FROM meta WHERE key = ?", (_SECRET_KEY,))
        assert row is not None
        return bytes.fromhex(str(row["value"]))

    async def write_sessions(self, new: list[SessionWrite], ended: list[SessionEnd]) -> None:
        """Insert new sessions and close ended ones, in one transaction (a batch)."""
        if not new and not ended:
            return
        async with self._write() as db:
            # Sessions of a show deleted meanwhile are dropped (no row to refer to).
            await db.executemany(
                "INSERT OR IGNORE INTO viewer_sessions"
                " (key, show_id, viewer, kind, joined_at, left_at)"
                " SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM shows WHERE id = ?)",
                [(*row, row[1]) for row in new],
            )
            await db.executemany(
                "UPDATE viewer_sessions SET left_at = ? WHERE key = ? AND left_at IS NULL",
                [(left, key) for key, left in ended],
            )

    async def close_open_sessions(self, at: float) -> int:
        """Sessions left open by a server that stopped: they end at `at` (or when their
        show ended, if earlier). Returns how many were closed."""
        async with self._write() as db:
            cursor = await db.execute(
                "UPDATE viewer_sessions SET left_at = MAX(joined_at, MIN(?, COALESCE("
                " (SELECT ended_at FROM shows WHERE shows.id = viewer_sessions.show_id), ?)))"
                " WHERE left_at IS NULL",
                (at, at),
            )
            return cursor.rowcount

    async def sessions(self, show_id: str) -> list[SessionRow]:
        """Every viewer session of a show, in order of joining."""
        rows = await self._fetchall(
            "SELECT viewer, kind, joined_at, left_at FROM viewer_sessions WHERE show_id = ?"
            " ORDER BY joined_at, id",
            (show_id,),
        )
        return [SessionRow(r["viewer"], r["kind"], r["joined_at"], r["left_at"]) for r in rows]

    async def add_view(self, show_id: str, page: str, viewer: str) -> bool:
        """Count a viewer's visit of a replay or clip page once; True if it was new."""
        async with self._write() as db:
            cursor = await db.execute(
                "INSERT OR IGNORE INTO page_views (show_id, page, viewer, at)"
                " SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM shows WHERE id = ?)",
                (show_id, page, viewer, time.time(), show_id),
            )
            return cursor.rowcount == 1

    async def views(self, show_id: str) -> dict[str, int]:
        """{page: viewers} of a show's replay ("replay") and clip pages ("clip:<id>")."""
        rows = await self._fetchall(
            "SELECT page, COUNT(*) AS n FROM page_views WHERE show_id = ? GROUP BY page",
            (show_id,),
        )
        return {r["page"]: r["n"] for r in rows}

    async def clicks(self, show_id: str) -> list[ClickRow]:
        """Every counted Buy click of a show, oldest first."""
        rows = await self._fetchall(
            "SELECT product_id, source, at, viewer FROM clicks WHERE show_id = ? ORDER BY at, id",
            (show_id,),
        )
        return [ClickRow(r["product_id"], r["source"], r["at"], r["viewer"]) for r in rows]

    async def timed_events(self, show_id: str, kinds: tuple[str, ...]) -> list[TimedEvent]:
        """The show's events of these kinds, oldest first (chat without its text: a report
        needs when, not what)."""
        marks = ", ".join("?" * len(kinds))
        rows = await self._fetchall(
            "SELECT kind, wall, pts, CASE WHEN kind IN ('chat', 'chat_delete') THEN"
            " json_object('id', json_extract(data, '$.id')) ELSE data END AS data"
            f" FROM show_events WHERE show_id = ? AND kind IN ({marks}) ORDER BY id",
            (show_id, *kinds),
        )
        return [TimedEvent(r["kind"], r["wall"], r["pts"], json.loads(r["data"])) for r in rows]

    async def product_names(self, product_ids: list[int]) -> dict[int, str]:
        """Names of these products (deleted ones too)."""
        if not product_ids:
            return {}
        marks = ", ".join("?" * len(product_ids))
        rows = await self._fetchall(
            f"SELECT id, name FROM products WHERE id IN ({marks})", product_ids
        )
        return {r["id"]: r["name"] for r in rows}
