"""Calendar files: `/live/{show}/calendar.ics` ("Add to calendar") and `/shows.ics` (the
feed of upcoming shows a calendar app subscribes to). The content is live/calendar.py's."""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from .. import __version__
from ..live.calendar import CalendarSite, icalendar, upcoming
from .errors import error
from .keys import SETTINGS, STORE

CONTENT_TYPE = "text/calendar"


async def _site(request: web.Request) -> CalendarSite:
    brand = await request.app[STORE].get_brand()
    return CalendarSite(request.app[SETTINGS].base_url, brand.name, __version__)


def _response(text: str, **headers: str) -> web.Response:
    return web.Response(
        text=text,
        content_type=CONTENT_TYPE,
        charset="utf-8",
        headers={"Cache-Control": "public, max-age=300", **headers},
    )


async def show_calendar(request: web.Request) -> web.Response:
    """GET /live/{show}/calendar.ics: one announced show, with a reminder before it."""
    show = await request.app[STORE].get_show(request.match_info["show"])
    if show is None or show.state == "deleted":
        raise error(404, "no such show")
    if not show.starts_at:
        raise error(404, "this show has no announced start time")
    now = dt.datetime.now(dt.UTC)
    return _response(
        icalendar(await _site(request), [show], now, feed=False),
        **{"Content-Disposition": f'attachment; filename="{show.id}.ics"'},
    )


async def shows_calendar(request: web.Request) -> web.Response:
    """GET /shows.ics: the upcoming shows, for calendar apps to subscribe to."""
    now = dt.datetime.now(dt.UTC)
    shows = upcoming(await request.app[STORE].list_shows(), now)
    return _response(icalendar(await _site(request), shows, now, feed=True))


def setup(app: web.Application) -> None:
    """Register the calendar routes."""
    app.router.add_get("/live/{show}/calendar.ics", show_calendar)
    app.router.add_get("/shows.ics", shows_calendar)
