"""Light WebRTC receivers: count what arrives instead of decoding it.

aiortc's RTCRtpReceiver reassembles every frame in a Python jitter buffer and decodes it
in a thread (a 720p H.264 decode costs a few ms): with dozens of viewers in one client
process the *clients* would become the bottleneck. Three lighter receivers:

- "rtp" (default): the receiver's `_handle_rtp_packet` is replaced, on that instance only,
  by a counter of packets, frames (RTP marker bits), keyframe starts and sequence gaps.
  SRTP is still decrypted and RTCP still flows; nothing is reassembled or decoded.
- "decoder": frames are reassembled as usual but the decoder thread only counts them
  (`aiortc.rtcrtpreceiver.decoder_worker` is replaced; `receive()` looks it up at call
  time; receivers not registered here decode as usual).
- "srtp" (default): "rtp" until the peer connection is up, then its selected ICE pair's
  socket is read by `DatagramCounter` instead of asyncio's transport: each datagram is
  read with `recvmsg` (several per wake-up, UDP GRO on so a burst can arrive as one
  buffer), SRTP packets are counted from their clear header (SSRC's payload type,
  sequence number, marker bit) without being decrypted, and everything else — STUN (so
  ICE consent stays fresh), DTLS, SRTCP (the server's sender reports) — goes to aioice
  as before. Keyframes cannot be seen in an encrypted payload: not counted after the
  switch.
"""

from __future__ import annotations

import asyncio
import builtins
import os
import queue
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import aiortc.rtcrtpreceiver as rtcrtpreceiver
from aiortc.rtcrtpreceiver import RemoteStreamTrack
from aiortc.sdp import SessionDescription

_original_worker = rtcrtpreceiver.decoder_worker
_counted: dict[int, tuple[asyncio.Queue[Any], FrameCounter]] = {}
MODES = ("srtp", "rtp", "decoder")
UDP_GRO = getattr(socket, "UDP_GRO", 104)
READS_PER_WAKEUP = 64


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

    def rtp(self, seq: int, marker: bool, size: int, payload: builtins.bytes | None) -> None:
        """One RTP packet (its payload when decrypted, for keyframe detection)."""
        self.packets += 1
        self.bytes += size
        if self._last_seq >= 0:
            gap = (seq - self._last_seq) % 65536
            if 1 < gap < 32768:
                self.lost += gap - 1
            if gap == 0 or gap >= 32768:
                return  # duplicate or late
        self._last_seq = seq
        if self.kind == "audio":
            self.frame(False)
            return
        if payload is not None and starts_h264_keyframe(payload):
            self.keyframes += 1
        if marker:
            self.frame(False)  # keyframes were counted on their first packet

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
        counter.rtp(
            packet.sequence_number, bool(packet.marker), len(packet.payload), packet.payload
        )

    return handle_rtp_packet


@dataclass
class DatagramCounter:
    """Reads one connected peer connection's socket: counts SRTP, passes the rest on."""

    by_payload_type: dict[int, FrameCounter]
    protocol: Any
    "aioice's StunProtocol of the selected pair: STUN, DTLS and SRTCP go to it."
    sock: socket.socket
    other_rtp: int = 0
    "SRTP packets of other payload types (RTX retransmissions)."
    reads: int = 0
    gro_buffers: int = 0
    "Reads that returned several datagrams in one buffer (UDP GRO)."
    _space: int = field(default_factory=lambda: socket.CMSG_SPACE(4))

    def read(self) -> None:
        """The socket is readable: drain it (up to READS_PER_WAKEUP buffers)."""
        for _ in range(READS_PER_WAKEUP):
            try:
                data, ancillary, _flags, address = self.sock.recvmsg(65535, self._space)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self.reads += 1
            segment = len(data)
            for level, kind, value in ancillary:
                if level == socket.SOL_UDP and kind == UDP_GRO:
                    segment = struct.unpack("=i", value[:4])[0] or segment
            if segment >= len(data):
                self._one(data, address)
                continue
            self.gro_buffers += 1
            for offset in range(0, len(data), segment):
                self._one(data[offset : offset + segment], address)

    def _one(self, data: bytes, address: Any) -> None:
        if len(data) >= 12 and 127 < data[0] < 192 and not 191 < data[1] < 224:
            counter = self.by_payload_type.get(data[1] & 0x7F)
            if counter is None:
                self.other_rtp += 1
            else:
                counter.rtp((data[2] << 8) | data[3], data[1] > 127, len(data) - 12, None)
            return
        self.protocol.datagram_received(data, address)


def count_datagrams(pc: Any, counters: dict[str, FrameCounter]) -> DatagramCounter | None:
    """Once `pc` is connected: read its selected pair's socket with a DatagramCounter,
    counting the SRTP of `counters`' kinds (by the answer's payload types)."""
    by_type: dict[int, FrameCounter] = {}
    for media in SessionDescription.parse(pc.remoteDescription.sdp).media:
        counter = counters.get(media.kind)
        if counter is None:
            continue
        for codec in media.rtp.codecs:
            if not codec.mimeType.lower().endswith("/rtx") and codec.payloadType is not None:
                by_type[codec.payloadType] = counter
    connection = pc.getTransceivers()[0].receiver.transport.transport._connection
    pair = connection._nominated.get(1)
    if pair is None:
        return None
    protocol = pair.protocol
    fd = protocol.transport.get_extra_info("socket").fileno()
    sock = socket.socket(fileno=os.dup(fd))
    sock.setblocking(False)
    try:
        sock.setsockopt(socket.SOL_UDP, UDP_GRO, 1)
    except OSError:
        pass  # no GRO: one datagram per read, still no decrypting
    reader = DatagramCounter(by_type, protocol, sock)
    # asyncio's transport stops reading; our dup of its socket is read instead.
    protocol.transport.pause_reading()
    asyncio.get_running_loop().add_reader(sock.fileno(), reader.read)
    return reader


def stop_counting(reader: DatagramCounter) -> None:
    """Stop reading and close our dup of the socket."""
    if reader.sock.fileno() >= 0:
        asyncio.get_running_loop().remove_reader(reader.sock.fileno())
        reader.sock.close()


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
    if mode in ("rtp", "srtp"):
        receiver._handle_rtp_packet = _rtp_counter(counter)
        return counter
    if receiver.track is None:
        receiver._track = RemoteStreamTrack(kind=kind)
    output_q = receiver.track._queue
    _counted[id(output_q)] = (output_q, counter)
    return counter
