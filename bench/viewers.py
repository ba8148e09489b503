"""A viewer client process: many WHEP viewers on one event loop, driven over a Pipe.

Most viewers only count frames (bench.counting); a few decode and read the stamps to
measure latency. Commands from the controller, each answered once:
("join", [(index, decode), ...], timeout) → ("joined", [join result, ...]);
("start",) → ("started",); ("stop",) → ("window", [window result, ...]);
("leave",) → ("left",); ("quit",) → process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import av
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from . import counting
from .common import pin
from .content import read_stamp
from .stamps import STAMP_MODULUS, SendTimes

JOIN_CONCURRENCY = 4
"WHEP negotiations one client process runs at once (the server caps them too)."


@dataclass(frozen=True)
class ClientConfig:
    """Where the viewers play from."""

    whep_url: str
    shm_name: str
    cpus: frozenset[int] | None = None
    nice: int = 10
    "Nicer than the publisher: a crowd of joins (DTLS handshakes) must not stall its camera."
    light: str = "srtp"
    "How non-decoding viewers count: see bench.counting."


@dataclass(eq=False)
class BenchViewer:
    """One WHEP viewer; counts or decodes its video, always counts its audio."""

    index: int
    decode: bool
    pc: RTCPeerConnection = field(
        # No STUN server: aiortc's default (Google's) only costs a failing DNS lookup here.
        default_factory=lambda: RTCPeerConnection(RTCConfiguration(iceServers=[]))
    )
    location: str = ""
    error: str = ""
    posted_at: float = 0.0
    answered_at: float = 0.0
    counter: counting.FrameCounter | None = None
    audio: counting.FrameCounter | None = None
    decoded: int = 0
    first_decoded_at: float = 0.0
    stamp_errors: int = 0
    latencies: list[float] = field(default_factory=list)
    measuring: bool = False
    window_start_frames: int = 0
    window_seconds: float = 0.0
    "How long this viewer's last window was open (its own clock, not the controller's)."
    task: asyncio.Task[None] | None = None
    datagrams: counting.DatagramCounter | None = None
    "srtp mode: what reads the socket once connected."

    @property
    def frames(self) -> int:
        """Video frames received (decoded ones for a decoding viewer)."""
        if self.decode:
            return self.decoded
        return self.counter.frames if self.counter else 0

    @property
    def first_frame_at(self) -> float:
        """When the first video frame arrived (decoded, for a decoding viewer); 0 if none."""
        if self.decode:
            return self.first_decoded_at
        return self.counter.first_frame_at if self.counter else 0.0


async def _consume(viewer: BenchViewer, track: MediaStreamTrack, times: SendTimes) -> None:
    """Decode, read stamps, record latency while a window is open."""
    with contextlib.suppress(MediaStreamError):
        while True:
            frame = await track.recv()
            now = time.monotonic()
            if not isinstance(frame, av.VideoFrame):
                continue
            if viewer.decoded == 0:
                viewer.first_decoded_at = now
            viewer.decoded += 1
            if not viewer.measuring:
                continue
            number = read_stamp(frame)
            sent = times.times[number] if 0 < number <= STAMP_MODULUS else 0.0
            latency = now - sent
            if sent <= 0 or not 0 <= latency < 10:
                viewer.stamp_errors += 1
            else:
                viewer.latencies.append(latency)


async def join(
    viewer: BenchViewer,
    session: aiohttp.ClientSession,
    url: str,
    times: SendTimes,
    deadline: float,
    light: str = "srtp",
) -> None:
    """Negotiate over WHEP (retrying 503/429 until `deadline`); start counting/decoding."""
    pc = viewer.pc
    video_tx = pc.addTransceiver("video", direction="recvonly")
    audio_tx = pc.addTransceiver("audio", direction="recvonly")
    if not viewer.decode:
        viewer.counter = counting.count_frames(video_tx.receiver, "video", light)
    viewer.audio = counting.count_frames(audio_tx.receiver, "audio", light)
    if light == "srtp" and not viewer.decode:

        @pc.on("connectionstatechange")
        def connected() -> None:
            if pc.connectionState == "connected" and viewer.datagrams is None:
                assert viewer.counter is not None and viewer.audio is not None
                counters = {"video": viewer.counter, "audio": viewer.audio}
                viewer.datagrams = counting.count_datagrams(pc, counters)

    await pc.setLocalDescription(await pc.createOffer())
    while True:
        viewer.posted_at = time.monotonic()
        async with session.post(
            url, data=pc.localDescription.sdp, headers={"Content-Type": "application/sdp"}
        ) as resp:
            body = await resp.text()
            if resp.status in (429, 503) and time.monotonic() < deadline:
                retry = float(resp.headers.get("Retry-After", "1") or 1)
                await asyncio.sleep(min(retry, 0.5))
                continue
            if resp.status != 201:
                viewer.error = f"WHEP POST {resp.status}: {body[:200]}"
                return
            viewer.answered_at = time.monotonic()
            viewer.location = str(resp.url.join(aiohttp.client.URL(resp.headers["Location"])))
            break
    await pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
    if viewer.decode:
        viewer.task = asyncio.ensure_future(_consume(viewer, video_tx.receiver.track, times))


def join_result(v: BenchViewer) -> dict[str, Any]:
    """What the controller learns about one join."""
    first = v.first_frame_at
    return {
        "index": v.index,
        "decode": v.decode,
        "error": v.error,
        "answer_s": v.answered_at - v.posted_at if v.answered_at else None,
        "first_frame_s": first - v.posted_at if first else None,
    }


def window_result(v: BenchViewer) -> dict[str, Any]:
    """What one viewer received during the measurement window."""
    return {
        "index": v.index,
        "decode": v.decode,
        "frames": v.frames - v.window_start_frames,
        "seconds": v.window_seconds,
        "keyframes": v.counter.keyframes if v.counter else None,
        "audio_frames": v.audio.frames if v.audio else 0,
        "packets": v.counter.packets if v.counter else None,
        "lost": v.counter.lost if v.counter else None,
        "latencies": list(v.latencies),
        "stamp_errors": v.stamp_errors,
    }


class Client:
    """The viewers of one client process."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.times = SendTimes(config.shm_name)
        self.viewers: list[BenchViewer] = []
        self.window_started = time.monotonic()
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def join(self, specs: list[tuple[int, bool]], wait_s: float) -> list[dict[str, Any]]:
        """Join viewers; return once each has its first frame (or failed, or wait_s passed)."""
        deadline = time.monotonic() + wait_s
        gate = asyncio.Semaphore(JOIN_CONCURRENCY)
        new = [BenchViewer(index, decode) for index, decode in specs]
        self.viewers.extend(new)

        async def one(v: BenchViewer) -> None:
            async with gate:
                try:
                    await asyncio.wait_for(
                        join(
                            v,
                            self.session,
                            self.config.whep_url,
                            self.times,
                            deadline,
                            self.config.light,
                        ),
                        max(1.0, deadline - time.monotonic()),
                    )
                except Exception as exc:  # reported, never fatal to the run
                    v.error = v.error or f"{type(exc).__name__}: {exc}"

        await asyncio.gather(*(one(v) for v in new))
        # First frames are noted by decoder threads: poll (no event to wait on).
        for _ in range(int(wait_s * 20) + 1):
            if time.monotonic() > deadline or all(v.error or v.first_frame_at for v in new):
                break
            await asyncio.sleep(0.05)
        return [join_result(v) for v in new]

    def start(self) -> None:
        self.window_started = time.monotonic()
        for v in self.viewers:
            v.window_start_frames = v.frames
            if v.audio:
                v.audio.frames = 0
            if v.counter:
                v.counter.keyframes = 0
                v.counter.packets = 0
                v.counter.lost = 0
            v.latencies.clear()
            v.stamp_errors = 0
            v.measuring = True

    def stop(self) -> list[dict[str, Any]]:
        # The controller's start and stop reach each client late by however long its loop
        # is busy: a window is as long as this client measured it, not the nominal one.
        seconds = time.monotonic() - self.window_started
        for v in self.viewers:
            v.measuring = False
            v.window_seconds = seconds
        return [window_result(v) for v in self.viewers]

    async def leave(self) -> None:
        async def one(v: BenchViewer) -> None:
            if v.task:
                v.task.cancel()
            if v.datagrams is not None:
                counting.stop_counting(v.datagrams)
                v.datagrams = None
            if v.location:
                with contextlib.suppress(Exception):
                    async with self.session.delete(v.location):
                        pass
            with contextlib.suppress(Exception):
                await v.pc.close()

        await asyncio.gather(*(one(v) for v in self.viewers))
        self.viewers.clear()

    async def close(self) -> None:
        await self.leave()
        await self.session.close()
        self.times.close()


async def serve(config: ClientConfig, control: Connection) -> None:
    """Answer the controller's commands until ("quit",)."""
    counting.install()
    client = Client(config)
    loop = asyncio.get_running_loop()
    control.send(("ready", os.getpid()))
    try:
        while True:
            command = await loop.run_in_executor(None, control.recv)
            name = command[0]
            if name == "join":
                control.send(("joined", await client.join(command[1], command[2])))
            elif name == "start":
                client.start()
                control.send(("started",))
            elif name == "stop":
                control.send(("window", client.stop()))
            elif name == "leave":
                await client.leave()
                control.send(("left",))
            elif name == "quit":
                break
    finally:
        await client.close()


def main(config: ClientConfig, control: Connection) -> None:
    """Process entry point (multiprocessing, spawn): pinned, a little nicer than the publisher."""
    pin(set(config.cpus) if config.cpus else None)
    if config.nice:
        os.nice(config.nice)
    asyncio.run(serve(config, control))
