"""Frame geometry: fitting sources into the fixed program size, slates, copies."""

from __future__ import annotations

import threading
from functools import lru_cache

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from PIL import Image, ImageDraw, ImageFont

from .blend import frame_planes


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


_thread = threading.local()


def _scaler() -> VideoReformatter:
    """This thread's swscale context, kept from frame to frame.

    `VideoFrame.reformat` keeps its context on the frame, and every decoded frame is a new
    one: setting swscale up for each frame cost ~1 ms, more than the scaling itself.
    One per thread, since a context is not thread-safe (each show's program has its own
    thread); swscale sets itself up again when the source size changes.
    """
    scaler: VideoReformatter | None = getattr(_thread, "scaler", None)
    if scaler is None:
        scaler = _thread.scaler = VideoReformatter()
    return scaler


def crop_to_aspect(frame: av.VideoFrame, width: int, height: int) -> av.VideoFrame:
    """The centre of `frame` with the aspect of width x height (a 9:16 slice of a 16:9
    camera), as yuv420p, cropped plane by plane (no scaling: to_program scales it)."""
    src_w, src_h = frame.width, frame.height
    if src_w * height > src_h * width:  # wider than wanted: cut the sides
        w, h = even(src_h * width / height), even(src_h)
    else:  # taller: cut top and bottom
        w, h = even(src_w), even(src_w * height / width)
    if (w, h) == (src_w, src_h) and frame.format.name == "yuv420p":
        return frame
    if frame.format.name != "yuv420p":
        frame = _scaler().reformat(frame, format="yuv420p", threads=1)
    x = (src_w - w) // 2 // 2 * 2
    y = (src_h - h) // 2 // 2 * 2
    out = av.VideoFrame(w, h, "yuv420p")
    for src, dst, sub in zip(frame_planes(frame), frame_planes(out), (1, 2, 2), strict=True):
        dst[:, :] = src[y // sub : (y + h) // sub, x // sub : (x + w) // sub]
    return out


def to_program(frame: av.VideoFrame, width: int, height: int, fill: bool = False) -> av.VideoFrame:
    """Scale a source frame to fill width x height (aspect kept, letterboxed), as yuv420p.

    With `fill` the source is cropped to the program's aspect first (centre), then
    scaled: no bars (a portrait program from a landscape camera).

    A browser that drops its resolution mid-show is scaled back up, so the picture keeps
    its place on viewers' screens and in the recording.

    A frame already at program size in yuv420p passes through untouched (no copy).
    """
    if frame.width == width and frame.height == height and frame.format.name == "yuv420p":
        return frame
    if fill:
        frame = crop_to_aspect(frame, width, height)
        if frame.width == width and frame.height == height:
            return frame
    w, h = fit(frame.width, frame.height, width, height)
    # One thread: the other core is libx264's. swscale's own threading saved nothing at
    # 640x480 and ≤ 0.2 ms at 1080p, for 10-40 % more CPU (`python -m bench compose`).
    scaled = _scaler().reformat(frame, width=w, height=h, format="yuv420p", threads=1)
    if w == width and h == height:
        return scaled
    # Aspect differs (webcams are 4:3, phones rotate): centre on black, plane by plane.
    out = av.VideoFrame(width, height, "yuv420p")
    x = (width - w) // 2 // 2 * 2
    y = (height - h) // 2 // 2 * 2
    for src, dst, sub, black in zip(
        frame_planes(scaled), frame_planes(out), (1, 2, 2), (16, 128, 128), strict=True
    ):
        dst.fill(black)
        dst[y // sub : (y + h) // sub, x // sub : (x + w) // sub] = src
    return out


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
