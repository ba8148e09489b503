"""Program frames → H.264 and Opus packets, encoded once for every viewer (DESIGN 1, 2)."""

from __future__ import annotations

import fractions
from collections import deque
from dataclasses import dataclass
from typing import cast

import av
import numpy as np

from .clock import AUDIO_RATE, AUDIO_TIME_BASE, VIDEO_TIME_BASE

AUDIO_FRAME_SAMPLES = 960
"20 ms at 48 kHz: the Opus frame WebRTC expects."

# H.264 Table A-1: (max macroblocks/s, max frame size in macroblocks, level_idc).
_LEVELS = [
    (40500, 1620, 30),
    (108000, 3600, 31),
    (216000, 5120, 32),
    (245760, 8192, 40),
    (522240, 8704, 42),
    (589824, 22080, 50),
    (983040, 36864, 51),
]


def h264_level(width: int, height: int, fps: int) -> int:
    """The smallest H.264 level (level_idc) that carries width x height at fps, at least 3.0."""
    frame_mbs = ((width + 15) // 16) * ((height + 15) // 16)
    for max_mbps, max_fs, level in _LEVELS:
        if frame_mbs * fps <= max_mbps and frame_mbs <= max_fs:
            return level
    return 52


@dataclass(frozen=True)
class VideoSettings:
    """What the program is encoded as; fixed for the life of a show (DESIGN 8)."""

    width: int
    height: int
    fps: int = 30
    bitrate: int = 2_000_000
    preset: str = "veryfast"
    keyframe_interval: float = 2.0
    fill: bool = False
    """Crop sources to fill the box (centre), instead of fitting them in with bars: a
    portrait program from a landscape camera. The program is then the box's size."""
    level: int = 0
    """H.264 level_idc; 0: the smallest that fits.

    A show uses its configured box's level, known before the first frame fixes the size,
    so a viewer joining before that is answered with what its SPS will say."""

    @property
    def level_idc(self) -> int:
        """The level written into the SPS."""
        return self.level or h264_level(self.width, self.height, self.fps)

    @property
    def profile_level_id(self) -> str:
        """The SDP profile-level-id of the stream: constrained baseline at our level."""
        return f"42e0{self.level_idc:02x}"


def _mark_constrained_baseline(data: bytes) -> bytes:
    """Set constraint_set2 in every SPS so its bytes read 42e0xx like the SDP we answer.

    x264's baseline already obeys the constrained-baseline subset (no FMO/ASO/redundant
    slices) and sets constraint_set0/1; set2 ("obeys Extended") is also true of such a
    stream. With it the SPS matches the profile-level-id browsers offer and we answer.
    """
    out = bytearray(data)
    start = 0
    while True:
        i = out.find(b"\x00\x00\x01", start)
        if i < 0 or i + 6 > len(out):
            break
        if out[i + 3] & 0x1F == 7 and out[i + 4] == 0x42:
            out[i + 5] |= 0x20
        start = i + 3
    return bytes(out)


class ProgramEncoder:
    """libx264 for the whole show: constrained baseline, Annex-B, no scene cuts, forced IDRs."""

    def __init__(self, settings: VideoSettings) -> None:
        self.settings = settings
        self.frames_encoded = 0
        self.last_encode_seconds = 0.0
        keyint = max(1, round(settings.keyframe_interval * settings.fps))
        level = settings.level_idc
        ctx = av.CodecContext.create("libx264", "w")
        ctx.width = settings.width
        ctx.height = settings.height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = VIDEO_TIME_BASE
        ctx.framerate = fractions.Fraction(settings.fps, 1)
        ctx.bit_rate = settings.bitrate
        ctx.options = {
            "preset": settings.preset,
            # zerolatency: no lookahead, no B-frames, one slice per frame out at once.
            "tune": "zerolatency",
            "profile": "baseline",
            "level": f"{level // 10}.{level % 10}",
            # scenecut=0: no surprise IDRs; forced-idr: a requested I-frame is an IDR a
            # joiner can start on; repeat-headers: SPS/PPS in front of every IDR.
            "x264-params": (
                f"keyint={keyint}:min-keyint={keyint}:scenecut=0:forced-idr=1:"
                f"repeat-headers=1:vbv-maxrate={settings.bitrate // 1000}:"
                f"vbv-bufsize={settings.bitrate // 1000}"
            ),
        }
        self._ctx = ctx

    def encode(self, frame: av.VideoFrame, keyframe: bool = False) -> list[av.Packet]:
        """Encode one program frame (pts in 1/90000); returns its packets (0 or 1)."""
        frame.pict_type = (
            av.video.frame.PictureType.I if keyframe else av.video.frame.PictureType.NONE
        )
        packets = []
        for packet in self._ctx.encode(frame):
            if packet.is_keyframe:
                packet = _rewrap(packet, _mark_constrained_baseline(bytes(packet)))
            packet.time_base = VIDEO_TIME_BASE
            packets.append(packet)
        self.frames_encoded += 1
        return packets


def _rewrap(packet: av.Packet, data: bytes) -> av.Packet:
    new = av.Packet(data)
    new.pts = packet.pts
    new.dts = packet.dts
    new.time_base = packet.time_base
    new.is_keyframe = True
    return new


def _audio_context(codec: str, sample_format: str, bitrate: int) -> av.AudioCodecContext:
    """An encoder for the program audio: 48 kHz stereo, pts in 1/48000."""
    ctx = cast(av.AudioCodecContext, av.CodecContext.create(codec, "w"))
    ctx.sample_rate = AUDIO_RATE
    ctx.layout = "stereo"
    ctx.format = sample_format
    ctx.bit_rate = bitrate
    ctx.time_base = AUDIO_TIME_BASE
    return ctx


class OpusEncoder:
    """Program audio → Opus, 20 ms frames, 48 kHz stereo, pts on the program clock."""

    def __init__(self, bitrate: int = 64000) -> None:
        ctx = _audio_context("libopus", "s16", bitrate)
        ctx.options = {"application": "lowdelay", "frame_duration": "20"}
        self._ctx = ctx
        # libopus shifts pts by its pre-skip; WebRTC wants the capture time of each frame,
        # so packets are re-stamped with their input frame's pts (one in, one out).
        self._pending: deque[int] = deque()

    def encode(self, samples: np.ndarray, pts: int) -> list[av.Packet]:
        """Encode 960 interleaved stereo s16 samples (shape (1, 1920)) stamped `pts` (1/48000)."""
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="stereo")
        frame.sample_rate = AUDIO_RATE
        frame.pts = pts
        frame.time_base = AUDIO_TIME_BASE
        self._pending.append(pts)
        packets = []
        for packet in self._ctx.encode(frame):
            packet.pts = packet.dts = self._pending.popleft() if self._pending else packet.pts
            packet.time_base = AUDIO_TIME_BASE
            packets.append(packet)
        return packets


class AacEncoder:
    """Program audio → AAC-LC for the recording and HLS (Safari/iOS play it), encoded once.

    Takes the same 20 ms PCM chunks as Opus and re-blocks them into AAC's 1024-sample
    frames, stamped on the program clock by sample count.
    """

    def __init__(self, bitrate: int = 128000) -> None:
        ctx = _audio_context("aac", "fltp", bitrate)
        ctx.open()
        self._ctx = ctx
        self.extradata: bytes = bytes(ctx.extradata or b"")
        "The AudioSpecificConfig a muxer needs before the first packet."
        self._buffer = np.zeros((2, 0), dtype=np.float32)
        self._next_pts: int | None = None

    def encode(self, samples: np.ndarray, pts: int) -> list[av.Packet]:
        """Add interleaved stereo s16 samples (shape (1, 2n)) stamped `pts`; return packets."""
        if self._next_pts is None:
            self._next_pts = pts
        planar = samples.reshape(-1, 2).T.astype(np.float32) / 32768.0
        self._buffer = np.concatenate([self._buffer, planar], axis=1)
        packets: list[av.Packet] = []
        while self._buffer.shape[1] >= 1024:
            block, self._buffer = self._buffer[:, :1024], self._buffer[:, 1024:]
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(block), format="fltp", layout="stereo"
            )
            frame.sample_rate = AUDIO_RATE
            frame.pts = self._next_pts
            frame.time_base = AUDIO_TIME_BASE
            self._next_pts += 1024
            for packet in self._ctx.encode(frame):
                packet.time_base = AUDIO_TIME_BASE
                packets.append(packet)
        return packets
