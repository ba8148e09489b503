"""The player on the brand's own site: `/embed/{show}` (in an iframe) and `/oembed`.

The embed is the viewer page's player, card and (with `?chat=1`) chat in a frame-sized
layout, run by the same scripts: live.js before and during the show, replay.js once the
replay is published. Only the sites the brand lists (`embed_origins`) may frame it
(framing.py). Buy opens the shop in the top window.

Clicks from an embed: a page inside another site's iframe is a third-party context, where
browsers do not keep our viewer cookie (SameSite=Lax; third-party cookies blocked). So the
embed puts the viewer's id, signed, in its Buy links (`/go/…?embed=1&v=…`); `/go` counts
the click once per viewer as it does with the cookie, and tags the shop link with
`utm_medium=embed`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from PIL import Image, UnidentifiedImageError

from ..store import ShowRecord
from .auth import derived_key
from .errors import error
from .framing import allow_framing
from .images import IMAGES
from .keys import ONAIR, SETTINGS, STORE
from .pages import badge_state, ensure_viewer, live_config, render, web_root
from .replay import poster_path, replay_config
from .share import DEFAULT_IMAGE, brand_image, embed_iframe, embed_size, embed_url

LINK_KEY = web.AppKey("embed_link_key", bytes)
_SHOW_PAGE = re.compile(r"/(live|replay|embed)/([A-Za-z0-9_-]{1,64})/?")
_TAG = 16
"Bytes of HMAC-SHA256 kept in a signed viewer id."


# -- signed viewer ids: counting Buy clicks without a cookie ------------------------------------


def sign_viewer(key: bytes, viewer: str) -> str:
    """`viewer.tag`: the viewer id with a MAC only this server can make."""
    tag = hmac.new(key, viewer.encode(), hashlib.sha256).digest()[:_TAG]
    return f"{viewer}.{base64.urlsafe_b64encode(tag).decode().rstrip('=')}"


def viewer_of(key: bytes, token: str) -> str | None:
    """The viewer id in a signed token, or None if it was not signed here."""
    viewer, _, _ = token.rpartition(".")
    if not viewer or len(token) > 200:
        return None
    return viewer if hmac.compare_digest(sign_viewer(key, viewer), token) else None


def embed_viewer(request: web.Request) -> str | None:
    """The viewer a Buy link from an embed names (`?v=`), if its signature holds."""
    token = request.query.get("v", "")
    return viewer_of(request.app[LINK_KEY], token) if token else None


# -- the embed ------------------------------------------------------------------------------------


async def embed_page(request: web.Request) -> web.Response:
    """GET /embed/{show}: the player for another site's iframe. `?chat=1` adds the chat."""
    store = request.app[STORE]
    brand = await store.get_brand()
    show = await store.get_show(request.match_info["show"])
    if show is None or show.state == "deleted":
        response = await render(request, "not_found.html", {"what": "show"}, status=404)
        allow_framing(response, brand.embed_origins)
        return response
    settings = request.app[SETTINGS]
    chat = request.query.get("chat") == "1"
    viewer = await ensure_viewer(request)
    signed = sign_viewer(request.app[LINK_KEY], viewer)
    replay = show.state == "published"
    if replay:
        config = replay_config(show, await store.list_events(show.id), brand.locale)
        query = {"from": "replay", "embed": "1", "v": signed}
        state = show.state
    else:
        state = request.app[ONAIR].state_of(show)
        config = live_config(request, show, state, viewer, brand)
        query = {"embed": "1", "v": signed}
        # When the replay is published, the embed reloads into it (same options).
        config["replayUrl"] = request.path_qs
    config.update(goSuffix="?" + urlencode(query), buyTarget="_top")
    response = await render(
        request,
        "embed.html",
        {
            "show": show,
            "state": state,
            "badge_state": badge_state(state),
            "config": config,
            "chat": chat,
            "replay": replay,
            "poster": poster_path(settings, show) if replay else "",
            "page_url": _page_url(settings.base_url, show),
        },
    )
    response.headers["Cache-Control"] = "private, no-store"  # a signed viewer id inside
    allow_framing(response, brand.embed_origins)
    return response


def _page_url(base_url: str, show: ShowRecord) -> str:
    """The show's own page: the replay once published, else the viewer page."""
    kind = "replay" if show.state == "published" else "live"
    return f"{base_url}/{kind}/{show.id}"


# -- oEmbed ---------------------------------------------------------------------------------------


def _dimension(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or not 0 < int(raw) <= 100_000:
        raise error(400, f"{name} must be a positive whole number of pixels")
    return int(raw)


def _show_id_of(url: str, request: web.Request) -> tuple[str, str, bool] | None:
    """(page kind, show id, with chat) of a page URL of this server: /live/…, /replay/…
    or /embed/…."""
    parts = urlsplit(url.strip())
    ours = {urlsplit(request.app[SETTINGS].base_url).netloc.lower(), request.host.lower()}
    if parts.scheme not in ("http", "https") or parts.netloc.lower() not in ours:
        return None
    match = _SHOW_PAGE.fullmatch(parts.path)
    if match is None:
        return None
    return match.group(1), match.group(2), "chat=1" in parts.query.split("&")


def _image_size(path: Path) -> tuple[int, int] | None:
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, UnidentifiedImageError):
        return None


async def _thumbnail(request: web.Request, show: ShowRecord) -> dict[str, object]:
    """thumbnail_url/width/height: the replay's poster, else the brand's logo or picture."""
    settings = request.app[SETTINGS]
    url = poster_path(settings, show) if show.state == "published" else DEFAULT_IMAGE
    if url == DEFAULT_IMAGE:
        url = brand_image(await request.app[STORE].get_brand())
    if url.startswith("/static/"):
        path: Path | None = web_root() / url.removeprefix("/")
    elif url.startswith("/media/products/"):
        path = request.app[IMAGES].library.path(url.rsplit("/", 1)[1])
    else:
        path = settings.recordings_dir / show.id / url.rsplit("/", 1)[1]
    size = await asyncio.to_thread(_image_size, path) if path is not None else None
    if size is None:
        return {}
    return {
        "thumbnail_url": settings.base_url + url,
        "thumbnail_width": size[0],
        "thumbnail_height": size[1],
    }


async def oembed(request: web.Request) -> web.Response:
    """GET /oembed?url=…[&maxwidth=…&maxheight=…&format=json]: the player for a show's link.

    oEmbed 1.0, type "video": a CMS that is given the viewer or replay link gets the
    embed's iframe. JSON only (format=xml → 501, as the spec says for unsupported formats).
    """
    fmt = request.query.get("format", "json")
    if fmt != "json":
        raise web.HTTPNotImplemented(text="only format=json is offered\n")
    url = request.query.get("url", "")
    if not url:
        raise error(400, "url is required: a show's viewer or replay link")
    maxwidth, maxheight = _dimension(request, "maxwidth"), _dimension(request, "maxheight")
    found = _show_id_of(url, request)
    if found is None:
        raise error(404, "not a show link of this studio")
    kind, show_id, chat = found
    store = request.app[STORE]
    show = await store.get_show(show_id)
    if show is None or show.state == "deleted":
        raise error(404, "no such show")
    if kind == "replay" and show.state != "published":
        raise error(404, "no such replay")
    settings = request.app[SETTINGS]
    brand = await store.get_brand()
    width, height = embed_size(chat, maxwidth, maxheight)
    src = embed_url(settings.base_url, show.id, chat)
    body = {
        "version": "1.0",
        "type": "video",
        "title": show.title,
        "provider_name": brand.name,
        "provider_url": settings.base_url + "/",
        "html": embed_iframe(src, show.title, width, height),
        "width": width,
        "height": height,
        **await _thumbnail(request, show),
    }
    return web.json_response(
        body,
        headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=300"},
    )


def setup(app: web.Application) -> None:
    """Register the embed routes and the key of signed viewer ids."""
    app[LINK_KEY] = derived_key(app[SETTINGS], "livestudio embed viewer links")
    app.router.add_get("/embed/{show}", embed_page)
    app.router.add_get("/oembed", oembed)
