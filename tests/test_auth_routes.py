"""Every route of the app is either guarded or public on purpose.

The host's guards are per handler (`require_host` in api.py, `require_login` in auth.py),
not a middleware: a new handler that forgets its guard is open to anyone. This walks the
app's router and sends each route, without credentials, the request it answers; anything
not in PUBLIC below must refuse (401 for the API, a redirect to /login for studio pages)
and change nothing. A new public route needs its line in PUBLIC, with the reason.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from livestudio.catalog.validation import ProductFields
from livestudio.http.keys import CHAT
from livestudio.media.record import DOWNLOAD, PLAYLIST, POSTER, RECORDING

from .conftest import Studio
from .utils import recorded_show

PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/"): "the public home page: shows on air, upcoming, published replays",
    ("GET", "/brand.css"): "the brand's accent colour, as every public page shows it",
    ("GET", "/login"): "the login form itself",
    ("POST", "/login"): "logging in (CSRF-checked, rate-limited)",
    ("POST", "/logout"): "ends only the caller's own session (CSRF-checked)",
    ("GET", "/live/{show}"): "the viewer page: a show's public link",
    ("GET", "/live/{show}/events"): "the viewer page's WebSocket (state, viewers, chat)",
    ("GET", "/live/{show}/calendar.ics"): "a show's Add to calendar: what its page says",
    ("GET", "/shows.ics"): "the calendar of upcoming shows: what the home page lists",
    ("GET", "/embed/{show}"): "the viewer page's player for the brand's own site",
    ("GET", "/oembed"): "the player's embed code for a public show link (oEmbed)",
    ("GET", "/static"): "CSS, JS and images of the pages",
    ("GET", "/media/products/{file}"): "product images shown to viewers (hashed names)",
    ("GET", "/go/{show}/{product}"): "the viewers' Buy link: counts a click, redirects",
    ("GET", "/replay/{show}"): "published replays; others 404 unless logged in (below)",
    ("GET", "/replay/{show}/download"): "same as the replay page (checked below)",
    ("GET", "/media/{show}/{file}"): "same as the replay page (checked below)",
    ("GET", "/media/{show}/live/{run}/{name}"): "live HLS: as public as the viewer link",
    ("POST", "/whip/{show}"): "authenticated by the show's stream key (checked below)",
    ("DELETE", "/whip/{show}/{session}"): "the publisher's unguessable session id is the key",
    ("PATCH", "/whip/{show}/{session}"): "trickle ICE: the unguessable session id is the key",
    ("OPTIONS", "/whip/{show}"): "CORS preflight and ICE servers for WHIP clients",
    ("OPTIONS", "/whip/{show}/{session}"): "CORS preflight",
    ("POST", "/whep/{show}"): "viewers start playing (no login for viewers)",
    ("GET", "/whep/{show}/{session}"): "the viewer's own RTP clock, by its session id",
    ("DELETE", "/whep/{show}/{session}"): "the viewer leaves, by its unguessable session id",
    ("PATCH", "/whep/{show}/{session}"): "trickle ICE: the unguessable session id is the key",
    ("OPTIONS", "/whep/{show}"): "CORS preflight and ICE servers for WHEP clients",
    ("OPTIONS", "/whep/{show}/{session}"): "CORS preflight",
    ("GET", "/api/openapi.json"): "the API description: it describes, it grants nothing",
    ("GET", "/metrics"): "no secrets in it (test_metrics_privacy); restricted at the proxy",
    ("GET", "/clips/{clip}"): "a clip's share page: public once its replay is (test_clips.py)",
    ("GET", "/clips/{clip}/{file}"): "a clip's video, poster, download: as its share page",
}
"(method, route as registered) → why it needs no login. HEAD goes with GET."


def routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, canonical path) of every route, HEAD included (aiohttp adds it to GETs)."""
    return sorted(
        {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None}
    )


def public(method: str, path: str) -> bool:
    return ("GET" if method == "HEAD" else method, path) in PUBLIC


def _files(*roots: Path) -> list[str]:
    return sorted(
        str(p)
        for root in roots
        for p in root.rglob("*")
        if p.is_file() and ".sqlite3" not in p.name
    )


async def snapshot(studio: Studio, show_id: str, product_id: int) -> dict[str, Any]:
    """Everything a host-only request could change."""
    store = studio.store
    room = await studio.app[CHAT].room(show_id)
    return {
        "shows": await store.list_shows(),
        "show": await store.get_show(show_id),
        "stream_key": await store._fetchall(
            "SELECT stream_key_hash FROM shows WHERE id = ?", (show_id,)
        ),
        "login_sessions": await store.list_sessions(),
        "products": await store.list_products(),
        "product": await store.get_product(product_id, include_deleted=True),
        "running_order": await store.get_running_order(show_id),
        "brand": await store.get_brand(),
        "events": await store.list_events(show_id),
        "clicks": await store.click_counts(show_id),
        "api_tokens": await store.list_api_tokens(),
        "admins": await store.list_usernames(),
        "bans": await store.bans(),
        "chat_settings": await store.chat_settings(show_id),
        "destinations": await store.destinations(show_id),
        "clips": await store.list_clips(show_id),
        "viewer_sessions": await store.sessions(show_id),
        "views": await store.views(show_id),
        "chat": (
            room.settings.slow_mode,
            room.settings.blocked_words,
            room.settings.blocked_mode,
            sorted(room.messages),
            sorted(room.held),
        ),
        "on_air": sorted(studio.onair.shows),
        "files": _files(studio.settings.data_dir, studio.settings.recordings_dir),
    }


def fill(path: str, values: dict[str, str]) -> str:
    """The route's path with its {parameters} filled in (KeyError: add a value below)."""
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def body(method: str, path: str, product_id: int) -> dict[str, Any]:
    """What a request would send if it were the host's: enough to change something."""
    if method in ("GET", "HEAD", "OPTIONS"):
        return {}
    if path.startswith("/studio"):
        return {"data": {"title": "Intruder", "csrf_token": "forged"}}
    payloads: dict[tuple[str, str], Any] = {
        ("POST", "/api/shows"): {"title": "Intruder"},
        ("POST", "/api/products"): {"name": "Intruder", "price": "1.00", "currency": "EUR"},
        ("PATCH", "/api/products/{id}"): {"stock": 0, "name": "Intruder"},
        ("PUT", "/api/brand"): {"name": "Intruder"},
        ("PUT", "/api/shows/{show}/products"): {"products": []},
        ("PUT", "/api/shows/{show}/chat/settings"): {"slow_mode": 600},
        ("POST", "/api/shows/{show}/pin"): {"product": product_id},
        ("POST", "/api/shows/{show}/sale"): {
            "product": product_id,
            "price": "1.00",
            "seconds": 60,
        },
        ("POST", "/api/shows/{show}/highlight"): {"message": 1},
        ("POST", "/api/shows/{show}/destinations"): {"url": "rtmp://intruder.example/live"},
    }
    return {"json": payloads.get((method, path), {})}


async def test_every_route_is_guarded_or_public_by_design(studio: Studio) -> None:
    app = studio.app
    all_routes = routes(app)
    stale = [key for key in PUBLIC if key not in all_routes]
    assert not stale, f"PUBLIC lists routes the app no longer has: {stale}"

    await studio.ensure_admin()
    show_id = await recorded_show(studio)
    product = await studio.store.create_product(
        ProductFields(
            name="Mug",
            price=Decimal("12.00"),
            currency="EUR",
            url="https://shop.example/mug",
            stock=5,
        )
    )
    await studio.store.set_running_order(show_id, [product.id])
    ban_id = await studio.store.add_ban(show_id, "troll-cookie", "203.0.113.9", "Troll")
    destination = await studio.store.add_destination(show_id, "rtmp://127.0.0.1:9/live", "k")
    clip = await studio.store.add_clip(show_id, product.id, "Mug", "plain", (0, 90000), (0, 90000))
    values = {
        "clip": str(clip.id),
        "ban": str(ban_id),
        "destination": str(destination.id),
        "show": show_id,
        "id": str(product.id),
        "product": str(product.id),
        "held": "1",
        "message": "1",
        "session": "some-session",
        "file": RECORDING,
        "run": "some-run",
        "name": "init.mp4",
    }
    before = await snapshot(studio, show_id, product.id)

    guarded: list[tuple[str, str]] = []
    refused: list[str] = []
    async with aiohttp.ClientSession() as stranger:  # no cookies, no token
        for method, path in all_routes:
            if public(method, path):
                continue
            guarded.append((method, path))
            url = studio.url(fill(path, values))
            async with stranger.request(
                method, url, allow_redirects=False, **body(method, path, product.id)
            ) as r:
                what = f"{method} {path} → {r.status}"
                if path.startswith("/api/"):
                    ok = r.status == 401 and "WWW-Authenticate" in r.headers
                elif r.status == 303:
                    ok = r.headers.get("Location", "").startswith("/login")
                else:
                    ok = r.status in (401, 403)
                if not ok:
                    refused.append(what)
    assert not refused, (
        "routes answered a stranger (guard them, or add them to PUBLIC with a reason): "
        + ", ".join(refused)
    )
    assert await snapshot(studio, show_id, product.id) == before

    # Sanity: the walk did reach the host's routes, and its values are real ones: with
    # credentials, every guarded GET answers 200 (so the 401s above came from the guard,
    # not from a missing show or product).
    assert ("POST", "/api/shows/{show}/stream-key") in guarded
    assert ("DELETE", "/api/shows/{show}") in guarded
    assert ("GET", "/studio") in guarded
    token = await studio.store.create_api_token("test")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as host:
        await studio.log_in(host)
        for method, path in guarded:
            if method != "GET":
                continue
            headers = {"Authorization": f"Bearer {token}"} if path.startswith("/api/") else {}
            async with host.get(
                studio.url(fill(path, values)), headers=headers, allow_redirects=False
            ) as r:
                assert r.status == 200, f"GET {path} as the host → {r.status}"


async def test_hidden_replays_and_whip_need_their_credentials(studio: Studio) -> None:
    """The public-by-design routes that still check something, checked."""
    await studio.ensure_admin()
    show_id = await recorded_show(studio)
    paths = (
        f"/replay/{show_id}",
        f"/replay/{show_id}/download",
        *(f"/media/{show_id}/{name}" for name in (PLAYLIST, RECORDING, POSTER, DOWNLOAD)),
    )
    async with aiohttp.ClientSession() as stranger:
        for path in paths:
            async with stranger.get(studio.url(path), allow_redirects=False) as r:
                assert r.status == 404, f"unpublished {path} → {r.status} for a stranger"
        async with stranger.post(
            studio.url(f"/whip/{show_id}"),
            data="v=0\r\n",
            headers={"Content-Type": "application/sdp"},
        ) as r:
            assert r.status == 401, "WHIP without the stream key"
        async with stranger.post(
            studio.url(f"/whip/{show_id}"),
            data="v=0\r\n",
            headers={"Content-Type": "application/sdp", "Authorization": "Bearer wrong"},
        ) as r:
            assert r.status in (401, 403), "WHIP with a wrong stream key"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as host:
        await studio.log_in(host)
        for path in paths:
            async with host.get(studio.url(path), allow_redirects=False) as r:
                assert r.status in (200, 206), f"unpublished {path} → {r.status} for the host"
    await studio.store.set_show_state(show_id, "published")
    async with aiohttp.ClientSession() as stranger:
        for path in paths:
            async with stranger.get(studio.url(path), allow_redirects=False) as r:
                assert r.status in (200, 206), f"published {path} → {r.status}"
