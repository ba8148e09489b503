"""Live chat and reactions over the events WebSocket, with moderation.

One `ChatRoom` per show. The chat is open while the show is live. Messages are checked
(length, control characters, rate limits per viewer and per address, slow mode, bans,
blocked words), fanned out through the events hub (so they resume by
event id like everything else), stamped with the program pts when the show is on air,
and written to the store in small batches. Reactions are only counted: once a second
the room sends and stores the totals, so hundreds of tapping viewers flood no one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import time
import unicodedata
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..store import ChatSettingsRecord, Store

if TYPE_CHECKING:
    from .events import EventHub

log = logging.getLogger(__name__)

MAX_TEXT = 500
MAX_NAME = 40
HISTORY = 50
"Messages a page gets when it joins."
RATE_MESSAGES = 5
RATE_WINDOW = 10.0
"At most RATE_MESSAGES per RATE_WINDOW seconds per viewer, always."
ADDRESS_RATE_MESSAGES = 10
"""The default of the chat_messages_per_ip setting: messages per RATE_WINDOW from one
address (group), whatever the cookies: a page reloaded without its cookie gets a new viewer
id, so per-viewer limits alone hold no flooder back."""
FLOOD_FRAMES = 100
"""A connection sending this many frames (of any kind, malformed ones too) within
RATE_WINDOW is closed. Pages batch reaction taps (4 frames/s at most), so an honest page
stays well below it however fast its viewer taps."""
REACTIONS = ("❤️", "🔥", "👏", "😂", "😮", "👍")
REACTION_BATCH = 20
"Taps one react frame may carry."
REACTIONS_PER_SECOND = 20
"Taps counted per connection and second: beyond that a tapping viewer adds no more."
FLUSH_SECONDS = 0.25
"Chat rows are written at most this late, in one transaction per batch."
BLOCKED_MODES = ("mask", "hold")
REMEMBERED = 2000
"Messages kept in memory per show for moderation (older ones are in the store)."
HELD_MAX = 200
"Messages held for approval per show; beyond, the oldest is dropped (it is stale by then)."
LIVE_STATES = ("live", "reconnecting")
"The show states in which the chat is open."


def viewer_tag(viewer: str) -> str:
    """A public name for a viewer's secret cookie id: their page knows its own tag (page
    config) and so learns from the public events that it was banned."""
    return hashlib.sha256(b"livestudio-viewer:" + viewer.encode()).hexdigest()[:20]


class ChatRejected(Exception):
    """A message that is not shown: `code` and `message` go back to its sender only."""

    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after

    def reply(self) -> dict[str, Any]:
        """The error frame for the sender."""
        out: dict[str, Any] = {"type": "error", "code": self.code, "message": self.message}
        if self.retry_after is not None:
            out["retry_after"] = round(self.retry_after, 1)
        return out


@dataclass
class ChatSettings:
    """What the host set for this show's chat."""

    slow_mode: int = 0
    "Seconds between two messages of one viewer (0: off)."
    blocked_words: tuple[str, ...] = ()
    blocked_mode: str = "mask"
    "mask: shown with the words starred out; hold: kept back for the host to approve."


@dataclass
class Sender:
    """One connected page: who it is (viewer id from its cookie, client address)."""

    viewer: str
    address: str
    network: str = ""
    """The address group per-address limits and address bans count by (an IPv6 address's
    /64, made by http/net.py `address_group`); the address itself if empty."""
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=FLOOD_FRAMES))
    "Frames this connection sent lately (a flooding connection is closed)."
    reaction_second: int = -1
    reactions_counted: int = 0
    "Taps counted from this connection in the current second (REACTIONS_PER_SECOND)."

    def frame_in(self, now: float) -> None:
        """Count a frame from this connection; ChatFlood when it sends far too fast."""
        self.recent.append(now)
        if len(self.recent) == FLOOD_FRAMES and now - self.recent[0] < RATE_WINDOW:
            raise ChatFlood

    def take_reactions(self, taps: int, now: float) -> int:
        """How many of `taps` count, within REACTIONS_PER_SECOND."""
        second = int(now)
        if second != self.reaction_second:
            self.reaction_second, self.reactions_counted = second, 0
        counted = max(0, min(taps, REACTIONS_PER_SECOND - self.reactions_counted))
        self.reactions_counted += counted
        return counted

    @property
    def group(self) -> str:
        """The address group this page counts under."""
        return self.network or self.address

    @property
    def key(self) -> str:
        """Whose limits apply: the viewer's cookie, or the address for cookie-less clients
        (so reconnecting or opening another tab does not reset rate limit or slow mode)."""
        return "address:" + self.group if self.viewer.startswith("anon-") else self.viewer


@dataclass
class Pace:
    """When one viewer last posted (rate limit, slow mode)."""

    accepted: deque[float] = field(default_factory=lambda: deque(maxlen=RATE_MESSAGES))
    last_message: float = -1e9


@dataclass
class Message:
    """A message as the room remembers it (for deletion, bans, highlights, history)."""

    id: int
    name: str
    text: str
    viewer: str
    address: str
    pts: int | None
    at: float
    deleted: bool = False
    highlighted: bool = False
    network: str = ""
    "The sender's address group (what an address ban bans); the address if empty."


_CONTROL = re.compile(
    r"[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]"
)


def clean_text(value: object, limit: int, what: str) -> str:
    """Text a viewer typed: a string, control characters removed, stripped, 1..limit chars."""
    if not isinstance(value, str):
        raise ChatRejected("invalid", f"{what} must be text")
    text = unicodedata.normalize("NFC", _CONTROL.sub("", value)).replace("\n", " ").strip()
    if not text:
        raise ChatRejected("invalid", f"{what} is empty")
    if len(text) > limit:
        raise ChatRejected("too_long", f"{what} is longer than {limit} characters")
    return text


class ChatRoom:
    """The chat of one show (all methods on the event loop)."""

    def __init__(
        self,
        show_id: str,
        store: Store,
        hub: EventHub,
        pts: Callable[[], int | None],
        banned_viewers: set[str] | None = None,
        state: Callable[[], str] = lambda: "live",
        messages_per_address: int = ADDRESS_RATE_MESSAGES,
    ) -> None:
        self.show_id = show_id
        self.store = store
        self.hub = hub
        self._pts = pts
        self._state = state
        "The show's state now (the chat is open in LIVE_STATES)."
        self.settings = ChatSettings()
        self.banned_viewers: set[str] = set() if banned_viewers is None else banned_viewers
        "Viewer cookies banned in any show (shared by every room of the process)."
        self.banned_addresses: dict[str, float] = {}
        "Address groups banned in this show → until when (Unix seconds)."
        self.messages: dict[int, Message] = {}
        "Recent messages by id, oldest first (bounded by REMEMBERED)."
        self.held: dict[int, Message] = {}
        "Messages held for approval, oldest first (bounded by HELD_MAX)."
        self.messages_per_address = messages_per_address
        self._paces: dict[str, Pace] = {}
        self._address_paces: dict[str, deque[float]] = {}
        self._next_held = 1
        self._pending: list[tuple[str, dict[str, Any], int | None, float]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._reactions: Counter[str] = Counter()
        self._reaction_task: asyncio.Task[None] | None = None

    # -- from viewers -------------------------------------------------------------------------

    def receive_text(self, sender: Sender, data: str | None) -> dict[str, Any] | None:
        """Handle one WebSocket message from a page (None: not a text message)."""
        if data is None:
            sender.frame_in(time.monotonic())
            return ChatRejected("invalid", "send text frames").reply()
        try:
            frame = json.loads(data)
        except ValueError:
            sender.frame_in(time.monotonic())
            return ChatRejected("invalid", "send JSON").reply()
        return self.receive(sender, frame)

    def receive(self, sender: Sender, frame: object) -> dict[str, Any] | None:
        """Handle one frame from a page; returns a reply for that page only (or None)."""
        now = time.monotonic()
        sender.frame_in(now)
        if not isinstance(frame, dict):
            return ChatRejected("invalid", "frames must be JSON objects").reply()
        kind = frame.get("type")
        try:
            if kind == "chat":
                return self._chat(sender, frame, now)
            if kind == "react":
                self._react(sender, frame, now)
                return None
            raise ChatRejected("invalid", "unknown frame type")
        except ChatRejected as exc:
            return exc.reply()

    def is_banned(self, sender: Sender) -> bool:
        """Banned in this show, by viewer session or (for a while) by address."""
        if sender.viewer in self.banned_viewers:
            return True
        until = self.banned_addresses.get(sender.group)
        return until is not None and until > time.time()

    @property
    def is_open(self) -> bool:
        """Whether the show is live, the only time its chat takes messages and reactions."""
        return self._state() in LIVE_STATES

    def _check_open(self) -> None:
        if not self.is_open:
            raise ChatRejected("not_live", "the chat is open while the show is live")

    def _chat(self, sender: Sender, frame: dict[str, Any], now: float) -> dict[str, Any] | None:
        self._check_open()
        if self.is_banned(sender):
            raise ChatRejected("banned", "you cannot post in this chat")
        name = clean_text(frame.get("name"), MAX_NAME, "name")
        text = clean_text(frame.get("text"), MAX_TEXT, "message")
        pace = self._paces.setdefault(sender.key, Pace())
        if len(pace.accepted) == RATE_MESSAGES and now - pace.accepted[0] < RATE_WINDOW:
            wait = RATE_WINDOW - (now - pace.accepted[0])
            raise ChatRejected("rate_limited", "you are sending too fast", wait)
        slow = self.settings.slow_mode
        if slow and now - pace.last_message < slow:
            wait = slow - (now - pace.last_message)
            raise ChatRejected("slow_mode", f"slow mode: one message every {slow} s", wait)
        from_address = self._address_paces.get(sender.group)
        if from_address is None:
            from_address = self._address_paces[sender.group] = deque(
                maxlen=self.messages_per_address
            )
        if len(from_address) == self.messages_per_address and now - from_address[0] < RATE_WINDOW:
            wait = RATE_WINDOW - (now - from_address[0])
            raise ChatRejected("rate_limited", "too many messages from your address", wait)
        pace.accepted.append(now)
        pace.last_message = now
        from_address.append(now)
        self._forget_quiet(now)
        text, blocked = self._filter(text)
        if blocked and self.settings.blocked_mode == "hold":
            message = Message(
                self._next_held,
                name,
                text,
                sender.viewer,
                sender.address,
                self._pts(),
                time.time(),
                network=sender.group,
            )
            self._next_held += 1
            self.held[message.id] = message
            while len(self.held) > HELD_MAX:
                del self.held[next(iter(self.held))]
            return {"type": "held", "message": "your message waits for the host's approval"}
        self._post(name, text, sender.viewer, sender.address, sender.group)
        return None

    def _forget_quiet(self, now: float) -> None:
        """Bound the limits' memory: drop the viewers and addresses quiet the longest."""
        if len(self._paces) > REMEMBERED:
            for key in sorted(self._paces, key=lambda k: self._paces[k].last_message)[:100]:
                del self._paces[key]
        if len(self._address_paces) > REMEMBERED:
            for key in [k for k, v in self._address_paces.items() if now - v[-1] >= RATE_WINDOW]:
                del self._address_paces[key]

    def _filter(self, text: str) -> tuple[str, bool]:
        words = [w for w in self.settings.blocked_words if w]
        if not words:
            return text, False
        pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
        if not pattern.search(text):
            return text, False
        return pattern.sub(lambda m: "*" * len(m.group(0)), text), True

    def _post(self, name: str, text: str, viewer: str, address: str, network: str) -> Message:
        pts = self._pts()
        wall = time.time()
        event = self.hub.publish(self.show_id, "chat", name=name, text=text, pts=pts)
        message = Message(event["id"], name, text, viewer, address, pts, wall, network=network)
        self.messages[message.id] = message
        while len(self.messages) > REMEMBERED:
            del self.messages[next(iter(self.messages))]
        # viewer and address are stored for moderation (a ban after a restart); the replay
        # page never sends them (replay.py takes only id, name, text and time).
        self._write(
            "chat",
            {
                "id": message.id,
                "name": name,
                "text": text,
                "viewer": viewer,
                "address": address,
                "network": network,
            },
            pts,
            wall,
        )
        return message

    def _react(self, sender: Sender, frame: dict[str, Any], now: float) -> None:
        self._check_open()
        emoji = frame.get("emoji")
        if emoji not in REACTIONS:
            raise ChatRejected("invalid", "unknown reaction")
        taps = frame.get("count", 1)
        if not isinstance(taps, int) or isinstance(taps, bool) or not 1 <= taps <= REACTION_BATCH:
            raise ChatRejected(
                "invalid", f"count must be a whole number from 1 to {REACTION_BATCH}"
            )
        counted = 0 if self.is_banned(sender) else sender.take_reactions(taps, now)
        if not counted:
            return
        self._reactions[str(emoji)] += counted
        if self._reaction_task is None or self._reaction_task.done():
            self._reaction_task = asyncio.ensure_future(self._send_reactions())

    async def _send_reactions(self) -> None:
        await asyncio.sleep(1.0)
        counts, self._reactions = dict(self._reactions), Counter()
        if counts:
            pts = self._pts()
            self.hub.publish(self.show_id, "reactions", counts=counts, pts=pts)
            self._write("reactions", {"counts": counts}, pts, time.time())

    async def load(self) -> None:
        """What the store remembers of this show's chat: its settings and address bans."""
        saved = await self.store.chat_settings(self.show_id)
        self.settings = ChatSettings(saved.slow_mode, saved.blocked_words, saved.blocked_mode)
        now = time.time()
        for ban in await self.store.bans():
            until = ban.address_until
            if ban.show_id == self.show_id and ban.address and until is not None and until > now:
                self._ban_address(ban.address, until)

    def _ban_address(self, network: str, until: float) -> None:
        self.banned_addresses[network] = max(until, self.banned_addresses.get(network, 0.0))

    async def save_settings(self) -> None:
        """Keep the settings across a restart."""
        s = self.settings
        await self.store.set_chat_settings(
            self.show_id, ChatSettingsRecord(s.slow_mode, s.blocked_words, s.blocked_mode)
        )

    # -- for pages joining --------------------------------------------------------------------

    def history(self) -> list[dict[str, Any]]:
        """The last messages, oldest first, as chat events."""
        recent = list(self.messages.values())
        return [
            {
                "type": "chat",
                "id": m.id,
                "name": m.name,
                "text": m.text,
                "pts": m.pts,
                "highlighted": m.highlighted,
            }
            for m in recent
            if not m.deleted
        ][-HISTORY:]

    # -- from the host ------------------------------------------------------------------------

    def message(self, message_id: int) -> Message:
        """A message of this show, or KeyError."""
        message = self.messages[message_id]
        if message.deleted:
            raise KeyError(message_id)
        return message

    def set_highlight(self, message_id: int | None) -> None:
        """Mark the highlighted message (None: none), clearing any earlier mark."""
        for message in self.messages.values():
            message.highlighted = message.id == message_id

    async def find(self, message_id: int) -> Message:
        """A message of this show, remembered or (older, or from before a restart) stored;
        KeyError if there is none or it was deleted."""
        try:
            return self.message(message_id)
        except KeyError:
            pass
        if any(p[0] == "chat_delete" and p[1].get("id") == message_id for p in self._pending):
            raise KeyError(message_id)
        stored = await self.store.chat_message(self.show_id, message_id)
        if stored is None:
            raise KeyError(message_id)
        pts = stored.get("pts")
        return Message(
            message_id,
            str(stored.get("name", "")),
            str(stored.get("text", "")),
            str(stored.get("viewer", "")),
            str(stored.get("address", "")),
            pts if isinstance(pts, int) else None,
            0.0,
            # Rows from before address groups name the address itself.
            network=str(stored.get("network") or stored.get("address", "")),
        )

    async def delete(self, message_id: int) -> None:
        """Remove a message for everyone, live and in the replay (also after the show)."""
        message = await self.find(message_id)
        message.deleted = True
        self.hub.publish(self.show_id, "chat_delete", message=message_id)
        self._write("chat_delete", {"id": message_id}, self._pts(), time.time())

    async def ban(
        self, message_id: int, address_seconds: float | None = None, remove_messages: bool = True
    ) -> Message:
        """Ban the author of a message by viewer session (in every show), and with
        `address_seconds` their address (group) in this show for that long; with
        `remove_messages` the author's messages go (those of others at the address stay:
        they may be bystanders). Their open pages hear of it (a `banned` event)."""
        message = await self.find(message_id)
        self.banned_viewers.add(message.viewer)
        until = None
        if address_seconds is not None and message.network:
            until = time.time() + address_seconds
            self._ban_address(message.network, until)
        await self.store.add_ban(
            self.show_id, message.viewer, message.network, message.name, address_until=until
        )
        self.hub.publish(self.show_id, "banned", viewer=viewer_tag(message.viewer))
        if not remove_messages:
            return message
        for other in list(self.messages.values()):
            if not other.deleted and other.viewer == message.viewer:
                await self.delete(other.id)
        if not message.deleted and message.id not in self.messages:
            await self.delete(message.id)
        return message

    def lift(self, viewer: str, address: str, banned_here: bool) -> None:
        """A ban was lifted: the viewer may post again (and the address, if banned here)."""
        self.banned_viewers.discard(viewer)
        if banned_here and address:
            self.banned_addresses.pop(address, None)

    def approve(self, held_id: int) -> Message:
        """Show a held message after all (KeyError if unknown)."""
        held = self.held.pop(held_id)
        return self._post(held.name, held.text, held.viewer, held.address, held.network)

    # -- writing ------------------------------------------------------------------------------

    def _write(self, kind: str, data: dict[str, Any], pts: int | None, wall: float) -> None:
        self._pending.append((kind, data, pts, wall))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(FLUSH_SECONDS)
        await self.flush()

    async def flush(self) -> None:
        """Write what is pending (one transaction)."""
        batch, self._pending = self._pending, []
        if batch:
            try:
                await self.store.add_events(self.show_id, batch)
            except Exception:
                log.exception("chat of show %s: %d rows not written", self.show_id, len(batch))

    async def close(self) -> None:
        """Write the rest (shutdown)."""
        if self._reaction_task is not None:
            self._reaction_task.cancel()
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush()


class ChatFlood(Exception):
    """A connection sending far too fast: it is closed."""


class ChatRooms:
    """The rooms of this process, made on first use."""

    def __init__(
        self,
        store: Store,
        hub: EventHub,
        pts: Callable[[str], int | None],
        state: Callable[[str], str] = lambda show_id: "live",
        messages_per_address: int = ADDRESS_RATE_MESSAGES,
    ) -> None:
        self.store = store
        self.hub = hub
        self._pts = pts
        self._state = state
        "The state of a show now (OnAir.live_state)."
        self.messages_per_address = messages_per_address
        self.rooms: dict[str, ChatRoom] = {}
        self._loading: dict[str, asyncio.Future[None]] = {}
        self.banned_viewers: set[str] = set()
        "Banned viewer cookies, shared by every room (a ban holds in every show)."
        self._bans_loaded: asyncio.Future[None] | None = None

    async def room(self, show_id: str) -> ChatRoom:
        """The chat room of a show, with what the store remembers of it."""
        if self._bans_loaded is None:
            self._bans_loaded = asyncio.ensure_future(self._load_bans())
        await asyncio.shield(self._bans_loaded)
        room = self.rooms.get(show_id)
        if room is None:
            room = ChatRoom(
                show_id,
                self.store,
                self.hub,
                lambda: self._pts(show_id),
                self.banned_viewers,
                state=lambda: self._state(show_id),
                messages_per_address=self.messages_per_address,
            )
            self.rooms[show_id] = room
            self._loading[show_id] = asyncio.ensure_future(room.load())
        # Everyone asking while it loads waits for the same load (no second room).
        await asyncio.shield(self._loading[show_id])
        return room

    async def forget(self, show_id: str) -> None:
        """The show is over: write what is pending and let its room go (a room remembers
        up to REMEMBERED messages; the store has them all for moderation after the show)."""
        room = self.rooms.pop(show_id, None)
        self._loading.pop(show_id, None)
        if room is not None:
            await room.close()

    async def _load_bans(self) -> None:
        self.banned_viewers.update(ban.viewer for ban in await self.store.bans())

    async def lift_ban(self, ban_id: int) -> bool:
        """Lift a ban in the store and in every room; False if there is none in force."""
        ban = await self.store.lift_ban(ban_id)
        if ban is None:
            return False
        still = {b.viewer for b in await self.store.bans()}
        for room in self.rooms.values():
            room.lift(
                ban.viewer if ban.viewer not in still else "",
                ban.address,
                ban.show_id == room.show_id,
            )
        if ban.viewer not in still:
            self.banned_viewers.discard(ban.viewer)
        return True

    async def close(self) -> None:
        """Flush every room."""
        # A copy: a show finishing meanwhile lets its room go (forget) during the awaits.
        for room in list(self.rooms.values()):
            await room.close()
