"""A show's destinations: restream to the platforms (RTMP/RTMPS) and push over WHIP."""

from __future__ import annotations

from aiohttp import web

from ..live.destinations import InvalidDestination
from ..live.errors import ShowActionError
from ..store import ShowRecord
from .api import require_host
from .errors import domain_error, error
from .ids import path_id
from .jsonbody import json_object
from .keys import DESTINATIONS, SETTINGS, STORE

ENDED = {"ended", "published", "unpublished"}


async def _show(request: web.Request) -> ShowRecord:
    await require_host(request)
    show = await request.app[STORE].get_show(request.match_info["show"])
    if show is None or show.state == "deleted":
        raise error(404, "no such show")
    return show


async def list_destinations(request: web.Request) -> web.Response:
    """GET /api/shows/{show}/destinations: each with its state and last error."""
    show = await _show(request)
    return web.json_response({"destinations": await request.app[DESTINATIONS].list(show.id)})


async def add_destination(request: web.Request) -> web.Response:
    """POST /api/shows/{show}/destinations {"url", "key"?}: 201; starts now if live."""
    show = await _show(request)
    data = await json_object(request)
    unknown = set(data) - {"url", "key"}
    if unknown:
        raise error(422, f"unknown fields: {', '.join(sorted(unknown))}")
    if show.state in ENDED:
        raise error(409, f"the show has ended (it is {show.state})")
    url = data.get("url")
    own = f"{request.app[SETTINGS].base_url}/whip/{show.id}"
    if isinstance(url, str) and url.strip().rstrip("/") == own:
        raise error(422, "url is this show's own WHIP URL: the show would feed itself")
    try:
        destination = await request.app[DESTINATIONS].add(show.id, url, data.get("key"))
    except InvalidDestination as exc:
        raise error(422, exc.message) from None
    except ShowActionError as exc:
        raise domain_error(exc) from None
    location = f"/api/shows/{show.id}/destinations/{destination['id']}"
    return web.json_response(destination, status=201, headers={"Location": location})


async def delete_destination(request: web.Request) -> web.Response:
    """DELETE /api/shows/{show}/destinations/{destination}: stops it and forgets it."""
    show = await _show(request)
    destination_id = path_id(request, "destination", "destination")
    try:
        await request.app[DESTINATIONS].remove(show.id, destination_id)
    except ShowActionError as exc:
        raise domain_error(exc) from None
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    """Register the destination routes."""
    r = app.router
    r.add_get("/api/shows/{show}/destinations", list_destinations)
    r.add_post("/api/shows/{show}/destinations", add_destination)
    r.add_delete(r"/api/shows/{show}/destinations/{destination:\d+}", delete_destination)
