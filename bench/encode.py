"""`encode`: cost of the one program encode (ProgramEncoder) per preset and size.

Wall time (median, p95) and process CPU time per frame: libx264 may run threads, so
CPU time can exceed wall time; on a busy server it is CPU time that is paid. Also the
bitrate actually produced and the luma PSNR against the source, so a faster preset's
loss in quality at the same bitrate is visible too.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from livestudio.media.encode import ProgramEncoder, VideoSettings

from .common import CpuWindow, median, percentile, table, write_results
from .content import Scene, luma

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}
PRESETS = ("ultrafast", "superfast", "veryfast", "faster")
FPS = 30
WARMUP_FRAMES = 10


@dataclass
class EncodeResult:
    """One (size, preset) measurement."""

    size: str
    preset: str
    frames: int
    wall_ms_median: float
    wall_ms_p95: float
    cpu_ms_per_frame: float
    max_fps: float
    "1000 / median wall time: what one encoder keeps up with, given the CPU it found."
    cpu_share_at_30fps: float
    "% of one core the encode alone needs at 30 fps (CPU time)."
    kbps: float
    psnr_y: float


def bitrate_for(width: int, height: int) -> int:
    """The server's default bitrate scaled with the picture (2 Mbit/s at 720p)."""
    return int(2_000_000 * width * height / (1280 * 720))


def measure(size: str, preset: str, frames: int) -> EncodeResult:
    """Encode `frames` frames of the moving scene; time each encode() call."""
    width, height = SIZES[size]
    settings = VideoSettings(
        width=width, height=height, fps=FPS, bitrate=bitrate_for(width, height), preset=preset
    )
    encoder = ProgramEncoder(settings)
    decoder = av.CodecContext.create("h264", "r")
    scene = Scene(width, height)
    walls: list[float] = []
    cpu_total = 0.0
    size_bytes = 0
    sources: list[np.ndarray] = []
    mse: list[float] = []
    for i in range(WARMUP_FRAMES + frames):
        frame = scene.frame(i)
        sources.append(luma(frame).copy())
        wall0, cpu0 = time.perf_counter(), time.process_time()
        packets = encoder.encode(frame)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        measured = i >= WARMUP_FRAMES
        if measured:
            walls.append(wall)
            cpu_total += cpu
        for packet in packets:
            size_bytes += packet.size if measured else 0
            for decoded in decoder.decode(packet):
                diff = luma(decoded).astype(np.float32) - sources.pop(0)
                if measured:
                    mse.append(float(np.mean(diff**2)))
    wall_med = 1000 * median(walls)
    cpu_ms = 1000 * cpu_total / frames
    mean_mse = sum(mse) / len(mse) if mse else float("nan")
    return EncodeResult(
        size=size,
        preset=preset,
        frames=frames,
        wall_ms_median=wall_med,
        wall_ms_p95=1000 * percentile(walls, 95),
        cpu_ms_per_frame=cpu_ms,
        max_fps=1000 / wall_med if wall_med else float("nan"),
        cpu_share_at_30fps=cpu_ms * FPS / 10,
        kbps=size_bytes * 8 * FPS / frames / 1000,
        psnr_y=10 * math.log10(255**2 / mean_mse) if mean_mse and mean_mse == mean_mse else 99.0,
    )


def run(
    sizes: list[str], presets: list[str], frames: int, results_dir: Path | None = None
) -> dict[str, Any]:
    """Measure every size x preset, print the table, write encode.json."""
    window = CpuWindow({"bench": os.getpid()})
    window.start()
    results = [measure(size, preset, frames) for size in sizes for preset in presets]
    ours = window.stop()["bench"]
    other = sum((window.cpu_busy or {}).values()) - ours
    headers = [
        "size",
        "preset",
        "frames",
        "ms med",
        "ms p95",
        "cpu ms/f",
        "max fps",
        "%core@30",
        "kbps",
        "PSNR-Y",
    ]
    rows = [
        [
            r.size,
            r.preset,
            r.frames,
            r.wall_ms_median,
            r.wall_ms_p95,
            r.cpu_ms_per_frame,
            r.max_fps,
            r.cpu_share_at_30fps,
            r.kbps,
            r.psnr_y,
        ]
        for r in results
    ]
    title = "encode: ProgramEncoder (libx264, zerolatency, baseline), per frame"
    print(table(headers, rows, title))
    if other > 50:
        print(
            f"note: {other:.0f} % of a core was busy outside this process meanwhile "
            "(other processes, kernel): timings may be inflated"
        )
    data: dict[str, Any] = {
        "fps": FPS,
        "threads_note": "libx264 picks its own thread count; cpu ms/f is process CPU time",
        "other_load_pct": other,
        "results": [asdict(r) for r in results],
    }
    path = write_results("encode", data, results_dir)
    print(f"-> {path}\n")
    return data
