"""One fan-out point per show: encoded packets in, bounded per-subscriber queues out.

Every WebRTC viewer, the recorder and the HLS packager subscribe here. The encoder never
waits for a subscriber (DESIGN 5): a full queue is emptied and that subscriber alone waits
for the next keyframe.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

VIDEO_QUEUE_PACKETS = 30
"About a second of video at 30 fps: more is latency, not smoothness."
AUDIO_QUEUE_PACKETS = 50
"About a second of 20 ms audio packets."
JOIN_FROM_CACHE = 0.5
"""A joiner starts from the cached GOP (fast-forwarded) when its keyframe is at most this
old: no keyframe to force, and no wait for one held back by the coalescing. Older, and
fast-forwarding would burst too many frames (and bytes) at a phone: a fresh one is
forced."""
JOIN_AUDIO_PACKETS = 3
"Audio packets (60 ms) a starting viewer keeps of what queued while it connected."


@dataclass(eq=False)
class Subscriber:
    """One consumer of the program: a bounded queue of video and audio packets."""

    name: str
    video: asyncio.Queue[av.Packet | None]
    audio: asyncio.Queue[av.Packet | None]
    waiting_for_keyframe: bool = True
    "Video is withheld until a keyframe: a decoder cannot start anywhere else."
    video_drops: int = 0
    "Times this subscriber overflowed and skipped to the next keyframe."
    audio_drops: int = 0
    packets_delivered: int = 0
    closed: bool = False
    on_close: list[Callable[[], None]] = field(default_factory=list)
    request_keyframe: Callable[[], None] = lambda: None

    def start_sending(self, kind: str) -> None:
        """The viewer's sender asks for its first packet: its connection is up.

        Packets queue from the WHEP answer on (starting with the keyframe forced for this
        joiner), but aiortc only sends once ICE and DTLS are through, a few hundred ms
        later on real networks. Sent as they are, the keyframe and the frames behind it
        arrive in one burst that the browser plays at their pace: measured in Chromium,
        a 0.7 s backlog put the viewer ~0.6 s behind live, taking ~6 s to catch up. So
        video starts at the newest queued keyframe with the frames before the newest one
        re-stamped a tick apart (copies: other viewers share the packets): the browser
        decodes them at once and shows the newest, at live (measured: as at live as a
        viewer that waited for a fresh keyframe, without the wait). Audio keeps only its
        newest packets. With no keyframe queued, video waits for one (requested now).
        """
        queue = self.video if kind == "video" else self.audio
        drained = _drain(queue)
        packets = [p for p in drained if p is not None]
        if len(packets) < len(drained):  # closed meanwhile
            queue.put_nowait(None)
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
            queue.put_nowait(packet)

    def close(self) -> None:
        """End both tracks: their recv() raises MediaStreamError."""
        if self.closed:
            return
        self.closed = True
        for queue in (self.video, self.audio):
            _clear(queue)
            queue.put_nowait(None)
        for callback in self.on_close:
            callback()


def _clear(queue: asyncio.Queue[av.Packet | None]) -> None:
    _drain(queue)


def _squeezed(packets: list[av.Packet]) -> list[av.Packet]:
    """The packets with all but the last re-stamped one tick apart, just before it."""
    newest = packets[-1].pts
    if newest is None or len(packets) < 2:
        return packets
    out = []
    for i, packet in enumerate(packets[:-1]):
        copy = av.Packet(bytes(packet))
        copy.pts = copy.dts = newest - (len(packets) - 1 - i)
        copy.time_base = packet.time_base
        copy.is_keyframe = packet.is_keyframe
        out.append(copy)
    return [*out, packets[-1]]


def _drain(queue: asyncio.Queue[av.Packet | None]) -> list[av.Packet | None]:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


class Broadcast:
    """Packets of one program, fanned out to subscribers, with a GOP cache.

    Runs on the event loop: the encoder thread hands packets over with
    `loop.call_soon_threadsafe(broadcast.publish_video, packet)`.
    """

    def __init__(
        self,
        request_keyframe: Callable[[], None],
        video_queue: int = VIDEO_QUEUE_PACKETS,
        audio_queue: int = AUDIO_QUEUE_PACKETS,
    ) -> None:
        self._request_keyframe = request_keyframe
        self._video_queue = video_queue
        self._audio_queue = audio_queue
        self.subscribers: list[Subscriber] = []
        self.gop: list[av.Packet] = []
        """Video packets since the last keyframe: the recorder starts with them, and a WebRTC
        joiner too while they are recent (JOIN_FROM_CACHE)."""
        self.gop_audio: deque[av.Packet] = deque(maxlen=500)
        "Audio packets covering the GOP cache, so a cached start has sound too."
        self.gop_aac: deque[av.Packet] = deque(maxlen=200)
        self._sinks: list[
            tuple[Callable[[av.Packet], None], Callable[[av.Packet], None] | None]
        ] = []
        self.video_packets = 0
        self.keyframes = 0
        self.ended = False
        self._drops_of_departed = 0
        "Video drops of subscribers that have left, so the total never falls."

    def subscribe(self, name: str, from_gop_cache: bool = False) -> Subscriber:
        """Add a subscriber.

        A WebRTC viewer starts from the cached GOP if its keyframe is recent
        (JOIN_FROM_CACHE), else at the next keyframe, requested now. Either way what
        queues before its connection is up is fast-forwarded when it starts sending
        (start_sending): played at its pace, a replayed GOP would leave the viewer behind
        live. The recorder asks `from_gop_cache=True`: every cached packet, as it is.
        """
        if not from_gop_cache and self.gop and self.gop[0].pts is not None:
            age = _seconds(self.gop[-1]) - _seconds(self.gop[0])
            from_gop_cache = age <= JOIN_FROM_CACHE
        video_size = self._video_queue
        if from_gop_cache:
            video_size = max(video_size, len(self.gop) + self._video_queue)
        sub = Subscriber(
            name=name,
            video=asyncio.Queue(maxsize=video_size),
            audio=asyncio.Queue(maxsize=max(self._audio_queue, len(self.gop_audio) + 1)),
            request_keyframe=self._request_keyframe,
        )
        if self.ended:
            sub.close()
            return sub
        if from_gop_cache and self.gop:
            sub.waiting_for_keyframe = False
            first_pts = self.gop[0].pts
            for packet in self.gop:
                sub.video.put_nowait(packet)
            start = _seconds(self.gop[0]) if first_pts is not None else 0.0
            for packet in self.gop_audio:
                if _seconds(packet) >= start:
                    sub.audio.put_nowait(packet)
        else:
            self._request_keyframe()
        self.subscribers.append(sub)
        return sub

    def add_sink(
        self,
        on_video: Callable[[av.Packet], None],
        on_aac: Callable[[av.Packet], None] | None = None,
    ) -> None:
        """A consumer that takes packets by callback (the recorder): it starts at once
        from the GOP cache, so its first packet is the cached keyframe, and it gets the
        AAC rendition too. Callbacks run on the loop and must only hand packets over."""
        for packet in self.gop:
            on_video(packet)
        if on_aac is not None and self.gop:
            start = _seconds(self.gop[0])
            for packet in self.gop_aac:
                if _seconds(packet) >= start:
                    on_aac(packet)
        self._sinks.append((on_video, on_aac))

    def publish_aac(self, packet: av.Packet) -> None:
        """An AAC packet for the sinks (WebRTC viewers get Opus)."""
        self.gop_aac.append(packet)
        for _, on_aac in self._sinks:
            if on_aac is not None:
                on_aac(packet)

    def unsubscribe(self, sub: Subscriber) -> None:
        """Remove and close a subscriber."""
        if sub in self.subscribers:
            self.subscribers.remove(sub)
            self._drops_of_departed += sub.video_drops
        sub.close()

    def video_drops_total(self) -> int:
        """Times any subscriber, gone ones included, skipped to the next keyframe."""
        return self._drops_of_departed + sum(s.video_drops for s in self.subscribers)

    def publish_video(self, packet: av.Packet) -> None:
        """Hand one encoded video packet to every subscriber."""
        self.video_packets += 1
        if packet.is_keyframe:
            self.keyframes += 1
            self.gop = [packet]
        else:
            self.gop.append(packet)
        for on_video, _ in self._sinks:
            on_video(packet)
        for sub in self.subscribers:
            if sub.waiting_for_keyframe:
                if not packet.is_keyframe:
                    continue
                sub.waiting_for_keyframe = False
            if sub.video.full():
                # Too slow: this subscriber alone skips to the next keyframe.
                _clear(sub.video)
                sub.video_drops += 1
                if not packet.is_keyframe:
                    sub.waiting_for_keyframe = True
                    self._request_keyframe()
                    continue
            sub.video.put_nowait(packet)
            sub.packets_delivered += 1

    def publish_audio(self, packet: av.Packet) -> None:
        """Hand one encoded audio packet to every subscriber (oldest dropped when full)."""
        self.gop_audio.append(packet)
        if self.gop:
            start = _seconds(self.gop[0])
            while self.gop_audio and _seconds(self.gop_audio[0]) < start - 0.1:
                self.gop_audio.popleft()
        for sub in self.subscribers:
            if sub.audio.full():
                sub.audio.get_nowait()
                sub.audio_drops += 1
            sub.audio.put_nowait(packet)

    def end(self) -> None:
        """The program is over: close every subscriber."""
        self.ended = True
        self._sinks.clear()
        for sub in list(self.subscribers):
            self._drops_of_departed += sub.video_drops
            sub.close()
        self.subscribers.clear()


def _seconds(packet: av.Packet) -> float:
    if packet.pts is None or packet.time_base is None:
        return 0.0
    return float(packet.pts * packet.time_base)


class PacketTrack(MediaStreamTrack):
    """An aiortc track that yields already-encoded packets: the sender only packetizes them."""

    def __init__(self, kind: str, subscriber: Subscriber) -> None:
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
