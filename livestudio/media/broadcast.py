"""One fan-out point per show: encoded packets in, every subscriber's bounded queue out.

Every WebRTC viewer and every muxing output (the recorder) subscribes here, each with its
own queue and drop policy (media/subscribers.py). The encoder never
waits for a subscriber (DESIGN 5): a full queue is emptied and that subscriber alone
waits for the next keyframe. A GOP cache lets outputs start on the last keyframe, and
viewers too while it is recent.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TypeVar

import av

from .leansend import DirectViewerSubscriber
from .packets import seconds
from .rtpsend import PayloadCache
from .subscribers import OutputSubscriber, PacketTrack, Subscriber, ViewerSubscriber

VIDEO_QUEUE_PACKETS = 30
"About a second of video at 30 fps: more is latency, not smoothness."
AUDIO_QUEUE_PACKETS = 50
"About a second of 20 ms audio packets."
OUTPUT_QUEUE_PACKETS = 30 * 20
"~10 s of video and audio an output (a slow disk, a stalled restream) may fall behind."
JOIN_FROM_CACHE = 0.5
"""A joiner starts from the cached GOP (fast-forwarded) when its keyframe is at most this
old: no keyframe to force, and no wait for one held back by the coalescing. Older, and
fast-forwarding would burst too many frames (and bytes) at a phone: a fresh one is
forced."""
AUDIO_RENDITIONS = ("opus", "aac")
"Opus for WebRTC, AAC for MP4, HLS and FLV: each encoded once."

S = TypeVar("S", bound=Subscriber)


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
        """Video packets since the last keyframe: outputs start with them, and a WebRTC
        joiner too while they are recent (JOIN_FROM_CACHE)."""
        self.gop_audio: dict[str, deque[av.Packet]] = {
            codec: deque(maxlen=500) for codec in AUDIO_RENDITIONS
        }
        "Audio packets of each rendition covering the GOP cache, so a cached start has sound."
        self.video_packets = 0
        self.keyframes = 0
        self.ended = False
        self._drops_of_departed = 0
        "Video drops of viewers that have left, so the total never falls."
        self.payload_cache = PayloadCache()
        "RTP payloads of each packet, made once for every lean viewer (media/rtpsend.py)."

    # -- subscribing --------------------------------------------------------------------------

    def subscribe(
        self,
        name: str,
        from_gop_cache: bool = False,
        kind: type[ViewerSubscriber] = ViewerSubscriber,
    ) -> ViewerSubscriber:
        """Add a WebRTC viewer (`kind`: queued for an aiortc sender, or direct).

        It starts from the cached GOP if its keyframe is recent (JOIN_FROM_CACHE), else
        at the next keyframe, requested now. Either way what queues before its connection
        is up is fast-forwarded when it starts sending (start_sending): played at its
        pace, a replayed GOP would leave the viewer behind live.
        """
        if not from_gop_cache and self.gop and self.gop[0].pts is not None:
            from_gop_cache = seconds(self.gop[-1]) - seconds(self.gop[0]) <= JOIN_FROM_CACHE
        video_size = self._video_queue
        if from_gop_cache:
            video_size = max(video_size, len(self.gop) + self._video_queue)
        cached_audio = len(self.gop_audio["opus"]) + 1
        sub = kind(
            name=name,
            request_keyframe=self._request_keyframe,
            video=asyncio.Queue(maxsize=video_size),
            audio=asyncio.Queue(maxsize=max(self._audio_queue, cached_audio)),
        )
        if isinstance(sub, DirectViewerSubscriber):
            sub.payload_cache = self.payload_cache
        if not (from_gop_cache and self.gop) and not self.ended:
            self._request_keyframe()
        return self._add(sub, from_gop_cache)

    def subscribe_output(
        self, name: str, audio: str = "aac", max_packets: int = OUTPUT_QUEUE_PACKETS
    ) -> OutputSubscriber:
        """Add a muxing output (read on its own thread): it starts at once with the cached
        GOP, so its first packet is the cached keyframe, and takes the `audio` rendition."""
        if audio not in AUDIO_RENDITIONS:
            raise ValueError(f"no {audio!r} audio rendition (have {AUDIO_RENDITIONS})")
        size = max(max_packets, len(self.gop) + len(self.gop_audio[audio]) + 1)
        sub = OutputSubscriber(name=name, audio_codec=audio, limit=size)
        return self._add(sub, from_gop_cache=True)

    def attach(self, sub: S) -> S:
        """Add a subscriber made elsewhere (a fan-out worker's feed), from the GOP cache."""
        return self._add(sub, from_gop_cache=True)

    def _add(self, sub: S, from_gop_cache: bool) -> S:
        if self.ended:
            sub.close()
            return sub
        if from_gop_cache and self.gop:
            start = seconds(self.gop[0])
            for packet in self.gop:
                sub.offer_video(packet)
            for packet in self.gop_audio[sub.audio_codec]:
                if seconds(packet) >= start:
                    sub.offer_audio(packet)
        self.subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """Remove and close a subscriber."""
        if sub in self.subscribers:
            self.subscribers.remove(sub)
            self._depart(sub)
        sub.close()

    def viewers(self) -> list[ViewerSubscriber]:
        """The WebRTC viewers subscribed now."""
        return [s for s in self.subscribers if isinstance(s, ViewerSubscriber)]

    def viewer_drops_total(self) -> int:
        """Times any viewer, gone ones included, skipped to the next keyframe."""
        return self._drops_of_departed + sum(s.video_drops for s in self.viewers())

    def _depart(self, sub: Subscriber) -> None:
        if isinstance(sub, ViewerSubscriber):
            self._drops_of_departed += sub.video_drops

    # -- publishing ---------------------------------------------------------------------------

    def publish_video(self, packet: av.Packet) -> None:
        """Hand one encoded video packet to every subscriber."""
        self.video_packets += 1
        if packet.is_keyframe:
            self.keyframes += 1
            self.gop = [packet]
        else:
            self.gop.append(packet)
        for sub in self.subscribers:
            sub.offer_video(packet)

    def publish_audio(self, packet: av.Packet, codec: str = "opus") -> None:
        """Hand one encoded audio packet to the subscribers of its rendition."""
        cache = self.gop_audio[codec]
        cache.append(packet)
        if self.gop:
            start = seconds(self.gop[0])
            while cache and seconds(cache[0]) < start - 0.1:
                cache.popleft()
        for sub in self.subscribers:
            if sub.audio_codec == codec:
                sub.offer_audio(packet)

    def end(self) -> None:
        """The program is over: close every subscriber."""
        self.ended = True
        for sub in list(self.subscribers):
            self._depart(sub)
            sub.close()
        self.subscribers.clear()


__all__ = [
    "Broadcast",
    "DirectViewerSubscriber",
    "OutputSubscriber",
    "PacketTrack",
    "Subscriber",
    "ViewerSubscriber",
]
