"""`sendpath`: where the µs of one RTP packet to one viewer go, step by step.

A micro-benchmark of the per-viewer, per-packet work of both send paths, without the
server around it: a 720p frame's worth of 1300-byte H.264 payloads (plus the shorter
last one) sent to one viewer, over and over, on loopback to a socket that nobody reads
(the kernel still builds, routes and queues each datagram; the receiving socket's full
buffer drops it, so no reader's wake-up is counted). Each step is timed alone, then the
whole lean `RtpStream.send_frame` (UDP GSO on and off), then aiortc's per-packet work
as `RTCRtpSender._run_rtp` does it (an `RtpPacket`, its header extensions,
`serialize`, protect, aioice's `send_data`) without its coroutine hops.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
from aiortc import clock
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket
from pylibsrtp import Policy, Session

from livestudio.media.rtpsend import (
    ABS_SEND_TIME_URI,
    MID_URI,
    DatagramOut,
    Payloads,
    RtpStream,
    StreamParameters,
)
from livestudio.media.srtp import fast_protect
from livestudio.media.workers import pack_packet, unpack_packet

from .common import table

PAYLOADS = [os.urandom(1300) for _ in range(6)] + [os.urandom(700)]
"A 2 Mbit/s 720p30 P-frame is ~8 kB: ~7 packets."


def _timed(step: Callable[[], Any], packets_per_call: int, seconds: float) -> float:
    """CPU µs per packet (process time, so other load on the core counts less)."""
    calls = 0
    start = time.process_time()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(50):
            step()
        calls += 50
    return 1e6 * (time.process_time() - start) / (calls * packets_per_call)


def _sockets() -> tuple[socket.socket, socket.socket, tuple[str, int]]:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    sink.bind(("127.0.0.1", 0))
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.setblocking(False)
    return sink, out, sink.getsockname()


def run(seconds: float = 1.0) -> list[dict[str, Any]]:
    """Time every step; return rows of (step, µs per packet)."""
    policy = Policy(key=os.urandom(30), ssrc_type=Policy.SSRC_ANY_OUTBOUND)
    policy.allow_repeat_tx = True  # as aiortc's: the steps below re-protect the same packets
    session = Session(policy)
    params = StreamParameters(
        payload_type=102,
        clock_rate=90000,
        ssrc=0x1234,
        mid="0",
        extension_ids={MID_URI: 1, ABS_SEND_TIME_URI: 3},
    )
    sink, sock, address = _sockets()
    n = len(PAYLOADS)
    rows: list[dict[str, Any]] = []

    def add(step: str, us: float, note: str = "") -> None:
        rows.append({"step": step, "us_per_packet": us, "note": note})

    stream = RtpStream(params, fast_protect(session), DatagramOut(sock, address), 0, 0)
    frame = Payloads(PAYLOADS, 0)
    plain = [b"\x90\x66" + bytes(18) + p for p in PAYLOADS]
    protected = [session.protect(p) for p in plain]
    head = stream._ext_head

    def header_only() -> None:
        for payload in PAYLOADS:
            b"".join((b"\x90\x66\x00\x01\x00\x00\x00\x01\x00\x00\x12\x34", head, payload))

    add("header + extensions + join (1 copy)", _timed(header_only, n, seconds))

    def protect_only() -> None:
        for packet in plain:
            session.protect(packet)

    add("SRTP: pylibsrtp Session.protect", _timed(protect_only, n, seconds), "AES-CM, HMAC-SHA1-80")
    fast = fast_protect(session)

    def fast_only() -> None:
        for packet in plain:
            fast(packet)

    add("SRTP: srtp_protect called directly", _timed(fast_only, n, seconds), "media/srtp.py")

    def sendto_only() -> None:
        for datagram in protected:
            try:
                sock.sendto(datagram, address)
            except BlockingIOError:
                pass

    add("sendto, one syscall per packet", _timed(sendto_only, n, seconds), "kernel UDP path")
    gso_out = DatagramOut(sock, address)
    add(
        "sendmsg + UDP GSO, one syscall per frame",
        _timed(lambda: gso_out.send(protected), n, seconds),
    )
    gso_ok = DatagramOut.gso
    add(
        "lean RtpStream.send_frame (GSO)" if gso_ok else "lean send_frame (no GSO here)",
        _timed(lambda: stream.send_frame(frame), n, seconds),
        "what one viewer costs per packet",
    )
    DatagramOut.gso = False
    add(
        "lean RtpStream.send_frame, sendto each",
        _timed(lambda: stream.send_frame(frame), n, seconds),
    )
    DatagramOut.gso = gso_ok

    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=1, uri=MID_URI),
                RTCRtpHeaderExtensionParameters(id=3, uri=ABS_SEND_TIME_URI),
            ]
        )
    )
    loop = asyncio.new_event_loop()
    transport, _ = loop.run_until_complete(
        loop.create_datagram_endpoint(asyncio.DatagramProtocol, sock=_sockets()[1])
    )
    theirs = Session(policy)  # its own session: its sequence numbers start again
    history: dict[int, RtpPacket] = {}
    seq = [0]

    def aiortc_style() -> None:
        # RTCRtpSender._run_rtp's loop body, minus its awaits (each packet also takes
        # two coroutine hops there: _send_rtp and aioice's send_data).
        for i, payload in enumerate(PAYLOADS):
            packet = RtpPacket(payload_type=102, sequence_number=seq[0], timestamp=0)
            packet.ssrc = 0x1234
            packet.payload = payload
            packet.marker = 1 if i == n - 1 else 0
            packet.extensions.abs_send_time = (clock.current_ntp_time() >> 14) & 0x00FFFFFF
            packet.extensions.mid = "0"
            history[seq[0] % 128] = packet
            transport.sendto(theirs.protect(packet.serialize(extensions)), address)
            clock.current_ntp_time()
            seq[0] = (seq[0] + 1) & 0xFFFF

    add(
        "aiortc's per-packet work (no awaits)",
        _timed(aiortc_style, n, seconds),
        "RtpPacket, serialize, protect, transport.sendto",
    )
    transport.close()
    loop.close()
    sock.close()
    sink.close()
    rows += _worker_transport(seconds)
    return rows


def _worker_transport(seconds: float) -> list[dict[str, Any]]:
    """What feeding a fan-out worker costs per program packet (media/workers.py)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    frame = av.Packet(os.urandom(8000))
    frame.pts, frame.dts, frame.time_base = 3000, 3000, Fraction(1, 90000)
    message = pack_packet(b"V", frame)

    def send_and_receive() -> None:
        ours.send(pack_packet(b"V", frame))
        theirs.recv(1 << 20)

    def receive_side() -> None:
        ours.send(message)
        unpack_packet(theirs.recv(1 << 20))

    send_us = _timed(send_and_receive, 1, seconds)
    both_us = _timed(receive_side, 1, seconds)
    ours.close()
    theirs.close()
    note = "per program packet per worker, not per viewer"
    return [
        {"step": "worker feed: pack + send (+ recv) 8 kB", "us_per_packet": send_us, "note": note},
        {"step": "send + recv + unpack to av.Packet", "us_per_packet": both_us, "note": note},
    ]


def report(rows: list[dict[str, Any]]) -> str:
    """The table."""
    return table(
        ["step", "µs/packet", "note"],
        [[r["step"], r["us_per_packet"], r["note"]] for r in rows],
        "sendpath: CPU µs per RTP packet to one viewer (1300-byte payloads, loopback)",
    )
