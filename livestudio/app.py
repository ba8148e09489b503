"""The application factory: state under typed keys, lifecycles in cleanup_ctx, one route table."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import secrets
import ssl
from collections import Counter
from collections.abc import AsyncIterator

from aiohttp import web

from .config import Settings, write_server_address
from .http import (
    analytics,
    api,
    audience,
    auth,
    calendar,
    chat_api,
    clips,
    destinations_api,
    embed,
    framing,
    headers,
    hls,
    onair_api,
    pages,
    products,
    replay,
    sessions,
    signalling,
    studio_catalog,
)
from .http.events import SOCKETS_PER_IP, events_socket
from .http.images import IMAGES
from .http.keys import CHAT, DESTINATIONS, EVENTS, LOOP_LAG, ONAIR, SETTINGS, STORE
from .http.metrics import loop_lag_probe, metrics, server_load_probe
from .http.products import PRODUCT_CHANGED
from .live.chat import ChatRooms
from .live.destinations import Destinations
from .live.events import EventHub
from .live.onair import OnAir, recover_unfinished
from .store import Store

log = logging.getLogger("livestudio")


async def _store(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    settings.recordings_dir.mkdir(parents=True, exist_ok=True)
    store = await Store.open(settings.database_path)
    remuxes = await recover_unfinished(settings, store)
    app[STORE] = store
    yield
    await asyncio.gather(*remuxes, return_exceptions=True)
    await store.close()


async def _onair(app: web.Application) -> AsyncIterator[None]:
    hub = EventHub()
    app[EVENTS] = hub
    onair = OnAir(app[SETTINGS], app[STORE], hub, images=app[IMAGES].library)
    app[ONAIR] = onair
    app[PRODUCT_CHANGED].append(onair.product_changed)
    app[CHAT] = ChatRooms(
        app[STORE],
        hub,
        onair.program_pts,
        onair.live_state,
        messages_per_address=app[SETTINGS].chat_messages_per_ip,
    )
    onair.on_finished.append(app[CHAT].forget)
    app[SOCKETS_PER_IP] = Counter()
    app[DESTINATIONS] = Destinations(app[STORE], onair)
    yield
    await app[DESTINATIONS].close()
    await app[CHAT].close()
    hub.close_all()
    await app[ONAIR].close()


async def _freeze_startup_objects(app: web.Application) -> None:
    # Full garbage collections walk every object the process holds; the hundreds of
    # thousands made at startup (modules, aiortc, codecs) never die. Moving them out of
    # the collector's sight cut chat delivery's p99 at 500 sockets from ~60 ms to ~20 ms
    # (bench/chat.py, docs/performance.md).
    asyncio.get_running_loop().call_later(5.0, gc.freeze)


def create_app(settings: Settings) -> web.Application:
    """Build the aiohttp application for `settings`."""
    app = web.Application(
        client_max_size=1024 * 1024, middlewares=[signalling.cors, hls.media_cors]
    )
    app[SETTINGS] = settings
    app[LOOP_LAG] = [0.0]
    app.cleanup_ctx.extend([_store, _onair, loop_lag_probe, server_load_probe])
    app.on_startup.append(_freeze_startup_objects)
    headers.setup(app)
    auth.setup(app, settings)
    signalling.setup(app)
    api.setup(app)
    products.setup(app)
    studio_catalog.setup(app)
    onair_api.setup(app)
    chat_api.setup(app)
    destinations_api.setup(app)
    pages.setup(app)
    replay.setup(app)
    hls.setup(app)
    sessions.setup(app)
    embed.setup(app)
    calendar.setup(app)
    audience.setup(app)
    analytics.setup(app)
    clips.setup(app)
    framing.setup(app)  # after any hook that sets a page policy: it merges into it
    app.router.add_get("/live/{show}/events", events_socket)
    app.router.add_get("/metrics", metrics)
    return app


async def _first_run_login(settings: Settings) -> list[str]:
    store = await Store.open(settings.database_path)
    try:
        if await store.has_admin():
            return ["Log in as your admin user (forgot it? `livestudio admin reset-password`)."]
        password = secrets.token_urlsafe(12)
        await store.create_admin("admin", password)
        return [
            "First run: an admin account was created. This password is shown only once:",
            "  Username: admin",
            f"  Password: {password}",
        ]
    finally:
        await store.close()


def setup_logging(environ: dict[str, str] | None = None) -> None:
    """The server's log: INFO, without access lines and aioice's chatter."""
    env = os.environ if environ is None else environ
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # aioice logs ~20 INFO lines per connection (each candidate pair it checks): quiet by
    # default; LIVESTUDIO_LOG_ICE=1 brings them back to debug a connection.
    ice = env.get("LIVESTUDIO_LOG_ICE", "").lower() in ("1", "true", "yes")
    logging.getLogger("aioice").setLevel(logging.INFO if ice else logging.WARNING)


def run_server(settings: Settings) -> None:
    """`livestudio serve`: print where the studio is and serve until interrupted."""

    setup_logging()
    lines = asyncio.run(_first_run_login(settings))
    ssl_context = None
    if settings.tls_cert and settings.tls_key:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(settings.tls_cert, settings.tls_key)
    print(f"LiveStudio studio: {settings.base_url}/studio", flush=True)
    for line in lines:
        print(line, flush=True)
    print(f"Data: {settings.data_dir}  Recordings: {settings.recordings_dir}", flush=True)
    # The CLI (`livestudio show create`) prints links with this server's address.
    write_server_address(settings)
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        ssl_context=ssl_context,
        print=None,
        access_log=None,
    )
