"""Blend RGBA overlays into yuv420p frames in place, in the Y, U and V planes (DESIGN 3).

An `Overlay` is converted once per change: the RGBA image becomes premultiplied Y, U and V
planes at 4:2:0 with their alpha, in BT.601 limited range (what PyAV's rgb24 → yuv420p
reformat, and so the encoder, uses). Per frame only the overlay's rectangle is touched,
with 16-bit integer math:

    out = (src * (256 - a) + a * c + 128) >> 8        a in 0..256, c the overlay colour

`a * c + 128` and `256 - a` are precomputed, so a plane costs one multiply, one add, one
shift and a store. Both terms are at most 255 * 256 in sum, so uint16 never overflows.
Rows that are opaque right across (a card's body) are copied instead (`Band`): less
memory traffic for the same result.

Chroma alignment: a 4:2:0 chroma sample covers a 2x2 block of luma pixels starting at an
even coordinate. An overlay placed at an odd x or y is padded with one transparent
column or row in front, so its planes always start on a block; the chroma of a block the
overlay only partly covers is mixed in proportion (the alpha of the block is the mean of
its four alphas). Overlays partly outside the frame are clipped. This 2x2 box is what
FFmpeg's overlay filter does too; swscale's own rgb → yuv420p subsamples chroma with a
vertical [1 3 3 1] filter, so at sharp horizontal edges our chroma differs from a PyAV
conversion of the composited RGB picture by a few levels (and stays inside the rectangle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import av
import numpy as np
from numpy.typing import NDArray
from PIL import Image

U8 = NDArray[np.uint8]
U16 = NDArray[np.uint16]
T = TypeVar("T", bound=np.generic)

# BT.601, limited range ("MPEG"): Y in 16..235, U and V in 16..240, for RGB in 0..255.
_RGB_TO_YUV = (
    np.array(
        [
            [65.481, 128.553, 24.966],
            [-37.797, -74.203, 112.0],
            [112.0, -93.786, -18.214],
        ],
        dtype=np.float64,
    )
    / 255.0
)
_YUV_OFFSET = np.array([16.0, 128.0, 128.0])


@dataclass(frozen=True)
class Rect:
    """A rectangle in frame pixels (may extend past the frame's edges)."""

    x: int
    y: int
    width: int
    height: int

    @property
    def right(self) -> int:
        """One past the last column."""
        return self.x + self.width

    @property
    def bottom(self) -> int:
        """One past the last row."""
        return self.y + self.height


def rgb_to_yuv(rgb: NDArray[np.uint8]) -> NDArray[np.float64]:
    """Full-resolution BT.601 limited-range Y, U, V (float, shape (..., 3)) of RGB pixels."""
    out: NDArray[np.float64] = rgb.astype(np.float64) @ _RGB_TO_YUV.T + _YUV_OFFSET
    return out


@dataclass(frozen=True)
class Band:
    """Rows [top, bottom) of an overlay's planes (luma rows, even bounds), and how to draw
    them: fully opaque rows are copied, the others blended."""

    top: int
    bottom: int
    opaque: bool


@dataclass(frozen=True, eq=False)
class Overlay:
    """An RGBA image ready to blend at a fixed place: premultiplied planes, computed once.

    Immutable and safe to blend from any thread. `rect` is where the image's own pixels
    land; the planes may be one pixel bigger on the left/top (odd positions) and on the
    right/bottom (odd sizes), padded with transparent pixels.
    """

    rect: Rect
    "The image's rectangle in the frame (before chroma padding), after trimming."
    x: int
    "Left of the planes, even."
    y: int
    "Top of the planes, even."
    luma_pre: U16
    "a * Y + 128 (a in 0..256), shape (h, w), h and w even."
    luma_inv: U16
    "256 - a, shape (h, w)."
    u_pre: U16
    "mean(a * U) + 128 over each 2x2 block, shape (h/2, w/2)."
    v_pre: U16
    chroma_inv: U16
    "256 - mean(a) over each 2x2 block."
    luma: U8
    "The result where the overlay is opaque: luma_pre >> 8 (copied, not blended)."
    u: U8
    v: U8
    bands: tuple[Band, ...]
    "At most three: blended rows, the longest run of opaque rows (copied), blended rows."

    @property
    def width(self) -> int:
        """Width of the (padded) luma planes."""
        return int(self.luma_pre.shape[1])

    @property
    def height(self) -> int:
        """Height of the (padded) luma planes."""
        return int(self.luma_pre.shape[0])

    @classmethod
    def from_rgba(cls, image: Image.Image | NDArray[np.uint8], x: int, y: int) -> Overlay:
        """Convert an RGBA image (straight alpha) to be blended with its top-left at (x, y).

        Fully transparent borders are trimmed first: they would cost time and change nothing.
        """
        rgba = _as_rgba_array(image)
        x, y, rgba = _trim(rgba, x, y)
        rect = Rect(x, y, rgba.shape[1], rgba.shape[0])
        # Pad so the planes start on even coordinates and have even sizes.
        left, top = x % 2, y % 2
        right = (left + rgba.shape[1]) % 2
        bottom = (top + rgba.shape[0]) % 2
        if left or top or right or bottom:
            rgba = np.pad(rgba, ((top, bottom), (left, right), (0, 0)))
        h, w = rgba.shape[:2]

        # a8 in 0..256 so that an opaque pixel replaces the source exactly.
        a8 = (rgba[..., 3].astype(np.int32) * 256 + 127) // 255
        yuv = rgb_to_yuv(rgba[..., :3])
        luma_pre = (np.rint(a8 * yuv[..., 0]) + 128).astype(np.uint16)

        def mean4(values: NDArray[np.float64] | NDArray[np.int32]) -> NDArray[np.float64]:
            """Mean over each 2x2 block."""
            v = values.astype(np.float64).reshape(h // 2, 2, w // 2, 2)
            summed: NDArray[np.float64] = v.sum(axis=(1, 3)) / 4
            return summed

        chroma_a = np.rint(mean4(a8)).astype(np.uint16)
        u_pre = (np.rint(mean4(a8 * yuv[..., 1])) + 128).astype(np.uint16)
        v_pre = (np.rint(mean4(a8 * yuv[..., 2])) + 128).astype(np.uint16)
        return cls(
            rect=rect,
            x=x - left,
            y=y - top,
            luma_pre=_frozen(luma_pre),
            luma_inv=_frozen((256 - a8).astype(np.uint16)),
            u_pre=_frozen(u_pre),
            v_pre=_frozen(v_pre),
            chroma_inv=_frozen(256 - chroma_a),
            luma=_frozen((luma_pre >> 8).astype(np.uint8)),
            u=_frozen((u_pre >> 8).astype(np.uint8)),
            v=_frozen((v_pre >> 8).astype(np.uint8)),
            bands=_bands(rgba[..., 3] == 255),
        )

    def blend(self, frame: av.VideoFrame) -> None:
        """Blend onto a writable yuv420p frame, in place (call `make_writable()` first)."""
        blend_planes(self, *frame_planes(frame))

    def blend_planes(self, luma: U8, u: U8, v: U8) -> None:
        """Blend onto Y, U and V arrays (views are fine), in place."""
        blend_planes(self, luma, u, v)


def _frozen(array: NDArray[T]) -> NDArray[T]:
    """Read-only: an Overlay's planes are shared between threads and scenes."""
    array.flags.writeable = False
    return array


def _bands(opaque: NDArray[np.bool_]) -> tuple[Band, ...]:
    """Split rows around the longest run of fully opaque row pairs (a card's body)."""
    h = opaque.shape[0]
    pairs = opaque.all(axis=1).reshape(h // 2, 2).all(axis=1)
    best, run_start, best_span = 0, 0, (0, 0)
    flags: list[bool] = np.asarray(pairs, dtype=bool).tolist()
    for i, full in enumerate([*flags, False]):
        if not full:
            if i - run_start > best:
                best, best_span = i - run_start, (run_start, i)
            run_start = i + 1
    top, bottom = best_span[0] * 2, best_span[1] * 2
    bands = [Band(0, top, False), Band(top, bottom, True), Band(bottom, h, False)]
    return tuple(band for band in bands if band.bottom > band.top)


def frame_planes(frame: av.VideoFrame) -> tuple[U8, U8, U8]:
    """Writable (height, width) views of a yuv420p frame's Y, U and V planes (no copy)."""
    if frame.format.name not in ("yuv420p", "yuvj420p"):
        raise ValueError(f"expected a yuv420p frame, got {frame.format.name}")
    views: list[U8] = []
    for plane in frame.planes:
        buf = np.frombuffer(memoryview(plane), dtype=np.uint8)
        rows = buf.reshape(-1, plane.line_size)[: plane.height, : plane.width]
        views.append(rows)
    return views[0], views[1], views[2]


def blend_planes(overlay: Overlay, luma: U8, u: U8, v: U8) -> None:
    """Blend `overlay` into the planes of one yuv420p picture, clipped to its edges."""
    frame_h, frame_w = luma.shape
    # Visible luma columns, in frame coordinates (overlay.x is even, so x0 is too).
    x0, x1 = max(overlay.x, 0), min(overlay.x + overlay.width, frame_w)
    if x0 >= x1:
        return
    ox0, ox1 = x0 - overlay.x, x1 - overlay.x
    # Chroma columns covering them (an odd frame edge has a half block).
    cx0, cx1 = x0 // 2, min((x1 + 1) // 2, u.shape[1])
    cox0, cox1 = ox0 // 2, ox0 // 2 + cx1 - cx0
    for band in overlay.bands:
        # The band's visible rows, in overlay coordinates (even start, as the band's).
        top = max(band.top, -overlay.y)
        bottom = min(band.bottom, frame_h - overlay.y)
        if top >= bottom:
            continue
        y0, y1 = overlay.y + top, overlay.y + bottom
        ctop = top // 2
        cbottom = ctop + min((y1 + 1) // 2, u.shape[0]) - y0 // 2
        if band.opaque:
            luma[y0:y1, x0:x1] = overlay.luma[top:bottom, ox0:ox1]
            u[y0 // 2 : y0 // 2 + cbottom - ctop, cx0:cx1] = overlay.u[ctop:cbottom, cox0:cox1]
            v[y0 // 2 : y0 // 2 + cbottom - ctop, cx0:cx1] = overlay.v[ctop:cbottom, cox0:cox1]
            continue
        _blend_plane(
            luma[y0:y1, x0:x1],
            overlay.luma_pre[top:bottom, ox0:ox1],
            overlay.luma_inv[top:bottom, ox0:ox1],
        )
        inv = overlay.chroma_inv[ctop:cbottom, cox0:cox1]
        rows = slice(y0 // 2, y0 // 2 + cbottom - ctop)
        _blend_plane(u[rows, cx0:cx1], overlay.u_pre[ctop:cbottom, cox0:cox1], inv)
        _blend_plane(v[rows, cx0:cx1], overlay.v_pre[ctop:cbottom, cox0:cox1], inv)


def _blend_plane(dst: U8, pre: U16, inv: U16) -> None:
    """dst = (dst * inv + pre) >> 8, in uint16, in place."""
    tmp = np.multiply(dst, inv, dtype=np.uint16)
    tmp += pre
    tmp >>= 8
    np.copyto(dst, tmp, casting="unsafe")


def _as_rgba_array(image: Image.Image | NDArray[np.uint8]) -> U8:
    if isinstance(image, Image.Image):
        if image.mode != "RGBA":
            image = image.convert("RGBA")
        arr: U8 = np.asarray(image, dtype=np.uint8)
        return arr
    if image.ndim != 3 or image.shape[2] != 4 or image.dtype != np.uint8:
        raise ValueError("expected an (h, w, 4) uint8 RGBA array")
    return image


def _trim(rgba: U8, x: int, y: int) -> tuple[int, int, U8]:
    """Drop fully transparent outer rows and columns (keeping at least one pixel)."""
    alpha = rgba[..., 3]
    rows = np.flatnonzero(alpha.any(axis=1))
    cols = np.flatnonzero(alpha.any(axis=0))
    if rows.size == 0:
        return x, y, rgba[:1, :1]
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    left, right = int(cols[0]), int(cols[-1]) + 1
    return x + left, y + top, rgba[top:bottom, left:right]
