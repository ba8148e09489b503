"""A vertical 9:16 clip for Reels, TikTok and Shorts: the plain clip re-encoded, cropped
to portrait, with the product card laid out for portrait burned in.

The crop is the program's centre, moved sideways just enough to leave out the landscape
card burned into the recording (its corner and size are known); the portrait card goes
above the bottom quarter and clear of the right edge, where the platforms put their
captions and buttons. Audio is the clip's own AAC, copied. This is CPU work (decode,
scale, blend, libx264): it runs on a worker thread of its own at a lower priority, so a
show on air keeps its cores, and reports its progress as it goes.
"""

from __future__ import annotations

import contextlib
import fractions
import io
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
from PIL import Image, ImageDraw

from .blend import Overlay
from .overlays import (
    CARD_BACKGROUND,
    INK,
    MUTED,
    CardLayout,
    CardModel,
    fill_rounded,
    parse_colour,
    text_on,
    thumbnail,
)
from .scene import MARGIN, REFERENCE_SIDE
from .text import TextStyle, draw_text, ellipsize, text_width, wrap

log = logging.getLogger(__name__)

SIZE = (720, 1280)
"The vertical clip's frame: 9:16, what the platforms ask for (they upscale to 1080x1920)."
PRESET = "veryfast"
CRF = "21"
NICE = 10
"The worker thread's niceness: a live show's program and encoder come first."
CARD_LEFT, CARD_RIGHT, CARD_BOTTOM = 36, 120, 300
"Portrait card margins (at 720 wide): clear of the platforms' buttons (right) and caption."


class Cancelled(Exception):
    """The job was called off (the clip was trimmed again or deleted)."""


@dataclass(frozen=True)
class VerticalResult:
    """What the vertical file holds."""

    width: int
    height: int
    frames: int
    size: int
    poster: bytes
    "A JPEG of its first frame."


def render_portrait_card(model: CardModel, width: int) -> Image.Image:
    """The product card for a portrait frame `width` wide: picture, name on two lines,
    the price tag and the struck compare-at price, bigger than the landscape card."""
    scale = width / SIZE[0]
    lay = CardLayout(scale)
    card_width = width - lay.px(CARD_LEFT + CARD_RIGHT)
    pad, thumb_side = lay.px(20), lay.px(150)
    pic = thumbnail(model.image, thumb_side, lay.px(14)) if model.image is not None else None
    text_x = pad + (thumb_side + pad if pic is not None else 0)
    column = card_width - text_x - pad
    name_style, price_style = TextStyle(lay.px(30), bold=True), TextStyle(lay.px(36), bold=True)
    compare_style = TextStyle(lay.px(24))
    lines = wrap(model.name, name_style, column, max_lines=2) or [""]
    tag_pad_x, tag_pad_y, gap = lay.px(12), lay.px(4), lay.px(10)
    tag_h = price_style.line_height + 2 * tag_pad_y
    text_h = len(lines) * name_style.line_height + gap + tag_h
    height = max(text_h, thumb_side if pic is not None else 0) + 2 * pad
    card = Image.new("RGBA", (card_width, height), (0, 0, 0, 0))
    fill_rounded(card, (0, 0, card_width, height), lay.px(22), CARD_BACKGROUND)
    if pic is not None:
        card.alpha_composite(pic, dest=(pad, (height - thumb_side) // 2))
    y = (height - text_h) // 2
    for line in lines:
        draw_text(card, (text_x, y + name_style.metrics()[0]), line, name_style, INK)
        y += name_style.line_height
    y += gap
    accent = parse_colour(model.accent)
    price = ellipsize(model.price_text, price_style, column - 2 * tag_pad_x)
    tag_w = round(text_width(price, price_style)) + 2 * tag_pad_x
    fill_rounded(card, (text_x, y, text_x + tag_w, y + tag_h), lay.px(8), accent)
    baseline = y + tag_pad_y + price_style.metrics()[0]
    draw_text(card, (text_x + tag_pad_x, baseline), price, price_style, text_on(accent))
    room = column - tag_w - lay.px(14)
    if model.compare_at_text and room > text_width("0000", compare_style):
        x = text_x + tag_w + lay.px(14)
        text = ellipsize(model.compare_at_text, compare_style, room)
        middle = y + tag_h // 2
        drawn = draw_text(card, (x, middle + compare_style.size // 3), text, compare_style, MUTED)
        ImageDraw.Draw(card).rectangle(
            (x - 1, middle - 1, x + round(drawn), middle + max(1, lay.px(2)) - 1), fill=MUTED
        )
    return card


def crop_window(
    source: tuple[int, int], corner: str | None, card_width: int | None = None
) -> tuple[int, int, int, int]:
    """(x, y, width, height) of the 9:16 part of a `source` frame to keep: the centre,
    moved sideways to leave out a landscape card burned into `corner` (if it can)."""
    w, h = source
    crop_h = h - h % 2
    crop_w = min(w, round(crop_h * 9 / 16)) // 2 * 2
    x = (w - crop_w) // 2 // 2 * 2
    if corner is not None:
        scale = min(w, h) / REFERENCE_SIDE
        keep_out = round(MARGIN * scale) + (card_width or CardLayout(scale).width) + 1
        if corner.endswith("left") and keep_out + crop_w <= w:
            x = max(x, keep_out + keep_out % 2)
        elif corner.endswith("right") and w - keep_out - crop_w >= 0:
            x = min(x, (w - keep_out - crop_w) // 2 * 2)
    return x, 0, crop_w, crop_h


def render_vertical(
    source: Path,
    target: Path,
    card: Image.Image | None,
    *,
    corner: str | None = None,
    progress: Callable[[float], None] = lambda _: None,
    cancelled: Callable[[], bool] = lambda: False,
    size: tuple[int, int] = SIZE,
    threads: int = 2,
) -> VerticalResult:
    """Re-encode the plain clip at `source` as a portrait clip at `target` (blocking).

    `card`: the portrait card image (render_portrait_card), drawn over every frame;
    `corner`: where the recording's own card is (cropped out); `progress(0..1)` is called
    as frames are done; `cancelled()` is asked every frame (then Cancelled is raised and
    nothing is left behind).
    """
    with contextlib.suppress(OSError):  # this thread only (Linux): a live show comes first
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
    tmp = target.with_name(target.name + ".tmp")
    try:
        result = _render(source, tmp, card, corner, progress, cancelled, size, threads)
        tmp.replace(target)
        return result
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _render(
    source: Path,
    target: Path,
    card: Image.Image | None,
    corner: str | None,
    progress: Callable[[float], None],
    cancelled: Callable[[], bool],
    size: tuple[int, int],
    threads: int,
) -> VerticalResult:
    width, height = size
    with av.open(str(source)) as inp:
        video = inp.streams.video[0]
        audio = inp.streams.audio[0] if inp.streams.audio else None
        video.thread_type = "AUTO"
        video.codec_context.thread_count = threads
        total = max(1, video.frames)
        x, y, crop_w, crop_h = crop_window((video.width, video.height), corner)
        graph = av.filter.Graph()
        chain = [
            graph.add_buffer(template=video),
            graph.add("crop", f"{crop_w}:{crop_h}:{x}:{y}"),
            graph.add("scale", f"{width}:{height}:flags=bicubic"),
            graph.add("format", "yuv420p"),
            graph.add("buffersink"),
        ]
        graph.link_nodes(*chain).configure()
        overlay = None
        if card is not None:
            scale = width / SIZE[0]
            left = round(CARD_LEFT * scale)
            top = height - round(CARD_BOTTOM * scale) - card.height
            overlay = Overlay.from_rgba(card, left, top)
        with av.open(str(target), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            # A live program's frames are as far apart as the camera sent them: keep their
            # own timestamps (the recording's 1/90000), never round them to a frame rate.
            rate = round(video.average_rate or 30) or 30
            encoder = out.add_stream("libx264", rate=rate)
            encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
            time_base = video.time_base or fractions.Fraction(1, 90000)
            encoder.codec_context.time_base = time_base
            encoder.time_base = time_base
            encoder.codec_context.thread_count = threads
            encoder.options = {"preset": PRESET, "crf": CRF, "profile": "high"}
            copied = out.add_stream_from_template(audio) if audio is not None else None
            frames = 0
            poster = b""
            for packet in inp.demux():
                if packet.stream is audio:
                    if packet.dts is not None and copied is not None:
                        packet.stream = copied
                        out.mux(packet)
                    continue
                for frame in packet.decode():
                    assert isinstance(frame, av.VideoFrame)
                    if cancelled():
                        raise Cancelled
                    graph.push(frame)
                    shaped = graph.pull()
                    assert isinstance(shaped, av.VideoFrame)
                    if overlay is not None:
                        shaped.make_writable()
                        overlay.blend(shaped)
                    shaped.pts, shaped.time_base = frame.pts, frame.time_base
                    if not poster:
                        poster = _jpeg(shaped)
                    out.mux(encoder.encode(shaped))
                    frames += 1
                    progress(min(frames / total, 0.999))
            out.mux(encoder.encode(None))
    progress(1.0)
    return VerticalResult(width, height, frames, target.stat().st_size, poster)


def _jpeg(frame: av.VideoFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_image().save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
