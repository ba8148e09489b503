"""Replays: the page, the media files (HLS playlist, fMP4 by range, poster, download) and
the host's publish / unpublish / delete.

Media URLs take a show id and one of a few fixed file names, never a path from the
request, and the resolved file must lie inside the recordings dir (no `..`, no encoded
slashes, no symlinks out).

The playlist is made from recording.mp4's fragment index, not read from index.m3u8: on a
full disk that file may never have been written, and the replay must not depend on it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import shutil
from pathlib import Path
from typing import Any

from aiohttp import web

from ..config import Settings
from ..media.mp4index import cached_playlist
from ..media.record import DOWNLOAD, PLAYLIST, POSTER, RECORDING, finalize
from ..store import EventRecord, ShowRecord
from .api import require_host, show_json
from .auth import current_user
from .errors import error
from .hls import PLAYLIST_TYPE, live_playlist
from .keys import AUDIENCE, ONAIR, SETTINGS, STORE
from .pages import ensure_viewer, render

log = logging.getLogger(__name__)

MEDIA_FILES = {
    PLAYLIST: (PLAYLIST_TYPE, "no-cache"),
    RECORDING: ("video/mp4", "public, max-age=31536000, immutable"),
    POSTER: ("image/jpeg", "public, max-age=3600"),
    DOWNLOAD: ("video/mp4", "public, max-age=31536000, immutable"),
}
SHOW_ID = re.compile(r"^[A-Za-z0-9_-]{4,64}$")


def media_path(recordings_dir: Path, show_id: str, name: str) -> Path | None:
    """The file for (show, name) if it is one of ours, exists, and stays inside the dir."""
    if not SHOW_ID.match(show_id) or name not in MEDIA_FILES:
        return None
    root = recordings_dir.resolve()
    path = recordings_dir / show_id / name
    try:
        real = path.resolve(strict=True)
    except (FileNotFoundError, RuntimeError, OSError):
        return None
    if real.parent != root / show_id or real.name != name or not real.is_file():
        return None
    if path.is_symlink() or (recordings_dir / show_id).is_symlink():
        return None
    return real


async def _visible_show(request: web.Request) -> ShowRecord:
    """A show whose replay this request may see: published, or any to its logged-in host."""
    show = await request.app[STORE].get_show(request.match_info["show"])
    if show is None or show.state == "deleted":
        raise error(404, "no such replay")
    if show.state != "published" and await current_user(request) is None:
        raise error(404, "no such replay")
    return show


async def media(request: web.Request) -> web.StreamResponse:
    """GET /media/{show}/{file}: replay media, with Range support (206/416) from FileResponse.

    While the show is on air, index.m3u8 is its live HLS playlist (http/hls.py); the same
    URL serves the replay's VOD playlist once it is published, so a CDN needs one URL.
    """
    name = request.match_info["file"]
    if name == PLAYLIST:
        stream = request.app[ONAIR].hls(request.match_info["show"])
        if stream is not None and not stream.ended:
            return await live_playlist(request, stream)
        if stream is not None:  # ended less than a minute ago
            show = await request.app[STORE].get_show(request.match_info["show"])
            if show is not None and show.state == "ended":
                # The replay is being published: the live playlist, now with its end.
                return await live_playlist(request, stream)
    show = await _visible_show(request)
    if name == PLAYLIST:
        return await _playlist(request, show)
    path = media_path(request.app[SETTINGS].recordings_dir, show.id, name)
    if path is None:
        raise error(404, "no such file")
    content_type, cache = MEDIA_FILES[name]
    if show.state != "published":
        cache = "private, no-cache"  # the host previewing: nothing for shared caches
    response = web.FileResponse(path, headers={"Cache-Control": cache})
    response.content_type = content_type
    if name == DOWNLOAD:
        response.headers["Content-Disposition"] = f'attachment; filename="{show.id}.mp4"'
    return response


async def _playlist(request: web.Request, show: ShowRecord) -> web.Response:
    """The HLS playlist over the recording's complete fragments (cached per file version)."""
    path = media_path(request.app[SETTINGS].recordings_dir, show.id, RECORDING)
    # Only a finalized recording: a live one is still growing (and has no replay yet).
    text = None
    if path is not None and show.recording in ("ready", "failed"):
        try:
            text = await asyncio.to_thread(cached_playlist, path, RECORDING)
        except OSError as exc:  # deleted meanwhile, an I/O error
            log.warning("show %s: no playlist: %s", show.id, exc)
    if text is None:
        stream = request.app[ONAIR].hls(show.id)
        if stream is not None and stream.ended and show.state == "published":
            # Published without a playable recording: what there is of the live stream.
            return await live_playlist(request, stream)
        raise error(404, "no such file")
    content_type, cache = MEDIA_FILES[PLAYLIST]
    if show.state != "published":
        cache = "private, no-cache"
    headers = {"Cache-Control": cache, "ETag": f'"{hashlib.sha1(text.encode()).hexdigest()[:20]}"'}
    if request.headers.get("If-None-Match") == headers["ETag"]:
        return web.Response(status=304, headers=headers)
    return web.Response(text=text, content_type=content_type, headers=headers)


async def download(request: web.Request) -> web.StreamResponse:
    """GET /replay/{show}/download: the progressive MP4 if remuxed yet, else the fMP4
    (also when the disk had no room for the remux: a plain player plays both)."""
    show = await _visible_show(request)
    root = request.app[SETTINGS].recordings_dir
    name = DOWNLOAD if media_path(root, show.id, DOWNLOAD) else RECORDING
    path = media_path(root, show.id, name)
    if path is None:
        raise error(404, "this show has no recording")
    response = web.FileResponse(path)
    response.content_type = "video/mp4"
    response.headers["Content-Disposition"] = f'attachment; filename="{show.id}.mp4"'
    return response


CARD_EVENTS = ("pin", "unpin", "sale", "sale_end", "stock")
"The on-air events that change the product card (what the replay page replays)."


def product_chapters(events: list[EventRecord]) -> list[dict[str, Any]]:
    """A chapter wherever a product goes on air: pinned, or put on sale (which pins it).

    A sale on the product already pinned, or pinning it again, is no new chapter.
    """
    chapters: list[dict[str, Any]] = []
    on_air: object = None
    for e in events:
        if e.pts is None or e.kind not in CARD_EVENTS:
            continue
        product = e.data.get("product") if e.kind != "unpin" else None
        if e.kind in ("pin", "sale") and product is not None and product != on_air:
            chapters.append(
                {
                    "seconds": round(e.pts / 90000, 3),
                    "title": str(e.data.get("name", "")),
                    "product": product,
                }
            )
        if e.kind in ("pin", "sale", "unpin"):
            on_air = product
    return chapters


async def replay_page(request: web.Request) -> web.Response:
    """GET /replay/{show}."""
    show = await request.app[STORE].get_show(request.match_info["show"])
    visible = show is not None and show.state != "deleted"
    if visible and show is not None and show.state != "published":
        visible = await current_user(request) is not None and show.recording in (
            "ready",
            "failed",
        )
    if not visible or show is None:
        return await render(request, "not_found.html", {"what": "replay"}, status=404)
    settings = request.app[SETTINGS]
    viewer = await ensure_viewer(request)
    if await current_user(request) is None:  # the host's previews are no views
        await request.app[STORE].add_view(
            show.id, "replay", request.app[AUDIENCE].viewer_key(viewer)
        )
    events = await request.app[STORE].list_events(show.id)
    brand = await request.app[STORE].get_brand()
    config = replay_config(show, events, brand.locale)
    return await render(
        request,
        "replay.html",
        {
            "show": show,
            "config": config,
            "chapters": config["chapters"],
            "poster": poster_path(settings, show),
            "page_url": f"{settings.base_url}/replay/{show.id}",
            "player_card": "*" in brand.embed_origins,
            "clips": [
                c for c in await request.app[STORE].list_clips(show.id) if c.status == "ready"
            ],
        },
    )


def poster_path(settings: Settings, show: ShowRecord) -> str:
    """The replay's poster, or the default picture when it has none."""
    has_poster = media_path(settings.recordings_dir, show.id, POSTER) is not None
    return f"/media/{show.id}/{POSTER}" if has_poster else "/static/img/og.png"


def replay_config(show: ShowRecord, events: list[EventRecord], locale: str) -> dict[str, Any]:
    """What replay.js needs (the replay page's and the embed's): playlist, chapters, the
    chat to play back, the card timeline, and the brand's locale (prices, times: Intl)."""
    chapters = product_chapters(events)
    deleted = {e.data.get("id") for e in events if e.kind == "chat_delete"}
    chat = [
        {
            "id": e.data.get("id"),
            "name": e.data.get("name", ""),
            "text": e.data.get("text", ""),
            "seconds": e.pts / 90000,
        }
        for e in events
        if e.kind == "chat" and e.pts is not None and e.data.get("id") not in deleted
    ]
    return {
        "show": show.id,
        "playlist": f"/media/{show.id}/{PLAYLIST}",
        "chapters": chapters,
        "chat": chat,
        # Only what the card timeline needs: the page is public, and other events carry
        # things viewers must not see (deleted messages, viewer ids, moderation).
        "events": [
            {"kind": e.kind, "seconds": e.pts / 90000, "data": {"card": e.data.get("card")}}
            for e in events
            if e.kind in CARD_EVENTS and e.pts is not None
        ],
        "locale": locale.replace("_", "-"),
    }


# -- the host's actions ------------------------------------------------------------------------


async def _host_show(request: web.Request) -> ShowRecord:
    await require_host(request)
    show = await request.app[STORE].get_show(request.match_info["show"])
    if show is None or show.state == "deleted":
        raise error(404, "no such show")
    return show


async def publish(request: web.Request) -> web.Response:
    """POST /api/shows/{show}/publish: make the replay public again."""
    show = await _host_show(request)
    if show.recording == "none" and show.state in ("ended", "unpublished"):
        show = await _recover_recording(request, show)
    if show.recording not in ("ready", "failed"):
        raise error(409, "this show has no recording to publish")
    if show.state not in ("ended", "published", "unpublished"):
        raise error(409, f"the show is {show.state}: it can be published once it has ended")
    await request.app[STORE].set_show_state(show.id, "published")
    return web.json_response(show_json(request, await _reload(request, show.id)))


async def _recover_recording(request: web.Request, show: ShowRecord) -> ShowRecord:
    """Look again at the recording of an ended show marked 'none'.

    Before a full disk stopped costing the replay, a show whose playlist file could not
    be written was marked 'none' although its recording.mp4 plays; the host's Publish
    finds it again (restart recovery only looks at shows left live).
    """
    root = request.app[SETTINGS].recordings_dir
    if request.app[ONAIR].get(show.id) is not None or not media_path(root, show.id, RECORDING):
        return show
    result = await asyncio.to_thread(finalize, root / show.id)
    if not result.playable:
        return show
    status = "failed" if show.recording_error else "ready"
    await request.app[STORE].set_recording(show.id, status, duration=result.duration)
    log.info(
        "show %s: its recording plays after all (%.1f s); marked %s",
        show.id,
        result.duration,
        status,
    )
    return await _reload(request, show.id)


async def unpublish(request: web.Request) -> web.Response:
    """POST /api/shows/{show}/unpublish: hide the replay (files kept)."""
    show = await _host_show(request)
    if show.state not in ("published", "unpublished"):
        raise error(409, f"the show is {show.state}, not published")
    await request.app[STORE].set_show_state(show.id, "unpublished")
    return web.json_response(show_json(request, await _reload(request, show.id)))


async def delete_show(request: web.Request) -> web.Response:
    """DELETE /api/shows/{show}: the show's files and rows go; a live show is refused."""
    show = await _host_show(request)
    if request.app[ONAIR].get(show.id) is not None or show.state in ("live", "reconnecting"):
        raise error(409, "this show is live: end it before deleting it")
    folder = request.app[SETTINGS].recordings_dir / show.id
    if SHOW_ID.match(show.id) and folder.is_dir() and not folder.is_symlink():
        await asyncio.to_thread(shutil.rmtree, folder)
    await request.app[STORE].delete_show(show.id)
    return web.Response(status=204)


async def _reload(request: web.Request, show_id: str) -> ShowRecord:
    show = await request.app[STORE].get_show(show_id)
    assert show is not None
    return show


def setup(app: web.Application) -> None:
    """Register the replay routes."""
    r = app.router
    r.add_get("/replay/{show}", replay_page)
    r.add_get("/replay/{show}/download", download)
    r.add_get("/media/{show}/{file}", media)
    r.add_post("/api/shows/{show}/publish", publish)
    r.add_post("/api/shows/{show}/unpublish", unpublish)
    r.add_delete("/api/shows/{show}", delete_show)
