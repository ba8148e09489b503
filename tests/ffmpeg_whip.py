"""FFmpeg's own `whip` muxer (the FFmpeg 8 libraries inside PyAV's wheel) as a WHIP client.

Run as a script (`python -m tests.ffmpeg_whip URL KEY SECONDS [CERT KEYFILE]`), so a test
can start it inside another network namespace. It encodes stamped frames (tests/utils.py
`stamp`) and a tone with the settings docs/obs.md gives for `ffmpeg -f whip`, paces them
in real time, and prints one JSON line: frames sent, or the error FFmpeg reported.
"""

from __future__ import annotations

import fractions
import json
import math
import sys
import time

import av
import numpy as np

from .utils import stamp

WIDTH, HEIGHT, FPS = 640, 360, 30
VIDEO_OPTIONS = {
    "profile": "baseline",
    "tune": "zerolatency",
    "preset": "veryfast",
    "g": str(FPS),
    "bf": "0",
}
"libx264 as docs/obs.md has it: baseline, no B-frames (the muxer refuses them), 1 s GOP."
AUDIO_RATE = 48000
"The muxer takes Opus at 48 kHz stereo only."


def publish(url: str, key: str, seconds: float, cert: str = "", keyfile: str = "") -> int:
    """Publish for `seconds`; returns the number of video frames sent."""
    options = {"authorization": key, "handshake_timeout": "5000"}
    if cert:
        options |= {"cert_file": cert, "key_file": keyfile}
    out = av.open(url, "w", format="whip", options=options)
    try:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.codec_context.options = VIDEO_OPTIONS
        audio = out.add_stream("libopus", rate=AUDIO_RATE, layout="stereo")
        base = av.VideoFrame.from_ndarray(
            np.full((HEIGHT, WIDTH, 3), (200, 60, 90), np.uint8), format="rgb24"
        ).reformat(format="yuv420p")
        planes = base.to_ndarray()
        tone = np.sin(2 * math.pi * 440 * np.arange(960) / AUDIO_RATE) * 0.3 * 32767
        chunk = np.repeat(tone.astype(np.int16), 2).reshape(1, -1)
        start = time.monotonic()
        n = samples = 0
        while time.monotonic() - start < seconds:
            array = planes.copy()
            stamp(array, n + 1)  # 0 would read as black
            frame = av.VideoFrame.from_ndarray(array, format="yuv420p")
            frame.pts, frame.time_base = n, fractions.Fraction(1, FPS)
            for packet in video.encode(frame):
                out.mux(packet)
            while samples < (n + 1) * AUDIO_RATE // FPS:
                sound = av.AudioFrame.from_ndarray(chunk, format="s16", layout="stereo")
                sound.sample_rate = AUDIO_RATE
                sound.pts, sound.time_base = samples, fractions.Fraction(1, AUDIO_RATE)
                for packet in audio.encode(sound):
                    out.mux(packet)
                samples += 960
            n += 1
            time.sleep(max(0.0, start + n / FPS - time.monotonic()))
        for packet in video.encode(None):
            out.mux(packet)
    finally:
        out.close()  # the muxer DELETEs its session here
    return n


def main() -> int:
    """Command line: URL KEY SECONDS [CERT KEYFILE]; prints a JSON line."""
    url, key, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    cert, keyfile = (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else ("", "")
    try:
        frames = publish(url, key, seconds, cert, keyfile)
    except av.FFmpegError as exc:
        print(json.dumps({"frames": 0, "error": str(exc)}), flush=True)
        return 1
    print(json.dumps({"frames": frames, "error": None}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
