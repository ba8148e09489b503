"""Loss recovery on the host's uplink: NACK until the packet comes, else a keyframe.

aiortc's receiver NACKs a missing packet once, when it first sees the gap; if that
retransmission is lost too, its jitter buffer holds every later frame until 512 packets
have passed (seconds of frozen picture), then drops them and sends a PLI. Audio gets no
NACK at all, and its 16-packet buffer stalls on any lost packet. Here, per publisher:

- `NackList`: every missing video sequence number is NACKed again after about a round
  trip, a few times; past MAX_NACKS or MAX_AGE it is given up;
- given up: the jitter buffer drops everything up to the newest packet (later frames
  reference the lost one), `KeyframeGate` holds back decoded frames until a keyframe (a
  frame decoded against a missing reference is a damaged picture), and a PLI asks the
  host for that keyframe (`PliLimiter`: at most one per MIN_PLI_INTERVAL, again while
  none came);
- `AudioReorder`: host audio packets go to aiortc in sequence order, a late one waited for
  at most AUDIO_REORDER_WAIT, a lost one skipped (numbers made contiguous, so aiortc's
  buffer never waits on a gap).

The logic classes take `now` (monotonic seconds) from the caller: tests/test_recovery.py
drives them without a network. `PublisherRecovery` hooks them on aiortc's receivers
(privates pinned by tests/test_aiortc_contract.py) and ticks on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

import av
from aiortc.utils import uint16_add

log = logging.getLogger(__name__)

TICK = 0.01
"Seconds between checks for NACKs due, packets given up and audio waited for long enough."
MAX_NACKS = 4
"NACKs per missing packet (the first and three retries) before it is given up."
MAX_AGE = 0.45
"""Seconds a missing packet is waited for at most: with the PLI's round trip, a frame lost
for good freezes the picture ~0.5 s, not the seconds aiortc's buffer would wait."""
FIRST_RTT = 0.1
"Round-trip estimate (s) before the first retransmission has been timed."
MIN_RETRY = 0.03
MAX_RETRY = 0.3
"Bounds of the NACK retry interval (twice the measured round trip)."
MAX_MISSING = 256
"Missing packets tracked at most; a longer gap is a jump, not loss (no NACK storm)."
MIN_PLI_INTERVAL = 0.5
"""Seconds between two PLIs: the host's keyframe is large, and one asked for is on its
way (a browser answers within a round trip and one frame)."""
MAX_KEYFRAME_WAIT = 1.5
"""Seconds damaged frames are held back waiting for a keyframe; past that they pass (a
host that ignores PLIs shows a damaged picture rather than, after 2 s, the slate)."""
AUDIO_REORDER_WAIT = 0.06
"Seconds an audio gap is waited for: network jitter reorders, it does not lose (~50 ms)."
AUDIO_MAX_HELD = 16
"Audio packets held behind a gap at most (320 ms of sound) before the gap is skipped."


def _behind(a: int, b: int) -> int:
    """How many sequence numbers `a` is behind `b` (negative: ahead)."""
    d = uint16_add(b, -a)
    return d - 0x10000 if d >= 0x8000 else d


@dataclass
class _Missing:
    first_at: float
    "When the gap was seen."
    next_at: float
    "When the next NACK for it is due."
    nacks: int = 0


@dataclass
class RecoveryStats:
    """What recovery did for one publisher (logged when it closes)."""

    nacked: int = 0
    "Sequence numbers NACKed (first NACKs)."
    retried: int = 0
    "Sequence numbers NACKed again."
    recovered: int = 0
    "Missing packets that arrived after a NACK."
    given_up: int = 0
    plis: int = 0
    frames_held: int = 0
    "Decoded frames held back: damaged (waiting for a keyframe) or older than one shown."
    audio_skipped: int = 0
    audio_late: int = 0
    "Audio packets that came after their gap was skipped (dropped)."

    def plus(self, other: RecoveryStats) -> RecoveryStats:
        """Both counts added field by field (a show's publishers, one after another)."""
        return RecoveryStats(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )


class NackList:
    """Missing video sequence numbers: which to NACK now, which to give up."""

    def __init__(self, stats: RecoveryStats | None = None) -> None:
        self.stats = stats or RecoveryStats()
        self.rtt = FIRST_RTT
        "Smoothed seconds from a first NACK to the retransmitted packet."
        self._highest: int | None = None
        self._missing: dict[int, _Missing] = {}

    @property
    def missing(self) -> list[int]:
        """Sequence numbers still missing, oldest first."""
        return list(self._missing)

    @property
    def retry_interval(self) -> float:
        """Seconds between two NACKs of one packet: a retransmission had its chance."""
        return min(MAX_RETRY, max(MIN_RETRY, 2 * self.rtt))

    def received(self, seq: int, now: float) -> None:
        """A packet (or its retransmission) with sequence number `seq` arrived at `now`."""
        if self._highest is None:
            self._highest = seq
            return
        ahead = _behind(self._highest, seq)
        if ahead > 0:
            if ahead > MAX_MISSING:  # the stream jumped (a new sender): start again
                self._missing.clear()
            else:
                for i in range(1, ahead):
                    gap = uint16_add(self._highest, i)
                    self._missing[gap] = _Missing(first_at=now, next_at=now)
                while len(self._missing) > MAX_MISSING:
                    del self._missing[next(iter(self._missing))]
            self._highest = seq
            return
        entry = self._missing.pop(seq, None)
        if entry is not None and entry.nacks > 0:
            self.stats.recovered += 1
            if entry.nacks == 1:  # timed from its only NACK: a clean round-trip sample
                self.rtt = 0.875 * self.rtt + 0.125 * (now - entry.first_at)

    def forget(self) -> int | None:
        """Stop waiting for every missing packet; returns the newest sequence number seen."""
        self.stats.given_up += len(self._missing)
        self._missing.clear()
        return self._highest

    def nacks_due(self, now: float) -> list[int]:
        """Sequence numbers to NACK now (first time or again); each is then due later."""
        due = []
        retry = self.retry_interval
        for seq, entry in self._missing.items():
            if entry.next_at <= now and entry.nacks < MAX_NACKS and now - entry.first_at < MAX_AGE:
                if entry.nacks == 0:
                    self.stats.nacked += 1
                    entry.first_at = now  # the round trip is timed from the NACK
                else:
                    self.stats.retried += 1
                entry.nacks += 1
                entry.next_at = now + retry
                due.append(seq)
        return due

    @staticmethod
    def _hopeless(entry: _Missing, now: float) -> bool:
        last_chance_over = entry.nacks >= MAX_NACKS and entry.next_at <= now
        return last_chance_over or now - entry.first_at >= MAX_AGE

    def give_up(self, now: float) -> list[int]:
        """Sequence numbers no longer waited for (NACKed MAX_NACKS times, or too old)."""
        gone = [
            seq
            for seq, entry in self._missing.items()
            if now - entry.first_at >= MAX_AGE
            or (entry.nacks >= MAX_NACKS and entry.next_at <= now)
        ]
        for seq in gone:
            del self._missing[seq]
        self.stats.given_up += len(gone)
        return gone


class PliLimiter:
    """At most one PLI per MIN_PLI_INTERVAL."""

    def __init__(self) -> None:
        self._last: float | None = None

    def allow(self, now: float) -> bool:
        """True (and counted as sent) if a PLI may go out at `now`."""
        if self._last is not None and now - self._last < MIN_PLI_INTERVAL:
            return False
        self._last = now
        return True


class KeyframeGate:
    """Which decoded host frames reach the program: in order, and none damaged by loss."""

    def __init__(self, stats: RecoveryStats | None = None) -> None:
        self.stats = stats or RecoveryStats()
        self._lost_at: float | None = None
        self._last_pts: int | None = None

    def lost(self, now: float) -> None:
        """Video data was lost for good at `now`: frames from here on wait for a keyframe."""
        if self._lost_at is None:
            self._lost_at = now

    @property
    def holding(self) -> bool:
        """Frames are held for a keyframe (since a loss, until one or MAX_KEYFRAME_WAIT)."""
        return self._lost_at is not None

    def waiting(self, now: float) -> bool:
        """True while frames are held back for a keyframe (and not for too long yet)."""
        return self._lost_at is not None and now - self._lost_at < MAX_KEYFRAME_WAIT

    def take(self, frame: av.VideoFrame, now: float, key: bool = False) -> bool:
        """True if `frame` may go to the program (`key`: it was encoded as a keyframe)."""
        pts = frame.pts
        if pts is not None and self._last_pts is not None and pts <= self._last_pts:
            self.stats.frames_held += 1  # never a picture older than one shown
            return False
        if self._lost_at is not None:
            if key or frame.key_frame or not self.waiting(now):
                self._lost_at = None
            else:
                self.stats.frames_held += 1
                return False
        if pts is not None:
            self._last_pts = pts
        return True


def is_keyframe(data: bytes) -> bool:
    """An encoded (depayloaded) frame that decodes on its own: an H.264 IDR, a VP8 key frame.

    Decoded frames cannot say: aiortc's VP8 decoder (libvpx) never marks them key_frame.
    """
    if data.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01")):  # H.264, Annex B
        at = data.find(b"\x00\x00\x01")
        while at != -1 and at + 3 < len(data):
            if data[at + 3] & 0x1F == 5:  # an IDR slice
                return True
            at = data.find(b"\x00\x00\x01", at + 3)
        return False
    return bool(data) and data[0] & 1 == 0  # VP8 frame tag: bit 0 clear on key frames


class _Sequenced(Protocol):
    sequence_number: int


@dataclass
class _Held:
    packet: Any
    at: float


@dataclass
class AudioReorder:
    """Puts audio packets back in sequence order, waits a little for gaps, renumbers."""

    stats: RecoveryStats = field(default_factory=RecoveryStats)
    _next: int | None = None
    "Sequence number of the next packet to release (as received)."
    _out: int = 0
    "Sequence number the next released packet gets (contiguous)."
    _held: dict[int, _Held] = field(default_factory=dict)

    def push(self, packet: _Sequenced, now: float) -> list[Any]:
        """A packet arrived: the packets now released, in order."""
        seq = packet.sequence_number
        if self._next is None:
            self._next, self._out = seq, seq
        behind = _behind(seq, self._next)
        if behind > 0:
            if behind < 0x4000:  # its gap was skipped already (or a duplicate)
                self.stats.audio_late += 1
                return []
            self._held.clear()  # far behind: the sender started again
            self._next = seq
        elif -behind > AUDIO_MAX_HELD * 4:  # far ahead: a jump, not a gap
            released = self._release_all()
            self._next = seq
            self._held[seq] = _Held(packet, now)
            return released + self._release_ready()
        self._held.setdefault(seq, _Held(packet, now))
        released = self._release_ready()
        if len(self._held) > AUDIO_MAX_HELD:
            released += self._skip_gap()
        return released

    def due(self, now: float) -> list[Any]:
        """Packets released because their gap was waited for long enough."""
        released: list[Any] = []
        while self._held and min(h.at for h in self._held.values()) <= now - AUDIO_REORDER_WAIT:
            released += self._skip_gap()
        return released

    def _release_ready(self) -> list[Any]:
        released = []
        assert self._next is not None
        while (held := self._held.pop(self._next, None)) is not None:
            released.append(self._renumber(held.packet))
            self._next = uint16_add(self._next, 1)
        return released

    def _skip_gap(self) -> list[Any]:
        """Give up the missing packet(s) before the oldest held one; release what follows."""
        assert self._next is not None
        first = min(self._held, key=lambda s: _behind(self._next or 0, s))
        self.stats.audio_skipped += _behind(self._next, first)
        self._next = first
        return self._release_ready()

    def _release_all(self) -> list[Any]:
        released = []
        while self._held:
            released += self._skip_gap()
        return released

    def _renumber(self, packet: Any) -> Any:
        packet.sequence_number = self._out
        self._out = uint16_add(self._out, 1)
        return packet


SendRtcp = Callable[[int, list[int]], Awaitable[None]]


class VideoRecovery:
    """NACK retries and give-up → skip, hold, PLI for one aiortc video receiver.

    Stands in for the receiver's NackGenerator: aiortc calls `add()` with every media
    packet (retransmissions unwrapped) and sends its own NACK only when it returns True,
    which it never does: NACKs go out from `tick()`.
    """

    def __init__(self, receiver: Any, stats: RecoveryStats) -> None:
        self._receiver = receiver
        self.stats = stats
        self.nacks = NackList(stats)
        self.gate = KeyframeGate(stats)
        self._plis = PliLimiter()
        self._ssrc: int | None = None
        self.missing: set[int] = set()
        "aiortc reads this only when add() returns True (never): kept for its shape."
        receiver._RTCRtpReceiver__nack_generator = self
        self._keyframes: deque[Any] = deque(maxlen=8)
        """Encoded keyframes released while frames wait for one; aiortc sets their
        timestamp (mapped) after release: the pts of the frame they decode to."""
        jitter = receiver._RTCRtpReceiver__jitter_buffer
        add = jitter.add

        def add_and_spot_keyframes(packet: Any) -> tuple[bool, Any]:
            pli, encoded = add(packet)
            if encoded is not None and self.gate.holding and is_keyframe(encoded.data):
                self._keyframes.append(encoded)
            return pli, encoded

        jitter.add = add_and_spot_keyframes

    def add(self, packet: Any) -> bool:
        """aiortc's NackGenerator.add: note the packet; never asks aiortc to NACK."""
        self._ssrc = packet.ssrc
        self.nacks.received(packet.sequence_number, time.monotonic())
        return False

    def take(self, frame: av.VideoFrame, now: float) -> bool:
        """True if this decoded frame may go to the program (KeyframeGate)."""
        key = any(encoded.timestamp == frame.pts for encoded in self._keyframes)
        return self.gate.take(frame, now, key)

    async def tick(self, now: float) -> None:
        """Send the NACKs due; skip what is given up and ask for a keyframe."""
        if self._ssrc is None:
            return
        due = self.nacks.nacks_due(now)
        if due:
            await self._receiver._send_rtcp_nack(self._ssrc, due)
        if self.nacks.give_up(now):
            # Every frame after the lost one decodes against it (damaged, held back by the
            # gate anyway): drop them all now, or aiortc's buffer, one frame per packet
            # received, would take ~0.5 s to get through them to the keyframe asked for.
            self._flush()
            self.gate.lost(now)
            await self._pli(now)
        elif self.gate.waiting(now):
            await self._pli(now)  # the keyframe asked for may itself have been lost

    async def _pli(self, now: float) -> None:
        if self._ssrc is not None and self._plis.allow(now):
            self.stats.plis += 1
            await self._receiver._send_rtcp_pli(self._ssrc)

    def _flush(self) -> None:
        """Empty aiortc's jitter buffer up to the newest packet; stop NACKing."""
        newest = self.nacks.forget()
        jitter = self._receiver._RTCRtpReceiver__jitter_buffer
        origin = jitter._origin
        if origin is None or newest is None:
            return
        count = _behind(origin, newest) + 1
        if 0 < count <= jitter.capacity:
            jitter.remove(count)


class AudioRecovery:
    """Feeds one aiortc audio receiver its packets in order (AudioReorder)."""

    def __init__(self, receiver: Any, stats: RecoveryStats) -> None:
        self.reorder = AudioReorder(stats)
        self._handle = receiver._handle_rtp_packet
        self._arrival_ms = 0
        receiver._handle_rtp_packet = self._handle_rtp_packet

    async def _handle_rtp_packet(self, packet: Any, arrival_time_ms: int) -> None:
        self._arrival_ms = arrival_time_ms
        await self._forward(self.reorder.push(packet, time.monotonic()))

    async def tick(self, now: float) -> None:
        """Release audio whose gap was waited for long enough."""
        await self._forward(self.reorder.due(now))

    async def _forward(self, packets: list[Any]) -> None:
        for packet in packets:
            await self._handle(packet, arrival_time_ms=self._arrival_ms)


class PublisherRecovery:
    """Recovery for one publisher's receivers; `run()` ticks it until cancelled."""

    def __init__(self) -> None:
        self.stats = RecoveryStats()
        self.video: VideoRecovery | None = None
        self.audio: AudioRecovery | None = None

    def attach(self, kind: str, receiver: Any) -> None:
        """Hook one of the publisher's aiortc receivers (before media flows)."""
        if kind == "video" and self.video is None:
            self.video = VideoRecovery(receiver, self.stats)
        elif kind == "audio" and self.audio is None:
            self.audio = AudioRecovery(receiver, self.stats)

    def take(self, frame: av.VideoFrame) -> bool:
        """True if this decoded host frame may go to the program."""
        if self.video is None:
            return True
        return self.video.take(frame, time.monotonic())

    async def run(self) -> None:
        """Tick every TICK seconds (NACK retries, give-ups, audio gaps)."""
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            for part in (self.video, self.audio):
                if part is None:
                    continue
                try:
                    await part.tick(now)
                except ConnectionError:
                    pass  # the transport is closing; the publisher ends this task
                except Exception:
                    # Recovery must never end the publisher's media: log, keep ticking.
                    log.exception("loss recovery tick failed")
