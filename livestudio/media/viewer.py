"""One WHEP viewer: a peer connection that sends the shared packets.

Two send paths (the `fanout_sender` setting): "lean" (default) sends the RTP itself,
packetized once per program and sent from the broadcast's loop over viewers
(media/leansend.py, media/rtpsend.py); "aiortc" lets each aiortc RTCRtpSender packetize
and send on its own (a task per stream, `PacketTrack`). aiortc negotiates, and runs ICE,
DTLS and RTCP for both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable

from aiortc import RTCSessionDescription
from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpSendParameters
from aiortc.rtcrtpsender import RTCRtpSender

from .broadcast import Broadcast, PacketTrack, ViewerSubscriber
from .consent import peer_checks_keep_consent
from .ice import IcePolicy, fit_answer, install
from .leansend import DirectViewerSubscriber, LeanSender
from .peerconn import peer_connection
from .sdp import answering, check_play_offer
from .trickle import SdpFragment, add_candidates

log = logging.getLogger(__name__)

NEGOTIATION_TIMEOUT = 10.0
CONNECT_TIMEOUT = 20.0
"A viewer that never connects (closed tab, blocked UDP) is dropped after this long."
SENDERS = ("lean", "aiortc")
"The send paths: ours (packetize once, one loop over viewers) or aiortc's per-viewer sender."


def h264_capability(profile_level_id: str) -> RTCRtpCodecCapability:
    """The one video codec we answer viewers with: H.264, packetization-mode 1."""
    return RTCRtpCodecCapability(
        mimeType="video/H264",
        clockRate=90000,
        parameters={
            "level-asymmetry-allowed": "1",
            "packetization-mode": "1",
            "profile-level-id": profile_level_id,
        },
    )


class Viewer:
    """A WHEP session: subscribes to the broadcast and plays it to one browser."""

    def __init__(
        self,
        broadcast: Broadcast,
        request_keyframe: Callable[[], None],
        ice: IcePolicy,
        on_gone: Callable[[Viewer], None],
        address: str = "",
        profile_level_id: str = "42e01f",
        sender: str = "lean",
    ) -> None:
        if sender not in SENDERS:
            raise ValueError(f"sender must be one of {SENDERS} (got {sender!r})")
        self.id = secrets.token_urlsafe(12)
        self.address = address
        self.profile_level_id = profile_level_id
        self._broadcast = broadcast
        self._request_keyframe = request_keyframe
        self._ice = ice
        self._on_gone = on_gone
        self.pc = peer_connection()
        self.ice_tag = f'"{secrets.token_urlsafe(9)}"'
        "Entity-tag of this session's ICE session (RFC 9725 ETag / If-Match)."
        self.created_at = time.monotonic()
        self.subscriber: ViewerSubscriber | None = None
        self.sender_kind = sender
        self.tracks: list[PacketTrack] = []
        "aiortc path: the tracks its senders read."
        self.lean: dict[str, LeanSender] = {}
        "Lean path: the senders whose RTP we send, by kind."
        self._closed = False
        self.answer_sdp = ""
        "The SDP answer (candidates included) once negotiated."
        self._deadline: asyncio.Task[None] | None = None
        self.pc.on("connectionstatechange", self._on_connection_state)

    async def answer(self, offer_sdp: str) -> str:
        """Negotiate and start sending the program from its next keyframe."""
        check_play_offer(offer_sdp)
        install(self._ice)
        # A keyframe is forced now (coalesced with other joiners'); what queues behind it
        # until the connection is up is fast-forwarded (Subscriber.start_sending).
        lean = self.sender_kind == "lean"
        self.subscriber = self._broadcast.subscribe(
            f"viewer {self.id}", kind=DirectViewerSubscriber if lean else ViewerSubscriber
        )
        # Transceivers made before the offer is applied are matched to its m-lines, so the
        # codec preferences below take part in the negotiation: aiortc prefers VP8, but
        # the packets are H.264, so viewers are answered with H.264 only.
        for kind in ("video", "audio"):
            if lean:
                transceiver = self.pc.addTransceiver(kind, direction="sendonly")
            else:
                track = PacketTrack(kind, self.subscriber)
                transceiver = self.pc.addTransceiver(track, direction="sendonly")
            if kind == "video":
                transceiver.setCodecPreferences(
                    [h264_capability("42e01f"), RTCRtpCodecCapability("video/rtx", 90000)]
                )
            # PLI/FIR land in RTCRtpSender._send_keyframe, which only flags the sender's
            # own encoder; with packet tracks there is none. Send them to ours instead.
            transceiver.sender._send_keyframe = self._request_keyframe  # type: ignore[method-assign]
            if isinstance(self.subscriber, DirectViewerSubscriber):
                self.lean[kind] = LeanSender(transceiver.sender, kind, self.subscriber)
            else:
                track.sender = transceiver.sender
                self.tracks.append(track)
                self._start_only_while_open(transceiver.sender)
        with answering():
            await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        peer_checks_keep_consent(self.pc)
        for transceiver in self.pc.getTransceivers():
            for codec in transceiver._codecs:
                if codec.mimeType.lower() == "video/h264":
                    # aiortc only lists level 3.1; a bigger program answers its real level
                    # (the answer must describe the SPS viewers will get).
                    codec.parameters["profile-level-id"] = self.profile_level_id
        with answering():
            answer = await self.pc.createAnswer()
            await asyncio.wait_for(self.pc.setLocalDescription(answer), NEGOTIATION_TIMEOUT)
        self._deadline = asyncio.ensure_future(self._connect_deadline())
        self.answer_sdp = fit_answer(self.pc.localDescription.sdp, self._ice)
        return self.answer_sdp

    def _start_only_while_open(self, sender: RTCRtpSender) -> None:
        """aiortc's connect task calls `sender.send()` once DTLS is up, even after
        `RTCPeerConnection.close()` stopped the (then idle) sender: its RTCP task would
        run forever. A closed viewer starts nothing (the lean path: LeanSender)."""
        send = sender.send

        async def send_unless_closed(parameters: RTCRtpSendParameters) -> None:
            if not self._closed:
                await send(parameters)

        sender.send = send_unless_closed  # type: ignore[method-assign]

    async def trickle(self, fragment: SdpFragment) -> int:
        """Candidates the viewer trickled after its offer (PATCH); returns how many were taken."""
        return await add_candidates(self.pc, fragment)

    @property
    def rtp_origin(self) -> int | None:
        """RTP timestamp of program pts 0 in this viewer's video (None until known)."""
        if "video" in self.lean:
            return self.lean["video"].timestamp_origin
        for track in self.tracks:
            if track.kind == "video":
                return track.rtp_origin
        return None

    @property
    def first_video_pts(self) -> int | None:
        """Program pts of the first video frame sent (where the viewer's clock starts)."""
        lean = self.lean.get("video")
        if lean is not None:
            return lean.stream.first_pts if lean.stream is not None else None
        return next((t.first_pts for t in self.tracks if t.kind == "video"), None)

    @property
    def last_video_rtp_timestamp(self) -> int | None:
        """RTP timestamp of the last video frame sent (None before the first)."""
        lean = self.lean.get("video")
        if lean is not None:
            return lean.stream.last_timestamp if lean.stream and lean.stream.frames else None
        for track in self.tracks:
            if track.kind == "video" and track.sender is not None and track.packets_yielded:
                sent: int = getattr(track.sender, "_RTCRtpSender__rtp_timestamp")  # noqa: B009
                return sent
        return None

    def frames_sent(self, kind: str) -> int:
        """Program packets of `kind` sent (or handed to aiortc's sender) so far."""
        lean = self.lean.get(kind)
        if lean is not None:
            return lean.stream.frames if lean.stream is not None else 0
        return sum(t.packets_yielded for t in self.tracks if t.kind == kind)

    async def _connect_deadline(self) -> None:
        await asyncio.sleep(CONNECT_TIMEOUT)
        if self.pc.connectionState != "connected":
            log.info("viewer %s never connected; dropping it", self.id)
            await self.close()

    async def _on_connection_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            await self.close()

    async def close(self) -> None:
        """Unsubscribe and close the peer connection (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._deadline is not None and self._deadline is not asyncio.current_task():
            self._deadline.cancel()
        self._on_gone(self)  # first, so listeners of the subscription see the new count
        if self.subscriber is not None:
            self._broadcast.unsubscribe(self.subscriber)
        for lean in self.lean.values():
            lean.close()
        with contextlib.suppress(Exception):
            await self.pc.close()
