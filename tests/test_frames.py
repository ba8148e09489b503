"""Fitting source frames to the program: letterbox bars, chroma placement, the kept scaler."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import av
import numpy as np
from numpy.typing import NDArray

from livestudio.media.blend import frame_planes
from livestudio.media.frames import _scaler, to_program

U8 = NDArray[np.uint8]


def solid(width: int, height: int, rgb: tuple[int, int, int]) -> av.VideoFrame:
    """A yuv420p frame of one colour."""
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    pixels[...] = rgb
    return av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p")


def gradient(width: int, height: int) -> av.VideoFrame:
    """A yuv420p frame where every pixel differs from its neighbours (scaling shows)."""
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.dstack([x * 255 // width, y * 255 // height, (x + y) % 256]).astype(np.uint8)
    return av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p")


def in_fresh_thread(frame: av.VideoFrame, width: int, height: int) -> U8:
    """to_program on a new thread, so with a new swscale context."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(to_program, frame, width, height).result().to_ndarray()


def test_program_sized_frame_passes_through() -> None:
    frame = gradient(1280, 720)
    assert to_program(frame, 1280, 720) is frame


def test_letterbox_bars_are_black_and_chroma_lines_up() -> None:
    # 4:3 into 16:9: 960x720 in the middle, 160-pixel black bars left and right.
    red = solid(640, 480, (220, 30, 30))
    out = to_program(red, 1280, 720)
    assert (out.width, out.height, out.format.name) == (1280, 720, "yuv420p")
    y, u, v = frame_planes(out)
    src_y, src_u, src_v = (int(p[0, 0]) for p in frame_planes(red))
    assert (y[:, :160] == 16).all() and (y[:, 1120:] == 16).all()
    for plane in (u, v):
        assert (plane[:, :80] == 128).all() and (plane[:, 560:] == 128).all()
    # The picture starts exactly at the bar's edge, in luma and in chroma alike.
    assert (np.abs(y[:, 160:1120].astype(int) - src_y) <= 1).all()
    assert (np.abs(u[:, 80:560].astype(int) - src_u) <= 1).all()
    assert (np.abs(v[:, 80:560].astype(int) - src_v) <= 1).all()


def test_pillarbox_of_a_portrait_source() -> None:
    out = to_program(solid(720, 1280, (30, 30, 220)), 1280, 720)
    y, u, _ = frame_planes(out)
    # 720x1280 fits as 404x720, centred at x = 438.
    assert (y[:, :438] == 16).all() and (y[:, 842:] == 16).all()
    assert (y[:, 438:842] != 16).all()
    assert (u[:, :219] == 128).all() and (u[:, 421:] == 128).all()


def test_kept_scaler_follows_size_changes() -> None:
    # A source changing resolution mid-show (browser bandwidth, a camera switch): the
    # thread's swscale context is reused for each new size and must give what a new
    # context gives.
    sources = [gradient(640, 480), gradient(1920, 1080), gradient(320, 180), gradient(720, 1280)]
    for frame in [*sources, *sources]:
        out = to_program(frame, 1280, 720)
        assert (out.width, out.height, out.format.name) == (1280, 720, "yuv420p")
        assert np.array_equal(out.to_ndarray(), in_fresh_thread(frame, 1280, 720))


def test_one_scaler_per_thread() -> None:
    assert _scaler() is _scaler()
    with ThreadPoolExecutor(max_workers=1) as pool:
        other = pool.submit(_scaler).result()
    assert other is not _scaler()
