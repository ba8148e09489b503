"""Clips: how long one click takes for a 60 s product chapter.

A synthetic 720p30 recording at the program's 2 Mbit/s (a textured picture that keeps
moving, so x264 spends its bits, and a tone in AAC), written by the real Recorder without
real time. On it, a 60 s chapter starting mid-GOP:

- plain clip (media/mp4clip.py, no re-encode): the first cut of a recording (which walks
  its box headers once) and then warm ones, in a recording of 3 minutes and (full run)
  20 minutes, with the chapter near its end: the cost does not grow with the show;
- for comparison, the same clip with PyAV demux/mux (copying packets through Python);
- vertical 9:16 (media/vertical.py: decode, crop, scale to 720x1280, card, libx264
  veryfast on 2 threads at nice 10): the full run does the 60 s chapter, the quick run a
  5 s one (reported per second of clip too). The quick run's recording is 2 minutes.
"""

from __future__ import annotations

import fractions
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import numpy as np

from livestudio.media.broadcast import Broadcast
from livestudio.media.encode import AacEncoder, ProgramEncoder, VideoSettings
from livestudio.media.mp4clip import cut
from livestudio.media.overlays import CardModel
from livestudio.media.record import Recorder
from livestudio.media.vertical import render_portrait_card, render_vertical

from .common import median, table

CHAPTER = 60.0
WARM_RUNS = 7


def recording(folder: Path, minutes: float, width: int = 1280, height: int = 720) -> None:
    """A recording of `minutes` at 720p30, 2 Mbit/s, written without real time."""
    encoder = ProgramEncoder(
        VideoSettings(width, height, keyframe_interval=2.0, preset="ultrafast")
    )
    rng = np.random.default_rng(7)
    texture = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    texture = np.kron(texture, np.ones((8, 8, 1), dtype=np.uint8))  # 8x8 blocks, like detail
    ramp = np.linspace(0, 120, width, dtype=np.float32)[None, :, None]
    gop: list[av.Packet] = []
    for n in range(60):
        picture = (np.roll(texture, n * 6, axis=1) * 0.5 + ramp).clip(0, 255).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = n * 3000, fractions.Fraction(1, 90000)
        gop += encoder.encode(frame, keyframe=n == 0)
    aac = AacEncoder()
    t = np.arange(48000 * 2) / 48000
    tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)[None, :]
    audio = [p for p in aac.encode(tone, 0) if p.pts is not None and p.pts >= 0]
    broadcast = Broadcast(request_keyframe=lambda: None)
    recorder = Recorder(folder, broadcast.subscribe_output("recorder"), aac.extradata)
    audio_pts = 0
    for g in range(int(minutes * 30)):
        for i, packet in enumerate(gop):
            copy = av.Packet(bytes(packet))
            copy.pts = copy.dts = g * 180000 + i * 3000
            copy.time_base = fractions.Fraction(1, 90000)
            copy.is_keyframe = i == 0
            broadcast.publish_video(copy)
            while audio_pts / 48000 <= (copy.pts + 3000) / 90000:
                a = av.Packet(bytes(audio[(audio_pts // 1024) % len(audio)]))
                a.pts = a.dts = audio_pts
                a.time_base = fractions.Fraction(1, 48000)
                a.is_keyframe = True
                broadcast.publish_audio(a, "aac")
                audio_pts += 1024
        while recorder.feed.items.qsize() > 100:
            time.sleep(0.005)
    while recorder.feed.items.qsize():
        time.sleep(0.005)
    broadcast.end()
    recorder.close()
    if recorder.error or recorder.dropped:
        raise RuntimeError(f"bench recording incomplete: {recorder.error or recorder.dropped}")


def pyav_remux(source: Path, target: Path, start: float, end: float) -> None:
    """The same clip the textbook way: seek, demux, shift, mux (copying packets)."""
    with (
        av.open(str(source)) as inp,
        av.open(str(target), "w", format="mp4", options={"movflags": "+faststart"}) as out,
    ):
        video, audio = inp.streams.video[0], inp.streams.audio[0]
        streams = {
            video.index: out.add_stream_from_template(video),
            audio.index: out.add_stream_from_template(audio),
        }
        inp.seek(round(start * 90000), stream=video, backward=True)  # the recording's 1/90000
        origin: float | None = None
        for packet in inp.demux(video, audio):
            if packet.dts is None or packet.pts is None:
                continue
            at = float(packet.pts * packet.time_base)
            if origin is None:
                if packet.stream is not video or not packet.is_keyframe:
                    continue
                origin = at
            if at < origin:
                continue
            if at >= end:
                if packet.stream is video:
                    break
                continue
            shift = round(origin / packet.time_base)
            packet.pts -= shift
            packet.dts -= shift
            packet.stream = streams[packet.stream.index]
            out.mux(packet)


def _plain(folder: Path, minutes: float) -> dict[str, Any]:
    source = folder / "recording.mp4"
    start = minutes * 60 - CHAPTER - 7.3  # mid-GOP, near the end of the show
    timings = []
    size = 0
    for n in range(WARM_RUNS + 1):
        target = folder / f"clip-{n}.mp4"
        began = time.perf_counter()
        result = cut(source, target, round(start * 90000), round((start + CHAPTER) * 90000))
        timings.append((time.perf_counter() - began) * 1000)
        size = result.size
        target.unlink()
    began = time.perf_counter()
    pyav_remux(source, folder / "pyav.mp4", start, start + CHAPTER)
    pyav_ms = (time.perf_counter() - began) * 1000
    return {
        "recording_minutes": minutes,
        "recording_mb": source.stat().st_size / 1e6,
        "clip_mb": size / 1e6,
        "first_ms": timings[0],
        "warm_ms": timings[1:],
        "warm_median_ms": median(timings[1:]),
        "pyav_ms": pyav_ms,
    }


def _vertical(folder: Path, seconds: float) -> dict[str, Any]:
    source = folder / "recording.mp4"
    plain = folder / "plain.mp4"
    cut(source, plain, round(61.3 * 90000), round((61.3 + seconds) * 90000))
    card = render_portrait_card(
        CardModel(name="Kaffeetasse Café", price_text="€24.90", compare_at_text="€29.90"), 720
    )
    began = time.perf_counter()
    cpu = time.process_time()
    result = render_vertical(plain, folder / "vertical.mp4", card, corner="bottom-left")
    wall = time.perf_counter() - began
    clip = result.frames / 30  # from the keyframe at or before the chapter's start
    return {
        "chapter_s": seconds,
        "clip_s": clip,
        "frames": result.frames,
        "seconds": wall,
        "cpu_seconds": time.process_time() - cpu,
        "fps": result.frames / wall,
        "realtime": wall / clip,
    }


def run(quick: bool) -> dict[str, Any]:
    """Measure; JSON-ready results."""
    plain: list[dict[str, Any]] = []
    vertical: dict[str, Any] = {}
    for minutes in (2,) if quick else (3, 20):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            recording(folder, minutes)
            plain.append(_plain(folder, minutes))
            if minutes < 20:
                vertical = _vertical(folder, 5.0 if quick else CHAPTER)
    return {"chapter_s": CHAPTER, "plain": plain, "vertical": vertical}


def report(results: dict[str, Any]) -> str:
    """The tables."""
    plain = table(
        ["recording", "MB", "clip MB", "first cut ms", "warm median ms", "warm max ms", "PyAV ms"],
        [
            [
                f"{p['recording_minutes']} min",
                p["recording_mb"],
                p["clip_mb"],
                p["first_ms"],
                p["warm_median_ms"],
                max(p["warm_ms"]),
                p["pyav_ms"],
            ]
            for p in results["plain"]
        ],
        title=f"clip without re-encoding: a {results['chapter_s']:.0f} s chapter of 720p30 at"
        " 2 Mbit/s (first cut walks the recording's box headers once)",
    )
    v = results["vertical"]
    vertical = table(
        ["chapter s", "clip s", "frames", "seconds", "CPU s", "fps", "x clip length"],
        [
            [
                v["chapter_s"],
                v["clip_s"],
                v["frames"],
                v["seconds"],
                v["cpu_seconds"],
                v["fps"],
                v["realtime"],
            ]
        ],
        title="vertical 9:16 clip (720x1280, libx264 veryfast, 2 threads, nice 10)",
    )
    return plain + "\n" + vertical
