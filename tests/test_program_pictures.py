"""FramePicker: the new source frame fitted to the program, a repeat, or the slate."""

from __future__ import annotations

import av
import numpy as np

from livestudio.media.picker import FrameOrigin, FramePicker
from livestudio.media.program import ProgramStats

W, H = 320, 180


def source(width: int = W, height: int = H, luma: int = 100) -> av.VideoFrame:
    """A yuv420p source frame of one grey."""
    planes = np.full((height * 3 // 2, width), 128, dtype=np.uint8)  # neutral chroma
    planes[:height] = luma
    return av.VideoFrame.from_ndarray(planes, format="yuv420p")


def luma(frame: av.VideoFrame) -> float:
    return float(frame.to_ndarray()[: frame.height].mean())


def test_no_source_or_a_stalled_one_shows_the_slate() -> None:
    picker = FramePicker(W, H)
    frame, origin = picker.pick(None, stalled=False, will_draw=False)
    assert origin is FrameOrigin.SLATE and (frame.width, frame.height) == (W, H)
    frame2, origin = picker.pick(source(), stalled=True, will_draw=False)
    assert origin is FrameOrigin.SLATE
    assert frame2 is not frame, "each slate frame is a copy of its own"


def test_a_new_source_frame_is_fitted_to_the_program_size() -> None:
    picker = FramePicker(W, H)
    small = source(160, 120, luma=200)  # 4:3 and smaller: scaled up, letterboxed
    assert picker.is_new(small)
    frame, origin = picker.pick(small, stalled=False, will_draw=False)
    assert origin is FrameOrigin.SOURCE
    assert (frame.width, frame.height, frame.format.name) == (W, H, "yuv420p")
    y = frame.to_ndarray()[:H]
    assert y[:, :20].max() == 16 and y[:, W // 2].min() > 190, "black bars, picture centred"
    assert not picker.is_new(small)


def test_a_source_frame_at_program_size_passes_untouched() -> None:
    picker = FramePicker(W, H)
    exact = source()
    frame, origin = picker.pick(exact, stalled=False, will_draw=False)
    assert frame is exact and origin is FrameOrigin.SOURCE


def test_the_same_source_frame_again_is_a_repeat_of_the_clean_picture() -> None:
    picker = FramePicker(W, H)
    src = source(luma=100)
    first, _ = picker.pick(src, stalled=False, will_draw=False)
    again, origin = picker.pick(src, stalled=False, will_draw=False)
    assert origin is FrameOrigin.REPEAT and again is first, "no scaling, no copy"


def test_a_scene_draws_on_copies_and_repeats_stay_clean() -> None:
    picker = FramePicker(W, H)
    src = source(luma=100)
    drawn, origin = picker.pick(src, stalled=False, will_draw=True)
    assert origin is FrameOrigin.SOURCE and drawn is not src
    drawn.planes[0].update(bytes([235]) * drawn.planes[0].buffer_size)  # the overlay
    repeat, origin = picker.pick(src, stalled=False, will_draw=True)
    assert origin is FrameOrigin.REPEAT and repeat is not drawn
    assert luma(repeat) == 100 and luma(src) == 100, "drawn on the copy only"
    clean, _ = picker.pick(src, stalled=False, will_draw=False)
    assert clean is src


def test_a_newer_source_frame_replaces_the_repeated_one() -> None:
    picker = FramePicker(W, H)
    picker.pick(source(luma=100), stalled=False, will_draw=False)
    newer = source(luma=150)
    assert picker.is_new(newer)
    frame, origin = picker.pick(newer, stalled=False, will_draw=False)
    assert origin is FrameOrigin.SOURCE and luma(frame) == 150


def test_stats_count_frames_by_origin() -> None:
    stats = ProgramStats()
    for origin in (FrameOrigin.SOURCE, FrameOrigin.SOURCE, FrameOrigin.REPEAT, FrameOrigin.SLATE):
        stats.count_picture(origin)
    assert (stats.frames_from_source, stats.frames_repeated, stats.frames_slate) == (2, 1, 1)
    stats.count_encode(0.01)
    stats.count_encode(0.02)
    assert stats.frames == 2 and stats.last_encode_seconds == 0.02
    assert abs(stats.encode_seconds_total - 0.03) < 1e-12
