"""The lean send path's pieces: the shared H.264 packetizer, one viewer's RTP stream
(headers, timestamps, SRTP, retransmission) and the batched datagram sends."""

from __future__ import annotations

import os
import socket
import tracemalloc
from fractions import Fraction

import av
import numpy as np
import pytest
from aiortc.codecs.h264 import H264Encoder, H264PayloadDescriptor
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket, unwrap_rtx
from pylibsrtp import Policy, Session

from livestudio.media.h264rtp import PAYLOAD_MAX, packetize, split_annexb
from livestudio.media.rtpsend import (
    ABS_SEND_TIME_URI,
    HISTORY,
    MID_URI,
    DatagramOut,
    PayloadCache,
    Payloads,
    RtpStream,
    StreamParameters,
)
from livestudio.media.srtp import fast_protect


def annexb(*units: bytes) -> bytes:
    return b"".join(b"\x00\x00\x00\x01" + u for u in units)


def depacketize(payloads: list[bytes]) -> bytes:
    """What aiortc's receiver reassembles from the payloads (Annex-B, 4-byte codes)."""
    return b"".join(H264PayloadDescriptor.parse(p)[1] for p in payloads)


def encoded_frames(count: int = 8) -> list[av.Packet]:
    """Real libx264 output (Annex-B, SPS/PPS on the IDR), 320x240 with detail."""
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = 320, 240, "yuv420p"
    codec.time_base = Fraction(1, 30)
    codec.options = {"preset": "ultrafast", "tune": "zerolatency", "x264-params": "keyint=4"}
    rng = np.random.default_rng(1)
    packets: list[av.Packet] = []
    for i in range(count):
        picture = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        packets.extend(codec.encode(frame))
    packets.extend(codec.encode(None))
    return packets


def test_split_annexb_three_and_four_byte_start_codes() -> None:
    data = b"\x00\x00\x00\x01\x67AB" + b"\x00\x00\x01\x68CD" + b"\x00\x00\x00\x01\x65EF\x00"
    assert split_annexb(data) == [b"\x67AB", b"\x68CD", b"\x65EF\x00"]


def test_small_units_share_one_stap_a_and_a_large_one_is_fragmented_evenly() -> None:
    sps, pps = b"\x67" + bytes(range(20)), b"\x68\xce\x3c\x80"
    idr = b"\x65" + os.urandom(5000)
    payloads = packetize(annexb(sps, pps, idr))
    stap, *fragments = payloads
    assert stap[0] & 0x1F == 24 and stap[0] & 0x60 == 0x60, "STAP-A, NRI of its highest unit"
    assert stap[1:3] == len(sps).to_bytes(2, "big") and stap[3 : 3 + len(sps)] == sps
    assert all(f[0] & 0x1F == 28 and f[1] & 0x1F == 5 for f in fragments), "FU-A of an IDR"
    assert [bool(f[1] & 0x80) for f in fragments] == [True] + [False] * (len(fragments) - 1)
    assert [bool(f[1] & 0x40) for f in fragments] == [False] * (len(fragments) - 1) + [True]
    sizes = {len(f) for f in fragments[:-1]}
    assert len(sizes) == 1 and len(fragments[-1]) <= sizes.pop(), "equal sizes but the last"
    assert max(len(p) for p in payloads) <= PAYLOAD_MAX
    assert len(fragments) == -(-(len(idr) - 1) // (PAYLOAD_MAX - 2)), "no more than needed"
    assert depacketize(payloads) == annexb(sps, pps, idr)


def test_a_unit_that_fits_goes_alone() -> None:
    unit = b"\x41" + os.urandom(PAYLOAD_MAX - 1)
    assert packetize(annexb(unit)) == [unit]
    assert packetize(annexb(unit, b"\x41\x00")) == [unit, b"\x41\x00"], "no room to aggregate"


def test_real_frames_round_trip_through_aiortc_and_decode() -> None:
    packets = encoded_frames()
    decoder = av.CodecContext.create("h264", "r")
    decoded = 0
    for packet in packets:
        ours = packetize(bytes(packet))
        theirs, _ = H264Encoder().pack(packet_with_pts(packet))
        # The same NAL units as aiortc's own packetizer carries, in the same order.
        assert depacketize(ours) == depacketize(theirs)
        decoded += len(decoder.decode(av.Packet(depacketize(ours))))
    decoded += len(decoder.decode(None))
    assert decoded == len(packets)


def packet_with_pts(packet: av.Packet) -> av.Packet:
    packet.pts = packet.pts or 0
    packet.time_base = Fraction(1, 90000)
    return packet


def test_payload_cache_packetizes_each_packet_once() -> None:
    cache = PayloadCache()
    packet = encoded_frames(1)[0]
    packet.pts, packet.time_base = 3000, Fraction(1, 90000)
    first = cache.get(packet, "video", 90000)
    assert cache.get(packet, "video", 90000) is first and cache.packetized == 1
    assert first.timestamp == 3000
    audio = av.Packet(b"opus")
    audio.pts, audio.time_base = 960, Fraction(1, 48000)
    assert cache.get(audio, "audio", 48000) == Payloads([b"opus"], 960)


class Captured(DatagramOut):
    """A DatagramOut that keeps what it would send."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.dropped = 0
        self.sends = 0

    def send(self, datagrams: list[bytes]) -> None:
        self.sent.extend(datagrams)

    def send_one(self, datagram: bytes) -> None:
        self.sent.append(datagram)


def extensions_map(params: StreamParameters) -> HeaderExtensionsMap:
    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=i, uri=uri)
                for uri, i in params.extension_ids.items()
            ]
        )
    )
    return extensions


VIDEO = StreamParameters(
    payload_type=102,
    clock_rate=90000,
    ssrc=0x11223344,
    mid="0",
    extension_ids={MID_URI: 1, ABS_SEND_TIME_URI: 3},
    rtx_payload_type=103,
    rtx_ssrc=0x55667788,
)


def test_headers_sequence_numbers_timestamps_and_extensions() -> None:
    out = Captured()
    stream = RtpStream(VIDEO, lambda b: b, out, sequence_number=65534, timestamp_origin=2**32 - 10)
    frames = [Payloads([b"\x7c\x85a", b"\x7c\x05b", b"\x7c\x45c"], 0), Payloads([b"\x41d"], 3000)]
    for frame in frames:
        stream.send_frame(frame)
    parsed = [RtpPacket.parse(d, extensions_map(VIDEO)) for d in out.sent]
    assert [p.sequence_number for p in parsed] == [65534, 65535, 0, 1], "wraps at 2^16"
    assert [p.timestamp for p in parsed] == [2**32 - 10] * 3 + [2990], "origin + pts, mod 2^32"
    assert [p.marker for p in parsed] == [0, 0, 1, 1], "marker on a frame's last packet"
    assert {p.ssrc for p in parsed} == {VIDEO.ssrc} and {p.payload_type for p in parsed} == {102}
    assert [p.payload for p in parsed] == [b"\x7c\x85a", b"\x7c\x05b", b"\x7c\x45c", b"\x41d"]
    assert all(p.extensions.mid == "0" and p.extensions.abs_send_time for p in parsed)
    assert stream.packets == 4 and stream.octets == 3 + 3 + 3 + 2 and stream.frames == 2
    assert stream.last_timestamp == 2990 and stream.first_pts == 0


def test_audio_marks_every_packet_and_no_extensions_when_none_negotiated() -> None:
    params = StreamParameters(payload_type=111, clock_rate=48000, ssrc=7, marker_every_packet=True)
    out = Captured()
    stream = RtpStream(params, lambda b: b, out, sequence_number=1, timestamp_origin=100)
    stream.send_frame(Payloads([b"opus"], 960))
    (packet,) = [RtpPacket.parse(d) for d in out.sent]
    assert packet.marker == 1 and packet.timestamp == 1060 and packet.payload == b"opus"
    assert out.sent[0][0] == 0x80 and len(out.sent[0]) == 12 + 4, "a bare 12-byte header"


def srtp_pair() -> tuple[Session, Session]:
    key = os.urandom(30)
    tx = Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND)
    tx.allow_repeat_tx = True  # as aiortc's (rtcdtlstransport.py): retransmission re-protects
    rx = Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND)
    return Session(tx), Session(rx)


def test_srtp_and_nack_retransmission_as_rtx() -> None:
    tx, rx = srtp_pair()
    out = Captured()
    stream = RtpStream(VIDEO, tx.protect, out, sequence_number=500, timestamp_origin=0)
    for i in range(5):
        stream.send_frame(Payloads([bytes([0x41, i]) * 300], 3000 * i))
    originals = [RtpPacket.parse(rx.unprotect(d), extensions_map(VIDEO)) for d in out.sent]
    assert stream.retransmit(502) and not stream.retransmit(400), "only what was sent"
    rtx = RtpPacket.parse(rx.unprotect(out.sent[-1]), extensions_map(VIDEO))
    assert rtx.payload_type == 103 and rtx.ssrc == VIDEO.rtx_ssrc
    assert rtx.extensions.mid == "0"
    restored = unwrap_rtx(rtx, payload_type=102, ssrc=VIDEO.ssrc)
    assert restored.sequence_number == 502 and restored.payload == originals[2].payload
    assert restored.timestamp == originals[2].timestamp and stream.retransmitted == 1


def test_plain_retransmission_without_rtx_and_history_depth() -> None:
    params = StreamParameters(payload_type=102, clock_rate=90000, ssrc=9)
    tx, rx = srtp_pair()
    out = Captured()
    stream = RtpStream(params, tx.protect, out, sequence_number=0, timestamp_origin=0)
    for i in range(HISTORY + 10):
        stream.send_frame(Payloads([b"\x41" + i.to_bytes(4, "big")], i))
    assert not stream.retransmit(5), "older than the history"
    assert stream.retransmit(HISTORY + 5)
    again = RtpPacket.parse(rx.unprotect(out.sent[-1]))
    assert again.sequence_number == HISTORY + 5 and again.payload_type == 102
    assert again.payload == b"\x41" + (HISTORY + 5).to_bytes(4, "big")


class Discard(Captured):
    """A DatagramOut that sends nowhere and keeps nothing."""

    def send(self, datagrams: list[bytes]) -> None:
        pass

    def send_one(self, datagram: bytes) -> None:
        pass


def test_viewers_histories_share_the_program_payloads() -> None:
    # Ten viewers' streams, each with a full history of 720p-sized packets: what they keep
    # for retransmission is the payloads every viewer shares plus a few bytes of header
    # fields, not a ~1.2 kB copy per packet and viewer (1.3 MB each, and heap churn).
    frames = [Payloads([bytes([0x41, i % 256]) * 600] * 4, 3000 * i) for i in range(HISTORY // 4)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        streams = [
            RtpStream(VIDEO, lambda b: b, Discard(), sequence_number=7 * n, timestamp_origin=n)
            for n in range(10)
        ]
        for frame in frames:
            for stream in streams:
                stream.send_frame(frame)
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    copies = 10 * HISTORY * 1200
    assert kept < copies / 8, f"{kept} bytes kept for {copies} bytes of packets"
    assert all(stream.retransmit(7 * n + 5) for n, stream in enumerate(streams))


@pytest.mark.parametrize("gso", [True, False])
def test_datagrams_of_a_frame_arrive_whole_and_in_order(gso: bool) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(2)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.setblocking(False)
    out = DatagramOut(sender, receiver.getsockname())
    was = DatagramOut.gso
    DatagramOut.gso = gso
    try:
        datagrams = [os.urandom(1200) for _ in range(6)] + [os.urandom(300), os.urandom(90)]
        out.send(datagrams)
        got = [receiver.recv(2000) for _ in datagrams]
    finally:
        DatagramOut.gso = was
        receiver.close()
        out.close()
    assert got == datagrams
    if gso and DatagramOut.gso:
        # 6 equal + the shorter 7th in one sendmsg, then the 8th alone.
        assert out.sends == 2


def test_fast_protect_gives_what_pylibsrtp_gives() -> None:
    key = os.urandom(30)
    theirs = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    ours = fast_protect(Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND)))
    for seq in range(70000, 70010):  # across a sequence number wrap
        packet = b"\x80\x66" + (seq & 0xFFFF).to_bytes(2, "big") + bytes(8) + os.urandom(1300)
        assert ours(packet) == theirs.protect(packet)
