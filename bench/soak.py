"""Soak: a live show for N minutes with viewers joining and leaving, chat and pins; the
server's memory and CPU sampled per minute; at the end the recording is checked and the
server's log searched for ERROR (issue #14). Not in CI: `python -m bench soak --minutes 30`.

The server is pinned to the first CPU; the host (bench/publisher.py, 720p30) and this
process's viewers (counting RTP, no decode: bench/counting.py) and chat pages to the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from . import counting, publisher
from .chat import Host
from .common import cpu_plan, pin, process_cpu_seconds, slope, table
from .servers import ROOT, Server, start_livestudio
from .stamps import SendTimes

FLAT_MB_PER_MIN = 1.0
"Memory counts as flat when it grows less than this over the second half."
FLAT_CPU_POINTS = 10.0
"CPU counts as flat when the second half's mean is within this many % of a core of the first's."


@dataclass
class Counts:
    """What the clients did (since the last sample, and in all)."""

    joins: int = 0
    leaves: int = 0
    join_errors: list[str] = field(default_factory=list)
    viewers_without_video: int = 0
    chat_sent: int = 0
    chat_received: int = 0
    pins: int = 0
    pin_errors: list[str] = field(default_factory=list)
    pages: int = 0
    viewers_now: int = 0


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _token(server: Server, data_dir: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "livestudio", "token", "create", "--data-dir", str(data_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found = re.search(r"^API token: (\S+)", out.stdout, re.M)
    if not found:
        raise RuntimeError(f"no token: {out.stdout} {out.stderr}")
    return found.group(1)


def _go_live(server: Server, cpus: set[int] | None) -> Host:
    """The host publishing 720p30 (bench/publisher.py) until stopped."""
    ctx = multiprocessing.get_context("spawn")
    times = SendTimes(create=True)
    config = publisher.PublisherConfig(
        server.whip_url, server.key, times.name, cpus=frozenset(cpus) if cpus else None
    )
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=publisher.main, args=(config, child), daemon=True)
    proc.start()
    host = Host(proc, parent, times)
    if not parent.poll(60) or parent.recv()[0] != "ready":
        host.stop()
        raise RuntimeError("the host could not go live")
    return host


async def _viewer(session: aiohttp.ClientSession, whep: str, stay: float, c: Counts) -> None:
    """One WHEP viewer: join, count what arrives for `stay` seconds, leave."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        video = pc.addTransceiver("video", direction="recvonly")
        audio = pc.addTransceiver("audio", direction="recvonly")
        frames = counting.count_frames(video.receiver, "video", "rtp")
        counting.count_frames(audio.receiver, "audio", "rtp")
        await pc.setLocalDescription(await pc.createOffer())
        headers = {"Content-Type": "application/sdp"}
        async with session.post(whep, data=pc.localDescription.sdp, headers=headers) as r:
            body = await r.text()
            if r.status != 201:
                c.join_errors.append(f"WHEP POST {r.status}: {body[:120]}")
                return
            location = str(r.url.join(aiohttp.client.URL(r.headers["Location"])))
        await pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
        c.joins += 1
        c.viewers_now += 1
        try:
            await asyncio.sleep(stay)
        finally:
            c.viewers_now -= 1
        if stay >= 3 and frames.frames == 0:
            c.viewers_without_video += 1
        with contextlib.suppress(aiohttp.ClientError):
            async with session.delete(location):
                c.leaves += 1
    except aiohttp.ClientError as exc:
        c.join_errors.append(repr(exc))
    finally:
        await pc.close()


async def _page(
    session: aiohttp.ClientSession, events: str, stay: float, every: float, c: Counts
) -> None:
    """One viewer page: the events socket, a chat message every `every` s, for `stay` s."""
    try:
        async with session.ws_connect(events) as ws:
            c.pages += 1

            async def read() -> None:
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.TEXT and "chat" in msg.data:
                        with contextlib.suppress(ValueError, AttributeError):
                            if json.loads(msg.data).get("type") == "chat":
                                c.chat_received += 1

            reader = asyncio.ensure_future(read())
            ends = time.monotonic() + stay
            n = 0
            while time.monotonic() < ends:
                await asyncio.sleep(min(every * random.uniform(0.7, 1.3), ends - time.monotonic()))
                if ws.closed or time.monotonic() >= ends:
                    break
                n += 1
                await ws.send_json({"type": "chat", "name": "Soak", "text": f"message {n}"})
                c.chat_sent += 1
            reader.cancel()
    except aiohttp.ClientError:
        pass


async def _crowd(stop: asyncio.Event, target: int, spawn: Any) -> None:
    """Keep `target` clients running: each that ends is replaced by a new one."""
    running: set[asyncio.Task[None]] = set()
    while not stop.is_set():
        while len(running) < target:
            task = asyncio.ensure_future(spawn())
            running.add(task)
            task.add_done_callback(running.discard)
            await asyncio.sleep(random.uniform(0.05, 0.3))  # not all in one burst
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)
    for task in list(running):
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)


async def _pins(
    session: aiohttp.ClientSession,
    base: str,
    show: str,
    token: str,
    every: float,
    stop: asyncio.Event,
    c: Counts,
) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    products = []
    for i in range(3):
        body = {"name": f"Soak product {i + 1}", "price": f"{19 + i}.90", "currency": "EUR"}
        async with session.post(f"{base}/api/products", json=body, headers=auth) as r:
            if r.status != 201:
                c.pin_errors.append(f"POST /api/products {r.status}: {await r.text()}")
                return
            products.append((await r.json())["id"])
    i = 0
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
            return
        product = products[i % len(products)]
        i += 1
        async with session.post(
            f"{base}/api/shows/{show}/pin", json={"product": product}, headers=auth
        ) as r:
            if r.status in (200, 201):
                c.pins += 1
            else:
                c.pin_errors.append(f"pin {r.status}: {(await r.text())[:120]}")


async def _soak(
    server: Server, show: str, token: str, minutes: float, viewers: int, pages: int
) -> tuple[list[dict[str, Any]], Counts, float]:
    seconds = minutes * 60
    interval = 60.0 if minutes >= 5 else max(3.0, seconds / 5)
    stay = (5.0, 40.0) if minutes >= 5 else (2.0, 8.0)
    c = Counts()
    stop = asyncio.Event()
    whep = server.whep_url
    events = server.base.replace("http://", "ws://") + f"/live/{show}/events"
    samples: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session:
        crowds = [
            asyncio.ensure_future(
                _crowd(stop, viewers, lambda: _viewer(session, whep, random.uniform(*stay), c))
            ),
            asyncio.ensure_future(
                _crowd(
                    stop,
                    pages,
                    lambda: _page(session, events, random.uniform(*stay) * 1.5, 4.0, c),
                )
            ),
            asyncio.ensure_future(
                _pins(session, server.base, show, token, min(20.0, interval / 2), stop, c)
            ),
        ]
        started = time.monotonic()
        last_cpu, last_at = process_cpu_seconds(server.pid), started
        before = Counts()
        while (now := time.monotonic()) - started < seconds - 0.01:
            await asyncio.sleep(min(interval, seconds - (now - started)))
            at = time.monotonic()
            cpu = process_cpu_seconds(server.pid)
            metrics = server.metrics()
            samples.append(
                {
                    "minute": round((at - started) / 60, 2),
                    "rss_mb": round(_rss_mb(server.pid), 1),
                    "cpu_pct": round(100 * (cpu - last_cpu) / (at - last_at), 1),
                    "viewers": int(metrics.get("livestudio_viewers", 0)),
                    "joins": c.joins - before.joins,
                    "chat": c.chat_sent - before.chat_sent,
                    "pins": c.pins - before.pins,
                    "fds": int(metrics.get("process_open_fds", 0)),
                    "tasks": int(metrics.get("livestudio_asyncio_tasks", 0)),
                }
            )
            print("  ".join(f"{k} {v}" for k, v in samples[-1].items()), flush=True)
            last_cpu, last_at = cpu, at
            before = Counts(joins=c.joins, chat_sent=c.chat_sent, pins=c.pins)
        stop.set()
        await asyncio.gather(*crowds, return_exceptions=True)
        on_air = time.monotonic() - started
        # End the show as the studio does; the recording is finalized.
        auth = {"Authorization": f"Bearer {token}"}
        async with session.post(f"{server.base}/api/shows/{show}/end", headers=auth) as r:
            if r.status != 200:
                c.pin_errors.append(f"end {r.status}: {await r.text()}")
        for _ in range(150):
            async with session.get(f"{server.base}/api/shows/{show}", headers=auth) as r:
                state = (await r.json()).get("state")
            if state in ("published", "unpublished"):
                break
            await asyncio.sleep(0.2)
    return samples, c, on_air


def check_recording(folder: Path, on_air: float) -> dict[str, Any]:
    """ffprobe's errors and duration of the recording, and its playlist's seconds."""
    recording = folder / "recording.mp4"
    if not recording.exists():
        return {"ok": False, "error": f"no {recording}"}
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return {"ok": False, "error": "ffprobe is needed (Debian: apt-get install -y ffmpeg)"}
    out = subprocess.run(
        [ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "json", str(recording)],
        capture_output=True,
        text=True,
        check=False,
    )
    duration = float(json.loads(out.stdout or "{}").get("format", {}).get("duration", 0) or 0)
    playlist = folder / "index.m3u8"
    listed = 0.0
    if playlist.exists():
        text = playlist.read_text()
        listed = sum(float(s) for s in re.findall(r"#EXTINF:([\d.]+),", text))
        ended = text.rstrip().endswith("#EXT-X-ENDLIST")
    else:
        ended = False
    # The recording starts at the first keyframe after going live (~1 s before the soak's
    # clock starts); the show ends ~1 s after it stops: allow 3 s either way.
    ok = not out.stderr.strip() and ended and duration >= on_air - 3
    return {
        "ok": ok,
        "seconds": round(duration, 1),
        "playlist_seconds": round(listed, 1),
        "playlist_ended": ended,
        "on_air_seconds": round(on_air, 1),
        "ffprobe_errors": out.stderr.strip()[:500],
        "megabytes": round(recording.stat().st_size / 1e6, 1),
    }


def verdict(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Memory slope over the second half, CPU of the second half against the first."""
    half = samples[len(samples) // 2 :]
    first = samples[: max(1, len(samples) // 2)]
    mem_slope = slope([s["minute"] for s in half], [s["rss_mb"] for s in half])
    cpu_first = sum(s["cpu_pct"] for s in first) / len(first) if first else float("nan")
    cpu_second = sum(s["cpu_pct"] for s in half) / len(half) if half else float("nan")
    return {
        "rss_slope_mb_per_min_second_half": mem_slope,
        "memory_flat": not mem_slope > FLAT_MB_PER_MIN,
        "cpu_pct_first_half": cpu_first,
        "cpu_pct_second_half": cpu_second,
        "cpu_flat": not abs(cpu_second - cpu_first) > FLAT_CPU_POINTS,
    }


def run(minutes: float, viewers: int, pages: int, keep: Path | None = None) -> dict[str, Any]:
    """Start the server and the host, soak, end the show, check; JSON-ready results."""
    server_cpus, client_cpus = cpu_plan()
    pin(client_cpus)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        workdir = keep or Path(tmp)
        server = start_livestudio(workdir, "veryfast", server_cpus)
        host: Host | None = None
        try:
            show = server.whep_url.rsplit("/", 1)[1]
            token = _token(server, workdir / "data")
            host = _go_live(server, client_cpus)
            samples, c, on_air = asyncio.run(_soak(server, show, token, minutes, viewers, pages))
            alive = server.proc.poll() is None
            recording = check_recording(workdir / "recordings" / show, on_air)
        finally:
            if host is not None:
                host.stop()
            server.stop()
        log = server.log_path.read_text(errors="replace")
        errors = [
            line for line in log.splitlines() if " ERROR " in line or line.startswith("Traceback")
        ]
    judged = verdict(samples)
    return {
        "minutes": minutes,
        "target_viewers": viewers,
        "target_pages": pages,
        "samples": samples,
        "totals": {
            "joins": c.joins,
            "leaves": c.leaves,
            "join_errors": len(c.join_errors),
            "join_error_examples": c.join_errors[:5],
            "viewers_without_video": c.viewers_without_video,
            "pages": c.pages,
            "chat_sent": c.chat_sent,
            "chat_received": c.chat_received,
            "pins": c.pins,
            "pin_errors": c.pin_errors[:5],
        },
        "recording": recording,
        "server_alive_at_end": alive,
        "error_lines": len(errors),
        "error_examples": errors[:10],
        **judged,
        "ok": bool(
            recording["ok"]
            and not errors
            and alive
            and not c.join_errors
            and not c.pin_errors
            and c.viewers_without_video == 0
            and (minutes < 5 or (judged["memory_flat"] and judged["cpu_flat"]))
        ),
    }


def report(r: dict[str, Any]) -> str:
    """The per-minute table and the verdict."""
    keys = ("minute", "rss_mb", "cpu_pct", "viewers", "joins", "chat", "pins", "fds", "tasks")
    rows = [[s[k] for k in keys] for s in r["samples"]]
    heads = ["minute", "RSS MB", "CPU %", "viewers", "joins", "chat", "pins", "fds", "tasks"]
    t = r["totals"]
    rec = r["recording"]
    lines = [
        table(heads, rows, title=f"soak: {r['minutes']} min, live show, server process"),
        "",
        f"joins {t['joins']} (errors {t['join_errors']}, without video "
        f"{t['viewers_without_video']}), pages {t['pages']}, chat sent {t['chat_sent']} "
        f"(chat events received by pages {t['chat_received']}), pins {t['pins']} "
        f"(errors {len(t['pin_errors'])})",
        f"memory slope over the second half: {r['rss_slope_mb_per_min_second_half']:.2f} MB/min"
        f" ({'flat' if r['memory_flat'] else 'RISING'})",
        f"CPU: {r['cpu_pct_first_half']:.1f} % then {r['cpu_pct_second_half']:.1f} % of a core"
        f" ({'flat' if r['cpu_flat'] else 'NOT FLAT'})",
        f"recording: {'ok' if rec['ok'] else 'NOT OK'} ({rec.get('seconds')} s of "
        f"{rec.get('on_air_seconds')} s on air, playlist {rec.get('playlist_seconds')} s"
        f"{', ' + rec['ffprobe_errors'] if rec.get('ffprobe_errors') else ''}"
        f"{rec.get('error', '')})",
        f"ERROR lines in the server log: {r['error_lines']}",
        f"verdict: {'OK' if r['ok'] else 'FAILED'}",
    ]
    lines += [f"  {line}" for line in r["error_examples"]]
    return "\n".join(lines)
