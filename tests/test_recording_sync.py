"""A/V sync in the recording: a flash and a beep at the same instant line up within 40 ms."""

from __future__ import annotations

import asyncio
import fractions
import math
import time

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from livestudio.media.record import RECORDING

from .conftest import Studio
from .utils import until, whip_publish

BEEP_SECONDS = 0.1


class Flash(MediaStreamTrack):
    """White for one frame at every whole second of `origin`, dark otherwise."""

    kind = "video"

    def __init__(self, origin: float) -> None:
        super().__init__()
        self.origin = origin
        self.n = 0
        dark = av.VideoFrame.from_ndarray(np.full((360, 640, 3), 30, np.uint8), format="rgb24")
        white = av.VideoFrame.from_ndarray(np.full((360, 640, 3), 250, np.uint8), format="rgb24")
        self.frames = [f.reformat(format="yuv420p").to_ndarray() for f in (dark, white)]

    async def recv(self) -> av.VideoFrame:  # type: ignore[override]
        if self.readyState != "live":
            raise MediaStreamError
        # At a camera's pace: frame n at origin + n/30.
        await asyncio.sleep(max(0.0, self.origin + self.n / 30 - time.monotonic()))
        frame = av.VideoFrame.from_ndarray(self.frames[self.n % 30 == 0], format="yuv420p")
        frame.pts = self.n * 3000
        frame.time_base = fractions.Fraction(1, 90000)
        self.n += 1
        return frame


class Beep(MediaStreamTrack):
    """A 1 kHz beep of 100 ms at every whole second of `origin`, silence otherwise."""

    kind = "audio"

    def __init__(self, origin: float) -> None:
        super().__init__()
        self.origin = origin
        self.samples = 0

    async def recv(self) -> av.AudioFrame:  # type: ignore[override]
        if self.readyState != "live":
            raise MediaStreamError
        # At a microphone's pace.
        await asyncio.sleep(max(0.0, self.origin + self.samples / 48000 - time.monotonic()))
        index = np.arange(960) + self.samples
        on = (index % 48000) < BEEP_SECONDS * 48000
        wave = np.where(on, np.sin(2 * math.pi * 1000 * index / 48000) * 0.5 * 32767, 0)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(wave.astype(np.int16), 2).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = 48000
        frame.pts = self.samples
        frame.time_base = fractions.Fraction(1, 48000)
        self.samples += 960
        return frame


def flashes_and_beeps(path: str) -> tuple[list[float], list[float]]:
    flashes, beeps = [], []
    with av.open(path) as f:
        previous = False
        for frame in f.decode(video=0):
            bright = float(frame.to_ndarray(format="gray")[::8, ::8].mean()) > 128
            if bright and not previous:
                flashes.append(float(frame.time))
            previous = bright
    with av.open(path) as f:
        chunks, start = [], None
        for frame in f.decode(audio=0):
            if start is None:
                start = float(frame.time)
            chunks.append(frame.to_ndarray()[0])
        audio = np.abs(np.concatenate(chunks))
    loud = audio > 0.1
    # onsets: loud after >= 0.5 s of quiet
    last = -1.0
    for i in np.flatnonzero(loud):
        t = (start or 0.0) + i / 48000
        if t - last > 0.5:
            beeps.append(t)
        last = t
    return flashes, beeps


def offsets(flashes: list[float], beeps: list[float]) -> list[float]:
    return [min((b - f for b in beeps), key=abs) for f in flashes if beeps]


async def publish_for(studio: Studio, show_id: str, key: str, seconds: float) -> None:
    origin = time.monotonic() + 0.2
    pub = await whip_publish(
        studio.session, studio.url(f"/whip/{show_id}"), key, video=Flash(origin), audio=Beep(origin)
    )
    await asyncio.sleep(seconds)  # deliberately: on air this long
    await pub.pc.close()  # a dropped connection, no DELETE: the show waits for the host


async def test_flash_and_beep_line_up_before_and_after_a_reconnect(studio: Studio) -> None:
    show_id, key = await studio.create_show("Sync")
    await publish_for(studio, show_id, key, 4.5)
    live = studio.onair.get(show_id)
    assert live is not None
    await until(lambda: live.state == "reconnecting", 10)
    reconnect_at = live.program_seconds()
    await publish_for(studio, show_id, key, 4.5)
    await studio.onair.end(show_id)
    await until(lambda: studio.onair.get(show_id) is None, 15)

    path = str(studio.settings.recordings_dir / show_id / RECORDING)
    flashes, beeps = flashes_and_beeps(path)
    before = offsets([f for f in flashes if f < reconnect_at], beeps)
    after = offsets([f for f in flashes if f > reconnect_at + 0.5], beeps)
    assert len(before) >= 3 and len(after) >= 3, (flashes, beeps)
    worst = max(abs(o) for o in before + after)
    assert worst <= 0.040, f"A/V offsets (s) before {before} after {after}"
