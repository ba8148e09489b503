"""Keyframes are spaced in program time: a program running below its nominal fps (a busy
machine) still sends one at least every keyframe_interval seconds."""

from __future__ import annotations

import itertools
import time

import av
import pytest

from livestudio.media.encode import ProgramEncoder

from .conftest import Studio
from .utils import ProgramTap, until, whip_publish


async def test_keyframes_every_interval_even_when_the_program_runs_slow(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = ProgramEncoder.encode

    def slow(self: ProgramEncoder, frame: av.VideoFrame, keyframe: bool = False) -> list[av.Packet]:
        time.sleep(0.045)  # ~20 fps at most: 60 frames (2 s at 30 fps) take 3 s
        return original(self, frame, keyframe=keyframe)

    monkeypatch.setattr(ProgramEncoder, "encode", slow)
    show_id, key = await studio.create_show()
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    live = studio.onair.get(show_id)
    assert live is not None
    keyframes: list[int] = []
    frames: list[int] = []

    def on_packet(kind: str, packet: av.Packet) -> None:
        if kind != "video":
            return
        frames.append(packet.pts or 0)
        if packet.is_keyframe:
            keyframes.append(packet.pts or 0)

    await until(lambda: live.on_air, 10)
    ProgramTap(live, on_packet)
    await until(lambda: len(keyframes) >= 4, 30)
    await pub.close(studio.session)
    seconds = (frames[-1] - frames[0]) / 90000
    assert len(frames) / seconds < 25, "the program did run below its 30 fps"
    gaps = [(b - a) / 90000 for a, b in itertools.pairwise(keyframes)]
    interval = studio.settings.keyframe_interval
    assert max(gaps) <= interval + 0.07, f"keyframe gaps {gaps} (interval {interval} s)"
