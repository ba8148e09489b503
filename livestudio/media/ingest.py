"""The host's peer connection: inbound camera and mic tracks feed the show's program."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable

import av
from aiortc import RTCRtpTransceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .consent import peer_checks_keep_consent
from .ice import IcePolicy, fit_answer, install
from .peerconn import peer_connection
from .rcvbuf import enlarge_ingest_buffers
from .recovery import PublisherRecovery
from .sdp import answering, check_publish_offer
from .trickle import SdpFragment, add_candidates

log = logging.getLogger(__name__)

NEGOTIATION_TIMEOUT = 10.0
"Seconds to gather candidates and answer; a stuck negotiation must not pin a slot forever."
CONNECT_TIMEOUT = 30.0
"A publisher that never connects is dropped after this long."
START_BITRATE_KBPS = 3000
"Where the host's browser starts its video bitrate estimate (kbit/s)."
MAX_BITRATE_KBPS = 4000
"What the host may send: the program is re-encoded anyway, so a clean source helps."
AUDIO_PREFETCH = 1
"""Audio frames aiortc's jitter buffer holds before releasing one (its default is 4).

Four 20 ms frames put host audio ~60 ms behind video; the program keeps its own small,
self-trimming audio buffer, so one is enough here (tests/test_recording_sync.py)."""


VideoSink = Callable[[av.VideoFrame], None]
AudioSink = Callable[[av.AudioFrame], None]


class Publisher:
    """One WHIP session: an aiortc peer connection whose decoded frames go to the sinks."""

    def __init__(
        self,
        on_video: VideoSink,
        on_audio: AudioSink,
        ice: IcePolicy,
        on_gone: Callable[[Publisher], None],
        on_media: Callable[[Publisher], None] | None = None,
    ) -> None:
        self.id = secrets.token_urlsafe(12)
        self._on_video = on_video
        self._on_audio = on_audio
        self._ice = ice
        self._on_gone = on_gone
        self._on_media = on_media
        self.pc = peer_connection()
        self.ice_tag = f'"{secrets.token_urlsafe(9)}"'
        "Entity-tag of this session's ICE session (RFC 9725 ETag / If-Match)."
        self.created_at = time.monotonic()
        self.last_media_at: float | None = None
        self.video_frames = 0
        self.audio_frames = 0
        self.video_codec = ""
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.recovery = PublisherRecovery()
        "NACK retries, keyframe requests and audio reordering for lossy uplinks."
        self.answer_sdp = ""
        "The SDP answer (candidates included) once negotiated."
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_connection_state)

    @property
    def silent_for(self) -> float:
        """Seconds since this publisher last delivered media (or since it was created)."""
        return time.monotonic() - (self.last_media_at or self.created_at)

    async def answer(self, offer_sdp: str) -> str:
        """Negotiate: returns the answer SDP, candidates included (non-trickle)."""
        check_publish_offer(offer_sdp)
        install(self._ice)
        with answering():
            await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        peer_checks_keep_consent(self.pc)
        for transceiver in self.pc.getTransceivers():
            transceiver.direction = "recvonly"
            self.recovery.attach(transceiver.kind, transceiver.receiver)
            if transceiver.kind == "audio":
                jitter = transceiver.receiver._RTCRtpReceiver__jitter_buffer  # type: ignore[attr-defined]
                jitter._prefetch = AUDIO_PREFETCH
            else:
                _without_remb(transceiver)
        with answering():
            answer = await self.pc.createAnswer()
            await asyncio.wait_for(self.pc.setLocalDescription(answer), NEGOTIATION_TIMEOUT)
        granted = enlarge_ingest_buffers(self.pc)
        log.debug("publisher %s: receive buffers %s bytes", self.id, granted)
        for transceiver in self.pc.getTransceivers():
            if transceiver.kind == "video" and transceiver._codecs:
                self.video_codec = transceiver._codecs[0].mimeType
        self._spawn(self._connect_deadline())
        self._spawn(self.recovery.run())
        self.answer_sdp = fit_answer(self.pc.localDescription.sdp, self._ice)
        return self.answer_sdp

    async def trickle(self, fragment: SdpFragment) -> int:
        """Candidates the host trickled after its offer (PATCH); returns how many were taken."""
        return await add_candidates(self.pc, fragment)

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._spawn(self._consume(track))

    async def _consume(self, track: MediaStreamTrack) -> None:
        # aiortc decodes in its own thread; here we only hand frames over.
        try:
            while True:
                frame = await track.recv()
                if self.last_media_at is None and self._on_media is not None:
                    self._on_media(self)
                self.last_media_at = time.monotonic()
                if isinstance(frame, av.VideoFrame):
                    if not self.recovery.take(frame):
                        continue  # damaged by loss (a keyframe is on its way) or stale
                    self.video_frames += 1
                    self._on_video(frame)
                elif isinstance(frame, av.AudioFrame):
                    self.audio_frames += 1
                    self._on_audio(frame)
        except MediaStreamError:
            pass

    async def _connect_deadline(self) -> None:
        await asyncio.sleep(CONNECT_TIMEOUT)
        if self.pc.connectionState not in ("connected", "closed"):
            log.info("publisher %s never connected; dropping it", self.id)
            await self.close()

    async def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        log.info("publisher %s: %s", self.id, state)
        if state in ("failed", "closed"):
            await self.close()

    async def close(self) -> None:
        """Close the peer connection and stop feeding the program (idempotent)."""
        if self._closed:
            return
        self._closed = True
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        with contextlib.suppress(Exception):
            await self.pc.close()
        if self.recovery.stats.nacked:
            log.info("publisher %s: loss recovery %s", self.id, self.recovery.stats)
        self._on_gone(self)


def _without_remb(transceiver: RTCRtpTransceiver) -> None:
    """Answer the host's video without REMB (and the abs-send-time it is computed from).

    aiortc's receive-side estimate starts low and climbs slowly: a browser publishing a
    720p camera was held at ~50 kbit/s and 640x360 for good. Without REMB (aiortc has
    no transport-cc either) the browser's loss-based estimate ramps up to its encoder's
    target within seconds on a clean link, and backs off on loss as before.
    """
    transceiver._headerExtensions = [
        ext for ext in transceiver._headerExtensions if "abs-send-time" not in ext.uri
    ]
    for codec in transceiver._codecs:
        codec.rtcpFeedback = [fb for fb in codec.rtcpFeedback if fb.type != "goog-remb"]
        if codec.mimeType.lower() in ("video/vp8", "video/h264"):
            # Chrome starts at 300 kbit/s and 640x360 and, with loss-based estimation
            # only, climbs ~8 %/s: start higher so a 720p camera looks like one at once.
            codec.parameters["x-google-start-bitrate"] = START_BITRATE_KBPS
            codec.parameters["x-google-max-bitrate"] = MAX_BITRATE_KBPS
