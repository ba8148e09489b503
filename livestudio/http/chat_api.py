"""Moderating a show's chat and highlighting questions (the studio and moderators' phones)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..catalog.errors import FieldError
from ..catalog.validation import validate_line
from ..live import moderation
from ..live.chat import BLOCKED_MODES, MAX_NAME, ChatRoom
from ..live.errors import ShowActionError
from .api import require_host
from .errors import domain_error, error
from .ids import json_id, path_id
from .jsonbody import json_object, optional_json_object, whole_number
from .keys import CHAT, ONAIR, STORE

MAX_BLOCKED_WORDS = 200
MAX_ADDRESS_BAN_MINUTES = 7 * 24 * 60
"An address ban lasts at most a week: addresses change hands."


async def _room(request: web.Request) -> ChatRoom:
    await require_host(request)
    show = await request.app[STORE].get_show(request.match_info["show"])
    if show is None or show.state == "deleted":
        raise error(404, "no such show")
    return await request.app[CHAT].room(show.id)


def _id(request: web.Request, key: str = "message") -> int:
    return path_id(request, key, {"message": "message", "held": "held message"}.get(key, key))


async def delete_message(request: web.Request) -> web.Response:
    """DELETE /api/shows/{show}/chat/{message}: gone for everyone, live and in the replay."""
    room = await _room(request)
    products = request.app[ONAIR].products(room.show_id)
    try:
        await moderation.delete_message(room, products, _id(request))
    except ShowActionError as exc:
        raise domain_error(exc) from None
    return web.Response(status=204)


async def ban(request: web.Request) -> web.Response:
    """POST /api/shows/{show}/chat/{message}/ban {"address_minutes"?}: ban its author by
    viewer session, and only if asked their address in this show for that long."""
    room = await _room(request)
    message_id = _id(request)
    data = await optional_json_object(request)
    unknown = set(data) - {"address_minutes", "remove_messages"}
    if unknown:
        raise error(422, f"unknown fields: {', '.join(sorted(unknown))}")
    minutes = data.get("address_minutes")
    if minutes is not None and (
        (minutes := whole_number(minutes)) is None or not 1 <= minutes <= MAX_ADDRESS_BAN_MINUTES
    ):
        raise error(
            422, f"address_minutes must be a whole number from 1 to {MAX_ADDRESS_BAN_MINUTES}"
        )
    remove = data.get("remove_messages", True)
    if not isinstance(remove, bool):
        raise error(422, "remove_messages must be true or false")
    products = request.app[ONAIR].products(room.show_id)
    try:
        outcome = await moderation.ban_author(
            room, products, message_id, None if minutes is None else minutes * 60.0, remove
        )
    except ShowActionError as exc:
        raise domain_error(exc) from None
    message = outcome.message
    until = room.banned_addresses.get(message.network) if minutes is not None else None
    return web.json_response(
        {
            "banned": message.name,
            "address_until": until,
            "removed": outcome.removed,
            "question_dismissed": outcome.question_dismissed,
        }
    )


def settings_json(room: ChatRoom) -> dict[str, Any]:
    """The chat settings as the API shows them."""
    s = room.settings
    return {
        "slow_mode": s.slow_mode,
        "blocked_words": list(s.blocked_words),
        "blocked_mode": s.blocked_mode,
    }


async def get_settings(request: web.Request) -> web.Response:
    """GET /api/shows/{show}/chat/settings."""
    return web.json_response(settings_json(await _room(request)))


async def put_settings(request: web.Request) -> web.Response:
    """PUT /api/shows/{show}/chat/settings: slow mode, blocked words and what they do."""
    room = await _room(request)
    data = await json_object(request)
    unknown = set(data) - {"slow_mode", "blocked_words", "blocked_mode"}
    if unknown:
        raise error(422, f"unknown fields: {', '.join(sorted(unknown))}")
    s = room.settings
    slow = whole_number(data.get("slow_mode", s.slow_mode))
    if slow is None or not 0 <= slow <= 3600:
        raise error(422, "slow_mode must be a whole number of seconds, 0 to 3600")
    words = data.get("blocked_words", list(s.blocked_words))
    if not isinstance(words, list) or len(words) > MAX_BLOCKED_WORDS:
        raise error(422, f"blocked_words must be a list of up to {MAX_BLOCKED_WORDS} words")
    try:
        words = [validate_line(w, "blocked_words", MAX_NAME) for w in words]
    except FieldError as exc:
        raise error(422, f"{exc} (each word)") from None
    mode = data.get("blocked_mode", s.blocked_mode)
    if mode not in BLOCKED_MODES:
        raise error(422, "blocked_mode must be mask or hold")
    s.slow_mode = slow
    s.blocked_words = tuple(words)
    s.blocked_mode = mode
    await room.save_settings()
    return web.json_response(settings_json(room))


async def list_bans(request: web.Request) -> web.Response:
    """GET /api/chat/bans: the bans in force (every show), newest first."""
    await require_host(request)
    bans = await request.app[STORE].bans()
    return web.json_response(
        {
            "bans": [
                {
                    "id": b.id,
                    "name": b.name,
                    "show": b.show_id,
                    "at": b.at,
                    "address_until": b.address_until,
                }
                for b in bans
            ]
        }
    )


async def lift_ban(request: web.Request) -> web.Response:
    """DELETE /api/chat/bans/{ban}: the viewer may chat again."""
    await require_host(request)
    if not await request.app[CHAT].lift_ban(_id(request, "ban")):
        raise error(404, "no such ban")
    return web.Response(status=204)


async def held(request: web.Request) -> web.Response:
    """GET /api/shows/{show}/chat/held: messages waiting for approval (blocked words)."""
    room = await _room(request)
    return web.json_response(
        {"held": [{"id": m.id, "name": m.name, "text": m.text} for m in room.held.values()]}
    )


async def approve(request: web.Request) -> web.Response:
    """POST /api/shows/{show}/chat/held/{held}/approve: show a held message after all."""
    room = await _room(request)
    try:
        message = room.approve(_id(request, "held"))
    except KeyError:
        raise error(404, "no such held message") from None
    return web.json_response({"id": message.id})


async def highlight(request: web.Request) -> web.Response:
    """POST /api/shows/{show}/highlight {"message": id}: the question as a lower-third."""
    room = await _room(request)
    data = await json_object(request)
    message_id = json_id(data.get("message"), "message")
    products = request.app[ONAIR].products(room.show_id)
    try:
        event = await moderation.highlight(room, products, message_id)
    except ShowActionError as exc:
        raise domain_error(exc) from None
    return web.json_response(event)


async def dismiss(request: web.Request) -> web.Response:
    """DELETE /api/shows/{show}/highlight: the question goes off air."""
    room = await _room(request)
    try:
        event = await moderation.dismiss(room, request.app[ONAIR].products(room.show_id))
    except ShowActionError as exc:
        raise domain_error(exc) from None
    return web.json_response(event)


def setup(app: web.Application) -> None:
    """Register the moderation routes."""
    r = app.router
    r.add_get("/api/shows/{show}/chat/settings", get_settings)
    r.add_put("/api/shows/{show}/chat/settings", put_settings)
    r.add_get("/api/shows/{show}/chat/held", held)
    r.add_post(r"/api/shows/{show}/chat/held/{held:\d+}/approve", approve)
    r.add_delete(r"/api/shows/{show}/chat/{message:\d+}", delete_message)
    r.add_post(r"/api/shows/{show}/chat/{message:\d+}/ban", ban)
    r.add_get("/api/chat/bans", list_bans)
    r.add_delete(r"/api/chat/bans/{ban:\d+}", lift_ban)
    r.add_post("/api/shows/{show}/highlight", highlight)
    r.add_delete("/api/shows/{show}/highlight", dismiss)
