"""Shows and their timeline of events."""

from __future__ import annotations

import hmac
import json
import secrets
import sqlite3
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from livestudio.store.base import NotFoundError, StoreBase, ValidationError, sha256_hex
from livestudio.store.schema import SHOW_STATES

TITLE_MAX = 200


@dataclass(frozen=True)
class ShowRecord:
    """One show as stored."""

    id: str
    "Unguessable URL-safe id, used in every URL of the show."
    title: str
    starts_at: str | None
    "Announced start, ISO 8601 in UTC; None if not announced."
    state: str
    "One of SHOW_STATES."
    created_at: float
    "Unix seconds, like every other time the store keeps."
    went_live_at: float | None
    "When the show first went live."
    ended_at: float | None
    recording: str = "none"
    "none, recording, ready or failed."
    duration: float | None = None
    "Seconds of recorded media, once the recording is finalized."
    recording_error: str | None = None
    "Why the recording stopped early (e.g. disk full), for the studio."
    orientation: str = "landscape"
    "landscape (16:9) or portrait (9:16, cropped from the camera: shows meant for phones)."


@dataclass(frozen=True)
class EventRecord:
    """One thing that happened in a show (pin, sale, chat...), stamped with program time."""

    id: int
    "Increases with every event: the resume point of the live events WebSocket."
    show_id: str
    kind: str
    pts: int | None
    "Program pts (1/90000 s) of the first frame that shows it; None if not on screen."
    wall: float
    "Unix seconds."
    data: dict[str, Any]


_SHOW_COLUMNS = (
    "id, title, starts_at, state, created_at, went_live_at, ended_at,"
    " recording, duration, recording_error, orientation"
)


def validate_title(title: object) -> str:
    """The title stripped, or ValidationError if empty, too long or has control characters."""
    if not isinstance(title, str):
        raise ValidationError("title must be text")
    title = title.strip()
    if not title:
        raise ValidationError("title must not be empty")
    if len(title) > TITLE_MAX:
        raise ValidationError(f"title must be at most {TITLE_MAX} characters")
    # Newlines and other control characters break one-line displays (CLI, cards, <title>).
    if any(unicodedata.category(ch) == "Cc" for ch in title):
        raise ValidationError("title must not contain control characters")
    return title


def normalize_starts_at(starts_at: object) -> str | None:
    """ISO 8601 text → the same instant as ISO 8601 in UTC (naive means UTC); "" → None."""
    if starts_at is None:
        return None
    if not isinstance(starts_at, str):
        raise ValidationError("starts_at must be ISO 8601 text")
    text = starts_at.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"starts_at: {text!r} is not an ISO 8601 date-time (e.g. 2025-06-01T18:00+02:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


ORIENTATIONS = ("landscape", "portrait")
"A show's program: 16:9, or 9:16 for phones."


def _new_show_id() -> str:
    # 9 bytes → 12 URL-safe characters: unguessable, short enough to read aloud. Never a
    # leading "-": argparse (and most CLIs) would take the id for an option.
    while True:
        show_id = secrets.token_urlsafe(9)
        if not show_id.startswith("-"):
            return show_id


def _show(row: sqlite3.Row) -> ShowRecord:
    return ShowRecord(
        id=row["id"],
        title=row["title"],
        starts_at=row["starts_at"],
        state=row["state"],
        created_at=row["created_at"],
        went_live_at=row["went_live_at"],
        ended_at=row["ended_at"],
        recording=row["recording"],
        duration=row["duration"],
        recording_error=row["recording_error"],
        orientation=row["orientation"],
    )


def _event(row: sqlite3.Row) -> EventRecord:
    return EventRecord(
        id=row["id"],
        show_id=row["show_id"],
        kind=row["kind"],
        pts=row["pts"],
        wall=row["wall"],
        data=json.loads(row["data"]),
    )


class ShowStore(StoreBase):
    """Show and event methods of the Store."""

    async def create_show(
        self, title: str, starts_at: str | None = None, orientation: str = "landscape"
    ) -> tuple[ShowRecord, str]:
        """Create a scheduled show; return it and its stream key (shown once, stored hashed)."""
        if orientation not in ORIENTATIONS:
            raise ValidationError(f"orientation must be one of {', '.join(ORIENTATIONS)}")
        record = ShowRecord(
            id=_new_show_id(),
            title=validate_title(title),
            starts_at=normalize_starts_at(starts_at),
            state="scheduled",
            created_at=time.time(),
            went_live_at=None,
            ended_at=None,
            orientation=orientation,
        )
        stream_key = secrets.token_urlsafe(32)
        async with self._write() as db:
            await db.execute(
                "INSERT INTO shows"
                " (id, title, starts_at, state, stream_key_hash, created_at, orientation)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.title,
                    record.starts_at,
                    record.state,
                    sha256_hex(stream_key),
                    record.created_at,
                    record.orientation,
                ),
            )
        return record, stream_key

    async def set_orientation(self, show_id: str, orientation: str) -> None:
        """landscape or portrait; ValidationError for anything else."""
        if orientation not in ORIENTATIONS:
            raise ValidationError(f"orientation must be one of {', '.join(ORIENTATIONS)}")
        async with self._write() as db:
            await db.execute(
                "UPDATE shows SET orientation = ? WHERE id = ?", (orientation, show_id)
            )

    async def get_show(self, show_id: str) -> ShowRecord | None:
        """The show with this id (deleted ones included), or None."""
        row = await self._fetchone(f"SELECT {_SHOW_COLUMNS} FROM shows WHERE id = ?", (show_id,))
        return _show(row) if row else None

    async def list_shows(self) -> list[ShowRecord]:
        """Every show but deleted ones, newest first."""
        rows = await self._fetchall(
            f"SELECT {_SHOW_COLUMNS} FROM shows WHERE state != 'deleted'"
            " ORDER BY created_at DESC, rowid DESC"
        )
        return [_show(row) for row in rows]

    async def check_stream_key(self, show_id: str, key: str) -> bool:
        """Whether `key` is the stream key of this show (never true for a deleted show).

        Only the key's SHA-256 is stored: a key is 256 random bits, so a fast hash is as
        good as a slow one, and a copy of the database publishes to no show.
        """
        row = await self._fetchone(
            "SELECT stream_key_hash FROM shows WHERE id = ? AND state != 'deleted'", (show_id,)
        )
        if row is None:
            return False
        return hmac.compare_digest(sha256_hex(key), row["stream_key_hash"])

    async def set_recording(
        self,
        show_id: str,
        status: str,
        *,
        duration: float | None = None,
        error: str | None = None,
    ) -> None:
        """Record what the recorder did: recording, ready (with duration), failed, none."""
        if status not in ("none", "recording", "ready", "failed"):
            raise ValidationError(f"unknown recording status {status!r}")
        async with self._write() as db:
            await db.execute(
                "UPDATE shows SET recording = ?, duration = COALESCE(?, duration),"
                " recording_error = COALESCE(?, recording_error) WHERE id = ?",
                (status, duration, error, show_id),
            )

    async def delete_show(self, show_id: str) -> None:
        """Remove the show and everything recorded about it (events cascade)."""
        async with self._write() as db:
            await db.execute("DELETE FROM show_events WHERE show_id = ?", (show_id,))
            await db.execute("DELETE FROM shows WHERE id = ?", (show_id,))

    async def rotate_stream_key(self, show_id: str) -> str:
        """Give the show a new stream key (the old one stops working) and return it: the
        only time it can be read (it is stored hashed)."""
        stream_key = secrets.token_urlsafe(32)
        async with self._write() as db:
            cursor = await db.execute(
                "UPDATE shows SET stream_key_hash = ? WHERE id = ?",
                (sha256_hex(stream_key), show_id),
            )
            if cursor.rowcount != 1:
                raise NotFoundError(f"no show {show_id!r}")
        return stream_key

    async def set_show_state(
        self, show_id: str, state: str, *, at: float | None = None
    ) -> ShowRecord:
        """Record a state change; the first 'live' sets went_live_at, the first 'ended' ended_at."""
        if state not in SHOW_STATES:
            raise ValidationError(f"state must be one of {', '.join(SHOW_STATES)}")
        when = time.time() if at is None else at
        async with self._write() as db:
            # COALESCE keeps the first time: a reconnect ends in 'live' again, not a new start.
            # Back to 'scheduled' (nothing of it aired: OnAir.abandon) it never went live.
            await db.execute(
                "UPDATE shows SET state = ?,"
                " went_live_at = CASE WHEN ? = 'live' THEN COALESCE(went_live_at, ?)"
                " WHEN ? = 'scheduled' THEN NULL ELSE went_live_at END,"
                " ended_at = CASE WHEN ? = 'ended' THEN COALESCE(ended_at, ?) ELSE ended_at END"
                " WHERE id = ?",
                (state, state, when, state, state, when, show_id),
            )
            rows = list(
                await db.execute_fetchall(
                    f"SELECT {_SHOW_COLUMNS} FROM shows WHERE id = ?", (show_id,)
                )
            )
        if not rows:
            raise NotFoundError(f"no show {show_id!r}")
        return _show(rows[0])

    async def add_event(
        self,
        show_id: str,
        kind: str,
        data: dict[str, Any],
        pts: int | None,
        wall: float | None = None,
    ) -> int:
        """Append an event to the show's timeline; return its id."""
        payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        try:
            async with self._write() as db:
                cursor = await db.execute(
                    "INSERT INTO show_events (show_id, kind, pts, wall, data)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (show_id, kind, pts, time.time() if wall is None else wall, payload),
                )
                event_id = cursor.lastrowid
        except sqlite3.IntegrityError:
            # The only constraint an insert can break here is the show foreign key.
            raise NotFoundError(f"no show {show_id!r}") from None
        assert event_id is not None  # an INSERT always sets it
        return event_id

    async def add_events(
        self, show_id: str, rows: list[tuple[str, dict[str, Any], int | None, float]]
    ) -> None:
        """Write several events (kind, data, pts, wall) in one transaction (chat batches)."""
        async with self._write() as db:
            await db.executemany(
                "INSERT INTO show_events (show_id, kind, pts, wall, data) VALUES (?, ?, ?, ?, ?)",
                [(show_id, kind, pts, wall, json.dumps(data)) for kind, data, pts, wall in rows],
            )

    async def featured(self, show_ids: list[str]) -> dict[str, list[str]]:
        """Names of the products put on air in each show (pinned or on sale), in order."""
        if not show_ids:
            return {}
        marks = ", ".join("?" * len(show_ids))
        rows = await self._fetchall(
            "SELECT show_id, json_extract(data, '$.name') AS name FROM show_events"
            f" WHERE kind IN ('pin', 'sale') AND show_id IN ({marks}) ORDER BY id",
            show_ids,
        )
        out: dict[str, list[str]] = {}
        for row in rows:
            names = out.setdefault(row["show_id"], [])
            if row["name"] and row["name"] not in names:
                names.append(row["name"])
        return out

    async def list_events(self, show_id: str, after_id: int = 0) -> list[EventRecord]:
        """The show's events with an id above `after_id`, oldest first."""
        rows = await self._fetchall(
            "SELECT id, show_id, kind, pts, wall, data FROM show_events"
            " WHERE show_id = ? AND id > ? ORDER BY id",
            (show_id, after_id),
        )
        return [_event(row) for row in rows]
