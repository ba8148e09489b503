"""Where each show is restreamed while live; their keys are kept to be sent, never shown.

A destination's key (a platform's stream key, a WHIP bearer token) must be read back to be
sent, so it cannot be hashed like our own stream keys: it is sealed (Fernet: AES-CBC +
HMAC) with a key derived from the data folder's key file (store/keyfile.py), which lives
outside the database. A copy of the database alone does not give a brand's YouTube key
away. A key that cannot be unsealed (the key file was replaced) reads as lost: the
destination says so and is added again; nothing else breaks.
"""

from __future__ import annotations

import base64
import functools
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from . import keyfile
from .base import StoreBase

SEALED = "fernet:"
"Prefix of a sealed key in the key column (rows from before sealing hold the plain key)."
PURPOSE = "livestudio destination keys"


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

    key_lost: bool = False
    "A key was stored but cannot be unsealed (the data folder's key file changed)."

    @property
    def has_key(self) -> bool:
        """Whether a key was given (the key itself is never shown back)."""
        return bool(self.key) or self.key_lost


@functools.cache
def _fernet(folder: Path) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(keyfile.derived_key(folder, PURPOSE)))


_COLUMNS = "id, show_id, url, key, created_at"


class DestinationStore(StoreBase):
    """Destinations per show."""

    def _seal(self, key: str) -> str:
        if not key or self._folder is None:
            return key
        return SEALED + _fernet(self._folder).encrypt(key.encode()).decode("ascii")

    def _record(self, row: sqlite3.Row) -> DestinationRecord:
        key, lost = row["key"], False
        if key.startswith(SEALED) and self._folder is not None:
            try:
                key = _fernet(self._folder).decrypt(key[len(SEALED) :]).decode()
            except InvalidToken:
                key, lost = "", True
        return DestinationRecord(
            row["id"], row["show_id"], row["url"], key, row["created_at"], key_lost=lost
        )

    async def _after_open(self) -> None:
        await super()._after_open()
        # Keys stored before they were sealed are sealed now, once.
        rows = await self._fetchall(
            "SELECT id, key FROM destinations WHERE key != '' AND key NOT LIKE 'fernet:%'"
        )
        if rows:
            async with self._write() as db:
                for row in rows:
                    await db.execute(
                        "UPDATE destinations SET key = ? WHERE id = ?",
                        (self._seal(row["key"]), row["id"]),
                    )

    async def add_destination(self, show_id: str, url: str, key: str) -> DestinationRecord:
        """Add a destination to a show; returns it with its id."""
        now = time.time()
        async with self._write() as db:
            cursor = await db.execute(
                "INSERT INTO destinations (show_id, url, key, created_at) VALUES (?, ?, ?, ?)",
                (show_id, url, self._seal(key), now),
            )
            destination_id = cursor.lastrowid
        assert destination_id is not None
        return DestinationRecord(destination_id, show_id, url, key, now)

    async def destinations(self, show_id: str) -> list[DestinationRecord]:
        """The show's destinations, oldest first."""
        rows = await self._fetchall(
            f"SELECT {_COLUMNS} FROM destinations WHERE show_id = ? ORDER BY id", (show_id,)
        )
        return [self._record(row) for row in rows]

    async def delete_destination(self, show_id: str, destination_id: int) -> bool:
        """Remove a destination of the show; False if it has no such destination."""
        async with self._write() as db:
            cursor = await db.execute(
                "DELETE FROM destinations WHERE id = ? AND show_id = ?", (destination_id, show_id)
            )
            return cursor.rowcount > 0
