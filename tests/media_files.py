"""Known media for the browser's fake camera and microphone: a two-colour clip and a tone."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

import av
import numpy as np

LEFT_RGB = (220, 40, 40)
"Left half of the clip: red."
RIGHT_RGB = (40, 80, 220)
"Right half of the clip: blue."


def write_y4m(path: Path, width: int = 640, height: int = 360, frames: int = 30) -> Path:
    """A Y4M clip, left half LEFT_RGB and right half RIGHT_RGB, with a moving white bar.

    Colours are converted by swscale (BT.601, limited range) as browsers expect; the bar
    keeps the encoder honest (a static picture would compress to nothing).
    """
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode())
        for n in range(frames):
            rgb = np.zeros((height, width, 3), dtype=np.uint8)
            rgb[:, : width // 2] = LEFT_RGB
            rgb[:, width // 2 :] = RIGHT_RGB
            x = (n * 16) % width
            rgb[height - 24 :, x : x + 24] = 255
            yuv = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            out.write(b"FRAME\n")
            out.write(yuv.to_ndarray().tobytes())
    return path


def write_tone(path: Path, frequency: float = 440.0, seconds: float = 3.0) -> Path:
    """A 48 kHz mono 16-bit WAV sine tone (Chromium loops it as the fake microphone)."""
    rate = 48000
    samples = [
        int(0.5 * 32767 * math.sin(2 * math.pi * frequency * i / rate))
        for i in range(int(rate * seconds))
    ]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return path
