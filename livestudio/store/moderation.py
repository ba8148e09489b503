"""Chat moderation that outlives a restart: bans and each show's chat settings.

A ban holds by the viewer's cookie in every show (the troll of this week's show is kept
out of next week's). Only when the host asks for it does it also hold by address (an IPv6
address by its /64), in the show it was made in and for a limited time: addresses are
shared (a café, an office, a mobile carrier's NAT) and change hands.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from .base import StoreBase


@dataclass(frozen=True)
class BanRecord:
    """One ban, as the host sees it."""

    id: int
    show_id: str | None
    "The show it was made in (None once that show was deleted; the ban stays)."
    viewer: str
    address: str
    "The address (group) banned too, or '' for a ban by cookie only."
    name: str
    "The display name the viewer used."
    at: float
    address_until: float | None = None
    "Until when (Unix seconds) the address ban holds; None without one."


@dataclass(frozen=True)
class ChatSettingsRecord:
    """A show's chat settings as stored."""

    slow_mode: int = 0
    blocked_words: tuple[str, ...] = ()
    blocked_mode: str = "mask"


_BAN_COLUMNS = "id, show_id, viewer, address, name, at, address_until"


class ModerationStore(StoreBase):
    """Bans and chat settings."""

    async def add_ban(
        self,
        show_id: str,
        viewer: str,
        address: str,
        name: str,
        address_until: float | None = None,
    ) -> int:
        """Ban a viewer by cookie everywhere and, with `address_until`, `address` in this
        show until then; returns the ban's id."""
        if address_until is None:
            address = ""
        async with self._write() as db:
            cursor = await db.execute(
                "INSERT INTO chat_bans (show_id, viewer, address, name, at, address_until)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (show_id, viewer, address, name, time.time(), address_until),
            )
            ban_id = cursor.lastrowid
        assert ban_id is not None
        return ban_id

    async def bans(self) -> list[BanRecord]:
        """The bans in force, newest first."""
        rows = await self._fetchall(
            f"SELECT {_BAN_COLUMNS} FROM chat_bans WHERE lifted_at IS NULL ORDER BY id DESC"
        )
        return [BanRecord(**dict(row)) for row in rows]

    async def lift_ban(self, ban_id: int) -> BanRecord | None:
        """Lift a ban; returns it, or None if there is no such ban in force."""
        row = await self._fetchone(
            f"SELECT {_BAN_COLUMNS} FROM chat_bans WHERE id = ? AND lifted_at IS NULL",
            (ban_id,),
        )
        if row is None:
            return None
        async with self._write() as db:
            await db.execute(
                "UPDATE chat_bans SET lifted_at = ? WHERE id = ?", (time.time(), ban_id)
            )
        return BanRecord(**dict(row))

    async def chat_settings(self, show_id: str) -> ChatSettingsRecord:
        """The show's chat settings (the defaults if never set)."""
        row = await self._fetchone(
            "SELECT slow_mode, blocked_words, blocked_mode FROM chat_settings WHERE show_id = ?",
            (show_id,),
        )
        if row is None:
            return ChatSettingsRecord()
        return ChatSettingsRecord(
            row["slow_mode"], tuple(json.loads(row["blocked_words"])), row["blocked_mode"]
        )

    async def set_chat_settings(self, show_id: str, settings: ChatSettingsRecord) -> None:
        """Store the show's chat settings."""
        async with self._write() as db:
            await db.execute(
                "INSERT INTO chat_settings (show_id, slow_mode, blocked_words, blocked_mode)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (show_id) DO UPDATE SET"
                " slow_mode = excluded.slow_mode, blocked_words = excluded.blocked_words,"
                " blocked_mode = excluded.blocked_mode",
                (
                    show_id,
                    settings.slow_mode,
                    json.dumps(list(settings.blocked_words), ensure_ascii=False),
                    settings.blocked_mode,
                ),
            )

    async def chat_message(self, show_id: str, message_id: int) -> dict[str, object] | None:
        """A chat message of the show as stored (None if unknown or deleted)."""
        rows = await self._fetchall(
            "SELECT kind, data, pts FROM show_events WHERE show_id = ?"
            " AND kind IN ('chat', 'chat_delete') AND json_extract(data, '$.id') = ?",
            (show_id, message_id),
        )
        kinds = [row["kind"] for row in rows]
        if "chat" not in kinds or "chat_delete" in kinds:
            return None
        row = rows[kinds.index("chat")]
        return {**json.loads(row["data"]), "pts": row["pts"]}
