"""Who watches a live show, as it happens: viewer sessions for the analytics.

The signalling and HLS handlers tell the `Audience` when a WebRTC viewer joins or leaves
and when an HLS player fetches a live playlist; it keeps the open sessions in memory and
writes them to the store in batches (every FLUSH_SECONDS), never on the frame path and
never one write per request.

Viewers are known by a keyed hash of their cookie's viewer id (HMAC-SHA256 with a secret
of this server, truncated): the analytics can tell viewers apart and link a viewer's
watching to their Buy clicks, but the stored id is not the cookie, and nothing about
viewers' addresses is kept. A WebRTC player without the cookie (a third-party WHEP
player) is a viewer of its own.

HLS has no sessions: an HLS viewer is a viewer cookie seen fetching a show's live
playlist (players reload it every target duration, or every part with LL-HLS); the
session starts at the first fetch and ends at the last one before a gap of HLS_IDLE
seconds. Requests without the cookie (a CDN in front, which answers most playlist
requests itself and forwards no cookies; a player on another site) are not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..store import Store
from ..store.analytics import SessionEnd, SessionWrite

log = logging.getLogger(__name__)

FLUSH_SECONDS = 2.0
"New and ended sessions are written at most this late, in one transaction."
HLS_IDLE = 10.0
"An HLS player not seen fetching the playlist this long has left (at its last fetch)."
WEBRTC = "webrtc"
HLS = "hls"


@dataclass
class OpenSession:
    """A player watching now."""

    key: str
    show_id: str
    viewer: str
    "The keyed hash."
    kind: str
    joined_at: float
    last_seen: float
    hls_cookie: str | None = None
    "For an HLS player: the viewer cookie it was seen with."
    left_at: float | None = None
    written: bool = False
    "Its row is in the store (an end is then an update)."

    def row(self) -> SessionWrite:
        """Its new row for the store."""
        return (self.key, self.show_id, self.viewer, self.kind, self.joined_at, self.left_at)


class Audience:
    """Open viewer sessions of every show on air, written to the store in batches."""

    def __init__(self, store: Store, secret: bytes, clock: Callable[[], float] = time.time):
        self.store = store
        self._secret = secret
        self._clock = clock
        self.open: dict[str, OpenSession] = {}
        "Sessions watching now, by key."
        self._hls: dict[tuple[str, str], str] = {}
        "(show, viewer cookie) → key of its HLS session."
        self._new: list[OpenSession] = []
        "Sessions not written yet (left_at set if they already ended)."
        self._ended: list[SessionEnd] = []
        self._task: asyncio.Task[None] | None = None

    def viewer_key(self, viewer: str) -> str:
        """The keyed hash that stands for a viewer cookie in the analytics."""
        return hmac.new(self._secret, viewer.encode(), hashlib.sha256).hexdigest()[:32]

    # -- what the handlers report -------------------------------------------------------------

    def joined(self, show_id: str, viewer: str, kind: str = WEBRTC) -> str:
        """A player started watching; returns its session key (for `left`)."""
        now = self._clock()
        key = secrets.token_hex(8)
        session = OpenSession(key, show_id, self.viewer_key(viewer), kind, now, now)
        if kind == HLS:
            session.hls_cookie = viewer
            self._hls[(show_id, viewer)] = key
        self.open[key] = session
        self._new.append(session)
        self._start()
        return key

    def left(self, key: str, at: float | None = None) -> None:
        """The player stopped watching (at `at`, default now). Unknown keys are ignored."""
        session = self.open.pop(key, None)
        if session is None:
            return
        if session.hls_cookie is not None:
            self._hls.pop((session.show_id, session.hls_cookie), None)
        session.left_at = self._clock() if at is None else at
        if session.written:
            self._ended.append((key, session.left_at))

    def hls_seen(self, show_id: str, viewer: str) -> None:
        """An HLS player with this viewer cookie fetched the show's live playlist."""
        key = self._hls.get((show_id, viewer))
        if key is not None:
            self.open[key].last_seen = self._clock()
        else:
            self.joined(show_id, viewer, HLS)

    async def show_ended(self, show_id: str) -> None:
        """The show is over: its players have all left (HLS ones at their last fetch)."""
        for session in [s for s in self.open.values() if s.show_id == show_id]:
            self.left(session.key, session.last_seen if session.kind == HLS else None)
        await self.flush()

    def watching(self, show_id: str) -> int:
        """Players watching the show now (WebRTC and HLS)."""
        return sum(1 for s in self.open.values() if s.show_id == show_id)

    # -- writing ------------------------------------------------------------------------------

    def sweep(self) -> None:
        """End the HLS sessions whose player went quiet."""
        deadline = self._clock() - HLS_IDLE
        for session in list(self.open.values()):
            if session.kind == HLS and session.last_seen < deadline:
                self.left(session.key, session.last_seen)

    async def flush(self) -> None:
        """Write what is pending (one transaction)."""
        new, ended, self._new, self._ended = self._new, self._ended, [], []
        if not new and not ended:
            return
        for session in new:
            session.written = True  # an end from now on is an update
        try:
            await self.store.write_sessions([s.row() for s in new], ended)
        except Exception:
            log.exception("analytics: %d sessions not written", len(new) + len(ended))

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            self.sweep()
            await self.flush()
            if not self.open and not self._new and not self._ended:
                return  # nobody watching: the next join starts it again

    async def close(self) -> None:
        """Server shutdown: everyone watching leaves now, and everything is written."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for session in list(self.open.values()):
            self.left(session.key, session.last_seen if session.kind == HLS else None)
        await self.flush()
