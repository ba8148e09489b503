"""WHIP push: the program, as its shared packets, to an SFU or another LiveStudio.

The client side of WHIP (RFC 9725), non-trickle: one aiortc peer connection whose
sendonly tracks yield the same H.264 and Opus packets every WHEP viewer gets
(`PacketTrack` over a `ViewerSubscriber`, as in viewer.py), so a push costs a packetizer,
never an encode. The offer is POSTed with the key as Bearer token; the session's
`Location` is DELETEd when the push stops. A keyframe request (PLI/FIR) from the server
reaches the show's one encoder, coalesced like a viewer's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.rtcrtpparameters import RTCRtpCodecCapability
from yarl import URL

from .broadcast import Broadcast, PacketTrack, ViewerSubscriber
from .ice import IcePolicy, install
from .peerconn import peer_connection
from .restream import PushError
from .viewer import h264_capability

log = logging.getLogger(__name__)

HTTP_TIMEOUT = 15.0
"Seconds for the server to answer the offer (or the DELETE)."
NEGOTIATION_TIMEOUT = 10.0
"Seconds to gather our candidates for the offer."
CONNECT_TIMEOUT = 20.0
"Seconds from the answer to the media connection being up."
PERMANENT = {400, 401, 403, 404, 405, 410, 415, 422}
"Answers no retry can change: the URL, the key or what we offer is wrong."
BASE_PROFILE = "42e01f"
"The constrained-baseline entry of aiortc's H.264 capabilities (preferences must match one)."
MAX_MESSAGE = 200
"Characters of a server's error text shown in the studio."


class WhipPush:
    """One WHIP session pushing the program; `run` it, cancel it to stop."""

    def __init__(
        self,
        url: str,
        key: str,
        broadcast: Broadcast,
        request_keyframe: Callable[[], None],
        ice: IcePolicy,
        profile_level_id: str,
        name: str = "whip push",
    ) -> None:
        self.url = url
        self._key = key
        self._broadcast = broadcast
        self._request_keyframe = request_keyframe
        self._ice = ice
        self._profile_level_id = profile_level_id
        self.name = name
        self.subscriber: ViewerSubscriber | None = None
        self.tracks: list[PacketTrack] = []
        self.location: str | None = None

    @property
    def where(self) -> str:
        """The server, as messages name it."""
        return URL(self.url).host or self.url

    async def run(self, on_live: Callable[[], None]) -> None:
        """Offer, connect and send until the program ends (returns) or the session
        fails (PushError). Cancelling it ends the session (DELETE)."""
        pc = peer_connection()
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT))
        subscriber = self._broadcast.subscribe(self.name)
        self.subscriber = subscriber
        changed = asyncio.Event()
        "The connection's state changed, or the show ended."
        pc.on("connectionstatechange", changed.set)
        subscriber.on_close.append(changed.set)
        try:
            self._add_tracks(pc, subscriber)
            install(self._ice)
            try:
                await asyncio.wait_for(
                    pc.setLocalDescription(await pc.createOffer()), NEGOTIATION_TIMEOUT
                )
            except TimeoutError:
                raise PushError(
                    f"gathering this server's ICE candidates took over {NEGOTIATION_TIMEOUT:.0f} s"
                ) from None
            # aiortc lists level 3.1 only; the offer says the level our SPS will carry.
            offer = pc.localDescription.sdp.replace(
                f"profile-level-id={BASE_PROFILE}", f"profile-level-id={self._profile_level_id}"
            )
            answer = await self._post(session, offer)
            try:
                await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            except Exception as exc:
                raise PushError(
                    f"{self.where} answered with an SDP we cannot use ({exc})", permanent=True
                ) from None
            await self._connected(pc, subscriber, changed)
            if subscriber.closed:
                return  # the show ended meanwhile
            on_live()
            while pc.connectionState not in ("failed", "closed") and not subscriber.closed:
                changed.clear()
                await changed.wait()
            if not subscriber.closed:
                raise PushError(f"the connection to {self.where} was lost")
        finally:
            self._broadcast.unsubscribe(subscriber)
            with contextlib.suppress(Exception):
                await pc.close()
            await self._delete(session)
            await session.close()

    def _add_tracks(self, pc: RTCPeerConnection, subscriber: ViewerSubscriber) -> None:
        for kind in ("video", "audio"):
            track = PacketTrack(kind, subscriber)
            transceiver = pc.addTransceiver(track, direction="sendonly")
            if kind == "video":
                # The packets are H.264: offering VP8 (aiortc's first choice) would have
                # the server pick a codec we cannot send.
                transceiver.setCodecPreferences(
                    [
                        h264_capability(BASE_PROFILE),
                        RTCRtpCodecCapability("video/rtx", 90000),
                    ]
                )
            # PLI/FIR from the server: to the show's encoder (packet tracks have none).
            transceiver.sender._send_keyframe = self._request_keyframe  # type: ignore[method-assign]
            track.sender = transceiver.sender
            self.tracks.append(track)

    async def _post(self, session: aiohttp.ClientSession, offer: str) -> str:
        headers = {"Content-Type": "application/sdp"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        try:
            async with session.post(self.url, data=offer, headers=headers) as response:
                text = await response.text(errors="replace")
                if response.status not in (200, 201):
                    raise PushError(
                        _refusal(self.where, response.status, text.replace(self._key or "\0", "…")),
                        permanent=response.status in PERMANENT,
                    )
                location = response.headers.get("Location")
                if location:
                    self.location = str(response.url.join(URL(location)))
                return text
        except TimeoutError:
            raise PushError(f"{self.where} did not answer within {HTTP_TIMEOUT:.0f} s") from None
        except aiohttp.ClientError as exc:
            raise PushError(f"cannot reach {self.where}: {_client_reason(exc)}") from None

    async def _connected(
        self, pc: RTCPeerConnection, subscriber: ViewerSubscriber, changed: asyncio.Event
    ) -> None:
        deadline = asyncio.get_running_loop().time() + CONNECT_TIMEOUT
        while pc.connectionState != "connected" and not subscriber.closed:
            left = deadline - asyncio.get_running_loop().time()
            if pc.connectionState in ("failed", "closed") or left <= 0:
                raise PushError(
                    f"no media connection to {self.where} (ICE/DTLS {pc.connectionState});"
                    " is UDP open between the two?"
                )
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), left)

    async def _delete(self, session: aiohttp.ClientSession) -> None:
        """End the session on the server (best-effort: it times out on its own anyway)."""
        if self.location is None:
            return
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        with contextlib.suppress(Exception):
            async with session.delete(
                self.location, headers=headers, timeout=aiohttp.ClientTimeout(total=5)
            ):
                pass
        self.location = None


def _refusal(where: str, status: int, text: str) -> str:
    """What the server said, in a line fit for the studio."""
    words = {
        401: "refused the key",
        403: "refused the key",
        404: "has no such stream at that URL",
        409: "is busy with another publisher",
        503: "is overloaded",
    }
    detail = " ".join(text.split())[:MAX_MESSAGE]
    what = words.get(status, "refused the stream")
    return f"{where} {what} (HTTP {status}{': ' + detail if detail else ''})"


def _client_reason(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return "its TLS certificate is not trusted"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return exc.strerror or str(exc.os_error) or "connection failed"
    return str(exc) or type(exc).__name__


__all__ = ["WhipPush"]
