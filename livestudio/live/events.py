"""The events each show's pages follow: one ordered, resumable stream per show.

Every event has an id increasing per show; a bounded in-memory backlog lets a page that
reconnects get what it missed. Events are serialized once, however many pages watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

BACKLOG = 500
"Events kept per show for resuming clients."
QUEUE = 200
"Events queued per socket; a client this far behind is disconnected (it will resume)."


@dataclass
class ShowChannel:
    """The event stream of one show."""

    next_id: int = 1
    backlog: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=BACKLOG))
    sockets: set[asyncio.Queue[str | None]] = field(default_factory=set)
    "One queue per connected page, of events already serialized (None: disconnect)."


@dataclass
class Watch:
    """One page following a show."""

    show_id: str
    queue: asyncio.Queue[str | None]
    "Events already serialized; None: hang up."
    missed: list[dict[str, Any]] | None
    "What a resuming page missed, or None: send it a snapshot."
    last_id: int
    "The id of the newest event when it joined (the snapshot's id)."


class EventHub:
    """Fans show events out to the viewer pages' sockets."""

    def __init__(self) -> None:
        self._channels: dict[str, ShowChannel] = {}
        self.snapshots: dict[str, Callable[[], dict[str, Any]]] = {}
        "Per show, a function returning the current state for a joining page."

    def channel(self, show_id: str) -> ShowChannel:
        """The channel of a show (created on demand)."""
        return self._channels.setdefault(show_id, ShowChannel())

    def publish(self, show_id: str, kind: str, **data: Any) -> dict[str, Any]:
        """Send an event to every page watching the show; returns it with its id."""
        channel = self.channel(show_id)
        event = {"id": channel.next_id, "type": kind, "at": time.time(), **data}
        channel.next_id += 1
        channel.backlog.append(event)
        text = dumps(event)  # once, however many pages watch
        for queue in list(channel.sockets):
            if queue.full():
                # Too slow: drop it; its page reconnects and resumes from the backlog.
                channel.sockets.discard(queue)
                hang_up(queue)
                continue
            queue.put_nowait(text)
        return event

    def join(self, show_id: str, last_id: int = 0) -> Watch:
        """A page starts following the show: its queue, and what it missed if it resumes.

        Resuming works only from an id this process issued (a restarted server starts
        again at 1) and while the backlog still reaches back to it; otherwise the page
        gets a fresh snapshot (`missed` is None).
        """
        channel = self.channel(show_id)
        resumable = 0 < last_id < channel.next_id and (
            not channel.backlog or channel.backlog[0]["id"] <= last_id + 1
        )
        missed = [e for e in channel.backlog if e["id"] > last_id] if resumable else None
        watch = Watch(show_id, asyncio.Queue(maxsize=QUEUE), missed, channel.next_id - 1)
        channel.sockets.add(watch.queue)
        return watch

    def leave(self, watch: Watch) -> None:
        """The page is gone."""
        channel = self._channels.get(watch.show_id)
        if channel is not None:
            channel.sockets.discard(watch.queue)

    def snapshot(self, show_id: str) -> dict[str, Any] | None:
        """The show's current state for a page joining now (None: not on air here)."""
        make = self.snapshots.get(show_id)
        return make() if make else None

    def watchers(self, show_id: str) -> int:
        """Pages currently connected to the show."""
        channel = self._channels.get(show_id)
        return len(channel.sockets) if channel else 0

    def close_all(self) -> None:
        """Disconnect every socket (server shutdown)."""
        for channel in self._channels.values():
            for queue in channel.sockets:
                hang_up(queue)
            channel.sockets.clear()


def hang_up(queue: asyncio.Queue[str | None]) -> None:
    """Make the socket's send loop end, even if its queue is full."""
    if queue.full():
        with contextlib.suppress(asyncio.QueueEmpty):
            queue.get_nowait()
    with contextlib.suppress(asyncio.QueueFull):
        queue.put_nowait(None)


def dumps(event: dict[str, Any]) -> str:
    """Events as compact JSON (UTF-8 as is: chat is mostly not ASCII-only)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)
