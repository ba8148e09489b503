"""Loss recovery logic (livestudio/media/recovery.py) on injected times: no network."""

from __future__ import annotations

import asyncio
import fractions
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from aiortc.jitterbuffer import JitterBuffer

from livestudio.media.recovery import (
    AUDIO_REORDER_WAIT,
    FIRST_RTT,
    MAX_AGE,
    MAX_KEYFRAME_WAIT,
    MAX_NACKS,
    MIN_PLI_INTERVAL,
    AudioReorder,
    KeyframeGate,
    NackList,
    PliLimiter,
    RecoveryStats,
    VideoRecovery,
    is_keyframe,
)


def test_a_gap_is_nacked_at_once_then_again_after_twice_the_round_trip() -> None:
    nacks = NackList()
    for seq in (10, 11, 14):
        nacks.received(seq, 0.0)
    assert nacks.missing == [12, 13]
    assert nacks.nacks_due(0.0) == [12, 13], "first NACK at once"
    retry = 2 * FIRST_RTT
    assert nacks.retry_interval == retry
    assert nacks.nacks_due(retry - 0.001) == [], "not before a retransmission had its chance"
    assert nacks.nacks_due(retry) == [12, 13], "aiortc would never ask again"
    nacks.received(12, retry + 0.01)
    assert nacks.nacks_due(2 * retry) == [13]
    assert nacks.stats.nacked == 2 and nacks.stats.retried == 3 and nacks.stats.recovered == 1


def test_the_retry_interval_follows_the_measured_round_trip() -> None:
    nacks = NackList()
    for n in range(40):
        base = n * 10
        nacks.received(base, float(n))
        nacks.received(base + 2, float(n))
        nacks.nacks_due(float(n))
        nacks.received(base + 1, n + 0.02)  # retransmitted 20 ms after the NACK
    assert abs(nacks.rtt - 0.02) < 0.005
    assert nacks.retry_interval < 2 * FIRST_RTT / 2


def test_a_packet_nacked_max_nacks_times_is_given_up() -> None:
    nacks = NackList()
    nacks.rtt = 0.03  # measured: MAX_NACKS fit in MAX_AGE
    nacks.received(1, 0.0)
    nacks.received(3, 0.0)
    now, sent = 0.0, 0
    while nacks.nacks_due(now):
        sent += 1
        assert nacks.give_up(now) == []
        now += nacks.retry_interval
    assert sent == MAX_NACKS
    assert nacks.give_up(now) == [2]
    assert nacks.missing == [] and nacks.stats.given_up == 1


def test_a_packet_older_than_max_age_is_given_up_whatever_its_nacks() -> None:
    nacks = NackList()
    nacks.received(1, 0.0)
    nacks.received(3, 0.0)
    nacks.nacks_due(0.0)
    assert nacks.give_up(MAX_AGE - 0.01) == []
    assert nacks.nacks_due(MAX_AGE) == [], "no NACK when it is too late anyway"
    assert nacks.give_up(MAX_AGE) == [2]


def test_sequence_numbers_wrap_and_a_jump_is_not_a_nack_storm() -> None:
    nacks = NackList()
    nacks.received(65534, 0.0)
    nacks.received(1, 0.0)
    assert nacks.missing == [65535, 0]
    nacks.received(30000, 0.1)  # a new stream, not 30000 losses
    assert nacks.missing == []


def test_plis_are_spaced() -> None:
    plis = PliLimiter()
    assert plis.allow(10.0)
    assert not plis.allow(10.0 + MIN_PLI_INTERVAL - 0.01)
    assert plis.allow(10.0 + MIN_PLI_INTERVAL)


def frame(pts: int, key: bool = False) -> av.VideoFrame:
    # PyAV marks frames from an encoder's keyframes; here, encode one to get one.
    picture = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
    picture.pts = pts
    picture.time_base = fractions.Fraction(1, 90000)
    if key:
        picture.key_frame = True
    return picture


def test_after_a_loss_frames_wait_for_a_keyframe_not_forever() -> None:
    gate = KeyframeGate()
    assert gate.take(frame(0), 0.0)
    gate.lost(1.0)
    assert gate.waiting(1.0)
    assert not gate.take(frame(3000), 1.1), "decoded against a missing reference"
    assert gate.take(frame(6000, key=True), 1.2)
    assert gate.take(frame(9000), 1.25)
    gate.lost(2.0)
    assert not gate.take(frame(12000), 2.0 + MAX_KEYFRAME_WAIT - 0.01)
    assert gate.take(frame(15000), 2.0 + MAX_KEYFRAME_WAIT), "damaged beats the slate"
    assert gate.stats.frames_held == 2


def test_a_frame_older_than_one_shown_never_goes_to_the_program() -> None:
    gate = KeyframeGate()
    assert gate.take(frame(6000), 0.0)
    assert not gate.take(frame(3000), 0.0)
    assert not gate.take(frame(6000), 0.0)
    assert gate.take(frame(9000), 0.0)


@dataclass
class Rtp:
    sequence_number: int


def numbers(packets: list[Any]) -> list[int]:
    return [p.sequence_number for p in packets]


def test_audio_is_put_back_in_order_and_renumbered_past_a_lost_packet() -> None:
    audio = AudioReorder()
    assert numbers(audio.push(Rtp(100), 0.0)) == [100]
    assert audio.push(Rtp(102), 0.01) == [], "101 may only be late"
    assert numbers(audio.push(Rtp(101), 0.02)) == [101, 102]
    assert audio.push(Rtp(104), 0.03) == []
    assert audio.due(0.03 + AUDIO_REORDER_WAIT - 0.001) == []
    # 103 is lost: 104 goes on as 103, so aiortc's buffer never waits on the gap.
    assert numbers(audio.due(0.03 + AUDIO_REORDER_WAIT)) == [103]
    assert audio.push(Rtp(103), 0.2) == [], "too late: dropped"
    assert numbers(audio.push(Rtp(105), 0.21)) == [104]
    assert audio.stats.audio_skipped == 1 and audio.stats.audio_late == 1


class FakeReceiver:
    """What VideoRecovery uses of aiortc's RTCRtpReceiver."""

    def __init__(self) -> None:
        self._RTCRtpReceiver__jitter_buffer = JitterBuffer(capacity=128, is_video=True)
        self._RTCRtpReceiver__nack_generator: Any = None
        self.nacks: list[list[int]] = []
        self.plis = 0

    async def _send_rtcp_nack(self, ssrc: int, lost: list[int]) -> None:
        self.nacks.append(lost)

    async def _send_rtcp_pli(self, ssrc: int) -> None:
        self.plis += 1


@dataclass
class Packet:
    sequence_number: int
    timestamp: int
    ssrc: int = 1
    _data: bytes = b"x"


def test_a_packet_given_up_unblocks_the_jitter_buffer_and_asks_for_a_keyframe() -> None:
    receiver = FakeReceiver()
    video = VideoRecovery(receiver, RecoveryStats())
    video.nacks.rtt = 0.03
    assert receiver._RTCRtpReceiver__nack_generator is video
    jitter = receiver._RTCRtpReceiver__jitter_buffer
    released = []
    # frames of one packet each; 3 (the third frame) never comes
    for seq in (1, 2, 4, 5, 6):
        assert not video.add(Packet(seq, seq * 3000)), "aiortc sends no NACK itself"
        _, out = jitter.add(Packet(seq, seq * 3000))  # type: ignore[arg-type]
        if out:
            released.append(out.timestamp)
    assert released == [3000], "aiortc's buffer waits on 3 (for 512 packets)"

    async def run() -> None:
        now = 0.0
        while video.nacks.missing:
            await video.tick(now)
            now += 0.01
        assert receiver.nacks and all(n == [3] for n in receiver.nacks)
        assert len(receiver.nacks) == MAX_NACKS
        assert receiver.plis == 1
        assert video.gate.waiting(now)
        await video.tick(now + 0.01)
        assert receiver.plis == 1, "spaced"
        await video.tick(now + MIN_PLI_INTERVAL)
        assert receiver.plis == 2, "no keyframe yet: ask again"

    asyncio.run(run())
    assert video.nacks.missing == []
    # Frames 4-6 decode against 3: dropped with it; on with the next packets.
    assert jitter.add(Packet(7, 7 * 3000)) == (False, None)  # type: ignore[arg-type]
    _, out = jitter.add(Packet(8, 8 * 3000))  # type: ignore[arg-type]
    assert out is not None and out.timestamp == 7 * 3000


def test_keyframes_are_spotted_in_encoded_h264_and_vp8() -> None:
    sps, pps, idr, p_slice = b"\x67\x42", b"\x68\xce", b"\x65\x88", b"\x41\x9a"
    assert is_keyframe(
        b"\x00\x00\x00\x01" + sps + b"\x00\x00\x00\x01" + pps + b"\x00\x00\x01" + idr
    )
    assert not is_keyframe(b"\x00\x00\x00\x01" + p_slice)
    assert is_keyframe(bytes.fromhex("5003009d012a")), "VP8 frame tag, bit 0 clear"
    assert not is_keyframe(bytes.fromhex("310200e343e8"))


def test_a_keyframe_released_by_the_jitter_buffer_ends_the_hold() -> None:
    # aiortc's VP8 decoder never marks a decoded frame key_frame: the encoded frame does.
    receiver = FakeReceiver()
    video = VideoRecovery(receiver, RecoveryStats())
    jitter = receiver._RTCRtpReceiver__jitter_buffer
    video.gate.lost(0.0)
    for seq, data in ((1, b"\x31"), (2, b"\x50"), (3, b"\x31")):  # inter, key, inter
        jitter.add(Packet(seq, seq * 3000, _data=data))  # type: ignore[arg-type]
    assert not video.take(frame(1 * 3000), 0.1), "damaged: held"
    assert video.take(frame(2 * 3000), 0.2), "decoded from the keyframe"
    assert video.take(frame(3 * 3000), 0.2)


def test_a_shows_publishers_add_up() -> None:
    # /metrics sums what recovery did over a show's publishers (LiveShow.stats).
    first = RecoveryStats(nacked=5, given_up=1, frames_held=3, plis=1)
    second = RecoveryStats(nacked=2, recovered=2, audio_late=4)
    total = first.plus(second)
    assert total == RecoveryStats(
        nacked=7, recovered=2, given_up=1, plis=1, frames_held=3, audio_late=4
    )
    assert first == RecoveryStats(nacked=5, given_up=1, frames_held=3, plis=1), "unchanged"
