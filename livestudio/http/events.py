"""The live events WebSocket: `/live/{show}/events`, one per viewer page, resumable.

Every event has an id increasing per show. A page that reconnects with
`?last_event_id=N` gets what it missed from a bounded in-memory backlog (or, if the
backlog no longer reaches back that far, a fresh snapshot) and then live events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp_session import get_session

from .chat import ChatFlood, ChatRoom, Sender
from .errors import error
from .keys import CHAT, EVENTS, SETTINGS, STORE
from .net import client_address

BACKLOG = 500
"Events kept per show for resuming clients."
QUEUE = 200
"Events queued per socket; a client this far behind is disconnected (it will resume)."
PING_SECONDS = 20.0
SOCKETS_PER_IP = web.AppKey("event_sockets_per_ip", Counter)


@dataclass
class ShowChannel:
    """The event stream of one show."""

    next_id: int = 1
    backlog: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=BACKLOG))
    sockets: set[asyncio.Queue[str | None]] = field(default_factory=set)
    "One queue per connected page, of events already serialized (None: disconnect)."


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
                _hang_up(queue)
                continue
            queue.put_nowait(text)
        return event

    def watchers(self, show_id: str) -> int:
        """Pages currently connected to the show."""
        channel = self._channels.get(show_id)
        return len(channel.sockets) if channel else 0

    def close_all(self) -> None:
        """Disconnect every socket (server shutdown)."""
        for channel in self._channels.values():
            for queue in channel.sockets:
                _hang_up(queue)
            channel.sockets.clear()


async def events_socket(request: web.Request) -> web.StreamResponse:
    """GET /live/{show}/events: the viewer page's WebSocket."""
    show_id = request.match_info["show"]
    show = await request.app[STORE].get_show(show_id)
    if show is None or show.state == "deleted":
        raise error(404, "no such show")
    hub = request.app[EVENTS]
    try:
        last_id = int(request.query.get("last_event_id", "0"))
    except ValueError:
        raise error(400, "last_event_id must be an integer") from None

    room = await request.app[CHAT].room(show_id)
    sender = Sender(
        viewer=await viewer_id(request),
        address=client_address(request, request.app[SETTINGS].trusted_proxy),
    )
    per_ip = request.app[SOCKETS_PER_IP]
    if per_ip[sender.address] >= request.app[SETTINGS].max_event_sockets_per_ip:
        raise error(429, "too many open pages from your address")
    ws = web.WebSocketResponse(heartbeat=PING_SECONDS, max_msg_size=4096)
    await ws.prepare(request)
    channel = hub.channel(show_id)
    queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=QUEUE)
    missed = [e for e in channel.backlog if e["id"] > last_id]
    # Resume only from an id this process issued (a restarted server starts again at 1)
    # and only if the backlog still reaches back to it; otherwise a fresh snapshot.
    resumable = 0 < last_id < channel.next_id and (
        not channel.backlog or channel.backlog[0]["id"] <= last_id + 1
    )
    snapshot_fn = hub.snapshots.get(show_id)
    snapshot = snapshot_fn() if snapshot_fn else {"state": show.state, "viewers": 0}
    channel.sockets.add(queue)
    per_ip[sender.address] += 1
    reader: asyncio.Task[None] | None = None
    try:
        if resumable:
            for event in missed:
                await ws.send_json(event)
        else:
            await ws.send_json(
                {
                    "id": channel.next_id - 1,
                    "type": "snapshot",
                    "title": show.title,
                    **snapshot,
                    "chat": room.history(),
                }
            )
        reader = asyncio.ensure_future(_read_client(ws, room, sender))
        # The reader hangs up this socket's queue when the page goes: one await per event,
        # no task or wait() per event (they were most of the cost of chat fan-out).
        reader.add_done_callback(lambda _: _hang_up(queue))
        while (text := await queue.get()) is not None:
            await ws.send_str(text)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        # Also when aiohttp cancels this handler (the client went away): no task stays.
        if reader is not None:
            reader.cancel()
        channel.sockets.discard(queue)
        per_ip[sender.address] -= 1
        if per_ip[sender.address] <= 0:
            del per_ip[sender.address]
        await ws.close()
    return ws


async def _read_client(ws: web.WebSocketResponse, room: ChatRoom, sender: Sender) -> None:
    """Chat and reactions from the page; anything malformed gets an error frame back."""
    async for msg in ws:
        if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
            break
        try:
            reply = room.receive_text(sender, msg.data if msg.type == WSMsgType.TEXT else None)
        except ChatFlood:
            await ws.close(code=1008, message=b"flooding")
            break
        if reply is not None:
            await ws.send_json(reply)


async def viewer_id(request: web.Request) -> str:
    """The viewer's id from their session cookie (set by the viewer page), or a new one."""
    session = await get_session(request)
    viewer = session.get("viewer")
    return viewer if isinstance(viewer, str) else "anon-" + secrets.token_urlsafe(12)


def _hang_up(queue: asyncio.Queue[str | None]) -> None:
    """Make the socket's send loop end, even if its queue is full."""
    if queue.full():
        with contextlib.suppress(asyncio.QueueEmpty):
            queue.get_nowait()
    with contextlib.suppress(asyncio.QueueFull):
        queue.put_nowait(None)


def dumps(event: dict[str, Any]) -> str:
    """Events as compact JSON (UTF-8 as is: chat is mostly not ASCII-only)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)
