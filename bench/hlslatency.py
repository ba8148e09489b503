"""`hls` latency: when a frame becomes available to a player, when the viewer page shows
it, and what cutting the parts costs (see bench/hls.py for the whole benchmark)."""

from __future__ import annotations

import asyncio
import io
import os
import time
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np

from .common import median, percentile
from .content import read_stamp
from .hlsclients import PlayerStats, ll_player, run_players, standard_player
from .servers import Server
from .stamps import STAMP_MODULUS, SendTimes


@dataclass
class FrameLatency:
    """Decodes what a player fetched and times each stamped frame."""

    times: SendTimes
    offset: float = field(default_factory=lambda: time.time() - time.monotonic())
    "Wall minus monotonic: capture times are monotonic, arrivals wall-clock."
    init: bytes = b""
    decoder: av.VideoCodecContext | None = None
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    fetched: list[tuple[bytes, float]] = field(default_factory=list)

    def on_media(self, uri: str, data: bytes, at: float) -> None:
        """Keep what arrived and when (decoded after the window: decoding on the players'
        loop would delay the other player's arrivals)."""
        if uri == "init":
            self.init = data
        else:
            self.fetched.append((data, at))

    def decode(self) -> FrameLatency:
        """Decode everything fetched; every frame's latency is its bytes' arrival − capture."""
        for data, at in self.fetched:
            with av.open(io.BytesIO(self.init + data), "r") as media:
                stream = media.streams.video[0]
                if self.decoder is None:
                    self.decoder = av.VideoCodecContext.create("h264", "r")
                    self.decoder.extradata = stream.codec_context.extradata
                    self.decoder.thread_count = 1  # no frame held back across parts
                for packet in media.demux(stream):
                    if packet.size == 0:
                        continue
                    try:
                        frames = self.decoder.decode(packet)
                    except av.FFmpegError:
                        continue  # a player joining mid-GOP: nothing until the next keyframe
                    for frame in frames:
                        self._stamp(read_stamp(frame), at)
        self.fetched.clear()
        return self

    def _stamp(self, number: int, at: float) -> None:
        sent = self.times.times[number] if 0 < number <= STAMP_MODULUS else 0.0
        latency = at - (sent + self.offset)
        if sent <= 0 or not 0 <= latency < 60:
            self.errors += 1
            return
        self.latencies.append(latency)


def summary(latencies: list[float], errors: int = 0) -> dict[str, Any]:
    ms = [x * 1000 for x in latencies]
    return {
        "median_ms": median(ms),
        "p95_ms": percentile(ms, 95),
        "min_ms": min(ms, default=float("nan")),
        "max_ms": max(ms, default=float("nan")),
        "frames": len(ms),
        "stamp_errors": errors,
    }


def frame_available(playlist: str, times: SendTimes, seconds: float) -> dict[str, Any]:
    """A decoding LL player and a decoding standard player, side by side."""
    ll, std = FrameLatency(times), FrameLatency(times)
    ll_stats, std_stats = PlayerStats(), PlayerStats()
    asyncio.run(
        run_players(
            lambda s: [
                ll_player(s, playlist, 10_000, ll_stats, ll.on_media),
                standard_player(s, playlist, 10_000, std_stats, std.on_media, reload_every=2.0),
            ],
            seconds,
        )
    )
    ll.decode()
    std.decode()
    return {
        "ll_hls": {**summary(ll.latencies, ll.errors), "parts": len(ll_stats.parts)},
        "hls": {**summary(std.latencies, std.errors), "segments": len(std_stats.segments)},
    }


def packager_cost(seconds: float = 4.0, repeats: int = 5) -> dict[str, Any]:
    """CPU the packager's thread spends per second of 720p30 program (2 Mbit/s): the
    program's packets encoded once here, then cut into parts and segments `repeats`
    times (time.process_time, this thread only)."""
    from livestudio.media.encode import AacEncoder, ProgramEncoder, VideoSettings
    from livestudio.media.hls import HlsOptions as StreamOptions
    from livestudio.media.hlspackager import PartCutter

    from .content import Scene

    scene = Scene(1280, 720)
    encoder = ProgramEncoder(VideoSettings(1280, 720, 30, 2_000_000, "veryfast", 2.0))
    aac = AacEncoder()
    packets: list[tuple[str, av.Packet]] = []
    audio_pts = 0
    silence = np.zeros((1, 1920), dtype=np.int16)
    for index in range(int(seconds * 30)):
        packets += [("video", p) for p in encoder.encode(scene.frame(index), index % 60 == 0)]
        while audio_pts / 48000 <= (index + 1) / 30:
            packets += [("audio", p) for p in aac.encode(silence, audio_pts)]
            audio_pts += 960
    megabits = sum(p.size for kind, p in packets if kind == "video") * 8 / 1e6
    runs = []
    made: list[int] = []
    for _ in range(repeats):
        made.clear()
        cutter = PartCutter(
            StreamOptions(segment_target=2.0, part_target=0.5),
            aac.extradata,
            on_init=lambda data: None,
            on_part=lambda part, start: made.append(len(part.data)),
            on_segment=lambda msn, data: None,
        )
        started = time.process_time()
        for kind, packet in packets:
            (cutter.video if kind == "video" else cutter.audio)(packet)
        cutter.finish()
        runs.append((time.process_time() - started) / seconds * 1000)
    return {
        "ms_cpu_per_program_second": median(runs),
        "runs": runs,
        "video_mbit_per_s": megabits / seconds,
        "parts_per_second": len(made) / seconds,
    }


STAMP_JS = """(limit) => {
  const v = document.getElementById("video");
  const c = document.createElement("canvas");
  const g = c.getContext("2d", {willReadFrequently: true});
  window.stamps = [];
  const onFrame = (now, meta) => {
    if (v.videoWidth) {
      const block = Math.max(4, Math.round(32 * v.videoWidth / 1280));
      c.width = 16 * block; c.height = block;
      g.drawImage(v, 0, 0, c.width, c.height, 0, 0, c.width, c.height);
      const d = g.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let bit = 0; bit < 16; bit++) {
        const i = ((block >> 1) * c.width + bit * block + (block >> 1)) * 4;
        if ((d[i] + d[i + 1] + d[i + 2]) / 3 > 128) n |= 1 << bit;
      }
      window.stamps.push([n, performance.timeOrigin + meta.expectedDisplayTime]);
    }
    if (window.stamps.length < limit) v.requestVideoFrameCallback(onFrame);
  };
  v.requestVideoFrameCallback(onFrame);
}"""


async def _glass_to_glass(page_url: str, times: SendTimes, seconds: float) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    offset = time.time() - time.monotonic()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=os.environ.get("LIVESTUDIO_TEST_CHROMIUM", "/usr/bin/chromium"),
            headless=True,
            args=["--autoplay-policy=no-user-gesture-required", "--no-sandbox", "--disable-gpu"],
        )
        try:
            page = await browser.new_page()
            started = time.monotonic()
            await page.goto(page_url)
            for _ in range(300):
                if await page.evaluate("document.getElementById('video').videoWidth > 0"):
                    break
                await asyncio.sleep(0.1)
            first_frame = time.monotonic() - started
            await asyncio.sleep(4.0)  # hls.js settles at its live sync point
            await page.evaluate(STAMP_JS, 100_000)
            await asyncio.sleep(seconds)
            stamps = await page.evaluate("window.stamps")
            hls_latency = await page.evaluate(
                "window.livestudio.hls && window.livestudio.hls.hls ? "
                "window.livestudio.hls.hls.latency : null"
            )
            mode = await page.evaluate("window.livestudio.mode")
        finally:
            await browser.close()
    latencies, errors = [], 0
    for number, shown_ms in stamps:
        sent = times.times[number] if 0 < number <= STAMP_MODULUS else 0.0
        latency = shown_ms / 1000 - (sent + offset)
        if sent <= 0 or not 0 <= latency < 60:
            errors += 1
        else:
            latencies.append(latency)
    return {
        **summary(latencies, errors),
        "presented_fps": len(stamps) / seconds,
        "first_frame_s": first_frame,
        "hls_js_latency_s": hls_latency,
        "mode": mode,
    }


def glass_to_glass(server: Server, times: SendTimes, seconds: float) -> dict[str, Any]:
    """The viewer page forced to HLS, in Chromium: capture → presented.

    Chromium may use both cores (nothing is measured for CPU meanwhile): pinned with the
    publisher it decodes 720p late and then plays seconds further behind than a viewer's
    device would (measured: 8–14 frames/s shown, 4–9 s behind)."""
    show = server.whip_url.rsplit("/", 1)[1]
    pinned = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    try:
        return asyncio.run(_glass_to_glass(f"{server.base}/live/{show}?hls=1", times, seconds))
    finally:
        os.sched_setaffinity(0, pinned)
