"""Frame geometry: fitting sources into the fixed program size, slates, copies."""

from __future__ import annotations

from functools import lru_cache

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont


def even(n: float) -> int:
    """Round down to an even number of pixels, at least 2 (4:2:0 chroma needs pairs)."""
    return max(2, int(n) // 2 * 2)


def fit(src_w: int, src_h: int, box_w: int, box_h: int, upscale: bool = True) -> tuple[int, int]:
    """The largest even size with the source's aspect that fits in the box."""
    scale = min(box_w / src_w, box_h / src_h)
    if not upscale:
        scale = min(scale, 1.0)
    return even(src_w * scale), even(src_h * scale)


def program_size(src_w: int, src_h: int, box_w: int, box_h: int) -> tuple[int, int]:
    """The show's program size: the configured box, or the source if smaller (DESIGN 8)."""
    return fit(src_w, src_h, box_w, box_h, upscale=False)


def black_yuv(width: int, height: int) -> np.ndarray:
    """A black yuv420p picture as the (h*3/2, w) array PyAV uses."""
    out = np.empty((height * 3 // 2, width), dtype=np.uint8)
    out[:height] = 16
    out[height:] = 128
    return out


def to_program(frame: av.VideoFrame, width: int, height: int) -> av.VideoFrame:
    """Scale a source frame to fill width x height (aspect kept, letterboxed), as yuv420p.

    A browser that drops its resolution mid-show is scaled back up, so the picture keeps
    its place on viewers' screens and in the recording.

    A frame already at program size in yuv420p passes through untouched (no copy).
    """
    if frame.width == width and frame.height == height and frame.format.name == "yuv420p":
        return frame
    w, h = fit(frame.width, frame.height, width, height)
    if w == width and h == height:
        return frame.reformat(width=width, height=height, format="yuv420p")
    # Aspect differs (webcams are 4:3, phones rotate): scale then centre on black.
    scaled = frame.reformat(width=w, height=h, format="yuv420p").to_ndarray()
    canvas = black_yuv(width, height)
    x = (width - w) // 2 // 2 * 2
    y = (height - h) // 2 // 2 * 2
    canvas[y : y + h, x : x + w] = scaled[:h]
    # U and V planes are stored one after the other, each (h/2 x w/2), packed by rows
    # of width w/2 into rows of the (h*3/2, w) array: unpack them to place each.
    for plane in (0, 1):
        src = scaled[h:].reshape(-1)[plane * (h // 2) * (w // 2) :][: (h // 2) * (w // 2)]
        dst = canvas[height:].reshape(-1)
        offset = plane * (height // 2) * (width // 2)
        dst_plane = dst[offset : offset + (height // 2) * (width // 2)].reshape(
            height // 2, width // 2
        )
        dst_plane[y // 2 : y // 2 + h // 2, x // 2 : x // 2 + w // 2] = src.reshape(h // 2, w // 2)
    return av.VideoFrame.from_ndarray(canvas, format="yuv420p")


def copy_frame(frame: av.VideoFrame) -> av.VideoFrame:
    """An independent copy of a yuv420p frame (so drawing on it leaves the original clean)."""
    return av.VideoFrame.from_ndarray(frame.to_ndarray(), format="yuv420p")


@lru_cache(maxsize=4)
def _slate_rgb(width: int, height: int, text: str) -> np.ndarray:
    image = Image.new("RGB", (width, height), (24, 24, 32))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(12, height // 14))
    box = draw.textbbox((0, 0), text, font=font)
    tw, th = box[2] - box[0], box[3] - box[1]
    draw.text(((width - tw) / 2, (height - th) / 2), text, fill=(240, 240, 240), font=font)
    return np.asarray(image)


def slate(width: int, height: int, text: str = "Back in a moment") -> av.VideoFrame:
    """The frame viewers see while the host's media is missing."""
    rgb = _slate_rgb(width, height, text)
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
