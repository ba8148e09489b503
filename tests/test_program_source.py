"""The source as the program sees it: newest frame, settled size, stalls (injected times)."""

from __future__ import annotations

import av
import numpy as np

from livestudio.media.source import (
    SETTLE_SECONDS,
    STALL_SECONDS,
    LatestFrame,
    SettledSize,
    StallWatch,
)


def video(width: int = 64, height: int = 36) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8), format="rgb24")


def test_latest_frame_keeps_only_the_newest_and_its_arrival() -> None:
    latest = LatestFrame()
    assert latest.get() == (None, 0.0)
    first, second = video(), video()
    latest.put(first, 1.0)
    latest.put(second, 1.03)
    frame, at = latest.get()
    assert frame is second and at == 1.03


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
