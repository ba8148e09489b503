"""The live events WebSocket: `/live/{show}/events`, one per viewer page, resumable.

A page that reconnects with `?last_event_id=N` gets what it missed from the hub's backlog
(or, if the backlog no longer reaches back that far, a fresh snapshot) and then live
events; chat and reactions come back on the same socket.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter

from aiohttp import WSMsgType, web
from aiohttp_session import get_session

from ..live.chat import ChatFlood, ChatRoom, Sender
from ..live.events import hang_up
from .errors import error
from .keys import CHAT, EVENTS, SETTINGS, STORE
from .net import address_group, client_address

PING_SECONDS = 20.0
SOCKETS_PER_IP = web.AppKey("event_sockets_per_ip", Counter)


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

    check_origin(request)
    room = await request.app[CHAT].room(show_id)
    address = client_address(request, request.app[SETTINGS].trusted_proxy)
    sender = Sender(
        viewer=await viewer_id(request), address=address, network=address_group(address)
    )
    per_ip = request.app[SOCKETS_PER_IP]
    if per_ip[sender.group] >= request.app[SETTINGS].max_event_sockets_per_ip:
        raise error(429, "too many open pages from your address")
    ws = web.WebSocketResponse(heartbeat=PING_SECONDS, max_msg_size=4096)
    await ws.prepare(request)
    watch = hub.join(show_id, last_id)
    snapshot = hub.snapshot(show_id) or {"state": show.state, "viewers": 0}
    per_ip[sender.group] += 1
    reader: asyncio.Task[None] | None = None
    try:
        if watch.missed is not None:
            for event in watch.missed:
                await ws.send_json(event)
        else:
            await ws.send_json(
                {
                    "id": watch.last_id,
                    "type": "snapshot",
                    "title": show.title,
                    **snapshot,
                    "chat": room.history(),
                    # This page's viewer may not post (banned): its form says so at once.
                    "banned": room.is_banned(sender),
                }
            )
        reader = asyncio.ensure_future(_read_client(ws, room, sender))
        # The reader hangs up this socket's queue when the page goes: one await per event,
        # no task or wait() per event (they were most of the cost of chat fan-out).
        reader.add_done_callback(lambda _: hang_up(watch.queue))
        while (text := await watch.queue.get()) is not None:
            await ws.send_str(text)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        # Also when aiohttp cancels this handler (the client went away): no task stays.
        if reader is not None:
            reader.cancel()
        hub.leave(watch)
        per_ip[sender.group] -= 1
        if per_ip[sender.group] <= 0:
            del per_ip[sender.group]
        await ws.close()
    return ws


def check_origin(request: web.Request) -> None:
    """403 for a WebSocket opened by a page of another site (cross-site WebSocket hijacking:
    it would chat with the viewer's cookie), unless that site is in allowed_origins.

    Browsers always send Origin on a WebSocket; clients that are not browsers may leave it
    out (they carry no one else's cookies).
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return
    settings = request.app[SETTINGS]
    ours = {f"{scheme}://{request.host}".lower() for scheme in ("http", "https")} | {
        settings.base_url.lower()
    }
    if origin.lower() in ours or origin in settings.allowed_origins:
        return
    raise error(403, "this page may not open the show's events (its origin is not allowed)")


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
