"""The host's hand in the chat: highlight a question on air, delete, ban.

A message that goes (deleted, or its author banned) must not stay burned into the video
as the highlighted question, so these act on the chat room and the on-air products
together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .chat import ChatRoom, Message
from .errors import NotOnAir, ShowActionError, UnknownMessage
from .onair_products import OnAirProducts


async def highlight(
    room: ChatRoom, products: OnAirProducts | None, message_id: int
) -> dict[str, Any]:
    """Burn a message into the video as the question on air; the event."""
    try:
        message = room.message(message_id)
    except KeyError:
        raise UnknownMessage("no such message") from None
    if products is None:
        raise NotOnAir("the show is not live")
    event = await products.highlight(message.id, message.name, message.text)
    room.set_highlight(message.id)
    return event


async def dismiss(room: ChatRoom, products: OnAirProducts | None) -> dict[str, Any]:
    """Take the question off air; the event."""
    if products is None:
        raise NotOnAir("the show is not live")
    event = await products.dismiss()
    room.set_highlight(None)
    return event


async def delete_message(room: ChatRoom, products: OnAirProducts | None, message_id: int) -> None:
    """Remove a message for everyone, live and in the replay (off air if highlighted)."""
    try:
        await room.delete(message_id)
    except KeyError:
        raise UnknownMessage("no such message") from None
    await _dismiss_if_shown(room, products, {message_id})


@dataclass(frozen=True)
class BanOutcome:
    """What a ban did, for the host to read."""

    message: Message
    "The message the host banned from (its author is banned)."
    removed: int
    "How many of the author's messages were removed."
    question_dismissed: bool
    "Their question was on air and went off."


async def ban_author(
    room: ChatRoom,
    products: OnAirProducts | None,
    message_id: int,
    address_seconds: float | None = None,
    remove_messages: bool = True,
) -> BanOutcome:
    """Ban a message's author (and with `address_seconds` their address for that long);
    with `remove_messages` their messages go too (and off air if highlighted)."""
    before = {m.id for m in room.messages.values() if m.deleted}
    try:
        message = await room.ban(message_id, address_seconds, remove_messages)
    except KeyError:
        raise UnknownMessage("no such message") from None
    gone = {m.id for m in room.messages.values() if m.deleted}
    removed = len(gone - before) + (1 if remove_messages and message.id not in room.messages else 0)
    dismissed = await _dismiss_if_shown(room, products, gone)
    return BanOutcome(message, removed, dismissed)


async def _dismiss_if_shown(room: ChatRoom, products: OnAirProducts | None, ids: set[int]) -> bool:
    if products is None or products.highlighted not in ids:
        return False
    try:
        await products.dismiss()
    except ShowActionError:  # gone off air meanwhile
        pass
    room.set_highlight(None)
    return True
