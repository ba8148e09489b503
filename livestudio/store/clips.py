"""Clips of a replay: one product's chapter (or a trimmed part of it) as its own MP4."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, replace
from typing import Any

from .base import NotFoundError, StoreBase, ValidationError

CLIP_KINDS = ("plain", "vertical")
CLIP_STATUSES = ("working", "ready", "failed")


@dataclass(frozen=True)
class ClipRecord:
    """One clip as stored. Times are program pts (1/90000 s), the recording's timeline."""

    id: int
    show_id: str
    product_id: int | None
    title: str
    kind: str
    "plain (cut without re-encoding) or vertical (9:16, re-encoded)."
    chapter_start: int
    chapter_end: int
    "The chapter it was made from."
    start_pts: int
    end_pts: int
    "The span asked for (the chapter, or as trimmed)."
    cut_start: int | None
    cut_end: int | None
    "The span the file holds: from the keyframe at or before start_pts."
    status: str
    "working, ready or failed."
    error: str | None
    width: int | None
    height: int | None
    size: int | None
    "Bytes of the MP4."
    version: int
    "Goes up with every new file (a trim): names the file, so caches never mix versions."
    created_at: float
    updated_at: float


_FIELDS = (
    "id show_id product_id title kind chapter_start chapter_end start_pts end_pts cut_start"
    " cut_end status error width height size version created_at updated_at"
).split()
_COLUMNS = ", ".join(_FIELDS)


def _clip(row: sqlite3.Row) -> ClipRecord:
    return ClipRecord(**{key: row[key] for key in row.keys()})


class ClipStore(StoreBase):
    """Clip rows; the files are the clip service's (live/clips.py)."""

    async def add_clip(
        self,
        show_id: str,
        product_id: int | None,
        title: str,
        kind: str,
        chapter: tuple[int, int],
        span: tuple[int, int],
    ) -> ClipRecord:
        """A new clip, status working, version 0 (no file yet)."""
        if kind not in CLIP_KINDS:
            raise ValidationError(f"kind must be one of {', '.join(CLIP_KINDS)}")
        now = time.time()
        try:
            async with self._write() as db:
                cursor = await db.execute(
                    "INSERT INTO clips (show_id, product_id, title, kind, chapter_start,"
                    " chapter_end, start_pts, end_pts, status, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'working', ?, ?)",
                    (show_id, product_id, title, kind, *chapter, *span, now, now),
                )
                clip_id = cursor.lastrowid
        except sqlite3.IntegrityError:
            raise NotFoundError(f"no show {show_id!r}") from None
        clip = await self.get_clip(int(clip_id or 0))
        assert clip is not None
        return clip

    async def get_clip(self, clip_id: int) -> ClipRecord | None:
        """The clip with this id, or None."""
        row = await self._fetchone(f"SELECT {_COLUMNS} FROM clips WHERE id = ?", (clip_id,))
        return _clip(row) if row else None

    async def list_clips(self, show_id: str) -> list[ClipRecord]:
        """A show's clips, oldest first."""
        rows = await self._fetchall(
            f"SELECT {_COLUMNS} FROM clips WHERE show_id = ? ORDER BY id", (show_id,)
        )
        return [_clip(r) for r in rows]

    async def latest_clips(self, limit: int) -> list[ClipRecord]:
        """The newest ready clips of published shows (the home page)."""
        rows = await self._fetchall(
            f"SELECT {', '.join('c.' + f for f in _FIELDS)}"
            " FROM clips c JOIN shows s ON s.id = c.show_id"
            " WHERE c.status = 'ready' AND s.state = 'published'"
            " ORDER BY c.created_at DESC, c.id DESC LIMIT ?",
            (limit,),
        )
        return [_clip(r) for r in rows]

    async def update_clip(self, clip: ClipRecord, **changes: Any) -> ClipRecord:
        """Store changed fields of a clip (status, span, cut, file facts); the new record."""
        allowed = {
            "start_pts",
            "end_pts",
            "cut_start",
            "cut_end",
            "status",
            "error",
            "width",
            "height",
            "size",
            "version",
        }
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"not a clip field to change: {sorted(unknown)}")
        if changes.get("status", clip.status) not in CLIP_STATUSES:
            raise ValidationError(f"unknown clip status {changes['status']!r}")
        updated = replace(clip, **changes, updated_at=time.time())
        names = [*sorted(changes), "updated_at"]
        async with self._write() as db:
            cursor = await db.execute(
                f"UPDATE clips SET {', '.join(f'{n} = ?' for n in names)} WHERE id = ?",
                [getattr(updated, n) for n in names] + [clip.id],
            )
            if cursor.rowcount != 1:
                raise NotFoundError(f"no clip {clip.id}")
        return updated

    async def delete_clip(self, clip_id: int) -> bool:
        """Remove a clip's row; False if there was none."""
        async with self._write() as db:
            cursor = await db.execute("DELETE FROM clips WHERE id = ?", (clip_id,))
            return cursor.rowcount == 1

    async def fail_unfinished_clips(self, message: str) -> int:
        """Clips a stopped server left working: failed with `message`. How many."""
        async with self._write() as db:
            cursor = await db.execute(
                "UPDATE clips SET status = 'failed', error = ?, updated_at = ?"
                " WHERE status = 'working'",
                (message, time.time()),
            )
            return cursor.rowcount
