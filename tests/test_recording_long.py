"""Publishing costs the same for a long show as for a short one (no remux, no re-read)."""

from __future__ import annotations

import fractions
import time
from pathlib import Path

import av
import numpy as np

from livestudio.media.encode import AacEncoder, ProgramEncoder, VideoSettings
from livestudio.media.mp4index import scan
from livestudio.media.record import PLAYLIST, Recorder, finalize


def synthetic_gop(frames: int = 60) -> list[av.Packet]:
    """One 2 s GOP of a small picture, encoded once and reused with new timestamps."""
    encoder = ProgramEncoder(VideoSettings(160, 90, keyframe_interval=2.0, preset="ultrafast"))
    packets: list[av.Packet] = []
    for n in range(frames):
        rgb = np.full((90, 160, 3), (n * 4) % 255, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts = n * 3000
        frame.time_base = fractions.Fraction(1, 90000)
        packets += encoder.encode(frame, keyframe=(n == 0))
    return packets


def record_synthetic(folder: Path, minutes: float) -> None:
    gop = synthetic_gop()
    aac = AacEncoder()
    silence = aac.encode(np.zeros((1, 1920 * 60), dtype=np.int16), 0)
    aac_packet = silence[-1]
    recorder = Recorder(folder)
    recorder.set_audio_config(aac.extradata)
    gops = int(minutes * 60 / 2)
    audio_pts = 0
    for g in range(gops):
        for i, packet in enumerate(gop):
            copy = av.Packet(bytes(packet))
            copy.pts = copy.dts = g * 180000 + i * 3000
            copy.time_base = fractions.Fraction(1, 90000)
            copy.is_keyframe = i == 0
            recorder.put_video(copy)
            while audio_pts / 48000 <= (copy.pts + 3000) / 90000:
                a = av.Packet(bytes(aac_packet))
                a.pts = a.dts = audio_pts
                a.time_base = fractions.Fraction(1, 48000)
                recorder.put_audio(a)
                audio_pts += 1024
        while recorder._queue.qsize() > 100:  # let the writer keep up (no real time)
            time.sleep(0.01)
    recorder.close()
    assert not recorder.error and recorder.dropped == 0


def test_publishing_a_20_minute_recording_is_as_quick_as_a_short_one(tmp_path: Path) -> None:
    record_synthetic(tmp_path / "long", 20)
    record_synthetic(tmp_path / "short", 0.2)
    timings = {}
    for name in ("long", "short"):
        started = time.perf_counter()
        result = finalize(tmp_path / name)
        timings[name] = time.perf_counter() - started
        assert result.playable
    assert timings["long"] < 2.0, timings  # the contract: published within 2 s
    long = scan(tmp_path / "long" / "recording.mp4")
    assert 1195 <= long.duration <= 1205
    playlist = (tmp_path / "long" / PLAYLIST).read_text()
    assert playlist.count("#EXTINF:") == 600, "one segment per 2 s GOP"
    assert "#EXT-X-ENDLIST" in playlist
