"""Destinations: while a show is live, its program also goes where the brand's audience is.

Each show may have a few: RTMP(S) ingests of YouTube, Facebook, Twitch, TikTok
(media/restream.py) and WHIP endpoints of SFUs or other studios (media/whip_push.py), all
fed the program's same packets. A destination starts when its show goes on air (at once
if it already is), stops when the show ends, and after a failure reconnects with capped
exponential backoff. It never touches the show or the other destinations: each has its
own bounded feed, and a dead server costs it a state change, not the show a frame.

States: idle (the show is not on air), connecting, live, retrying (after an error, until
the next attempt), failed (the server refused in a way no retry can change, e.g. a wrong
key: fix it and add the destination again). The studio reads them with
`GET /api/shows/{show}/destinations`: not on the viewers' event stream, which is public,
while these name the brand's servers and their errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from ..media.restream import PushError
from ..media.show import LiveShow
from ..store import DestinationRecord, Store
from .errors import ShowActionError
from .onair import OnAir

log = logging.getLogger(__name__)

KINDS = {"rtmp": "rtmp", "rtmps": "rtmp", "http": "whip", "https": "whip"}
"URL scheme → how the program is sent: FLV over RTMP(S), or WHIP."
STATES = ("idle", "connecting", "live", "retrying", "failed")
MAX_PER_SHOW = 10
"Each costs the server's upload (a program's bitrate), not an encode."
MAX_URL = 1024
MAX_KEY = 4096
"Stream keys are short; bearer tokens of some SFUs (JWTs) are not."
_BLANK_OR_CONTROL = (
    r"\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
"Spaces of any kind and control characters: never part of a URL or a key."
_PORT = r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?"
URL_PATTERN = (
    rf"^[ \t\r\n]*(rtmps?|https?)://[A-Za-z0-9._~-]+{_PORT}(/[^#{_BLANK_OR_CONTROL}]*)?[ \t\r\n]*$"
)
"""What a destination URL may be (also the API schema's pattern, so the two agree): a
scheme of KINDS, a host name or IPv4 address, a port, a path and query; no user or
password, no #fragment; spaces around it are taken off (a pasted URL often has some)."""
KEY_PATTERN = rf"^[ \t\r\n]*[^{_BLANK_OR_CONTROL}]*[ \t\r\n]*$"
"What a key may be (also the API schema's pattern): one word, spaces around it taken off."
AROUND = " \t\r\n"
BACKOFF_FIRST = 1.0
"Seconds before the first retry; doubled after each failure in a row."
BACKOFF_MAX = 60.0
STABLE_AFTER = 30.0
"A connection that stayed up this long was a success: the backoff starts over."


class InvalidDestination(ShowActionError):
    """A destination URL or key that cannot be used."""


class UnknownDestination(ShowActionError):
    """No such destination in this show."""


class TooManyDestinations(ShowActionError):
    """The show already has MAX_PER_SHOW destinations."""


class Push(Protocol):
    """What a destination runs (RtmpPush, WhipPush)."""

    async def run(self, on_live: Callable[[], None]) -> None:
        """Send until the program ends; PushError when the connection fails."""


@dataclass
class DestinationState:
    """What the studio sees of a destination now."""

    state: str = "idle"
    since: float = field(default_factory=time.time)
    "When it entered this state (Unix seconds)."
    error: str = ""
    "The last error, kept after a reconnection so the host can see what happened."
    error_at: float | None = None
    next_attempt_at: float | None = None
    "When a retrying destination tries again."
    connections: int = 0
    "Times it went live in this process (a reconnection counts one more)."


def check_destination(url: object, key: object) -> tuple[str, str]:
    """The URL and key as stored, or InvalidDestination saying what is wrong."""
    if not isinstance(url, str) or not url.strip(AROUND):
        raise InvalidDestination(
            "url is required: the server URL (rtmp://, rtmps://) or a WHIP endpoint (https://)"
        )
    if len(url) > MAX_URL:
        raise InvalidDestination(f"url must be at most {MAX_URL} characters")
    stripped = url.strip(AROUND)
    if _has_blank_or_control(stripped):
        raise InvalidDestination("url must not contain spaces or control characters")
    parts = urlsplit(stripped)
    if parts.scheme not in KINDS:
        raise InvalidDestination(
            "url must start with rtmp:// or rtmps:// (YouTube, Facebook, Twitch, TikTok) or"
            " http:// or https:// (a WHIP endpoint)"
        )
    if "@" in parts.netloc:
        raise InvalidDestination("url must not carry a user name or password: put it in key")
    try:
        parts.port  # noqa: B018 (parsing the port is the check)
    except ValueError:
        raise InvalidDestination("url has an invalid port") from None
    if not parts.hostname:
        raise InvalidDestination("url has no server name")
    if "#" in stripped:
        raise InvalidDestination("url must not have a #fragment")
    if not re.fullmatch(URL_PATTERN, url):
        raise InvalidDestination(
            "url must be scheme://server[:port][/path]: a host name or IPv4 address and a"
            " port from 0 to 65535"
        )
    if key is None:
        key = ""
    if not isinstance(key, str):
        raise InvalidDestination("key must be text (the stream key or bearer token)")
    if len(key) > MAX_KEY:
        raise InvalidDestination(f"key must be at most {MAX_KEY} characters")
    if not re.fullmatch(KEY_PATTERN, key):
        raise InvalidDestination("key must not contain spaces or control characters")
    return urlunsplit(parts), key.strip(AROUND)


def _has_blank_or_control(text: str) -> bool:
    return re.search(f"[{_BLANK_OR_CONTROL}]", text) is not None


def kind_of(url: str) -> str:
    """'rtmp' or 'whip'."""
    return KINDS[urlsplit(url).scheme]


KEY_LOST = (
    "its stream key can no longer be read (the data folder's session.key was replaced): "
    "delete this destination and add it again"
)


class Destinations:
    """Every show's destinations: stored, started with the show, watched, retried."""

    def __init__(self, store: Store, onair: OnAir, tls: ssl.SSLContext | None = None) -> None:
        self.store = store
        self.onair = onair
        self.tls = tls
        "TLS trust for rtmps:// servers (None: the system's certificate authorities)."
        self._states: dict[int, DestinationState] = {}
        self._runners: dict[int, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.on_change: list[Callable[[DestinationRecord, DestinationState], None]] = []
        "Called on every state change (tests, metrics)."
        onair.on_started.append(self._show_started)

    # -- the API ------------------------------------------------------------------------------

    def state(self, destination_id: int) -> DestinationState:
        """The destination's state now (idle if it never ran)."""
        return self._states.get(destination_id) or DestinationState()

    def view(self, record: DestinationRecord) -> dict[str, Any]:
        """A destination as the API shows it: never its key."""
        s = self.state(record.id)
        return {
            "id": record.id,
            "url": record.url,
            "kind": kind_of(record.url),
            "has_key": record.has_key,
            "state": s.state,
            "since": s.since,
            "error": s.error or None,
            "error_at": s.error_at,
            "next_attempt_at": s.next_attempt_at,
            "connections": s.connections,
            "created_at": record.created_at,
        }

    async def list(self, show_id: str) -> list[dict[str, Any]]:
        """The show's destinations with their states, oldest first."""
        return [self.view(r) for r in await self.store.destinations(show_id)]

    async def add(self, show_id: str, url: object, key: object) -> dict[str, Any]:
        """Add a destination; it starts at once if the show is live."""
        url, key = check_destination(url, key)
        if len(await self.store.destinations(show_id)) >= MAX_PER_SHOW:
            raise TooManyDestinations(f"a show can have at most {MAX_PER_SHOW} destinations")
        record = await self.store.add_destination(show_id, url, key)
        live = self.onair.get(show_id)
        if live is not None and not live.ended:
            self._start(record, live)
        return self.view(record)

    async def remove(self, show_id: str, destination_id: int) -> None:
        """Stop a destination (its connection is closed) and forget it."""
        if not await self.store.delete_destination(show_id, destination_id):
            raise UnknownDestination("no such destination")
        await self._stop(destination_id)
        self._states.pop(destination_id, None)

    async def close(self) -> None:
        """Server shutdown: stop every destination (together: each may take a moment to
        unpublish)."""
        await asyncio.gather(*(self._stop(i) for i in list(self._runners)))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- running ------------------------------------------------------------------------------

    def _show_started(self, show_id: str, live: LiveShow) -> None:
        task = asyncio.ensure_future(self._start_all(show_id, live))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start_all(self, show_id: str, live: LiveShow) -> None:
        for record in await self.store.destinations(show_id):
            self._start(record, live)

    def _start(self, record: DestinationRecord, live: LiveShow) -> None:
        runner = self._runners.get(record.id)
        if runner is not None and not runner.done():
            return
        self._runners[record.id] = asyncio.ensure_future(self._run(record, live))

    async def _stop(self, destination_id: int) -> None:
        runner = self._runners.pop(destination_id, None)
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner

    async def _run(self, record: DestinationRecord, live: LiveShow) -> None:
        """Connect while the show is on air; reconnect with backoff after a failure."""
        try:
            if not await live.wait_on_air():
                return
            if record.key_lost:
                self._set(record, "failed", error=KEY_LOST)
                log.warning("%s: %s", _label(record), KEY_LOST)
                return
            failures = 0
            while not live.ended:
                went_live: list[float] = []

                def on_live(went_live: list[float] = went_live) -> None:
                    went_live.append(time.monotonic())
                    self._set(record, "live")

                self._set(record, "connecting")
                try:
                    await self._push(record, live).run(on_live)
                    if live.ended:
                        return
                    error = "the connection ended"
                except PushError as exc:
                    if live.ended:
                        return  # the show ending closes connections: not a failure
                    if exc.permanent:
                        self._set(record, "failed", error=exc.message)
                        log.warning("%s: %s (not retrying)", _label(record), exc.message)
                        return
                    error = exc.message
                if went_live and time.monotonic() - went_live[0] >= STABLE_AFTER:
                    failures = 0
                delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2**failures)
                failures += 1
                self._set(record, "retrying", error=error, retry_in=delay)
                log.warning("%s: %s; retrying in %.0f s", _label(record), error, delay)
                await _pause(live, delay)
        except Exception:  # a bug: the destination stops, the show goes on
            log.exception("%s stopped", _label(record))
            self._set(record, "failed", error="internal error (see the server log)")
        finally:
            if self.state(record.id).state != "failed" and record.id in self._states:
                self._set(record, "idle")

    def _push(self, record: DestinationRecord, live: LiveShow) -> Push:
        if kind_of(record.url) == "rtmp":
            return live.restream(record.url, record.key, tls=self.tls)
        return live.whip_push(record.url, record.key)

    def _set(
        self,
        record: DestinationRecord,
        state: str,
        error: str | None = None,
        retry_in: float | None = None,
    ) -> None:
        s = self._states.setdefault(record.id, DestinationState())
        if s.state != state:
            s.state = state
            s.since = time.time()
        if error:
            s.error = error
            s.error_at = time.time()
        s.next_attempt_at = time.time() + retry_in if retry_in is not None else None
        if state == "live":
            s.connections += 1
        for listener in self.on_change:
            listener(record, s)


async def _pause(live: LiveShow, seconds: float) -> None:
    """Sleep, or less if the show ends meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(live.wait_ended(), seconds)


def _label(record: DestinationRecord) -> str:
    # The host only: a path may hold a secret (some WHIP services put it there).
    return f"show {record.show_id}: destination {record.id} ({urlsplit(record.url).hostname})"


__all__ = [
    "STATES",
    "DestinationState",
    "Destinations",
    "InvalidDestination",
    "TooManyDestinations",
    "UnknownDestination",
    "check_destination",
]
