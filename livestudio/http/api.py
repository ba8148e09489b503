"""The JSON API under /api/: the host guard every route uses, and shows."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..store import ShowRecord, ValidationError
from .auth import CSRF_HEADER, check_csrf, current_user
from .errors import error
from .keys import ONAIR, SETTINGS, STORE
from .openapi import openapi

MAX_JSON = 64 * 1024


async def require_host(request: web.Request) -> None:
    """401 unless the request carries an API token or the studio's session cookie.

    With the cookie, a state-changing request must also carry the session's CSRF token
    in X-CSRF-Token: a page on another site can make the browser send the cookie, but
    cannot read the token.
    """
    auth = request.headers.get("Authorization", "")
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    if token:
        if await request.app[STORE].verify_api_token(token):
            return
    elif await current_user(request) is not None:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            await check_csrf(request, request.headers.get(CSRF_HEADER))
        return
    raise error(
        401,
        "log in to the studio or send an API token (Authorization: Bearer <token>)",
        {"WWW-Authenticate": 'Bearer realm="livestudio"'},
    )


def show_json(request: web.Request, show: ShowRecord) -> dict[str, Any]:
    """A show as the API returns it (never its stream key)."""
    base = request.app[SETTINGS].base_url
    onair = request.app[ONAIR]
    live = onair.get(show.id)
    return {
        "id": show.id,
        "title": show.title,
        "starts_at": show.starts_at,
        "state": onair.state_of(show),
        "viewers": onair.audience(show.id) if live else 0,
        "created_at": show.created_at,
        "went_live_at": show.went_live_at,
        "ended_at": show.ended_at,
        "recording": show.recording,
        "recording_error": show.recording_error,
        "orientation": show.orientation,
        "whip_url": f"{base}/whip/{show.id}",
        "viewer_url": f"{base}/live/{show.id}",
    }


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_JSON:
        raise error(413, f"request body too large (limit {MAX_JSON} bytes)")
    try:
        data = await request.json()
    except ValueError:
        raise error(400, "the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise error(400, "the body must be a JSON object")
    return data


async def list_shows(request: web.Request) -> web.Response:
    """GET /api/shows."""
    await require_host(request)
    shows = await request.app[STORE].list_shows()
    return web.json_response({"shows": [show_json(request, s) for s in shows]})


async def create_show(request: web.Request) -> web.Response:
    """POST /api/shows {"title", "starts_at"?} → the show and its stream key (shown once)."""
    await require_host(request)
    data = await _json_body(request)
    title = data.get("title")
    starts_at = data.get("starts_at")
    if not isinstance(title, str):
        raise error(422, "title is required (a string)")
    if starts_at is not None and not isinstance(starts_at, str):
        raise error(422, "starts_at must be an ISO 8601 string")
    orientation = data.get("orientation", "landscape")
    if not isinstance(orientation, str):
        raise error(422, "orientation must be landscape or portrait")
    try:
        show, key = await request.app[STORE].create_show(title, starts_at, orientation)
    except ValidationError as exc:
        raise error(422, str(exc)) from None
    return web.json_response({**show_json(request, show), "stream_key": key}, status=201)


async def get_show(request: web.Request) -> web.Response:
    """GET /api/shows/{show}."""
    await require_host(request)
    show = await request.app[STORE].get_show(request.match_info["show"])
    if show is None or show.state == "deleted":
        raise error(404, "no such show")
    return web.json_response(show_json(request, show))


async def update_show(request: web.Request) -> web.Response:
    """PATCH /api/shows/{show} {"orientation"}: a show's settings, before it goes live (the
    program's size is fixed for the life of a show)."""
    await require_host(request)
    store = request.app[STORE]
    show = await store.get_show(request.match_info["show"])
    if show is None or show.state == "deleted":
        raise error(404, "no such show")
    data = await _json_body(request)
    unknown = set(data) - {"orientation"}
    if unknown:
        raise error(422, f"unknown fields: {', '.join(sorted(unknown))} (known: orientation)")
    orientation = data.get("orientation", show.orientation)
    if not isinstance(orientation, str):
        raise error(422, "orientation must be landscape or portrait")
    if orientation != show.orientation:
        if request.app[ONAIR].get(show.id) is not None or show.state != "scheduled":
            raise error(409, "the orientation is fixed once the show has gone live")
        try:
            await store.set_orientation(show.id, orientation)
        except ValidationError as exc:
            raise error(422, str(exc)) from None
    show = await store.get_show(show.id)
    assert show is not None
    return web.json_response(show_json(request, show))


async def end_show(request: web.Request) -> web.Response:
    """POST /api/shows/{show}/end: End show (the publisher is disconnected)."""
    await require_host(request)
    show = await request.app[STORE].get_show(request.match_info["show"])
    if show is None or show.state == "deleted":
        raise error(404, "no such show")
    if show.state not in ("live", "reconnecting") and request.app[ONAIR].get(show.id) is None:
        raise error(409, f"the show is not live (it is {show.state})")
    await request.app[ONAIR].end(show.id)
    show = await request.app[STORE].get_show(show.id)
    assert show is not None
    return web.json_response(show_json(request, show))


async def rotate_stream_key(request: web.Request) -> web.Response:
    """POST /api/shows/{show}/stream-key: a new stream key (the old one stops working)."""
    await require_host(request)
    store = request.app[STORE]
    show = await store.get_show(request.match_info["show"])
    if show is None or show.state == "deleted":
        raise error(404, "no such show")
    key = await store.rotate_stream_key(show.id)
    return web.json_response({"stream_key": key})


def setup(app: web.Application) -> None:
    """Register the API routes."""
    r = app.router
    r.add_get("/api/openapi.json", openapi)
    r.add_get("/api/shows", list_shows)
    r.add_post("/api/shows", create_show)
    r.add_get("/api/shows/{show}", get_show)
    r.add_patch("/api/shows/{show}", update_show)
    r.add_post("/api/shows/{show}/end", end_show)
    r.add_post("/api/shows/{show}/stream-key", rotate_stream_key)
