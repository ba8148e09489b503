"""The host's signed-in browsers: listed in the studio and the API, and ended from there."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..store import LoginSessionRecord
from .api import require_host
from .auth import csrf_token, current_login, require_login
from .errors import error
from .ids import path_id
from .keys import STORE
from .pages import render


def session_json(record: LoginSessionRecord, current: int | None) -> dict[str, Any]:
    """A login session as the API returns it (never its secret)."""
    return {
        "id": record.id,
        "user": record.username,
        "created_at": record.created_at,
        "last_seen_at": record.last_seen_at,
        "user_agent": record.user_agent,
        "address": record.address,
        "current": record.id == current,
    }


async def _current_id(request: web.Request) -> int | None:
    login = await current_login(request)
    return login.session_id if login is not None else None


async def list_sessions(request: web.Request) -> web.Response:
    """GET /api/sessions: every admin's signed-in browsers, most recently seen first."""
    await require_host(request)
    current = await _current_id(request)
    records = await request.app[STORE].list_sessions()
    return web.json_response({"sessions": [session_json(r, current) for r in records]})


async def end_session(request: web.Request) -> web.Response:
    """DELETE /api/sessions/{id}: that browser is logged out (its cookie is worthless)."""
    await require_host(request)
    if not await request.app[STORE].end_session(path_id(request, "id", "session")):
        raise error(404, "no such session")
    return web.Response(status=204)


async def studio_sessions(request: web.Request) -> web.Response:
    """GET /studio/sessions: where the admins are logged in, with a button to end each."""
    await require_login(request)
    current = await _current_id(request)
    records = await request.app[STORE].list_sessions()
    return await render(
        request,
        "studio_sessions.html",
        {
            "sessions": [session_json(r, current) for r in records],
            "config": {"csrf": await csrf_token(request)},
        },
    )


def setup(app: web.Application) -> None:
    """Register the session routes."""
    r = app.router
    r.add_get("/api/sessions", list_sessions)
    r.add_delete(r"/api/sessions/{id:\d+}", end_session)
    r.add_get("/studio/sessions", studio_sessions)
