"""The source as the program sees it: frames in order, settled size, stalls (injected times)."""

from __future__ import annotations

import fractions

import av
import numpy as np

from livestudio.media.source import (
    MAX_WAITING,
    SETTLE_SECONDS,
    STALL_SECONDS,
    SettledSize,
    SourceFrames,
    StallWatch,
)


def video(width: int = 64, height: int = 36, pts: int | None = None) -> av.VideoFrame:
    frame = av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8), format="rgb24")
    if pts is not None:
        frame.pts = pts
        frame.time_base = fractions.Fraction(1, 90000)
    return frame


def test_source_frames_are_taken_in_order_then_the_last_repeats() -> None:
    source = SourceFrames(fps=30)
    assert source.get() == (None, 0.0, 0)
    first, second = video(pts=0), video(pts=3000)
    source.put(first, 1.0)
    source.put(second, 1.03)
    assert source.get() == (first, 1.03, 2), "the oldest first; the newest arrival"
    source.taken(first)
    assert source.get() == (second, 1.03, 1)
    source.taken(second)
    assert source.get() == (second, 1.03, 0), "nothing new: the last one again"


def test_a_burst_waits_in_order_but_never_more_than_max_waiting() -> None:
    source = SourceFrames(fps=30)
    frames = [video(pts=n * 3000) for n in range(MAX_WAITING + 2)]
    for frame in frames:
        source.put(frame, 1.0)
    frame, _, waiting = source.get()
    assert frame is frames[2] and waiting == MAX_WAITING, "the oldest went"


def test_a_60_fps_source_is_kept_at_the_programs_rate() -> None:
    source = SourceFrames(fps=30)
    frames = [video(pts=n * 1500) for n in range(8)]  # 60 fps
    for frame in frames:
        source.put(frame, 1.0)
    kept = []
    while (frame := source.get()[0]) is not None and source.get()[2]:
        kept.append(frame)
        source.taken(frame)
    assert kept == frames[::2]


def test_frames_from_before_the_last_mean_a_new_stream() -> None:
    source = SourceFrames(fps=30)
    source.put(video(pts=900000), 1.0)
    restarted = video(pts=0)  # the host reconnected: its timestamps start again
    source.put(restarted, 1.1)
    assert source.get() == (restarted, 1.1, 1)


def test_a_source_filling_the_box_fixes_the_size_at_once() -> None:
    size = SettledSize(1280, 720)
    assert size.offer(1280, 720, now=5.0) == (1280, 720)


def test_a_source_filling_the_box_in_one_dimension_is_settled() -> None:
    assert SettledSize(1280, 720).offer(960, 720, now=5.0) == (960, 720), "4:3 at 720p"
    assert SettledSize(1280, 720).offer(1280, 960, now=5.0) == (1280, 960)


def test_small_first_frames_wait_for_the_largest_until_settled() -> None:
    size = SettledSize(1280, 720)
    assert size.offer(320, 180, now=5.0) is None
    assert size.offer(640, 360, now=5.5) is None
    assert size.offer(320, 180, now=5.0 + SETTLE_SECONDS - 0.01) is None
    assert size.offer(320, 180, now=5.0 + SETTLE_SECONDS) == (640, 360), "the largest seen"


def test_a_settling_source_that_reaches_the_box_is_taken_then() -> None:
    size = SettledSize(1280, 720)
    assert size.offer(640, 360, now=5.0) is None
    assert size.offer(1280, 720, now=5.3) == (1280, 720)


def test_a_stall_is_more_than_stall_seconds_without_a_frame() -> None:
    stall = StallWatch()
    assert not stall.update(now=11.0, last_frame_at=10.0) and not stall.stalled
    assert not stall.update(now=10.0 + STALL_SECONDS, last_frame_at=10.0)
    assert stall.update(now=10.01 + STALL_SECONDS, last_frame_at=10.0), "changed"
    assert stall.stalled
    assert not stall.update(now=15.0, last_frame_at=10.0), "still stalled: no change"
    assert stall.update(now=15.1, last_frame_at=15.05) and not stall.stalled, "back"
