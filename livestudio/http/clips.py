"""Clips: the host's API and studio page, and each clip's public share page and media.

A clip is public (share page, video, poster, download) once it is ready and its show's
replay is published; its host sees it before. Media names are fixed, never a path from
the request, and the file is the clip's own version (live/clips.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from ..live.clips import BadSpan, ClipRefused, Clips
from ..store import ClipRecord, ShowRecord
from .api import require_host
from .auth import csrf_token, current_user, require_login
from .errors import error
from .ids import path_id
from .images import IMAGES
from .jsonbody import json_object, whole_number
from .keys import AUDIENCE, CLIPS, ONAIR, SETTINGS, STORE
from .pages import ensure_viewer, render
from .products import product_json

LATEST = 6
"Clips the home page shows."


def clip_json(clips: Clips, clip: ClipRecord) -> dict[str, Any]:
    """A clip as the API returns it (seconds in the recording's timeline)."""
    url = f"/clips/{clip.id}"
    ready = clip.status == "ready"
    return {
        "id": clip.id,
        "show": clip.show_id,
        "product": clip.product_id,
        "title": clip.title,
        "kind": clip.kind,
        "status": clip.status,
        "progress": round(clips.progress(clip), 3),
        "error": clip.error,
        "chapter": {"start": _s(clip.chapter_start), "end": _s(clip.chapter_end)},
        "start": _s(clip.start_pts),
        "end": _s(clip.end_pts),
        "cut_start": _s(clip.cut_start),
        "cut_end": _s(clip.cut_end),
        "duration": _s(clip.cut_end - clip.cut_start)
        if clip.cut_end is not None and clip.cut_start is not None
        else None,
        "width": clip.width,
        "height": clip.height,
        "size": clip.size,
        "version": clip.version,
        "created_at": clip.created_at,
        "updated_at": clip.updated_at,
        "page_url": url,
        "video_url": f"{url}/video.mp4?v={clip.version}" if ready else None,
        "poster_url": f"{url}/poster.jpg?v={clip.version}" if ready else None,
        "download_url": f"{url}/download" if ready else None,
    }


def _s(pts: int | None) -> float | None:
    return None if pts is None else round(pts / 90000, 3)


def _pts(data: dict[str, Any], key: str) -> int | None:
    """A time in seconds from a JSON body → pts (None if absent); 422 if not a number."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise error(422, f"{key} must be a number of seconds")
    try:
        return round(Decimal(value) * 90000)
    except (InvalidOperation, ValueError):
        raise error(422, f"{key} must be a number of seconds") from None


async def _host_show(request: web.Request) -> ShowRecord:
    await require_host(request)
    show = await request.app[STORE].get_show(request.match_info["show"])
    if show is None or show.state == "deleted":
        raise error(404, "no such show")
    return show


async def _host_clip(request: web.Request) -> ClipRecord:
    await require_host(request)
    clip = await request.app[STORE].get_clip(path_id(request, "clip", "clip"))
    if clip is None:
        raise error(404, "no such clip")
    return clip


async def _domain(action: Any) -> Any:
    try:
        return await action
    except BadSpan as exc:
        raise error(422, exc.message) from None
    except ClipRefused as exc:
        raise error(409, exc.message) from None


# -- API ---------------------------------------------------------------------------------------


async def list_clips(request: web.Request) -> web.Response:
    """GET /api/shows/{show}/clips: the show's chapters (what can be clipped) and clips."""
    show = await _host_show(request)
    clips = request.app[CLIPS]
    try:
        chapters = await clips.chapters(show)
        reason = None
    except ClipRefused as exc:
        chapters, reason = [], exc.message
    records = await request.app[STORE].list_clips(show.id)
    return web.json_response(
        {
            "chapters": [
                {
                    "index": c.index,
                    "product": c.product,
                    "title": c.title,
                    "start": _s(c.start),
                    "end": _s(c.end),
                }
                for c in chapters
            ],
            "clips": [clip_json(clips, c) for c in records],
            "unavailable": reason,
        },
        headers={"Cache-Control": "no-store"},
    )


async def create_clip(request: web.Request) -> web.Response:
    """POST /api/shows/{show}/clips {"chapter", "kind"?, "start"?, "end"?}: a new clip."""
    show = await _host_show(request)
    data = await json_object(request)
    unknown = set(data) - {"chapter", "kind", "start", "end"}
    if unknown:
        raise error(422, f"unknown field(s): {', '.join(sorted(unknown))}")
    chapter = whole_number(data.get("chapter"))
    if chapter is None or chapter < 0:
        raise error(422, "chapter must be the index of one of the show's chapters")
    kind = data.get("kind", "plain")
    if kind not in ("plain", "vertical"):
        raise error(422, "kind must be plain or vertical")
    clips = request.app[CLIPS]
    clip = await _domain(clips.make(show, chapter, kind, _pts(data, "start"), _pts(data, "end")))
    return web.json_response(
        clip_json(clips, clip), status=201, headers={"Location": f"/api/clips/{clip.id}"}
    )


async def get_clip(request: web.Request) -> web.Response:
    """GET /api/clips/{clip}: a clip (a vertical one being made: its progress)."""
    clip = await _host_clip(request)
    return web.json_response(
        clip_json(request.app[CLIPS], clip), headers={"Cache-Control": "no-store"}
    )


async def trim_clip(request: web.Request) -> web.Response:
    """PATCH /api/clips/{clip} {"start"?, "end"?}: cut it again (start snaps to a keyframe)."""
    clip = await _host_clip(request)
    data = await json_object(request)
    unknown = set(data) - {"start", "end"}
    if unknown:
        raise error(422, f"unknown field(s): {', '.join(sorted(unknown))}")
    clips = request.app[CLIPS]
    trimmed = await _domain(clips.trim(clip, _pts(data, "start"), _pts(data, "end")))
    return web.json_response(clip_json(clips, trimmed))


async def delete_clip(request: web.Request) -> web.Response:
    """DELETE /api/clips/{clip}: the clip and its files go."""
    clip = await _host_clip(request)
    await request.app[CLIPS].delete(clip)
    return web.Response(status=204)


# -- public pages and media --------------------------------------------------------------------


async def _visible_clip(request: web.Request) -> tuple[ClipRecord, ShowRecord, bool]:
    """A ready clip of a published show (or any clip to its host); and whether the host."""
    clip = await request.app[STORE].get_clip(path_id(request, "clip", "clip"))
    show = await request.app[STORE].get_show(clip.show_id) if clip else None
    host = await current_user(request) is not None
    if clip is None or show is None or show.state == "deleted":
        raise error(404, "no such clip")
    if not host and (show.state != "published" or clip.status != "ready"):
        raise error(404, "no such clip")
    return clip, show, host


async def clip_page(request: web.Request) -> web.Response:
    """GET /clips/{clip}: the share page: the clip, the product card with Buy."""
    clip, show, host = await _visible_clip(request)
    viewer = await ensure_viewer(request)
    store = request.app[STORE]
    if not host:
        page = f"clip:{clip.id}"
        await store.add_view(show.id, page, request.app[AUDIENCE].viewer_key(viewer))
    product = None
    if clip.product_id is not None:
        record = await store.get_product(clip.product_id, include_deleted=True)
        if record is not None and record.deleted_at is None:
            product = product_json(record, await store.get_brand())
    base = request.app[SETTINGS].base_url
    return await render(
        request,
        "clip.html",
        {
            "clip": clip_json(request.app[CLIPS], clip),
            "show": show,
            "product": product,
            "buy": f"/go/{show.id}/{clip.product_id}?from=replay" if product else None,
            "page_url": f"{base}/clips/{clip.id}",
            "video_abs": f"{base}/clips/{clip.id}/video.mp4",
            "poster_abs": f"{base}/clips/{clip.id}/poster.jpg",
            "secure": base.startswith("https://"),
        },
    )


async def clip_media(request: web.Request) -> web.StreamResponse:
    """GET /clips/{clip}/video.mp4, /poster.jpg, /download: the clip's files (Range too)."""
    clip, show, _host = await _visible_clip(request)
    if clip.status != "ready":
        raise error(404, "this clip is not ready yet")
    name = request.match_info["file"]
    clips = request.app[CLIPS]
    path = clips.poster_path(clip) if name == "poster.jpg" else clips.video_path(clip)
    if not path.is_file():
        raise error(404, "no such file")
    cache = "public, max-age=300" if show.state == "published" else "private, no-cache"
    response = web.FileResponse(path, headers={"Cache-Control": cache})
    response.content_type = "image/jpeg" if name == "poster.jpg" else "video/mp4"
    if name == "download":
        title = clip.title.lower()
        slug = "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in title)
        vertical = "-vertical" if clip.kind == "vertical" else ""
        filename = f"{slug.strip('-')[:40] or 'clip'}-{clip.id}{vertical}"
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}.mp4"'
    return response


async def latest_clips(request: web.Request) -> list[dict[str, Any]]:
    """The newest public clips, for the home page."""
    clips = request.app[CLIPS]
    return [clip_json(clips, c) for c in await request.app[STORE].latest_clips(LATEST)]


async def show_clips(request: web.Request, show_id: str) -> list[dict[str, Any]]:
    """A show's ready clips, for its replay page."""
    clips = request.app[CLIPS]
    records = await request.app[STORE].list_clips(show_id)
    return [clip_json(clips, c) for c in records if c.status == "ready"]


# -- the studio page ---------------------------------------------------------------------------


async def studio_clips(request: web.Request) -> web.Response:
    """GET /studio/shows/{show}/clips: make a clip per chapter, trim, vertical, share."""
    await require_login(request)
    show = await request.app[STORE].get_show(request.match_info["show"])
    if show is None or show.state == "deleted":
        raise error(404, "no such show")
    state = request.app[ONAIR].state_of(show)
    return await render(
        request,
        "studio_clips.html",
        {
            "show": show,
            "state": state,
            "config": {
                "show": show.id,
                "csrf": await csrf_token(request),
                "api": f"/api/shows/{show.id}/clips",
            },
        },
    )


# -- wiring ------------------------------------------------------------------------------------


async def _clips(app: web.Application) -> AsyncIterator[None]:
    clips = Clips(app[STORE], app[SETTINGS].recordings_dir, app[IMAGES].library)
    await clips.recover()
    app[CLIPS] = clips
    yield
    await clips.close()


def setup(app: web.Application) -> None:
    """Register the clip routes and the clip service's lifecycle."""
    app.cleanup_ctx.append(_clips)
    r = app.router
    clip = r"{clip:\d{1,15}}"
    r.add_get("/api/shows/{show}/clips", list_clips)
    r.add_post("/api/shows/{show}/clips", create_clip)
    r.add_get(f"/api/clips/{clip}", get_clip)
    r.add_patch(f"/api/clips/{clip}", trim_clip)
    r.add_delete(f"/api/clips/{clip}", delete_clip)
    r.add_get("/studio/shows/{show}/clips", studio_clips)
    r.add_get(f"/clips/{clip}", clip_page)
    r.add_get(f"/clips/{clip}/{{file:video.mp4|poster.jpg|download}}", clip_media)
