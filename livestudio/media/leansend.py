"""A WHEP viewer's RTP sent by us, not by aiortc's RTCRtpSender (the lean path).

aiortc still negotiates, runs ICE, DTLS and RTCP: each transceiver keeps its sender,
whose RTCP task sends the sender reports (we feed it the packet and octet counts) and
whose RTCP handler receives the viewer's reports, NACKs (→ `RtpStream.retransmit`, in
place of the sender's own history) and PLI/FIR (→ the shared encoder, media/viewer.py).
Only its RTP task idles: its track is a `StartTrack`, whose first `recv()` — the moment
aiortc's sender would have sent its first packet, once DTLS is up — hands the viewer's
stream to the broadcast (`DirectViewerSubscriber.start_direct`); from then on every
program packet is sent to this viewer from inside the broadcast's one loop over
viewers, with payloads packetized once per program (media/rtpsend.py).

tests/test_aiortc_contract.py pins every aiortc and aioice private used here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aioice.ice
import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtcrtpsender import RTCRtpSender

from .rtpsend import DatagramOut, PayloadCache, RtpStream, StreamParameters
from .srtp import fast_protect
from .subscribers import ViewerSubscriber, _drain

log = logging.getLogger(__name__)

_SENDER_REPORT_FIELDS: dict[str, Callable[[RtpStream], int]] = {
    "_RTCRtpSender__ntp_timestamp": lambda stream: stream.last_ntp,
    "_RTCRtpSender__rtp_timestamp": lambda stream: stream.last_timestamp,
    "_RTCRtpSender__packet_count": lambda stream: stream.packets & 0xFFFFFFFF,
    "_RTCRtpSender__octet_count": lambda stream: stream.octets & 0xFFFFFFFF,
}
"""What aiortc's RTCRtpSender._run_rtcp puts in its sender reports (and the RR stats it
keeps), each read from our stream at that moment (pinned by the contract)."""


class ReportingSender(RTCRtpSender):
    """aiortc's sender, whose sender-report fields are read from the lean stream when an
    SR is made: nothing to update per packet. A lean sender's instance is switched to
    this class (same layout, no __init__ of its own)."""

    _lean_stream: RtpStream | None = None


def _report_field(read: Callable[[RtpStream], int]) -> property:
    def get(sender: ReportingSender) -> int:
        stream = sender._lean_stream
        return read(stream) if stream is not None else 0

    def ignore(sender: ReportingSender, value: int) -> None:
        """aiortc's __init__ zeroes the field; its RTP task (idle) never sets it."""

    return property(get, ignore)


for _name, _read in _SENDER_REPORT_FIELDS.items():
    # Data descriptors on the class win over the instance's own attributes.
    setattr(ReportingSender, _name, _report_field(_read))


def _random32() -> int:
    value: int = struct.unpack("!L", os.urandom(4))[0]
    return value


def _random_sequence_number() -> int:
    # Below 2^15 as aiortc's: a first rollover before the receiver has seen one
    # confuses libsrtp's index guess.
    return _random32() % 32768


@dataclass(eq=False)
class DirectViewerSubscriber(ViewerSubscriber):
    """A WebRTC viewer whose packets are sent the moment the broadcast offers them.

    Until its connection is up it queues like any viewer; `start_direct` fast-forwards
    what queued (`ViewerSubscriber.start_sending`), sends it, and from then on `_put`
    sends instead of queueing: no queue, no task and no wake-up per packet. Sends never
    wait (a full socket buffer drops, as a network would), so the queue-overflow policy
    is not needed once direct.
    """

    payload_cache: PayloadCache = field(default_factory=PayloadCache)
    streams: dict[str, RtpStream] = field(default_factory=dict)
    send_errors: int = 0

    def start_direct(self, kind: str, stream: RtpStream) -> None:
        """The viewer's connection is up: send what queued (fast-forwarded), then live."""
        self.start_sending(kind)
        queue_ = self.video if kind == "video" else self.audio
        backlog = _drain(queue_)
        packets = [p for p in backlog if p is not None]
        if self.closed or len(packets) < len(backlog):
            return
        self.streams[kind] = stream
        for packet in packets:
            self._send(kind, packet)

    def offer_audio(self, packet: av.Packet) -> None:
        """Audio is sent at once when direct, else queued as for any viewer."""
        if "audio" in self.streams and not self.closed:
            self._send("audio", packet)
        else:
            super().offer_audio(packet)

    def _send(self, kind: str, packet: av.Packet) -> None:
        stream = self.streams.get(kind)
        if stream is None:
            return
        try:
            stream.send_frame(self.payload_cache.get(packet, kind, stream.params.clock_rate))
        except Exception:
            # One viewer's failure must not stop the loop over the others.
            self.send_errors += 1
            if self.send_errors == 1:
                log.exception("%s: sending %s failed", self.name, kind)

    def _put(self, kind: str, packet: av.Packet) -> None:
        if kind in self.streams:
            self._send(kind, packet)
        else:
            super()._put(kind, packet)

    def _video_full(self) -> bool:
        return "video" not in self.streams and super()._video_full()

    def _end(self) -> None:
        self.streams.clear()
        super()._end()


class StartTrack(MediaStreamTrack):
    """The track of a lean sender: its first `recv()` starts the viewer's direct stream,
    then it yields nothing until stopped (aiortc's RTP task waits on it, idle)."""

    def __init__(self, kind: str, on_start: Callable[[], None]) -> None:
        super().__init__()
        self.kind = kind
        self._on_start: Callable[[], None] | None = on_start
        self._stopped = asyncio.Event()

    async def recv(self) -> av.Packet:
        """Start the stream on the first call; then wait for the end."""
        start, self._on_start = self._on_start, None
        if start is not None and self.readyState == "live":
            start()
        await self._stopped.wait()
        raise MediaStreamError

    def stop(self) -> None:
        """End the track (aiortc's RTP task exits)."""
        super().stop()
        self._stopped.set()


class LeanSender:
    """One aiortc sender whose RTP we send: captures its negotiated parameters, answers
    its NACKs from our history, and feeds its sender reports."""

    def __init__(
        self,
        sender: RTCRtpSender,
        kind: str,
        subscriber: DirectViewerSubscriber,
    ) -> None:
        self.sender = sender
        self.kind = kind
        self._subscriber = subscriber
        self.parameters: RTCRtpSendParameters | None = None
        self.stream: RtpStream | None = None
        self.timestamp_origin = _random32()
        "RTP timestamp of program pts 0 on this stream: known before the first packet."
        self.closed = False
        self.track = StartTrack(kind, self._start)
        sender.replaceTrack(self.track)
        sender.__class__ = ReportingSender
        send = sender.send

        async def send_and_keep(parameters: RTCRtpSendParameters) -> None:
            if self.closed:
                # The viewer left while its DTLS was finishing: aiortc's connect task
                # goes on after RTCPeerConnection.close() stopped this (not yet started)
                # sender, and would start its RTP and RTCP tasks for good, holding the
                # stream and its retransmission history (measured: 3 viewers in 40
                # quick join/leave cycles).
                return
            self.parameters = parameters
            await send(parameters)

        # aiortc calls sender.send() once DTLS is up, with what was negotiated.
        sender.send = send_and_keep  # type: ignore[method-assign]
        sender._retransmit = self._retransmit  # type: ignore[method-assign]

    def _start(self) -> None:
        if self.closed:
            return  # no socket dup, no stream: nobody would close them
        try:
            self.stream = self._make_stream()
        except Exception:
            log.exception("%s: no lean %s stream", self._subscriber.name, self.kind)
            return
        self._subscriber.start_direct(self.kind, self.stream)

    def _make_stream(self) -> RtpStream:
        parameters = self.parameters
        assert parameters is not None, "sender started without parameters"
        codec = parameters.codecs[0]
        rtx_type = None
        for other in parameters.codecs:
            if other.mimeType.lower().endswith("/rtx") and str(other.parameters.get("apt")) == str(
                codec.payloadType
            ):
                rtx_type = other.payloadType
        assert codec.payloadType is not None
        params = StreamParameters(
            payload_type=codec.payloadType,
            clock_rate=codec.clockRate,
            ssrc=self.sender._ssrc,
            mid=parameters.muxId,
            extension_ids={ext.uri: ext.id for ext in parameters.headerExtensions},
            rtx_payload_type=rtx_type,
            rtx_ssrc=self.sender._rtx_ssrc if rtx_type is not None else None,
            marker_every_packet=self.kind == "audio",
        )
        dtls = self.sender.transport
        ice = dtls.transport
        stream = RtpStream(
            params,
            fast_protect(dtls._tx_srtp),
            datagram_out(ice._connection),
            _random_sequence_number(),
            self.timestamp_origin,
        )
        assert isinstance(self.sender, ReportingSender)
        self.sender._lean_stream = stream

        @ice.on("statechange")
        def on_ice_state() -> None:
            # Consent lost or closed: not one more packet to that peer (RFC 7675).
            if ice.state in ("closed", "failed"):
                self.close()

        return stream

    async def _retransmit(self, sequence_number: int) -> None:
        if self.stream is not None and self.kind in self._subscriber.streams:
            self.stream.retransmit(sequence_number)

    def close(self) -> None:
        """Stop sending (idempotent); the aiortc sender is closed with its connection."""
        self.closed = True
        self._subscriber.streams.pop(self.kind, None)
        if self.stream is not None:
            self.stream.out.close()
        self.track.stop()  # aiortc's RTP task, if running, ends on its own


def datagram_out(connection: aioice.ice.Connection) -> DatagramOut:
    """Where a connected aioice connection sends: a dup of its selected pair's socket."""
    pair = connection._nominated.get(1)
    if pair is None:
        raise ConnectionError("ICE has no selected pair")
    protocol = pair.protocol
    if type(protocol) is not aioice.ice.StunProtocol:
        # A relayed pair (TURN on our side) wraps each datagram: let it.
        return _ProtocolOut(protocol, pair.remote_addr)
    sock = protocol.transport.get_extra_info("socket").dup()
    sock.setblocking(False)
    return DatagramOut(sock, pair.remote_addr)


class _ProtocolOut(DatagramOut):
    """Sends through aioice's protocol object (for pairs that are not plain UDP)."""

    def __init__(self, protocol: Any, address: tuple[str, int]) -> None:
        self._protocol = protocol
        self._pending: set[asyncio.Future[None]] = set()
        self.address = address
        self.dropped = 0
        self.sends = 0

    def send(self, datagrams: list[bytes]) -> None:
        for datagram in datagrams:
            self.sends += 1
            sending = asyncio.ensure_future(self._protocol.send_data(datagram, self.address))
            self._pending.add(sending)
            sending.add_done_callback(self._pending.discard)

    def close(self) -> None:
        pass
