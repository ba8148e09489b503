"""`compose`: cost per frame of burning a product card into the program (DESIGN 3).

On the same decoded frames (H.264 from libx264, decoded by FFmpeg, so `make_writable()`
really copies the decoder's buffer) and the same card image, ms per frame (median, p99):

- livestudio: `Compositor.compose` with an `OverlayScene` (make_writable + YUV blend of
  the card's rectangle, integer math);
- livestudio, with a flash-sale countdown, rendered in `draw` when its second changes
  ("sync") or one second ahead on a worker thread ("prefetch"): the p99 is what matters;
- naive: to_ndarray(bgr24) → float blend of the rectangle → from_ndarray → yuv420p;
- ffmpeg overlay: FFmpeg's `overlay` filter in a PyAV filter graph (main frame and the
  RGBA card in, yuv420p out);
- pass-through: no scene (should be ~0).

Decoding is not timed. Frames advance the program clock at 30 fps, so a countdown's
second changes every 30 frames.
"""

from __future__ import annotations

import fractions
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import av
import numpy as np
from PIL import Image, ImageDraw

from livestudio.media.compose import Compositor
from livestudio.media.overlays import CardModel, render_card
from livestudio.media.scene import OverlayScene

from .common import median, percentile
from .common import table as text_table
from .content import Scene as CameraScene

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}
FPS = 30
TIME_BASE = fractions.Fraction(1, 90000)
WARMUP_FRAMES = 10
PACED = "@30fps"
"Suffix of the methods measured one frame per 1/30 s, as the program thread runs."

Timer = Callable[[av.VideoFrame, int], float]
"Composites frame i and returns the seconds it took."


def sample_card(sale_ends_at: float | None = None) -> CardModel:
    """The card every method draws: thumbnail, name, sale price, compare-at, low stock."""
    thumb = Image.new("RGB", (320, 320), (214, 196, 170))
    draw = ImageDraw.Draw(thumb)
    draw.rounded_rectangle((60, 40, 260, 200), 30, fill=(120, 72, 40))
    draw.rectangle((80, 200, 100, 290), fill=(70, 40, 20))
    draw.rectangle((220, 200, 240, 290), fill=(70, 40, 20))
    return CardModel(
        name="Кресло Poäng — oak veneer",
        price_text="€99,00",
        compare_at_text="€149,00",
        image=thumb,
        accent="#e11d48",
        corner="bottom-left",
        stock=3,
        sale_ends_at=sale_ends_at,
    )


def encoded_frames(width: int, height: int, count: int) -> list[av.Packet]:
    """`count` frames of the moving test scene, encoded once with libx264."""
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height = width, height
    encoder.pix_fmt = "yuv420p"
    encoder.time_base = fractions.Fraction(1, FPS)
    encoder.options = {"preset": "ultrafast", "tune": "zerolatency"}
    camera = CameraScene(width, height)
    packets: list[av.Packet] = []
    for i in range(count):
        frame = camera.frame(i)
        frame.pts, frame.time_base = i, encoder.time_base
        packets.extend(encoder.encode(frame))
    packets.extend(encoder.encode(None))
    return packets


def decoded(packets: list[av.Packet]) -> Iterator[av.VideoFrame]:
    """Decode afresh: frames still referenced by the decoder, as in the live pipeline."""
    decoder = av.CodecContext.create("h264", "r")
    for packet in packets:
        yield from decoder.decode(packet)
    yield from decoder.decode(None)


def measure(packets: list[av.Packet], timer: Timer, paced: bool = False) -> list[float]:
    """Time `timer` on every decoded frame (ms), warm-up frames left out.

    `paced`: one frame per 1/FPS of wall time, like the program thread (which encodes in
    between, with the GIL released): background work then competes as it would live.
    """
    times = []
    start = time.perf_counter()
    for i, frame in enumerate(decoded(packets)):
        if paced:
            time.sleep(max(0.0, start + i / FPS - time.perf_counter()))
        elapsed = timer(frame, i)
        if i >= WARMUP_FRAMES:
            times.append(elapsed * 1000)
    return times


class CompositorTimer:
    """Ours: Compositor.compose, make_writable() included; counts the copies it made."""

    def __init__(self, scene: OverlayScene | None) -> None:
        self.compositor = Compositor()
        if scene is not None:
            self.compositor.set_scene(scene)
        self.frames = 0
        self.copied = 0
        "Frames whose make_writable() copied the decoder's buffer (all, if it works)."

    def __call__(self, frame: av.VideoFrame, i: int) -> float:
        pts = i * 90000 // FPS
        before = frame.planes[0].buffer_ptr
        started = time.perf_counter()
        self.compositor.compose(frame, pts, i / FPS)
        elapsed = time.perf_counter() - started
        self.frames += 1
        self.copied += frame.planes[0].buffer_ptr != before
        return elapsed


def naive_timer(card: Image.Image, x: int, y: int) -> Timer:
    """The BGR round-trip: whole frame to BGR, blend the rectangle, whole frame back."""
    rgba = np.asarray(card.convert("RGBA"), dtype=np.float32)
    bgr_card = rgba[..., 2::-1].copy()
    alpha = rgba[..., 3:4] / 255.0
    h, w = rgba.shape[:2]

    def run(frame: av.VideoFrame, i: int) -> float:
        started = time.perf_counter()
        bgr = frame.to_ndarray(format="bgr24")
        roi = bgr[y : y + h, x : x + w].astype(np.float32)
        bgr[y : y + h, x : x + w] = (roi * (1 - alpha) + bgr_card * alpha + 0.5).astype(np.uint8)
        out = av.VideoFrame.from_ndarray(bgr, format="bgr24").reformat(format="yuv420p")
        elapsed = time.perf_counter() - started
        assert out.width == frame.width
        return elapsed

    return run


def ffmpeg_timer(card: Image.Image, x: int, y: int, width: int, height: int) -> Timer:
    """FFmpeg's overlay filter: buffer (frame) + buffer (RGBA card) → overlay → sink."""
    graph = av.filter.Graph()
    main = graph.add_buffer(
        width=width, height=height, format=av.VideoFormat("yuv420p"), time_base=TIME_BASE
    )
    over_src = graph.add_buffer(
        width=card.width,
        height=card.height,
        format=av.VideoFormat("rgba"),
        time_base=TIME_BASE,
    )
    overlay = graph.add("overlay", f"x={x}:y={y}:format=yuv420:eof_action=repeat")
    sink = graph.add("buffersink")
    main.link_to(overlay, 0, 0)
    over_src.link_to(overlay, 0, 1)
    overlay.link_to(sink)
    graph.configure()
    card_frame = av.VideoFrame.from_ndarray(np.asarray(card.convert("RGBA")), format="rgba")

    def run(frame: av.VideoFrame, i: int, graph: av.filter.Graph = graph) -> float:
        # (the closure must hold the graph: its filter contexts do not keep it alive)
        pts = i * 90000 // FPS
        frame.pts, frame.time_base = pts, TIME_BASE
        card_frame.pts, card_frame.time_base = pts, TIME_BASE
        started = time.perf_counter()
        main.push(frame)
        over_src.push(card_frame)
        out = sink.pull()
        elapsed = time.perf_counter() - started
        assert isinstance(out, av.VideoFrame) and out.width == width
        return elapsed

    return run


def measure_size(size: str, frames: int, paced_frames: int) -> dict[str, Any]:
    """Every method on the same decoded frames of one size: back to back, then paced."""
    width, height = SIZES[size]
    packets = encoded_frames(width, height, max(frames, paced_frames) + WARMUP_FRAMES)
    burst, live = packets[: frames + WARMUP_FRAMES], packets[: paced_frames + WARMUP_FRAMES]
    card = sample_card()
    build_started = time.perf_counter()
    scene = OverlayScene((width, height), card)
    build_ms = (time.perf_counter() - build_started) * 1000
    assert scene.card_layer is not None
    rect = scene.card_layer.rect
    card_image = render_card(card, scene.scale).image
    # A sale ending well after the run; its scene goes on air at program time 0.
    sale = sample_card(sale_ends_at=(paced_frames + WARMUP_FRAMES) / FPS + 30)
    methods: dict[str, dict[str, float]] = {}

    # Back to back: the cost of the work itself, caches warm.
    methods["pass-through"] = _summary(measure(burst, CompositorTimer(None)))
    ours = CompositorTimer(scene)
    methods["livestudio"] = _summary(measure(burst, ours))
    methods["naive bgr"] = _summary(measure(burst, naive_timer(card_image, rect.x, rect.y)))
    ffmpeg = ffmpeg_timer(card_image, rect.x, rect.y, width, height)
    methods["ffmpeg overlay"] = _summary(measure(burst, ffmpeg))

    # Paced at 30 fps, as live: the thread wakes up for each frame (cold caches, and a
    # countdown's second changes every 30 frames).
    methods[f"livestudio {PACED}"] = _summary(measure(live, CompositorTimer(scene), True))
    ffmpeg = ffmpeg_timer(card_image, rect.x, rect.y, width, height)
    methods[f"ffmpeg overlay {PACED}"] = _summary(measure(live, ffmpeg, True))
    sync = OverlayScene((width, height), sale, now=0.0)
    methods[f"livestudio+countdown sync {PACED}"] = _summary(
        measure(live, CompositorTimer(sync), True)
    )
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="countdown") as pool:
        ahead = OverlayScene((width, height), sale, now=0.0, prefetch=pool)
        times = measure(live, CompositorTimer(ahead), True)
        methods[f"livestudio+countdown prefetch {PACED}"] = _summary(times)
    assert sync.countdown is not None and ahead.countdown is not None
    return {
        "size": size,
        "frames": frames,
        "paced_frames": paced_frames,
        "card": [rect.width, rect.height],
        "card_at": [rect.x, rect.y],
        "scene_build_ms": build_ms,
        "make_writable_copied": f"{ours.copied}/{ours.frames}",
        "countdown_renders": {
            "sync": sync.countdown.renders,
            "prefetch": ahead.countdown.renders,
        },
        "methods": methods,
    }


def _summary(times: list[float]) -> dict[str, float]:
    return {
        "median_ms": median(times),
        "p99_ms": percentile(times, 99),
        "max_ms": max(times),
    }


def run(quick: bool, sizes: list[str] | None = None, frames: int | None = None) -> dict[str, Any]:
    """Measure every method at 720p and 1080p; returns JSON-ready results."""
    chosen = sizes or list(SIZES)
    count = frames or (100 if quick else 600)
    paced = frames or (60 if quick else 300)
    return {
        "fps": FPS,
        "decoder": "h264 (FFmpeg), frames from libx264 ultrafast",
        "results": [measure_size(size, count, paced) for size in chosen],
    }


def table(results: dict[str, Any]) -> str:
    """The results as a plain-text table."""
    rows = []
    for result in results["results"]:
        card = "x".join(str(v) for v in result["card"])
        for name, m in result["methods"].items():
            rows.append([result["size"], card, name, m["median_ms"], m["p99_ms"], m["max_ms"]])
    headers = ["size", "card", "method", "ms med", "ms p99", "ms max"]
    title = "compose: product card burned into decoded frames, per frame"
    out = text_table(headers, _two_digits(rows), title)
    notes = []
    for r in results["results"]:
        notes.append(
            f"{r['size']}: scene build (render + planes, off the frame path) "
            f"{r['scene_build_ms']:.1f} ms; make_writable copied {r['make_writable_copied']} "
            f"frames; countdown images rendered {r['countdown_renders']}"
        )
    return "\n".join([out, *notes])


def _two_digits(rows: list[list[Any]]) -> list[list[Any]]:
    """Sub-millisecond figures need two decimals (the shared table rounds to one)."""
    return [[f"{c:.2f}" if isinstance(c, float) else c for c in row] for row in rows]


if __name__ == "__main__":
    print(table(run(quick=True)))
