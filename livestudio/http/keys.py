"""Typed application keys: everything long-lived the handlers reach through the app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from ..config import Settings
from ..store import Store

if TYPE_CHECKING:
    from ..live.audience import Audience
    from ..live.chat import ChatRooms
    from ..live.clips import Clips
    from ..live.destinations import Destinations
    from ..live.events import EventHub
    from ..live.onair import OnAir
    from ..media.load import ServerLoad

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
ONAIR: web.AppKey[OnAir] = web.AppKey("onair")
EVENTS: web.AppKey[EventHub] = web.AppKey("events")
LOOP_LAG: web.AppKey[list[float]] = web.AppKey("loop_lag")
SERVER_LOAD: web.AppKey[ServerLoad] = web.AppKey("server_load")
TURNED_AWAY: web.AppKey[list[int]] = web.AppKey("turned_away")
"WebRTC viewers turned away because the server was at its limit (one counter)."
CHAT: web.AppKey[ChatRooms] = web.AppKey("chat")
DESTINATIONS: web.AppKey[Destinations] = web.AppKey("destinations")
AUDIENCE: web.AppKey[Audience] = web.AppKey("audience")
CLIPS: web.AppKey[Clips] = web.AppKey("clips")
