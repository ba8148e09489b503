"""/metrics in the Prometheus text format, and the event-loop lag probe behind it.

Labels are never secrets: a show's id (its public viewer link) and nothing finer. WHEP
session ids, stream keys, API tokens and viewer cookie ids must not appear here, since
`DELETE /whep/{show}/{session}` needs nothing but the session id. Per-viewer figures are
summed per show instead (total, most by one viewer, viewers dropping).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from ..media.load import ServerLoad
from .keys import LOOP_LAG, ONAIR, SERVER_LOAD, TURNED_AWAY

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


async def server_load_probe(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: sample the server's load (media/load.py) for WHEP's admission."""
    load = app[SERVER_LOAD] = ServerLoad()
    app[TURNED_AWAY] = [0]
    task = asyncio.ensure_future(load.run())
    yield
    task.cancel()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _line(name: str, value: float, labels: dict[str, str] | None = None) -> str:
    if labels:
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        return f"{name}{{{inner}}} {value}"
    return f"{name} {value}"


def process_figures() -> list[str]:
    """What the process holds now: asyncio tasks, Python threads, and (Linux) open file
    descriptors and resident memory, under the Prometheus process collector's names.

    A slow leak (a viewer's task, socket or buffers outliving it) shows as a climb here;
    tests/test_churn.py reads them after hundreds of joins and leaves.
    """
    out = [
        "# HELP livestudio_asyncio_tasks Tasks on the server's event loop (not yet done).",
        "# TYPE livestudio_asyncio_tasks gauge",
        _line("livestudio_asyncio_tasks", len(asyncio.all_tasks())),
        "# HELP livestudio_threads Python threads of the process (the program's, outputs', "
        "workers').",
        "# TYPE livestudio_threads gauge",
        _line("livestudio_threads", threading.active_count()),
    ]
    try:
        fds = len(os.listdir("/proc/self/fd"))
        status = Path("/proc/self/status").read_text()
    except OSError:  # not Linux: these two are left out
        return out
    rss_kb = next(
        (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0
    )
    out += [
        "# HELP process_open_fds Open file descriptors of the process.",
        "# TYPE process_open_fds gauge",
        _line("process_open_fds", fds),
        "# HELP process_resident_memory_bytes Resident memory of the process.",
        "# TYPE process_resident_memory_bytes gauge",
        _line("process_resident_memory_bytes", rss_kb * 1024),
    ]
    return out


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
    "livestudio_recording_drops_total": (
        "counter",
        "Times the show's recording fell ~10 s behind (a slow disk) and skipped to the next "
        "keyframe.",
    ),
    "livestudio_ingest_packets_missing_total": (
        "counter",
        "Host video packets found missing (NACKed): lost on the uplink, or dropped by this "
        "server's socket while its event loop was busy.",
    ),
    "livestudio_ingest_packets_lost_total": (
        "counter",
        "Host video packets never recovered (the program waited for a keyframe).",
    ),
    "livestudio_ingest_frames_held_total": (
        "counter",
        "Decoded host frames held back: damaged by loss (waiting for a keyframe) or stale.",
    ),
    "livestudio_source_frames_skipped_total": (
        "counter",
        "Host frames the program skipped: more arrived at once than it keeps waiting.",
    ),
    "livestudio_hls_segments_total": ("counter", "Live HLS segments completed."),
    "livestudio_hls_parts_total": ("counter", "Live LL-HLS parts written."),
    "livestudio_hls_playlist_responses_total": (
        "counter",
        "Live HLS playlists served (with a CDN in front: what reached the origin).",
    ),
    "livestudio_hls_segment_responses_total": ("counter", "Live HLS segments served."),
    "livestudio_hls_part_responses_total": ("counter", "Live LL-HLS parts served."),
    "livestudio_hls_init_responses_total": ("counter", "Live HLS init segments served."),
    "livestudio_hls_waiting": (
        "gauge",
        "Live HLS requests waiting for the next part (blocking reloads, preload hints).",
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
        "# HELP livestudio_server_load The event loop's or the process's share of its "
        "cores, whichever is larger, over the last 2 s (new WebRTC viewers are turned away "
        "above max_server_load).",
        "# TYPE livestudio_server_load gauge",
        _line("livestudio_server_load", round(request.app[SERVER_LOAD].load, 4)),
        "# HELP livestudio_viewers_turned_away_total WebRTC viewers answered 503 because "
        "the server was at its limit (their pages play HLS).",
        "# TYPE livestudio_viewers_turned_away_total counter",
        _line("livestudio_viewers_turned_away_total", request.app[TURNED_AWAY][0]),
        "# HELP livestudio_shows_live Shows on air in this process.",
        "# TYPE livestudio_shows_live gauge",
        _line("livestudio_shows_live", len(onair.shows)),
        *process_figures(),
    ]
    series: dict[str, list[str]] = {name: [] for name in SERIES}
    for show_id, live in onair.shows.items():
        st = live.stats()
        lb = {"show": show_id}
        for key, value in (
            ("livestudio_viewers", st.viewers),
            ("livestudio_program_frames_total", st.program_frames),
            ("livestudio_program_frames_repeated_total", st.frames_repeated),
            ("livestudio_program_frames_slate_total", st.frames_slate),
            ("livestudio_encode_seconds_total", round(st.encode_seconds_total, 6)),
            ("livestudio_encode_last_seconds", round(st.encode_last_seconds, 6)),
            ("livestudio_keyframes_forced_total", st.keyframes_forced),
            ("livestudio_subscriber_video_drops_total", st.video_drops_total),
            ("livestudio_subscriber_video_drops_max", st.video_drops_max),
            ("livestudio_subscribers_dropping", st.subscribers_dropping),
            ("livestudio_recording_drops_total", st.recording_drops),
            ("livestudio_ingest_packets_missing_total", st.ingest_packets_missing),
            ("livestudio_ingest_packets_lost_total", st.ingest_packets_lost),
            ("livestudio_ingest_frames_held_total", st.ingest_frames_held),
            ("livestudio_source_frames_skipped_total", st.source_frames_skipped),
            ("livestudio_hls_segments_total", st.hls_segments),
            ("livestudio_hls_parts_total", st.hls_parts),
            *(
                (f"livestudio_hls_{kind}_responses_total", (st.hls_served or {}).get(kind, 0))
                for kind in ("playlist", "segment", "part", "init")
            ),
            ("livestudio_hls_waiting", st.hls_waiting),
        ):
            series[key].append(_line(key, value, lb))
    for name, lines in series.items():
        kind, help_text = SERIES[name]
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(lines)
    return web.Response(text="\n".join(out) + "\n", content_type="text/plain", charset="utf-8")
