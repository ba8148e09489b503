"""`hls`: live HLS and LL-HLS from a real server: latency, origin requests per segment
with and without a cache, origin CPU per 100 players.

The server (`livestudio serve`, pinned to CPU 0; keyframe every 2 s, LL-HLS parts of
0.5 s) gets the bench publisher's stamped 720p30 (bench/publisher.py; the capture time of
every stamp in shared memory). Everything else shares CPU 1.

- **Frame available** (quick and full): Python players decode every frame they fetch
  and subtract its capture time from the time its bytes arrived. LL: the part the
  playlist hints at (held by the server until written). Standard: each new segment,
  reloading the playlist once per target duration, as hls.js does. What the server and
  the protocol add before a player can show a frame, without a player's own buffer.
- **Glass to glass** (full): the viewer page itself (`/live/{show}?hls=1`, hls.js in
  Chromium) reads the stamp of every frame it presents (requestVideoFrameCallback's
  expected display time); once with parts (LL-HLS) and once on a server with
  `hls_part_duration=0` (standard HLS, which is also what any non-LL player gets).
- **Origin requests per segment**: players for a window straight at the server, then
  through nginx configured as docs/deploy.md says (bench/nginx.py); the server's own
  /metrics count what reached it.
- **Origin CPU per 100 players**: server CPU over a window without players, then with
  N standard, N LL players (and N through nginx), scaled to 100.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from . import publisher
from .common import CLOCK_TICKS, CpuWindow, cpu_plan, median, pin, table
from .fanout import Procs, _wait_program, recv
from .hlsclients import PlayerStats, ll_player, run_players, standard_player
from .hlslatency import FrameLatency, frame_available, glass_to_glass, packager_cost, summary
from .nginx import NginxCache, NginxError
from .servers import Server, start_livestudio
from .stamps import SendTimes

HLS_SETTINGS = {"keyframe_interval": "2", "hls_part_duration": "0.5"}


@dataclass
class HlsOptions:
    """How long and how many."""

    quick: bool = False
    latency_seconds: float = 10.0
    request_seconds: float = 8.0
    players: int = 20
    ll_players: int = 5
    cpu_players: int = 200
    cpu_seconds: float = 12.0
    cpu_kinds: tuple[str, ...] = ("standard", "LL", "standard via nginx", "LL via nginx")
    "Which players the CPU windows run (after one without players)."
    browser: bool = True
    browser_seconds: float = 12.0

    @classmethod
    def for_run(cls, quick: bool) -> HlsOptions:
        if not quick:
            return cls()
        return cls(
            quick=True,
            latency_seconds=4.0,
            request_seconds=3.0,
            players=12,
            ll_players=3,
            cpu_players=40,
            cpu_seconds=3.0,
            cpu_kinds=("standard",),
            browser=False,
        )


def _playlist_url(server: Server) -> str:
    show = server.whip_url.rsplit("/", 1)[1]
    return f"{server.base}/media/{show}/index.m3u8"


def _wait_playable(url: str, timeout: float = 20) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200 and b".m4s" in r.read():
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"no live playlist at {url}")


def _metrics(server: Server) -> dict[str, float]:
    return {k: v for k, v in server.metrics().items() if k.startswith("livestudio_hls_")}


def _delta(after: dict[str, float], before: dict[str, float], name: str) -> float:
    key = f"livestudio_hls_{name}"
    return after.get(key, 0.0) - before.get(key, 0.0)


def origin_requests(
    server: Server,
    playlist: str,
    opts: HlsOptions,
    cache: NginxCache | None,
    times: SendTimes,
) -> dict[str, Any]:
    """Players for a window (through `cache` if given): what reached the origin. One LL
    player decodes: when its parts arrive, with the cache's waiting in between."""
    url = playlist.replace(server.base, cache.base) if cache else playlist
    timed = FrameLatency(times)
    plain = [PlayerStats() for _ in range(opts.players)]
    low = [PlayerStats() for _ in range(opts.ll_players)]
    # Requests the last phase's players left waiting at the server (a blocking reload, a
    # hinted part) are answered within a part's time: let them, before counting.
    time.sleep(1.0)
    before = _metrics(server)
    asyncio.run(
        run_players(
            lambda s: (
                [standard_player(s, url, 10_000, p, reload_every=2.0) for p in plain]
                + [
                    ll_player(s, url, 10_000, p, timed.on_media if i == 0 else None)
                    for i, p in enumerate(low)
                ]
            ),
            opts.request_seconds,
        )
    )
    after = _metrics(server)
    timed.decode()
    segments = max(1.0, _delta(after, before, "segments_total"))
    served = {
        kind: _delta(after, before, f"{kind}_responses_total")
        for kind in ("playlist", "segment", "part", "init")
    }
    fetched = {
        "segments": sum(len(p.segments) for p in plain),
        "parts": sum(len(p.parts) for p in low),
        "playlists": sum(p.playlists for p in plain + low),
    }
    return {
        "via": "nginx" if cache else "direct",
        "players": opts.players,
        "ll_players": opts.ll_players,
        "segments_made": segments,
        "fetched": fetched,
        "origin": served,
        "origin_per_segment": {k: v / segments for k, v in served.items()},
        "origin_requests_per_segment": sum(served.values()) / segments,
        "errors": sum(len(p.errors) for p in plain + low),
        "cache": cache.cache_statuses() if cache else {},
        "ll_frame_available": summary(timed.latencies, timed.errors),
    }


class LoopThread:
    """CPU of the server's main thread, which runs its event loop: where every HLS
    request is served (the encoder, decoder and packagers have threads of their own), so
    its rise with N players is the HLS cost without the encoder's frame-to-frame noise."""

    def __init__(self, pid: int) -> None:
        self._stat = Path(f"/proc/{pid}/task/{pid}/stat")
        self._start = (0.0, 0.0)

    def _read(self) -> tuple[float, float]:
        try:
            text = self._stat.read_text()
        except OSError:
            return float("nan"), time.monotonic()
        fields = text[text.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS, time.monotonic()

    def start(self) -> None:
        """Take the starting reading."""
        self._start = self._read()

    def stop(self) -> float:
        """% of one core the thread used since start()."""
        cpu, now = self._read()
        return 100 * (cpu - self._start[0]) / max(1e-9, now - self._start[1])


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def origin_cpu(
    server: Server, playlist: str, opts: HlsOptions, cache: NginxCache | None
) -> dict[str, Any]:
    """Server CPU with no players, N standard, N LL (and N standard via the cache)."""
    pids = {"server": server.pid, "clients": os.getpid()}
    if cache is not None and cache.proc is not None:
        for n, child in enumerate(_children(cache.proc.pid)):
            pids[f"nginx{n}"] = child
    rows: list[dict[str, Any]] = []

    def window(kind: str, url: str) -> None:
        stats = [PlayerStats() for _ in range(opts.cpu_players)]

        def players(s: aiohttp.ClientSession) -> Sequence[Awaitable[None]]:
            if kind == "idle":
                return [asyncio.sleep(opts.cpu_seconds + 1)]
            if kind.startswith("LL"):
                return [ll_player(s, url, 10_000, p) for p in stats]
            return [standard_player(s, url, 10_000, p, reload_every=2.0) for p in stats]

        cpu = CpuWindow(pids)
        loop = LoopThread(server.pid)

        async def measured() -> None:
            async def start_later() -> None:
                await asyncio.sleep(1.0)  # players joined and settled
                cpu.start()
                loop.start()

            await asyncio.gather(
                run_players(players, opts.cpu_seconds + 1.0), start_later(), return_exceptions=False
            )

        asyncio.run(measured())
        used = cpu.stop()
        loop_cpu = loop.stop()
        busy = cpu.cpu_busy or {}
        server_cpus, _ = cpu_plan()
        on_server_cpus = sum(busy.get(c, 0.0) for c in server_cpus or busy)
        n = 0 if kind == "idle" else opts.cpu_players
        rows.append(
            {
                "players": kind,
                "n": n,
                "server_cpu": used["server"],
                "server_loop_cpu": loop_cpu,
                "clients_cpu": used["clients"],
                "other": max(0.0, on_server_cpus - used["server"]),
                "window_s": opts.cpu_seconds + 1.0,
                "requests": sum(p.playlists + len(p.parts) + len(p.segments) for p in stats)
                if n
                else 0,
                # nginx's cache loader exits after a minute: a gone process counts 0
                "nginx_cpu": sum(v for k, v in used.items() if k.startswith("nginx") and v == v),
                "errors": sum(len(p.errors) for p in stats) if n else 0,
                "parts_or_segments_per_player": median(
                    [len(p.parts) or len(p.segments) for p in stats]
                )
                if n
                else float("nan"),
            }
        )

    window("idle", playlist)
    for kind in opts.cpu_kinds:
        if "nginx" not in kind:
            window(kind, playlist)
        elif cache is not None:
            window(kind, playlist.replace(server.base, cache.base))
    idle = float(rows[0]["server_cpu"])
    idle_loop = float(rows[0]["server_loop_cpu"])
    for row in rows:
        n = row["n"]
        row["per_100_players"] = (row["server_cpu"] - idle) * 100 / n if n else float("nan")
        row["loop_per_100_players"] = (
            (row["server_loop_cpu"] - idle_loop) * 100 / n if n else float("nan")
        )
        # Per request: steadier than per player when a busy machine slowed the players.
        rate = row["requests"] / row["window_s"] if n else 0.0
        row["loop_us_per_request"] = (
            (row["server_loop_cpu"] - idle_loop) / 100 * 1e6 / rate if rate else float("nan")
        )
    return {"rows": rows}


def _with_server(
    workdir: Path, settings: dict[str, str], body: Callable[[Server, SendTimes], None]
) -> None:
    """Server + publisher up, body(server, times), everything down."""
    server_cpus, client_cpus = cpu_plan()
    pin(client_cpus)
    frozen = frozenset(client_cpus) if client_cpus else None
    times = SendTimes(create=True)
    procs = Procs()
    server: Server | None = None
    try:
        server = start_livestudio(workdir, "veryfast", server_cpus, settings=settings)
        procs.publisher = procs.start(
            publisher.main,
            publisher.PublisherConfig(server.whip_url, server.key, times.name, cpus=frozen),
        )
        _wait_program(server)
        _wait_playable(_playlist_url(server))
        body(server, times)
        conn = procs.publisher[0]
        conn.send(("stop",))
        recv(conn, 15)
    finally:
        procs.close()
        if server is not None:
            server.stop()
        times.close(unlink=True)


def run(quick: bool) -> dict[str, Any]:
    """Measure; JSON-ready results."""
    opts = HlsOptions.for_run(quick)
    results: dict[str, Any] = {"quick": quick, "settings": HLS_SETTINGS}
    print("  hls: packager cost...", flush=True)
    results["packager"] = packager_cost(2.0 if quick else 4.0, 3 if quick else 5)
    with tempfile.TemporaryDirectory(prefix="livestudio-bench-hls-") as tmp:

        def ll_server(server: Server, times: SendTimes) -> None:
            playlist = _playlist_url(server)
            print("  hls: frame available (LL part / standard segment)...", flush=True)
            results["frame_available"] = frame_available(playlist, times, opts.latency_seconds)
            cache: NginxCache | None = None
            try:
                cache = NginxCache(Path(tmp) / "nginx", int(server.base.rsplit(":", 1)[1]))
                cache.start()
            except NginxError as exc:
                results["nginx_error"] = str(exc)
                cache = None
            try:
                print("  hls: origin requests, direct and through nginx...", flush=True)
                results["requests"] = [origin_requests(server, playlist, opts, None, times)]
                if cache is not None:
                    results["requests"].append(
                        origin_requests(server, playlist, opts, cache, times)
                    )
                print(f"  hls: origin CPU with {opts.cpu_players} players...", flush=True)
                results["cpu"] = origin_cpu(server, playlist, opts, cache)
            finally:
                if cache is not None:
                    cache.stop()
            if opts.browser:
                print("  hls: glass to glass in Chromium (LL-HLS)...", flush=True)
                results["glass_ll_hls"] = glass_to_glass(server, times, opts.browser_seconds)

        _with_server(Path(tmp) / "ll", HLS_SETTINGS, ll_server)
        if opts.browser:

            def plain_server(server: Server, times: SendTimes) -> None:
                print("  hls: glass to glass in Chromium (standard HLS)...", flush=True)
                results["glass_hls"] = glass_to_glass(server, times, opts.browser_seconds)

            _with_server(
                Path(tmp) / "plain", {**HLS_SETTINGS, "hls_part_duration": "0"}, plain_server
            )
    return results


def report(results: dict[str, Any]) -> str:
    """The tables."""
    out = []
    rows: list[list[Any]] = []
    available = results.get("frame_available", {})
    for name, key in (("LL-HLS part", "ll_hls"), ("HLS segment", "hls")):
        if key in available:
            r = available[key]
            rows.append(
                [
                    f"frame available: {name}",
                    r["median_ms"],
                    r["p95_ms"],
                    r["frames"],
                    r["stamp_errors"],
                ]
            )
    for r in results.get("requests", []):
        f = r["ll_frame_available"]
        rows.append(
            [
                f"frame available: LL-HLS part, {r['via']}, among "
                f"{r['players'] + r['ll_players']} players",
                f["median_ms"],
                f["p95_ms"],
                f["frames"],
                f["stamp_errors"],
            ]
        )
    for name, key in (("LL-HLS (hls.js)", "glass_ll_hls"), ("HLS (hls.js)", "glass_hls")):
        if key in results:
            r = results[key]
            rows.append(
                [
                    f"glass to glass: {name}, {r['presented_fps']:.0f} fps shown",
                    r["median_ms"],
                    r["p95_ms"],
                    r["frames"],
                    r["stamp_errors"],
                ]
            )
    out.append(
        table(
            ["latency (ms)", "median", "p95", "frames", "stamp err"],
            rows,
            "hls latency: publisher capture → frame available to a player, or presented by\n"
            "the viewer page",
        )
    )
    if results.get("requests"):
        out.append(
            table(
                [
                    "via",
                    "players",
                    "LL",
                    "segments",
                    "fetched seg",
                    "fetched parts",
                    "origin seg",
                    "origin parts",
                    "origin playlists",
                    "origin req/segment",
                ],
                [
                    [
                        r["via"],
                        r["players"],
                        r["ll_players"],
                        r["segments_made"],
                        r["fetched"]["segments"],
                        r["fetched"]["parts"],
                        r["origin"]["segment"],
                        r["origin"]["part"],
                        r["origin"]["playlist"],
                        r["origin_requests_per_segment"],
                    ]
                    for r in results["requests"]
                ],
                "hls origin requests: what reached the server, per segment made in the window",
            )
        )
    if results.get("packager"):
        k = results["packager"]
        out.append(
            f"hls packager: {k['ms_cpu_per_program_second']:.1f} ms of CPU per second of "
            f"program ({k['video_mbit_per_s']:.1f} Mbit/s video, "
            f"{k['parts_per_second']:.1f} parts/s): "
            f"{k['ms_cpu_per_program_second'] / 10:.2f} % of a core"
        )
    if results.get("nginx_error"):
        out.append(f"nginx: {results['nginx_error']}")
    if results.get("cpu"):
        out.append(
            table(
                [
                    "players",
                    "N",
                    "server %cpu",
                    "per 100 players",
                    "loop %cpu",
                    "loop per 100",
                    "other",
                    "req/s",
                    "loop µs/req",
                    "nginx %cpu",
                    "clients %cpu",
                    "got/player",
                    "errors",
                ],
                [
                    [
                        r["players"],
                        r["n"],
                        r["server_cpu"],
                        r["per_100_players"],
                        r["server_loop_cpu"],
                        r["loop_per_100_players"],
                        r["other"],
                        r["requests"] / r["window_s"] if r["n"] else float("nan"),
                        r.get("loop_us_per_request", float("nan")),
                        r["nginx_cpu"],
                        r["clients_cpu"],
                        r["parts_or_segments_per_player"],
                        r["errors"],
                    ]
                    for r in results["cpu"]["rows"]
                ],
                "hls origin CPU (% of one core; per 100 = above idle, scaled; loop = the\n"
                "server's event-loop thread, which serves HLS; other = the server's core busy\n"
                "outside the server; req/s = all players' requests)",
            )
        )
    return "\n\n".join(out)
