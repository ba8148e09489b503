"""The naive design, for comparison: aiortc's examples/server way of relaying a camera.

One publisher (WHIP, no auth) and any number of WHEP viewers. Every viewer gets
`MediaRelay().subscribe(track)` of the publisher's decoded tracks, so every viewer's
RTCRtpSender encodes the video (and audio) itself: N viewers, N encoders. The relay is
unbuffered (a slow viewer drops frames instead of queueing them without bound, which is
kinder to this design than the default). The codec is whatever aiortc negotiates with an
aiortc viewer (VP8, as with a browser), or H.264 with --codec h264.

Run: python -m bench.naive_server --port 8090 [--codec vp8|h264]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets

from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpsender import RTCRtpSender


class State:
    """The publisher's tracks, the relay and the peer connections."""

    def __init__(self, codec: str) -> None:
        self.codec = codec
        self.relay = MediaRelay()
        self.tracks: dict[str, MediaStreamTrack] = {}
        self.pcs: dict[str, RTCPeerConnection] = {}
        self.sinks: set[asyncio.Task[None]] = set()


STATE = web.AppKey("naive_state", State)


async def _drain(track: MediaStreamTrack) -> None:
    """Keep the relay reading while nobody watches (the inbound queue is unbounded)."""
    with contextlib.suppress(MediaStreamError):
        while True:
            await track.recv()


def _state(request: web.Request) -> State:
    return request.app[STATE]


async def _answer(pc: RTCPeerConnection, offer: str) -> str:
    await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    return str(pc.localDescription.sdp)


def _created(kind: str, session: str, sdp: str) -> web.Response:
    return web.Response(
        status=201,
        text=sdp,
        content_type="application/sdp",
        headers={"Location": f"/{kind}/{session}"},
    )


async def whip(request: web.Request) -> web.Response:
    """The publisher: keep its decoded tracks for the relay."""
    state = _state(request)
    pc = RTCPeerConnection()
    session = secrets.token_urlsafe(8)
    state.pcs[session] = pc

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        state.tracks[track.kind] = track
        task = asyncio.ensure_future(_drain(state.relay.subscribe(track, buffered=False)))
        state.sinks.add(task)

    return _created("whip", session, await _answer(pc, await request.text()))


async def whep(request: web.Request) -> web.Response:
    """A viewer: relay subscriptions of the publisher's tracks, encoded by each sender."""
    state = _state(request)
    if "video" not in state.tracks:
        raise web.HTTPConflict(text="no publisher yet")
    pc = RTCPeerConnection()
    session = secrets.token_urlsafe(8)
    state.pcs[session] = pc
    for kind in ("video", "audio"):
        if kind in state.tracks:
            sender = pc.addTrack(state.relay.subscribe(state.tracks[kind], buffered=False))
            if kind == "video" and state.codec == "h264":
                transceiver = next(t for t in pc.getTransceivers() if t.sender is sender)
                caps = RTCRtpSender.getCapabilities("video").codecs
                transceiver.setCodecPreferences(
                    [c for c in caps if c.mimeType in ("video/H264", "video/rtx")]
                )

    @pc.on("connectionstatechange")
    async def on_state() -> None:
        if pc.connectionState in ("failed", "closed"):
            state.pcs.pop(session, None)
            await pc.close()

    return _created("whep", session, await _answer(pc, await request.text()))


async def delete(request: web.Request) -> web.Response:
    """DELETE a WHIP/WHEP session."""
    pc = _state(request).pcs.pop(request.match_info["session"], None)
    if pc is None:
        raise web.HTTPNotFound()
    await pc.close()
    return web.Response(status=200)


async def _shutdown(app: web.Application) -> None:
    state = app[STATE]
    for task in state.sinks:
        task.cancel()
    await asyncio.gather(*(pc.close() for pc in state.pcs.values()), return_exceptions=True)


def make_app(codec: str = "vp8") -> web.Application:
    """The naive relay server."""
    app = web.Application()
    app[STATE] = State(codec)
    app.router.add_post("/whip", whip)
    app.router.add_post("/whep", whep)
    app.router.add_delete("/whip/{session}", delete)
    app.router.add_delete("/whep/{session}", delete)
    app.router.add_get("/health", health)
    app.on_shutdown.append(_shutdown)
    return app


async def health(request: web.Request) -> web.Response:
    """Readiness probe."""
    return web.Response(text="ok")


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--codec", choices=("vp8", "h264"), default="vp8")
    args = parser.parse_args()
    web.run_app(make_app(args.codec), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
