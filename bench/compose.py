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

Fit source to program (`to_program`: a source whose size differs from the 1280x720
program, scaled and letterboxed, on every new source frame), same decoded frames, ms per
frame and CPU ms per frame (all threads: a scaler may use both cores):

- livestudio: swscale through one kept context per thread, planes written directly;
- swscale, context per frame: the code before (`frame.reformat`, whose context lives on
  the frame, then to_ndarray → black canvas → from_ndarray);
- swscale, kept context, auto threads: ours with FFmpeg choosing swscale's threads
  (livestudio asks for one: the other core is libx264's);
- cv2.resize of the Y, U and V planes (INTER_LINEAR enlarging, INTER_AREA shrinking as
  OpenCV advises), OpenCV's default threads, into the same black frame.

With, per source, how the outputs compare: the code before must be byte-identical; for
OpenCV the Y PSNR of the picture against ours, and whether its bars are black.
"""

from __future__ import annotations

import fractions
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import av
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from livestudio.media.blend import frame_planes
from livestudio.media.compose import Compositor
from livestudio.media.frames import fit, to_program
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
FIT_PROGRAM = SIZES["720p"]
FIT_SOURCES = {"640x480": (640, 480), "1920x1080": (1920, 1080)}
"A 4:3 webcam (scaled up, letterboxed) and a 1080p camera (scaled down)."
Fitter = Callable[[av.VideoFrame, int, int], av.VideoFrame]


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


def to_program_before(frame: av.VideoFrame, width: int, height: int) -> av.VideoFrame:
    """`to_program` as it was: a new swscale context per frame, a packed-array round trip."""
    w, h = fit(frame.width, frame.height, width, height)
    if w == width and h == height:
        return frame.reformat(width=width, height=height, format="yuv420p")
    scaled = frame.reformat(width=w, height=h, format="yuv420p").to_ndarray()
    canvas = np.empty((height * 3 // 2, width), dtype=np.uint8)
    canvas[:height], canvas[height:] = 16, 128
    x = (width - w) // 2 // 2 * 2
    y = (height - h) // 2 // 2 * 2
    canvas[y : y + h, x : x + w] = scaled[:h]
    for plane in (0, 1):
        src = scaled[h:].reshape(-1)[plane * (h // 2) * (w // 2) :][: (h // 2) * (w // 2)]
        dst = canvas[height:].reshape(-1)
        offset = plane * (height // 2) * (width // 2)
        dst_plane = dst[offset : offset + (height // 2) * (width // 2)].reshape(
            height // 2, width // 2
        )
        dst_plane[y // 2 : y // 2 + h // 2, x // 2 : x // 2 + w // 2] = src.reshape(h // 2, w // 2)
    return av.VideoFrame.from_ndarray(canvas, format="yuv420p")


def on_black(planes: Sequence[NDArray[Any]], width: int, height: int) -> av.VideoFrame:
    """A yuv420p program frame with a scaled picture's planes centred on black."""
    h, w = planes[0].shape
    out = av.VideoFrame(width, height, "yuv420p")
    x = (width - w) // 2 // 2 * 2
    y = (height - h) // 2 // 2 * 2
    for src, dst, sub, black in zip(
        planes, frame_planes(out), (1, 2, 2), (16, 128, 128), strict=True
    ):
        if (w, h) != (width, height):
            dst.fill(black)
        dst[y // sub : (y + h) // sub, x // sub : (x + w) // sub] = src
    return out


def to_program_cv2(frame: av.VideoFrame, width: int, height: int) -> av.VideoFrame:
    """The OpenCV candidate: cv2.resize of each plane of a yuv420p frame, centred on black."""
    w, h = fit(frame.width, frame.height, width, height)
    interpolation = cv2.INTER_AREA if w < frame.width else cv2.INTER_LINEAR
    y, u, v = (
        cv2.resize(plane, (w // sub, h // sub), interpolation=interpolation)
        for plane, sub in zip(frame_planes(frame), (1, 2, 2), strict=True)
    )
    return on_black((y, u, v), width, height)


def swscale_auto_threads() -> Fitter:
    """Ours, but with FFmpeg choosing swscale's threads (0) instead of one; own context."""
    scaler = VideoReformatter()

    def run(frame: av.VideoFrame, width: int, height: int) -> av.VideoFrame:
        w, h = fit(frame.width, frame.height, width, height)
        scaled = scaler.reformat(frame, width=w, height=h, format="yuv420p", threads=0)
        return (
            scaled if (w, h) == (width, height) else on_black(frame_planes(scaled), width, height)
        )

    return run


def fitters() -> dict[str, Fitter]:
    """The ways of fitting a source to the program that the bench compares."""
    return {
        "livestudio": to_program,
        "swscale, context per frame (before)": to_program_before,
        "swscale, kept context, auto threads": swscale_auto_threads(),
        "cv2.resize": to_program_cv2,
    }


class FitTimer:
    """Fits frame i to the program; returns the wall time, keeps the CPU time (all threads)."""

    def __init__(self, fitter: Fitter) -> None:
        self.fitter = fitter
        self.cpu_ms: list[float] = []

    def __call__(self, frame: av.VideoFrame, i: int) -> float:
        width, height = FIT_PROGRAM
        started, cpu = time.perf_counter(), time.process_time()
        out = self.fitter(frame, width, height)
        elapsed = time.perf_counter() - started
        if i >= WARMUP_FRAMES:
            self.cpu_ms.append((time.process_time() - cpu) * 1000)
        assert (out.width, out.height) == FIT_PROGRAM
        return elapsed


def _fit_outputs(packets: list[av.Packet], count: int) -> dict[str, Any]:
    """How the alternatives' pictures compare with ours, on the first `count` frames."""
    width, height = FIT_PROGRAM
    identical, psnr, black = True, [], True
    for i, frame in enumerate(decoded(packets)):
        if i >= count:
            break
        ours = to_program(frame, width, height)
        identical &= bool(
            np.array_equal(ours.to_ndarray(), to_program_before(frame, width, height).to_ndarray())
        )
        theirs = to_program_cv2(frame, width, height)
        w, h = fit(frame.width, frame.height, width, height)
        x, y = (width - w) // 2 // 2 * 2, (height - h) // 2 // 2 * 2
        a, b = frame_planes(ours)[0], frame_planes(theirs)[0]
        picture = (slice(y, y + h), slice(x, x + w))
        mse = float(np.mean((a[picture].astype(np.float64) - b[picture]) ** 2))
        psnr.append(99.0 if mse == 0 else 10 * np.log10(255**2 / mse))
        bars = np.ones(a.shape, dtype=bool)
        bars[picture] = False
        u_bars = bars[::2, ::2]
        yt, ut, vt = frame_planes(theirs)
        black &= bool((yt[bars] == 16).all() and (ut[u_bars] == 128).all())
        black &= bool((vt[u_bars] == 128).all())
    return {"before_identical": identical, "cv2_y_psnr_db": median(psnr), "cv2_bars_black": black}


def measure_fit(frames: int, paced_frames: int) -> list[dict[str, Any]]:
    """Every way of fitting each source to the program: back to back, then paced (unless
    `paced_frames` is 0)."""
    results = []
    for name, (width, height) in FIT_SOURCES.items():
        packets = encoded_frames(width, height, max(frames, paced_frames) + WARMUP_FRAMES)
        burst, live = packets[: frames + WARMUP_FRAMES], packets[: paced_frames + WARMUP_FRAMES]
        methods: dict[str, dict[str, float]] = {}
        runs = [(False, burst), (True, live)] if paced_frames else [(False, burst)]
        for paced, chosen in runs:
            for method, fitter in fitters().items():
                timer = FitTimer(fitter)
                times = measure(chosen, timer, paced)
                summary = _summary(times)
                summary["cpu_ms_mean"] = sum(timer.cpu_ms) / len(timer.cpu_ms)
                methods[f"{method} {PACED}" if paced else method] = summary
        results.append(
            {
                "source": name,
                "program": "x".join(map(str, FIT_PROGRAM)),
                "scaled_to": "x".join(map(str, fit(width, height, *FIT_PROGRAM))),
                "cv2_threads": cv2.getNumThreads(),
                "outputs": _fit_outputs(packets, 10),
                "methods": methods,
            }
        )
    return results


def _summary(times: list[float]) -> dict[str, float]:
    return {
        "median_ms": median(times),
        "p99_ms": percentile(times, 99),
        "max_ms": max(times),
    }


def run(quick: bool, sizes: list[str] | None = None, frames: int | None = None) -> dict[str, Any]:
    """Measure every method at 720p and 1080p, and fitting sources to the program;
    returns JSON-ready results."""
    chosen = sizes or list(SIZES)
    count = frames or (100 if quick else 600)
    paced = frames or (60 if quick else 300)
    # Paced, the fit table costs eight runs of 10 s: a quick run (all benchmarks in under
    # 2 min) times it back to back only.
    fit_paced = frames or (0 if quick else paced)
    return {
        "fps": FPS,
        "decoder": "h264 (FFmpeg), frames from libx264 ultrafast",
        "results": [measure_size(size, count, paced) for size in chosen],
        "fit": measure_fit(count, fit_paced),
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
    return "\n".join([out, *notes, "", fit_table(results["fit"])])


def fit_table(fits: list[dict[str, Any]]) -> str:
    """The fit-to-program results as a plain-text table, then how the outputs compare."""
    rows = []
    for result in fits:
        for name, m in result["methods"].items():
            source = f"{result['source']} → {result['scaled_to']}"
            rows.append([source, name, m["median_ms"], m["p99_ms"], m["max_ms"], m["cpu_ms_mean"]])
    headers = ["source", "method", "ms med", "ms p99", "ms max", "cpu ms"]
    title = f"fit source to program ({fits[0]['program']}, letterboxed), per frame"
    out = text_table(headers, _two_digits(rows), title)
    notes = [
        f"{r['source']}: before {'identical' if r['outputs']['before_identical'] else 'DIFFERS'}; "
        f"cv2 ({r['cv2_threads']} threads) Y PSNR {r['outputs']['cv2_y_psnr_db']:.1f} dB "
        f"against ours, bars {'black' if r['outputs']['cv2_bars_black'] else 'NOT black'}"
        for r in fits
    ]
    return "\n".join([out, *notes])


def _two_digits(rows: list[list[Any]]) -> list[list[Any]]:
    """Sub-millisecond figures need two decimals (the shared table rounds to one)."""
    return [[f"{c:.2f}" if isinstance(c, float) else c for c in row] for row in rows]


if __name__ == "__main__":
    print(table(run(quick=True)))
