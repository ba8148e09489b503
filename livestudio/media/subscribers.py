"""Consumers of the program's packets: each with its own bounded queue and drop policy.

A WebRTC viewer is a `ViewerSubscriber`: two asyncio queues its aiortc senders read
through `PacketTrack`s. A muxing output (the recorder, or any output added with
`LiveShow.subscribe`) is an `OutputSubscriber`: one thread-safe queue of video and audio
in program order, read by its writer thread. Both start at a keyframe and, when they
fall a queue behind, skip to the next one (DESIGN 5): the encoder never waits for anyone.
"""

from __future__ import annotations

import asyncio
import queue
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .packets import copy_packet, seconds

JOIN_AUDIO_PACKETS = 3
"Audio packets (60 ms) a starting viewer keeps of what queued while it connected."

Packet = tuple[str, av.Packet]
"An output's item: ('video' | 'audio', packet)."
T = TypeVar("T")


@dataclass(eq=False)
class Subscriber:
    """One consumer of the program: the policy every kind shares."""

    name: str
    audio_codec: str = "opus"
    "Which audio rendition it takes: 'opus' (WebRTC) or 'aac' (MP4, HLS, FLV)."
    request_keyframe: Callable[[], None] = lambda: None
    "Called when it needs a keyframe now (viewers); outputs wait for the next one."
    waiting_for_keyframe: bool = True
    "Video is withheld until a keyframe: a decoder cannot start anywhere else."
    video_drops: int = 0
    "Times this subscriber overflowed and skipped to the next keyframe."
    audio_drops: int = 0
    packets_delivered: int = 0
    closed: bool = False
    on_close: list[Callable[[], None]] = field(default_factory=list)

    def offer_video(self, packet: av.Packet) -> None:
        """A video packet of the program (called by the broadcast, on the loop)."""
        if self.closed:
            return
        starting = self.waiting_for_keyframe
        if starting:
            if not packet.is_keyframe:
                return
            self.waiting_for_keyframe = False
        if self._video_full():
            # Too slow: this subscriber alone skips to the next keyframe.
            self._drop_all()
            self.video_drops += 1
            if not packet.is_keyframe:
                self.waiting_for_keyframe = True
                self.request_keyframe()
                return
        self._put("video", packet)
        self.packets_delivered += 1
        if starting:
            self._started_at(packet)

    def offer_audio(self, packet: av.Packet) -> None:
        """An audio packet of this subscriber's rendition."""
        raise NotImplementedError

    def close(self) -> None:
        """No more packets: its reader gets the end (a viewer at once; an output after
        what is queued, so a recording or a segment is not cut short)."""
        if self.closed:
            return
        self.closed = True
        self._end()
        for callback in self.on_close:
            callback()

    def _started_at(self, keyframe: av.Packet) -> None:
        """Video has (re)started at this keyframe, just put."""

    def _video_full(self) -> bool:
        raise NotImplementedError

    def _put(self, kind: str, packet: av.Packet) -> None:
        raise NotImplementedError

    def _drop_all(self) -> None:
        raise NotImplementedError

    def _end(self) -> None:
        raise NotImplementedError


@dataclass(eq=False)
class ViewerSubscriber(Subscriber):
    """A WebRTC viewer: a video and an audio queue, read by its two senders."""

    video: asyncio.Queue[av.Packet | None] = field(default_factory=asyncio.Queue)
    audio: asyncio.Queue[av.Packet | None] = field(default_factory=asyncio.Queue)

    def offer_audio(self, packet: av.Packet) -> None:
        """Audio never waits: when full, the oldest packet goes."""
        if self.closed:
            return
        if self.audio.full():
            self.audio.get_nowait()
            self.audio_drops += 1
        self.audio.put_nowait(packet)

    def start_sending(self, kind: str) -> None:
        """The viewer's sender asks for its first packet: its connection is up, so what
        queued meanwhile is fast-forwarded to live.

        Video starts at the newest queued keyframe, the frames before the newest one
        re-stamped a tick apart so the browser decodes them at once (sent as they were,
        a 0.7 s backlog put a Chromium viewer ~0.6 s behind live for ~6 s). Audio keeps
        its newest packets. With no keyframe queued, video waits for one (requested now).
        """
        queue_ = self.video if kind == "video" else self.audio
        drained = _drain(queue_)
        packets = [p for p in drained if p is not None]
        if len(packets) < len(drained):  # closed meanwhile
            queue_.put_nowait(None)
            return
        if kind != "video":
            keep = packets[-JOIN_AUDIO_PACKETS:]
        else:
            starts = [i for i, p in enumerate(packets) if p.is_keyframe]
            keep = _squeezed(packets[starts[-1] :]) if starts else []
            if not starts and not self.waiting_for_keyframe:
                # Frames but no keyframe to start from (an overflow dropped it). While
                # still waiting, the one asked for at subscription is on its way: asking
                # again would force a second one, which the coalescing then holds
                # against the next joiner (measured: 1 single join in ~5 waited 0.3 s).
                self.waiting_for_keyframe = True
                self.request_keyframe()
        for packet in keep:
            queue_.put_nowait(packet)

    def _video_full(self) -> bool:
        return self.video.full()

    def _put(self, kind: str, packet: av.Packet) -> None:
        (self.video if kind == "video" else self.audio).put_nowait(packet)

    def _drop_all(self) -> None:
        _drain(self.video)

    def _end(self) -> None:
        # A viewer that is gone, or a show that ended, needs none of what is queued.
        _drain(self.video)
        _drain(self.audio)
        self.video.put_nowait(None)
        self.audio.put_nowait(None)


@dataclass(eq=False)
class OutputSubscriber(Subscriber):
    """A muxing output (the recorder): video and audio in one ordered queue,
    read by the output's own thread. Bounded: an output that falls behind (a slow disk, a
    stalled network) loses everything queued and resumes at the next keyframe."""

    items: queue.Queue[Packet | None] = field(default_factory=queue.Queue)
    "Unbounded itself: `limit` is the bound, so the end always fits behind what is queued."
    limit: int = 600
    "Packets (video and audio) queued at most; past it the output skips to a keyframe."
    _early_audio: deque[av.Packet] = field(default_factory=lambda: deque(maxlen=50))
    "Audio offered while waiting for a keyframe: what is not older than it goes in after it."

    def offer_audio(self, packet: av.Packet) -> None:
        """Audio goes with its video: it starts at the keyframe the video starts at (a
        muxer wants the two in step), and is skipped with the video on overflow."""
        if self.closed:
            return
        if self.waiting_for_keyframe:
            # Audio of the keyframe's moment is often published before it: the keyframe
            # takes an encode longer. It is kept to start the audio with the picture.
            self._early_audio.append(packet)
            return
        if self._video_full():
            self._drop_all()  # video too: the output resumes at the next keyframe
            self.video_drops += 1
            self.waiting_for_keyframe = True
            return
        self._put("audio", packet)

    def _started_at(self, keyframe: av.Packet) -> None:
        start = seconds(keyframe)
        for packet in self._early_audio:
            if seconds(packet) >= start and not self._video_full():
                self._put("audio", packet)
        self._early_audio.clear()

    def get(self, timeout: float | None = None) -> Packet | None:
        """The next packet (blocking; on the output's thread); None once closed."""
        return self.items.get(timeout=timeout)

    def _video_full(self) -> bool:
        return self.items.qsize() >= self.limit

    def _put(self, kind: str, packet: av.Packet) -> None:
        self.items.put_nowait((kind, packet))

    def _drop_all(self) -> None:
        _drain(self.items)

    def _end(self) -> None:
        self.items.put_nowait(None)


def _drain(q: asyncio.Queue[T] | queue.Queue[T]) -> list[T]:
    out: list[T] = []
    while not q.empty():
        try:
            out.append(q.get_nowait())
        except (asyncio.QueueEmpty, queue.Empty):
            break
    return out


def _squeezed(packets: list[av.Packet]) -> list[av.Packet]:
    """The packets with all but the last re-stamped one tick apart, just before it."""
    newest = packets[-1].pts
    if newest is None or len(packets) < 2:
        return packets
    last = len(packets) - 1
    return [copy_packet(p, newest - (last - i)) for i, p in enumerate(packets[:-1])] + [packets[-1]]


class PacketTrack(MediaStreamTrack):
    """An aiortc track that yields already-encoded packets: the sender only packetizes them."""

    def __init__(self, kind: str, subscriber: ViewerSubscriber) -> None:
        super().__init__()
        self.kind = kind
        self._subscriber = subscriber
        self._queue = subscriber.video if kind == "video" else subscriber.audio
        self.packets_yielded = 0
        self._started = False
        self.sender: object | None = None
        "The RTCRtpSender sending this track (set by the viewer), to learn its RTP origin."
        self.rtp_origin: int | None = None
        """RTP timestamp of program pts 0 on this viewer's stream: aiortc adds a random
        origin to each packet's pts (90 kHz, like the program clock), so a page maps the
        rtpTimestamp of the frame on screen to program pts with it."""
        self._previous_pts: int | None = None
        self.first_pts: int | None = None
        "Pts of the first packet this track yielded (where the receiver's timestamps start)."

    async def recv(self) -> av.Packet:
        """The next packet of this subscriber; MediaStreamError once the program ends."""
        if self.readyState != "live":
            raise MediaStreamError
        if not self._started:
            self._started = True
            self._subscriber.start_sending(self.kind)
        packet = await self._queue.get()
        if packet is None:
            self._queue.put_nowait(None)  # the other waiter (if any) must see the end too
            self.stop()
            raise MediaStreamError
        self.packets_yielded += 1
        if self.rtp_origin is None and self.sender is not None:
            self._learn_origin()
        self._previous_pts = packet.pts
        if self.first_pts is None:
            self.first_pts = packet.pts
        return packet

    def _learn_origin(self) -> None:
        # When recv() is called again the sender has sent the previous packet, and keeps
        # that packet's RTP timestamp for its sender reports: origin = that - its pts.
        sent = getattr(self.sender, "_RTCRtpSender__rtp_timestamp", None)
        if sent is not None and self._previous_pts is not None:
            self.rtp_origin = (sent - self._previous_pts) & 0xFFFFFFFF
