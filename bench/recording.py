"""Recordings for the benches that need one, written as fast as the disk takes them.

One GOP and a little audio are encoded once and published again and again through a
Broadcast to a real Recorder: the file is what a live show of that length leaves behind
(fragments, index, AAC), made in a fraction of the time.
"""

from __future__ import annotations

import fractions
import time
from pathlib import Path

import av

from livestudio.media.broadcast import Broadcast
from livestudio.media.record import Recorder

VIDEO_TB = fractions.Fraction(1, 90000)
AUDIO_TB = fractions.Fraction(1, 48000)


def write_recording(
    folder: Path, minutes: float, gop: list[av.Packet], audio: list[av.Packet], extradata: bytes
) -> None:
    """A recording in `folder` of `minutes`: `gop` (2 s at 30 fps, the first packet its
    keyframe) repeated, with the AAC packets `audio` (1024 samples each) cycled beside it."""
    broadcast = Broadcast(request_keyframe=lambda: None)
    recorder = Recorder(folder, broadcast.subscribe_output("recorder"), extradata)
    audio_pts = 0
    for g in range(int(minutes * 30)):
        for i, packet in enumerate(gop):
            copy = av.Packet(bytes(packet))
            copy.pts = copy.dts = g * 180000 + i * 3000
            copy.time_base = VIDEO_TB
            copy.is_keyframe = i == 0
            broadcast.publish_video(copy)
            while audio_pts / 48000 <= (copy.pts + 3000) / 90000:
                a = av.Packet(bytes(audio[(audio_pts // 1024) % len(audio)]))
                a.pts = a.dts = audio_pts
                a.time_base = AUDIO_TB
                a.is_keyframe = True  # as the program's AAC packets are
                broadcast.publish_audio(a, "aac")
                audio_pts += 1024
        while recorder.feed.items.qsize() > 100:  # let the writer keep up (no real time)
            time.sleep(0.005)
    while recorder.feed.items.qsize():  # the writer has everything before the end
        time.sleep(0.005)
    broadcast.end()
    recorder.close()
    if recorder.error or recorder.dropped:
        raise RuntimeError(f"bench recording incomplete: {recorder.error or recorder.dropped}")
