"""/metrics in the Prometheus text format, and the event-loop lag probe behind it.

Labels are never secrets: a show's id (its public viewer link) and nothing finer. WHEP
session ids, stream keys, API tokens and viewer cookie ids must not appear here, since
`DELETE /whep/{show}/{session}` needs nothing but the session id. Per-viewer figures are
summed per show instead (total, most by one viewer, viewers dropping).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aiohttp import web

from ..media.broadcast import Broadcast, Subscriber
from .keys import LOOP_LAG, ONAIR

LAG_INTERVAL = 0.25


async def loop_lag_probe(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: measure how late the event loop wakes up (max over the last interval)."""
    lag = app[LOOP_LAG]

    async def probe() -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(LAG_INTERVAL)
            lag[0] = max(0.0, time.monotonic() - started - LAG_INTERVAL)

    task = asyncio.ensure_future(probe())
    yield
    task.cancel()


@dataclass
class _Drops:
    """Video drops of the subscribers that left one broadcast, so its total never falls.

    A subscriber is counted from the first scrape that sees it: one that joins, drops and
    leaves between two scrapes is missed (the counter stays monotonic all the same).
    """

    left: int = 0
    seen: weakref.WeakSet[Subscriber] = field(default_factory=weakref.WeakSet)

    def total(self, subscribers: list[Subscriber]) -> int:
        live = 0
        for sub in subscribers:
            if sub not in self.seen:
                self.seen.add(sub)
                if sub.closed:
                    self.left += sub.video_drops
                    continue
                sub.on_close.append(self._on_close(sub))
            if not sub.closed:
                live += sub.video_drops
        return self.left + live

    def _on_close(self, sub: Subscriber) -> Callable[[], None]:
        ref = weakref.ref(sub)

        def closed() -> None:
            gone = ref()
            if gone is not None:
                self.left += gone.video_drops

        return closed


_DROPS: weakref.WeakKeyDictionary[Broadcast, _Drops] = weakref.WeakKeyDictionary()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _line(name: str, value: float, labels: dict[str, str] | None = None) -> str:
    if labels:
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        return f"{name}{{{inner}}} {value}"
    return f"{name} {value}"


SERIES: dict[str, tuple[str, str]] = {
    "livestudio_viewers": ("gauge", "WebRTC viewers watching the show."),
    "livestudio_program_frames_total": ("counter", "Program frames encoded."),
    "livestudio_program_frames_repeated_total": (
        "counter",
        "Program frames that repeated the previous one (no new camera frame).",
    ),
    "livestudio_program_frames_slate_total": ("counter", "Program frames showing the slate."),
    "livestudio_encode_seconds_total": ("counter", "Time spent encoding the program."),
    "livestudio_encode_last_seconds": ("gauge", "Encode time of the last program frame."),
    "livestudio_keyframes_forced_total": (
        "counter",
        "Keyframes forced (viewers joining, PLI/FIR).",
    ),
    "livestudio_subscriber_video_drops_total": (
        "counter",
        "Times a viewer of the show fell behind and skipped to the next keyframe, summed "
        "over its viewers (those gone included).",
    ),
    "livestudio_subscriber_video_drops_max": (
        "gauge",
        "Most video drops of any one current viewer of the show.",
    ),
    "livestudio_subscribers_dropping": (
        "gauge",
        "Current viewers of the show that have dropped video at least once.",
    ),
}
"Per-show series: name → (type, help). Their only label is `show`."


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics."""
    onair = request.app[ONAIR]
    out = [
        "# HELP livestudio_event_loop_lag_seconds How late the event loop woke up recently.",
        "# TYPE livestudio_event_loop_lag_seconds gauge",
        _line("livestudio_event_loop_lag_seconds", round(request.app[LOOP_LAG][0], 6)),
        "# HELP livestudio_shows_live Shows on air in this process.",
        "# TYPE livestudio_shows_live gauge",
        _line("livestudio_shows_live", len(onair.shows)),
    ]
    series: dict[str, list[str]] = {name: [] for name in SERIES}
    for show_id, live in onair.shows.items():
        s = live.program.stats
        lb = {"show": show_id}
        broadcast = live.broadcast
        subscribers = list(broadcast.subscribers)
        drops = [sub.video_drops for sub in subscribers if not sub.closed]
        tally = _DROPS.get(broadcast)
        if tally is None:
            tally = _DROPS[broadcast] = _Drops()
        for key, value in (
            ("livestudio_viewers", len(live.viewers)),
            ("livestudio_program_frames_total", s.frames),
            ("livestudio_program_frames_repeated_total", s.frames_repeated),
            ("livestudio_program_frames_slate_total", s.frames_slate),
            ("livestudio_encode_seconds_total", round(s.encode_seconds_total, 6)),
            ("livestudio_encode_last_seconds", round(s.last_encode_seconds, 6)),
            ("livestudio_keyframes_forced_total", live.program.keyframes.forced),
            ("livestudio_subscriber_video_drops_total", tally.total(subscribers)),
            ("livestudio_subscriber_video_drops_max", max(drops, default=0)),
            ("livestudio_subscribers_dropping", sum(1 for d in drops if d)),
        ):
            series[key].append(_line(key, value, lb))
    for name, lines in series.items():
        kind, help_text = SERIES[name]
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(lines)
    return web.Response(text="\n".join(out) + "\n", content_type="text/plain", charset="utf-8")
