"""Replay ready: from the end of a show to its replay serving playable media.

Two measurements, same run: a real show (in-process server, an aiortc publisher, a few
seconds on air, then WHIP DELETE) timed until `/media/{show}/index.m3u8` answers with a
finished playlist; and `finalize()` (the publish step) on synthetic recordings of 1, 5
and 20 minutes, to show that publishing does not grow with the show's length.
"""

from __future__ import annotations

import asyncio
import fractions
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np
from aiohttp.test_utils import TestServer
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from livestudio.app import create_app
from livestudio.config import load_settings
from livestudio.http.keys import STORE
from livestudio.media.broadcast import Broadcast
from livestudio.media.encode import AacEncoder, ProgramEncoder, VideoSettings
from livestudio.media.record import Recorder, finalize

from .common import median, table


class Camera(VideoStreamTrack):
    """A plain moving picture at 640x360."""

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        shade = (pts // 3000) % 200
        frame = av.VideoFrame.from_ndarray(
            np.full((360, 640, 3), shade, dtype=np.uint8), format="rgb24"
        )
        frame.pts, frame.time_base = pts, time_base
        return frame


async def live_show(seconds: float) -> float:
    """Seconds from the WHIP DELETE to a finished playlist served over HTTP."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            {"data_dir": f"{tmp}/data", "recordings_dir": f"{tmp}/rec", "x264_preset": "ultrafast"},
            environ={},
        )
        server = TestServer(create_app(settings), host="127.0.0.1")
        await server.start_server()
        try:
            show, key = await server.app[STORE].create_show("Bench", None)
            pc = RTCPeerConnection()
            pc.addTransceiver(Camera(), direction="sendonly")
            pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
            await pc.setLocalDescription(await pc.createOffer())
            async with aiohttp.ClientSession() as session:
                async with session.post(
                    server.make_url(f"/whip/{show.id}"),
                    data=pc.localDescription.sdp,
                    headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {key}"},
                ) as r:
                    answer, location = await r.text(), r.headers["Location"]
                await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
                await asyncio.sleep(seconds)
                ended = time.perf_counter()
                async with session.delete(server.make_url(location)):
                    pass
                while True:
                    async with session.get(server.make_url(f"/media/{show.id}/index.m3u8")) as r:
                        if r.status == 200 and "#EXT-X-ENDLIST" in await r.text():
                            break
                    await asyncio.sleep(0.01)
                ready = time.perf_counter() - ended
            await pc.close()
            return ready
        finally:
            await server.close()


def synthetic_recording(folder: Path, minutes: float) -> None:
    """A recording of `minutes`, written without real time (one GOP reused)."""
    encoder = ProgramEncoder(VideoSettings(160, 90, keyframe_interval=2.0, preset="ultrafast"))
    gop: list[av.Packet] = []
    for n in range(60):
        frame = av.VideoFrame.from_ndarray(np.full((90, 160, 3), n * 4, np.uint8), format="rgb24")
        frame = frame.reformat(format="yuv420p")
        frame.pts, frame.time_base = n * 3000, fractions.Fraction(1, 90000)
        gop += encoder.encode(frame, keyframe=n == 0)
    aac = AacEncoder()
    audio = aac.encode(np.zeros((1, 1920 * 60), dtype=np.int16), 0)[-1]
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
                a = av.Packet(bytes(audio))
                a.pts = a.dts = audio_pts
                a.is_keyframe = True  # as the program's AAC packets are
                a.time_base = fractions.Fraction(1, 48000)
                broadcast.publish_audio(a, "aac")
                audio_pts += 1024
        while recorder.feed.items.qsize() > 100:  # let the writer keep up (no real time)
            time.sleep(0.005)
    while recorder.feed.items.qsize():  # closing a subscription drops what it has queued
        time.sleep(0.005)
    broadcast.end()
    recorder.close()
    if recorder.error or recorder.dropped:
        raise RuntimeError(f"synthetic recording incomplete: {recorder.error or recorder.dropped}")


def run(quick: bool) -> dict[str, Any]:
    """Measure both; JSON-ready results."""
    shows = [asyncio.run(live_show(2.0 if quick else 3.0)) for _ in range(2 if quick else 5)]
    publish: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in (1, 5) if quick else (1, 5, 20):
            folder = Path(tmp) / f"m{minutes}"
            synthetic_recording(folder, minutes)
            started = time.perf_counter()
            result = finalize(folder)
            publish.append(
                {
                    "minutes": minutes,
                    "publish_ms": (time.perf_counter() - started) * 1000,
                    "duration_s": result.duration,
                    "bytes": (folder / "recording.mp4").stat().st_size,
                }
            )
    return {
        "show_end_to_replay_ms": [s * 1000 for s in shows],
        "show_end_to_replay_ms_median": median(shows) * 1000,
        "publish": publish,
    }


def report(results: dict[str, Any]) -> str:
    """The tables."""
    live = table(
        ["shows", "median ms", "max ms"],
        [
            [
                len(results["show_end_to_replay_ms"]),
                results["show_end_to_replay_ms_median"],
                max(results["show_end_to_replay_ms"]),
            ]
        ],
        title="replay ready: WHIP DELETE → finished HLS playlist served (3 s shows)",
    )
    publish = table(
        ["recording", "duration s", "MB", "publish ms"],
        [
            [f"{p['minutes']} min", p["duration_s"], p["bytes"] / 1e6, p["publish_ms"]]
            for p in results["publish"]
        ],
        title="publish step (finalize: index fragments + write playlist) by show length",
    )
    return live + "\n" + publish
