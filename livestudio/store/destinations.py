"""Where each show is restreamed while live; their keys are kept to be sent, never shown."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .base import StoreBase


@dataclass(frozen=True)
class DestinationRecord:
    """One destination of a show as stored."""

    id: int
    show_id: str
    url: str
    "The server URL (rtmp://, rtmps://, or a WHIP endpoint's http(s)://), shown to the host."
    key: str = field(repr=False)
    "The stream key or bearer token: sent to the server only (kept out of repr and logs)."
    created_at: float

    @property
    def has_key(self) -> bool:
        """Whether a key was given (the key itself is never shown back)."""
        return bool(self.key)


_COLUMNS = "id, show_id, url, key, created_at"


class DestinationStore(StoreBase):
    """Destinations per show."""

    async def add_destination(self, show_id: str, url: str, key: str) -> DestinationRecord:
        """Add a destination to a show; returns it with its id."""
        now = time.time()
        async with self._write() as db:
            cursor = await db.execute(
                "INSERT INTO destinations (show_id, url, key, created_at) VALUES (?, ?, ?, ?)",
                (show_id, url, key, now),
            )
            destination_id = cursor.lastrowid
        assert destination_id is not None
        return DestinationRecord(destination_id, show_id, url, key, now)

    async def destinations(self, show_id: str) -> list[DestinationRecord]:
        """The show's destinations, oldest first."""
        rows = await self._fetchall(
            f"SELECT {_COLUMNS} FROM destinations WHERE show_id = ? ORDER BY id", (show_id,)
        )
        return [DestinationRecord(**dict(row)) for row in rows]

    async def delete_destination(self, show_id: str, destination_id: int) -> bool:
        """Remove a destination of the show; False if it has no such destination."""
        async with self._write() as db:
            cursor = await db.execute(
                "DELETE FROM destinations WHERE id = ? AND show_id = ?", (destination_id, show_id)
            )
            return cursor.rowcount > 0
