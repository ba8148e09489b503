"""YUV 4:2:0 overlay blending: matches an RGB alpha blend, touches only its rectangle."""

from __future__ import annotations

import av
import numpy as np
import pytest
from numpy.typing import NDArray

from livestudio.media.blend import Overlay, blend_planes, frame_planes, rgb_to_yuv

U8 = NDArray[np.uint8]


def smooth_rgb(width: int, height: int, phase: float = 0.0) -> U8:
    """A smooth colourful picture (chroma varies slowly, as in camera content)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = [128 + 90 * np.sin(x / 53.0 + phase + c) * np.cos(y / 41.0 - c) for c in range(3)]
    return np.clip(np.dstack(channels), 0, 255).astype(np.uint8)


def noise_frame(width: int, height: int, seed: int = 1) -> av.VideoFrame:
    """A yuv420p frame of random bytes (any change would show)."""
    rng = np.random.default_rng(seed)
    frame = av.VideoFrame(width, height, "yuv420p")
    for plane in frame_planes(frame):
        plane[...] = rng.integers(0, 256, size=plane.shape, dtype=np.uint8)
    return frame


def smooth_rgba(width: int, height: int) -> U8:
    """Smooth colours; alpha ramps from 0 up to 255 across the left two thirds, then stays
    opaque (sharp edges are for the other tests: the reference's filters smear them)."""
    rgb = smooth_rgb(width, height, phase=2.0)
    alpha = np.tile(np.clip(np.linspace(0, 255 * 1.5, width), 0, 255), (height, 1))
    return np.dstack([rgb, np.rint(alpha).astype(np.uint8)])


def copies(frame: av.VideoFrame) -> tuple[U8, U8, U8]:
    y, u, v = frame_planes(frame)
    return y.copy(), u.copy(), v.copy()


def test_rgb_to_yuv_matches_pyav_reformat() -> None:
    rgb = smooth_rgb(64, 48)
    reference = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv444p")
    ours = np.rint(rgb_to_yuv(rgb)).astype(int)
    theirs = reference.to_ndarray().astype(int)  # (3, h, w)
    for plane in range(3):
        assert np.abs(ours[..., plane] - theirs[plane]).max() <= 1


def test_opaque_overlay_equals_pyav_conversion() -> None:
    rgb = smooth_rgb(96, 64)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    frame = noise_frame(96, 64)
    Overlay.from_rgba(rgba, 0, 0).blend(frame)
    expected = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    for ours, theirs in zip(frame_planes(frame), frame_planes(expected), strict=True):
        assert np.abs(ours.astype(int) - theirs).max() <= 1


@pytest.mark.parametrize("x, y", [(100, 60), (101, 57), (-7, -5), (1211, 667)])
def test_blend_matches_reference_rgb_alpha_blend(x: int, y: int) -> None:
    width, height = 1280, 720
    source = av.VideoFrame.from_ndarray(smooth_rgb(width, height), format="rgb24").reformat(
        format="yuv420p"
    )
    rgba = smooth_rgba(90, 72)
    # Reference: blend in float RGB on PyAV's own conversion of the source, convert back.
    src_rgb = source.to_ndarray(format="rgb24").astype(np.float64)
    out_rgb = src_rgb.copy()
    h, w = rgba.shape[:2]
    fx0, fy0 = max(x, 0), max(y, 0)
    fx1, fy1 = min(x + w, width), min(y + h, height)
    part = rgba[fy0 - y : fy1 - y, fx0 - x : fx1 - x].astype(np.float64)
    alpha = part[..., 3:] / 255
    out_rgb[fy0:fy1, fx0:fx1] = src_rgb[fy0:fy1, fx0:fx1] * (1 - alpha) + part[..., :3] * alpha
    reference = av.VideoFrame.from_ndarray(
        np.rint(out_rgb).astype(np.uint8), format="rgb24"
    ).reformat(format="yuv420p")

    Overlay.from_rgba(rgba, x, y).blend(source)
    ref_y, ref_u, ref_v = frame_planes(reference)
    our_y, our_u, our_v = frame_planes(source)
    # Inside the rectangle; the YUV -> RGB -> YUV round trip of the reference costs a level
    # or two by itself.
    dy = np.abs(our_y[fy0:fy1, fx0:fx1].astype(int) - ref_y[fy0:fy1, fx0:fx1])
    assert dy.max() <= 3, dy.max()
    # Chroma blocks inside it, but for the first and last rows: swscale subsamples chroma
    # with a vertical [1 3 3 1] filter, mixing the rows outside into the reference's edge
    # rows (we keep the overlay to the 2x2 blocks it covers, like FFmpeg's overlay filter).
    cs = np.s_[fy0 // 2 + 1 : (fy1 + 1) // 2 - 1, fx0 // 2 : (fx1 + 1) // 2]
    for ours, theirs in ((our_u, ref_u), (our_v, ref_v)):
        diff = np.abs(ours[cs].astype(int) - theirs[cs])
        assert diff.max() <= 4, diff.max()


def assert_only_rect_changed(
    before: tuple[U8, U8, U8], after: tuple[U8, U8, U8], x: int, y: int, w: int, h: int
) -> None:
    """Luma outside (x, y, w, h) and chroma outside the blocks it touches are unchanged."""
    luma_mask = np.ones(before[0].shape, bool)
    luma_mask[max(y, 0) : max(y + h, 0), max(x, 0) : max(x + w, 0)] = False
    assert np.array_equal(before[0][luma_mask], after[0][luma_mask])
    chroma_mask = np.ones(before[1].shape, bool)
    cy0, cx0 = max(y, 0) // 2, max(x, 0) // 2
    cy1, cx1 = max(y + h + 1, 0) // 2, max(x + w + 1, 0) // 2
    chroma_mask[cy0:cy1, cx0:cx1] = False
    for plane in (1, 2):
        assert np.array_equal(before[plane][chroma_mask], after[plane][chroma_mask])


@pytest.mark.parametrize(
    "x, y, w, h",
    [
        (0, 0, 40, 30),
        (101, 57, 33, 17),  # odd position, odd size
        (1279 - 31, 719 - 15, 33, 17),  # odd, partly past the right and bottom edges
        (1279, 719, 9, 9),  # one pixel visible
        (-5, -3, 21, 11),  # partly above and left
        (-50, 10, 20, 20),  # entirely outside
        (1275, -9, 40, 30),  # top-right corner, both ways out
    ],
)
def test_only_the_rectangle_changes_at_any_position(x: int, y: int, w: int, h: int) -> None:
    frame = noise_frame(1280, 720)
    before = copies(frame)
    rng = np.random.default_rng(7)
    rgba = rng.integers(0, 256, size=(h, w, 4), dtype=np.uint8)
    rgba[0, 0, 3] = rgba[-1, -1, 3] = 255  # keep the full box (no trimming)
    overlay = Overlay.from_rgba(rgba, x, y)
    assert (overlay.rect.x, overlay.rect.y, overlay.rect.width, overlay.rect.height) == (
        x,
        y,
        w,
        h,
    )
    overlay.blend(frame)
    after = frame_planes(frame)
    assert_only_rect_changed(before, after, x, y, w, h)
    # Where the overlay is opaque and visible, luma is the overlay's, whatever was under it.
    yuv = np.rint(rgb_to_yuv(rgba[..., :3])[..., 0])
    for j in range(h):
        for i in range(w):
            fx, fy = x + i, y + j
            if rgba[j, i, 3] == 255 and 0 <= fx < 1280 and 0 <= fy < 720:
                assert abs(int(after[0][fy, fx]) - int(yuv[j, i])) <= 1


def test_transparent_pixels_leave_the_source_bit_identical() -> None:
    frame = noise_frame(320, 240)
    before = copies(frame)
    rgba = np.zeros((50, 60, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[10:40, 10:50, 3] = 255  # opaque core, transparent border inside the image
    rgba[0, 0, 3] = rgba[-1, -1, 3] = 255
    Overlay.from_rgba(rgba, 31, 17).blend(frame)
    after = frame_planes(frame)
    luma_before, luma_after = before[0][17:67, 31:91], after[0][17:67, 31:91]
    transparent = rgba[..., 3] == 0
    assert np.array_equal(luma_before[transparent], luma_after[transparent])


def test_transparent_border_is_trimmed() -> None:
    rgba = np.zeros((40, 50, 4), np.uint8)
    rgba[5:20, 7:30, 3] = 255
    overlay = Overlay.from_rgba(rgba, 100, 100)
    assert (overlay.rect.x, overlay.rect.y) == (107, 105)
    assert (overlay.rect.width, overlay.rect.height) == (23, 15)
    assert overlay.x % 2 == 0 and overlay.y % 2 == 0
    assert overlay.width % 2 == 0 and overlay.height % 2 == 0


def test_opaque_band_copy_equals_blend() -> None:
    """The opaque rows are copied: same result as blending them with alpha 256."""
    rgba = smooth_rgba(64, 48)
    rgba[..., 3] = 255
    rgba[:6, :, 3] = 128  # a translucent band on top, opaque below
    overlay = Overlay.from_rgba(rgba, 10, 20)
    assert [band.opaque for band in overlay.bands] == [False, True]
    frame = noise_frame(128, 96)
    y, u, v = copies(frame)
    overlay.blend(frame)
    # Blend every row the slow way on the copies.
    for dst, pre, inv, sl in (
        (y, overlay.luma_pre, overlay.luma_inv, np.s_[20:68, 10:74]),
        (u, overlay.u_pre, overlay.chroma_inv, np.s_[10:34, 5:37]),
        (v, overlay.v_pre, overlay.chroma_inv, np.s_[10:34, 5:37]),
    ):
        dst[sl] = (dst[sl].astype(np.uint32) * inv + pre) >> 8
    for ours, expected in zip(frame_planes(frame), (y, u, v), strict=True):
        assert np.array_equal(ours, expected)


def test_odd_frame_size() -> None:
    frame = noise_frame(101, 51)
    before = copies(frame)
    rgba = np.full((20, 20, 4), 255, np.uint8)
    Overlay.from_rgba(rgba, 90, 40).blend(frame)  # past the odd right and bottom edges
    after = frame_planes(frame)
    assert_only_rect_changed(before, after, 90, 40, 20, 20)
    assert (after[0][40:51, 90:101] == 235).all()
    # The last chroma column/row covers one luma column/row: it is the overlay's too.
    assert after[1][-1, -1] == 128 and after[2][-1, -1] == 128


def test_blend_planes_on_plain_arrays() -> None:
    luma = np.full((40, 40), 16, np.uint8)
    u = np.full((20, 20), 128, np.uint8)
    v = np.full((20, 20), 128, np.uint8)
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[..., 3] = 128
    blend_planes(Overlay.from_rgba(rgba, 4, 4), luma, u, v)
    # Half-way between black (16) and white (235).
    assert abs(int(luma[8, 8]) - (16 + 235) / 2) <= 1
    assert luma[3, 3] == 16 and luma[14, 14] == 16


def test_frame_planes_rejects_other_formats() -> None:
    with pytest.raises(ValueError, match="yuv420p"):
        frame_planes(av.VideoFrame(16, 16, "rgb24"))
