"""Light WebRTC receivers: count what arrives instead of decoding it.

aiortc's RTCRtpReceiver reassembles every frame in a Python jitter buffer and decodes it
in a thread (a 720p H.264 decode costs a few ms): with dozens of viewers in one client
process the *clients* would become the bottleneck. Two lighter receivers:

- "rtp" (default): the receiver's `_handle_rtp_packet` is replaced, on that instance only,
  by a counter of packets, frames (RTP marker bits), keyframe starts and sequence gaps.
  SRTP is still decrypted and RTCP still flows; nothing is reassembled or decoded.
- "decoder": frames are reassembled as usual but the decoder thread only counts them
  (`aiortc.rtcrtpreceiver.decoder_worker` is replaced; `receive()` looks it up at call
  time; receivers not registered here decode as usual).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import aiortc.rtcrtpreceiver as rtcrtpreceiver
from aiortc.rtcrtpreceiver import RemoteStreamTrack

_original_worker = rtcrtpreceiver.decoder_worker
_counted: dict[int, tuple[asyncio.Queue[Any], FrameCounter]] = {}
MODES = ("rtp", "decoder")


@dataclass
class FrameCounter:
    """What a non-decoding receiver got (updated on the loop or the decoder thread)."""

    kind: str
    frames: int = 0
    keyframes: int = 0
    bytes: int = 0
    packets: int = 0
    lost: int = 0
    "Packets missing from the sequence (rtp mode)."
    first_frame_at: float = 0.0
    "time.monotonic() of the first complete frame (0 until then)."
    _last_seq: int = -1

    def frame(self, keyframe: bool) -> None:
        if self.frames == 0:
            self.first_frame_at = time.monotonic()
        self.frames += 1
        if keyframe:
            self.keyframes += 1


def is_keyframe(codec_name: str, data: bytes) -> bool:
    """Whether a depayloaded frame starts a GOP (H.264 IDR/SPS, VP8 key frame)."""
    name = codec_name.upper()
    if name == "H264":
        start = 0
        for _ in range(8):  # SPS, PPS, (SEI,) IDR come first in a keyframe
            i = data.find(b"\x00\x00\x01", start)
            if i < 0 or i + 3 >= len(data):
                return False
            if data[i + 3] & 0x1F in (5, 7):
                return True
            start = i + 3
        return False
    if name == "VP8":
        return bool(data) and not data[0] & 0x01
    return False


def starts_h264_keyframe(payload: bytes) -> bool:
    """Whether an H.264 RTP payload begins an IDR or carries an SPS (RFC 6184)."""
    if len(payload) < 2:
        return False
    nal = payload[0] & 0x1F
    if nal in (5, 7):
        return True
    if nal == 24 and len(payload) > 3:  # STAP-A: the first aggregated NAL
        return payload[3] & 0x1F in (5, 7)
    if nal == 28:  # FU-A: the start fragment of an IDR
        return bool(payload[1] & 0x80) and payload[1] & 0x1F == 5
    return False


def _rtp_counter(counter: FrameCounter) -> Any:
    async def handle_rtp_packet(packet: Any, arrival_time_ms: int) -> None:
        counter.packets += 1
        counter.bytes += len(packet.payload)
        seq = packet.sequence_number
        if counter._last_seq >= 0:
            gap = (seq - counter._last_seq) % 65536
            if 1 < gap < 32768:
                counter.lost += gap - 1
            if gap == 0 or gap >= 32768:
                return  # duplicate or late
        counter._last_seq = seq
        if counter.kind == "audio":
            counter.frame(False)
        else:
            if starts_h264_keyframe(packet.payload):
                counter.keyframes += 1
            if packet.marker:
                # keyframes were counted on their first packet
                counter.frame(False)

    return handle_rtp_packet


def _counting_worker(
    loop: asyncio.AbstractEventLoop,
    input_q: queue.Queue[Any],
    output_q: asyncio.Queue[Any],
    decode_error: threading.Event,
) -> None:
    entry = _counted.pop(id(output_q), None)
    if entry is None:
        _original_worker(loop, input_q, output_q, decode_error)
        return
    counter = entry[1]
    while True:
        task = input_q.get()
        if task is None:
            asyncio.run_coroutine_threadsafe(output_q.put(None), loop)
            break
        codec, encoded_frame = task
        counter.bytes += len(encoded_frame.data)
        counter.frame(is_keyframe(codec.name, encoded_frame.data))


def install() -> None:
    """Needed for "decoder" mode: route registered receivers to the counting worker."""
    rtcrtpreceiver.decoder_worker = _counting_worker


def count_frames(receiver: Any, kind: str, mode: str = "rtp") -> FrameCounter:
    """Make a (not yet negotiated) RTCRtpReceiver count what it gets instead of decoding.

    aiortc creates the remote track in setRemoteDescription only if the receiver has
    none yet, so one made here is kept, and its queue identifies the receiver.
    """
    counter = FrameCounter(kind=kind)
    if mode == "rtp":
        receiver._handle_rtp_packet = _rtp_counter(counter)
        return counter
    if receiver.track is None:
        receiver._track = RemoteStreamTrack(kind=kind)
    output_q = receiver.track._queue
    _counted[id(output_q)] = (output_q, counter)
    return counter
