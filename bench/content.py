"""Synthetic camera content: a slowly panning textured scene, moving shapes, sensor noise.

Neither pure noise (unrealistically expensive for an encoder) nor a still picture
(unrealistically cheap): roughly a product table filmed by a webcam. Frames can carry a
frame number as big black/white blocks in the top-left corner (`stamp` / `read_stamp`),
which survive H.264/VP8 at any sane quantiser, so a viewer can tell which frame it shows.
"""

from __future__ import annotations

import fractions

import av
import numpy as np

STAMP_BITS = 16
STAMP_REFERENCE_WIDTH = 1280
"Stamp blocks are sized relative to this width, so a rescaled frame can still be read."
STAMP_BLOCK = 32
TIME_BASE = fractions.Fraction(1, 90000)


class Scene:
    """Frame i of a deterministic moving scene, as yuv420p."""

    def __init__(self, width: int, height: int, seed: int = 1) -> None:
        self.width, self.height = width, height
        rng = np.random.default_rng(seed)
        self._pan = width // 4
        y, x = np.mgrid[0:height, 0 : width + self._pan].astype(np.float32)
        background = (
            60
            + 90 * x / (width + self._pan)
            + 40 * y / height
            + 14 * np.sin(x / 9.0) * np.sin(y / 13.0)  # fabric-like texture
            + 10 * np.sin((x + 2 * y) / 41.0)
        )
        # Mid-frequency detail (a blurred random texture) that pans with the scene: real
        # rooms have edges and detail, which is what costs an encoder its motion search.
        detail = rng.normal(0, 1, size=(height // 4 + 2, (width + self._pan) // 4 + 2))
        detail = (detail[:-2, :-2] + detail[1:-1, 1:-1] + detail[2:, 2:]) / 3
        detail = np.repeat(np.repeat(detail, 4, axis=0), 4, axis=1)[:height, : width + self._pan]
        background += 18 * detail.astype(np.float32)
        # Kept within [24, 228] so uint8 noise in [0, 6] can be added without overflow.
        self._bg_y = np.clip(background, 24, 228).astype(np.uint8)
        cy, cx = np.mgrid[0 : height // 2, 0 : (width + self._pan) // 2].astype(np.float32)
        self._bg_u = (128 + 20 * np.sin(cx / 70.0)).astype(np.uint8)
        self._bg_v = (128 + 20 * np.cos(cy / 50.0)).astype(np.uint8)
        # Noise bank: a frame's noise is a random window into it, so no two frames match.
        self._noise = rng.integers(0, 7, size=width * height * 2, dtype=np.uint8)
        self._rng = rng
        side = max(16, height // 5) // 2 * 2
        py, px = np.mgrid[0:side, 0:side].astype(np.float32)
        self._shapes = [
            (
                np.clip(120 + 60 * np.sin(px / 3.0) * np.cos(py / 5.0), 16, 235).astype(np.uint8),
                (90, 170),
                (0.9, 0.55),
                (0.31, 0.23),
            ),
            (
                np.clip(200 - 50 * ((px // 8 + py // 8) % 2), 16, 235).astype(np.uint8),
                (160, 100),
                (0.6, 0.8),
                (0.17, 0.29),
            ),
            (
                np.clip(80 + py * 120 / side, 16, 235).astype(np.uint8),
                (110, 110),
                (0.3, 0.4),
                (0.43, 0.13),
            ),
        ]

    def planes(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Y, U and V planes of frame `index` (fresh arrays the caller may draw on)."""
        w, h = self.width, self.height
        period = 2 * self._pan
        offset = index * 2 % period
        offset = offset if offset < self._pan else period - offset  # pan back and forth
        offset -= offset % 2
        y = self._bg_y[:, offset : offset + w].copy()
        start = int(self._rng.integers(0, self._noise.size - w * h))
        y += self._noise[start : start + w * h].reshape(h, w)
        y -= 3
        u = self._bg_u[:, offset // 2 : offset // 2 + w // 2].copy()
        v = self._bg_v[:, offset // 2 : offset // 2 + w // 2].copy()
        t = index / 30.0
        for patch, (cu, cv), (ax, ay), (fx, fy) in self._shapes:
            side = patch.shape[0]
            px = int((w - side) * (0.5 + 0.5 * ax * np.sin(2 * np.pi * fx * t))) // 2 * 2
            py = int((h - side) * (0.5 + 0.5 * ay * np.cos(2 * np.pi * fy * t))) // 2 * 2
            y[py : py + side, px : px + side] = patch
            u[py // 2 : (py + side) // 2, px // 2 : (px + side) // 2] = cu
            v[py // 2 : (py + side) // 2, px // 2 : (px + side) // 2] = cv
        return y, u, v

    def frame(self, index: int, number: int | None = None) -> av.VideoFrame:
        """Frame `index` with pts index/30 s (1/90000), stamped with `number` if given."""
        y, u, v = self.planes(index)
        if number is not None:
            stamp(y, number)
        frame = to_frame(y, u, v)
        frame.pts = index * 3000
        frame.time_base = TIME_BASE
        return frame


def to_frame(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> av.VideoFrame:
    """Planes → a yuv420p VideoFrame (PyAV's (h*3/2, w) layout)."""
    h, w = y.shape
    packed = np.empty((h * 3 // 2, w), dtype=np.uint8)
    packed[:h] = y
    packed[h : h + h // 4] = u.reshape(h // 4, w)
    packed[h + h // 4 :] = v.reshape(h // 4, w)
    return av.VideoFrame.from_ndarray(packed, format="yuv420p")


def _block(width: int) -> int:
    return max(4, round(STAMP_BLOCK * width / STAMP_REFERENCE_WIDTH))


def stamp(y: np.ndarray, number: int) -> None:
    """Draw `number` (< 2**16) as STAMP_BITS black/white blocks along the top of a Y plane."""
    block = _block(y.shape[1])
    for bit in range(STAMP_BITS):
        y[0:block, bit * block : (bit + 1) * block] = 235 if (number >> bit) & 1 else 16


def luma(frame: av.VideoFrame) -> np.ndarray:
    """The Y plane of a decoded frame as a (height, width) array (no colour conversion)."""
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(-1, plane.line_size)
    return rows[: frame.height, : frame.width]


def read_stamp(frame: av.VideoFrame) -> int:
    """The number drawn by `stamp`, read from a decoded frame of any size."""
    y = luma(frame)
    block = _block(frame.width)
    c = block // 2
    r = max(1, block // 6)
    number = 0
    for bit in range(STAMP_BITS):
        x = bit * block + c
        if y[c - r : c + r + 1, x - r : x + r + 1].mean() > 128:
            number |= 1 << bit
    return number
