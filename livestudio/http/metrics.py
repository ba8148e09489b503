"""/metrics in the Prometheus text format, and the event-loop lag probe behind it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from aiohttp import web

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


def _line(name: str, value: float, labels: dict[str, str] | None = None) -> str:
    if labels:
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        return f"{name}{{{inner}}} {value}"
    return f"{name} {value}"


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
    series: dict[str, list[str]] = {
        "livestudio_viewers": [],
        "livestudio_program_frames_total": [],
        "livestudio_program_frames_repeated_total": [],
        "livestudio_program_frames_slate_total": [],
        "livestudio_program_frames_skipped_total": [],
        "livestudio_encode_seconds_total": [],
        "livestudio_encode_last_seconds": [],
        "livestudio_keyframes_forced_total": [],
        "livestudio_subscriber_video_drops_total": [],
    }
    for show_id, live in onair.shows.items():
        s = live.program.stats
        lb = {"show": show_id}
        series["livestudio_viewers"].append(_line("livestudio_viewers", len(live.viewers), lb))
        for key, value in (
            ("livestudio_program_frames_total", s.frames),
            ("livestudio_program_frames_repeated_total", s.frames_repeated),
            ("livestudio_program_frames_slate_total", s.frames_slate),
            ("livestudio_program_frames_skipped_total", s.frames_skipped),
            ("livestudio_encode_seconds_total", round(s.encode_seconds_total, 6)),
            ("livestudio_encode_last_seconds", round(s.last_encode_seconds, 6)),
            ("livestudio_keyframes_forced_total", live.program.keyframes.forced),
        ):
            series[key].append(_line(key, value, lb))
        for sub in live.broadcast.subscribers:
            series["livestudio_subscriber_video_drops_total"].append(
                _line(
                    "livestudio_subscriber_video_drops_total",
                    sub.video_drops,
                    {**lb, "subscriber": sub.name},
                )
            )
    kinds = {"livestudio_viewers": "gauge", "livestudio_encode_last_seconds": "gauge"}
    for name, lines in series.items():
        out.append(f"# TYPE {name} {kinds.get(name, 'counter')}")
        out.extend(lines)
    return web.Response(text="\n".join(out) + "\n", content_type="text/plain", charset="utf-8")
