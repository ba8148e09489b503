"""Telling the analytics who watches: the viewer behind a request (by its cookie), fast
enough for every live playlist request of an HLS player; and the `Audience`'s lifecycle."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp_session import get_session

from ..live.audience import Audience
from .auth import COOKIE
from .keys import AUDIENCE, ONAIR, STORE

KNOWN_COOKIES = 10_000
"Session cookies whose viewer id is remembered (decrypting one per request costs more)."
_VIEWERS: web.AppKey[dict[str, str | None]] = web.AppKey("viewer_of_cookie")


async def cookie_viewer(request: web.Request) -> str | None:
    """The viewer id in the request's session cookie, None without one (no cookie is set)."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    known = request.app[_VIEWERS]
    if cookie in known:
        return known[cookie]
    viewer = (await get_session(request)).get("viewer")
    if len(known) >= KNOWN_COOKIES:
        del known[next(iter(known))]  # the oldest
    known[cookie] = viewer if isinstance(viewer, str) else None
    return known[cookie]


async def hls_player_seen(request: web.Request, show_id: str) -> None:
    """A live playlist request: count its viewer (if it carries the viewer cookie)."""
    viewer = await cookie_viewer(request)
    if viewer is not None:
        request.app[AUDIENCE].hls_seen(show_id, viewer)


async def _audience(app: web.Application) -> AsyncIterator[None]:
    store = app[STORE]
    # Sessions a stopped server left open end when their show did (or now).
    await store.close_open_sessions(time.time())
    audience = Audience(store, await store.analytics_secret())
    app[AUDIENCE] = audience
    app[ONAIR].on_finished.append(audience.show_ended)
    yield
    await audience.close()


def setup(app: web.Application) -> None:
    """The audience's lifecycle (after the store's and OnAir's) and the cookie cache."""
    app[_VIEWERS] = {}
    app.cleanup_ctx.append(_audience)
