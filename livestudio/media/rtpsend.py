"""The lean send path: one viewer's RTP stream, built from payloads shared by every viewer.

Per packet and viewer only what differs is done: a 12-byte header (its sequence number,
its timestamp origin, its SSRC) and the header extensions its answer negotiated, SRTP
protect with its session, and the send on its ICE pair's socket. A frame's datagrams to
one viewer leave together (one `sendmsg` per run of equal sizes with UDP segmentation
offload where the kernel has it). The payloads themselves are made once per program
packet (`PayloadCache`, media/h264rtp.py).

Nothing here knows aiortc: media/leansend.py takes the SRTP session, the socket, the
SSRCs and the negotiated parameters from a connected aiortc sender.
"""

from __future__ import annotations

import errno
import logging
import socket
import struct
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import av

from .h264rtp import packetize

log = logging.getLogger(__name__)

HISTORY = 1024
"""Packets kept per stream for retransmission (NACK): ~5 s of 720p video at 2 Mbit/s.
aiortc keeps 128 (~0.7 s): a NACK arrives one round trip after the loss is seen. What is
kept is the shared payload and the header's fields, not the packet: 1024 packets of
~1.2 kB copied per viewer were ~1.3 MB each, allocated and freed packet by packet, and
that churn fragmented the heap (the soak's RSS climbed ~70 MB before it levelled off)."""
NTP_EPOCH = 2208988800
"Seconds from the NTP epoch (1900) to the Unix one."
UDP_SEGMENT = getattr(socket, "UDP_SEGMENT", 103)
"Linux UDP GSO (since 4.18): one sendmsg, the kernel cuts it into equal datagrams."
GSO_MAX_SEGMENTS = 64
GSO_MAX_BYTES = 65000
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
_HEADER = struct.Struct("!BBHII")
_SEGMENT = struct.Struct("=H")


@dataclass(frozen=True)
class Payloads:
    """One program packet as RTP payloads (shared by every viewer), and its timestamp."""

    payloads: list[bytes]
    timestamp: int
    "The packet's pts at the stream's clock rate (90 kHz video, 48 kHz Opus)."


class PayloadCache:
    """Packetizes each program packet once, whoever asks for it.

    The broadcast hands the same packet object to every viewer in a row, so an identity
    cache of the last few packets turns N packetizations into one. The packets are held
    (not only their ids) so that an id cannot be reused while cached.
    """

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._cache: OrderedDict[int, tuple[av.Packet, Payloads]] = OrderedDict()
        self.packetized = 0
        "Packets packetized (each once, however many viewers sent it)."

    def get(self, packet: av.Packet, kind: str, clock_rate: int) -> Payloads:
        """The RTP payloads of a video (H.264) or audio (one payload) packet."""
        hit = self._cache.get(id(packet))
        if hit is not None and hit[0] is packet:
            return hit[1]
        data = bytes(packet)
        payloads = packetize(data) if kind == "video" else [data]
        timestamp = 0
        if packet.pts is not None and packet.time_base is not None:
            timestamp = int(packet.pts * packet.time_base * clock_rate)
        made = Payloads(payloads, timestamp)
        self.packetized += 1
        self._cache[id(packet)] = (packet, made)
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return made


class DatagramOut:
    """Sends a viewer's datagrams on its ICE pair's socket (a dup we own), to its peer."""

    gso = True
    "Cleared (for every viewer) the first time the kernel refuses UDP_SEGMENT."

    def __init__(self, sock: socket.socket, address: tuple[str, int]) -> None:
        self.sock = sock
        self.address = address
        self.dropped = 0
        "Datagrams the socket's full send buffer refused (lost, as on a network)."
        self.sends = 0
        "System calls made."

    def send(self, datagrams: list[bytes]) -> None:
        """Send in order; a full buffer drops (the viewer's NACK or PLI recovers)."""
        count = len(datagrams)
        if count == 1 or not DatagramOut.gso:
            for datagram in datagrams:
                self._sendto(datagram)
            return
        start = 0
        while start < count:
            size = len(datagrams[start])
            end = start + 1
            limit = min(count, start + GSO_MAX_SEGMENTS, start + GSO_MAX_BYTES // size)
            while end < limit and len(datagrams[end]) == size:
                end += 1
            if end < limit and len(datagrams[end]) < size:
                end += 1  # a shorter last segment is allowed
            if end - start == 1:
                self._sendto(datagrams[start])
            else:
                self._send_segments(datagrams[start:end], size)
            start = end

    def send_one(self, datagram: bytes) -> None:
        """Send one datagram."""
        self.sends += 1
        try:
            self.sock.sendto(datagram, self.address)
        except OSError as exc:  # a full buffer, the peer's port gone: a lost packet
            self.dropped += 1
            if not isinstance(exc, BlockingIOError):
                log.debug("sendto %s: %s", self.address, exc)

    def _sendto(self, datagram: bytes) -> None:
        self.sends += 1
        try:
            self.sock.sendto(datagram, self.address)
        except BlockingIOError:
            self.dropped += 1
        except OSError as exc:  # the peer's port gone (ICMP), network down: a lost packet
            log.debug("sendto %s: %s", self.address, exc)
            self.dropped += 1

    def _send_segments(self, datagrams: list[bytes], size: int) -> None:
        self.sends += 1
        try:
            self.sock.sendmsg(
                [b"".join(datagrams)],
                [(socket.SOL_UDP, UDP_SEGMENT, _SEGMENT.pack(size))],
                0,
                self.address,
            )
        except BlockingIOError:
            self.dropped += len(datagrams)
        except OSError as exc:
            if exc.errno in (errno.EIO, errno.EINVAL, errno.ENOPROTOOPT, errno.EOPNOTSUPP):
                log.info("no UDP segmentation offload here (%s): one sendto per packet", exc)
                DatagramOut.gso = False
                for datagram in datagrams:
                    self._sendto(datagram)
            else:
                log.debug("sendmsg %s: %s", self.address, exc)
                self.dropped += len(datagrams)

    def close(self) -> None:
        """Close our dup of the socket (the ICE connection keeps its own)."""
        self.sock.close()


def ntp_time(now: float) -> int:
    """64-bit NTP timestamp of a `time.time()` value."""
    seconds = int(now)
    return ((seconds + NTP_EPOCH) << 32) | int((now - seconds) * 4294967296.0)


@dataclass
class StreamParameters:
    """What one viewer's answer negotiated for one stream, and its SSRCs."""

    payload_type: int
    clock_rate: int
    ssrc: int
    mid: str | None = None
    extension_ids: dict[str, int] = field(default_factory=dict)
    "Negotiated header extension URI → id."
    rtx_payload_type: int | None = None
    rtx_ssrc: int | None = None
    marker_every_packet: bool = False
    "Audio: every packet ends a frame (aiortc marks each Opus packet too)."


class RtpStream:
    """One viewer's video or audio RTP stream on the lean path."""

    def __init__(
        self,
        params: StreamParameters,
        protect: Callable[[bytes], bytes],
        out: DatagramOut,
        sequence_number: int,
        timestamp_origin: int,
    ) -> None:
        self.params = params
        self._protect = protect
        self.out = out
        self.sequence_number = sequence_number
        self.timestamp_origin = timestamp_origin
        "RTP timestamp of pts 0 on this stream (the page's rtpOrigin for video)."
        self.rtx_sequence_number = (sequence_number + 16384) & 0xFFFF
        self._first_byte = 0x80
        self._ext_head = b""
        self._ext_tail = b""
        self._abs_send_time = False
        self._build_extensions(params)
        self._history: list[tuple[int, int, int, bytes] | None] = [None] * HISTORY
        "Per slot: sequence number, RTP timestamp, marker|payload type byte, payload."
        self.frames = 0
        "Program packets sent (video frames, audio packets)."
        self.first_pts: int | None = None
        "Pts (stream clock) of the first one: where the viewer's timestamps start."
        self.packets = 0
        self.octets = 0
        "Payload bytes sent (the sender report's octet count)."
        self.last_timestamp = 0
        "RTP timestamp of the last frame sent (the sender report's, with `last_ntp`)."
        self.last_sent_at = 0.0
        "time.time() when it was sent."
        self.retransmitted = 0
        self._ssrc = params.ssrc
        self._marked = params.payload_type | 0x80
        self._plain = self._marked if params.marker_every_packet else params.payload_type

    def _build_extensions(self, params: StreamParameters) -> None:
        # One-byte header extensions (RFC 8285): mid (fixed per viewer), abs-send-time
        # (3 bytes, changes per frame) last, then zero padding to a 32-bit boundary.
        elements = b""
        mid_id = params.extension_ids.get(MID_URI)
        if mid_id is not None and params.mid and len(params.mid.encode()) <= 16 and mid_id < 15:
            mid = params.mid.encode()
            elements += bytes([(mid_id << 4) | (len(mid) - 1)]) + mid
        ast_id = params.extension_ids.get(ABS_SEND_TIME_URI)
        self._abs_send_time = ast_id is not None and ast_id < 15
        size = len(elements) + (4 if self._abs_send_time else 0)
        if not size:
            return
        padding = -size % 4
        words = (size + padding) // 4
        self._first_byte = 0x90
        self._ext_head = b"\xbe\xde" + struct.pack("!H", words) + elements
        if self._abs_send_time:
            assert ast_id is not None
            self._ext_head += bytes([(ast_id << 4) | 2])
        self._ext_tail = b"\x00" * padding
        if not self._abs_send_time:
            self._ext_head += self._ext_tail  # constant: the whole block

    def _extensions(self, now: float) -> bytes:
        """The header extension block of a packet sent at `now` (time.time())."""
        if not self._abs_send_time:
            return self._ext_head
        ast = (int((now + NTP_EPOCH) * 262144.0) & 0xFFFFFF).to_bytes(3, "big")
        return self._ext_head + ast + self._ext_tail

    def send_frame(self, frame: Payloads) -> None:
        """Send one program packet's payloads (a video frame, an audio packet)."""
        now = time.time()
        ext = self._extensions(now)
        timestamp = (self.timestamp_origin + frame.timestamp) & 0xFFFFFFFF
        seq = self.sequence_number
        payloads = frame.payloads
        if len(payloads) == 1:
            # One packet (every Opus packet, small frames): no loop, no list.
            packet = _HEADER.pack(self._first_byte, self._marked, seq, timestamp, self._ssrc)
            packet = b"".join((packet, ext, payloads[0]))
            self._history[seq % HISTORY] = (seq, timestamp, self._marked, payloads[0])
            self.out.send_one(self._protect(packet))
            self.octets += len(payloads[0])
            self.sequence_number = (seq + 1) & 0xFFFF
        else:
            first = self._first_byte
            ssrc = self._ssrc
            history = self._history
            protect = self._protect
            header = _HEADER.pack
            join = b"".join
            plain_type = self._plain
            datagrams = []
            octets = 0
            last = len(payloads) - 1
            for i, payload in enumerate(payloads):
                # The marker goes on the frame's last packet (RFC 6184 5.1).
                kind = self._marked if i == last else plain_type
                packet = join((header(first, kind, seq, timestamp, ssrc), ext, payload))
                history[seq % HISTORY] = (seq, timestamp, kind, payload)
                datagrams.append(protect(packet))
                octets += len(payload)
                seq = (seq + 1) & 0xFFFF
            self.out.send(datagrams)
            self.octets += octets
            self.sequence_number = seq
        if self.first_pts is None:
            self.first_pts = frame.timestamp
        self.frames += 1
        self.packets += len(payloads)
        self.last_timestamp = timestamp
        self.last_sent_at = now

    @property
    def last_ntp(self) -> int:
        """NTP time of the last frame sent (its RTP timestamp is `last_timestamp`)."""
        return ntp_time(self.last_sent_at) if self.frames else 0

    def retransmit(self, sequence_number: int) -> bool:
        """Send a packet again (NACK): as RTX if negotiated (RFC 4588), else as it was
        (its header rebuilt from the history; abs-send-time says when it is sent again)."""
        kept = self._history[sequence_number % HISTORY]
        if kept is None or kept[0] != sequence_number:
            return False
        seq, timestamp, kind, payload = kept
        ext = self._extensions(time.time())
        params = self.params
        if params.rtx_payload_type is not None and params.rtx_ssrc is not None:
            header = _HEADER.pack(
                self._first_byte,
                (kind & 0x80) | params.rtx_payload_type,
                self.rtx_sequence_number,
                timestamp,
                params.rtx_ssrc,
            )
            # RTX payload: the original sequence number (OSN), then the original payload.
            packet = b"".join((header, ext, seq.to_bytes(2, "big"), payload))
            self.rtx_sequence_number = (self.rtx_sequence_number + 1) & 0xFFFF
        else:
            header = _HEADER.pack(self._first_byte, kind, seq, timestamp, self._ssrc)
            packet = b"".join((header, ext, payload))
        self.out.send([self._protect(packet)])
        self.retransmitted += 1
        return True
