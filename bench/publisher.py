"""The synthetic host: a WHIP client sending stamped 1280x720 moving content at 30 fps.

It runs in its own process (pinned with the other clients). To keep the client CPU free
for viewers it encodes nothing while it runs: a cycle of stamped frames (10 s or more) is
encoded once at start with the server's own ProgramEncoder (ultrafast, an IDR every
second so the cycle can wrap and a PLI be answered at the next one) and the sender only
packetizes them, as the server does. Encoding live cost ~22 % of the clients' core, which
is ~110 counting viewers. The capture time of every stamped frame goes into the shared
SendTimes table when it is sent; stamps repeat once a cycle, which is longer than any
measurement window and any latency worth measuring.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import fractions
import math
import os
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpsender import RTCRtpSender

from livestudio.media.encode import ProgramEncoder, VideoSettings

from .common import pin
from .content import Scene
from .stamps import SendTimes, stamp_number


@dataclass(frozen=True)
class PublisherConfig:
    """Where and what to publish."""

    url: str
    key: str
    shm_name: str
    width: int = 1280
    height: int = 720
    fps: int = 30
    bitrate: int = 2_500_000
    cpus: frozenset[int] | None = None
    cycle_frames: int = 300
    "Frames encoded at start and sent in a loop (a multiple of fps: an IDR starts each second)."


class StampedPacketTrack(MediaStreamTrack):
    """Real-time stamped frames from a pre-encoded cycle (the sender only packetizes)."""

    kind = "video"

    def __init__(self, config: PublisherConfig, times: SendTimes) -> None:
        super().__init__()
        self._fps = config.fps
        self._times = times
        self._cycle = encode_cycle(config)
        self._start: float | None = None
        self._keyframe = False
        self._position = 0
        self.count = 0
        self.late = 0

    def request_keyframe(self) -> None:
        """PLI/FIR from the server: skip to the next IDR of the cycle."""
        self._keyframe = True

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self.count / self._fps
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.1:
            self.late += 1
        if self._keyframe:
            self._keyframe = False
            self._position = -(-self._position // self._fps) * self._fps % len(self._cycle)
        data, keyframe = self._cycle[self._position]
        self._times.times[stamp_number(self._position)] = time.monotonic()
        packet = av.Packet(data)
        packet.pts = packet.dts = self.count * (90000 // self._fps)
        packet.time_base = fractions.Fraction(1, 90000)
        packet.is_keyframe = keyframe
        self._position = (self._position + 1) % len(self._cycle)
        self.count += 1
        return packet


def encode_cycle(config: PublisherConfig) -> list[tuple[bytes, bool]]:
    """Frames 0..cycle_frames-1 of the scene, stamped, encoded: (data, is IDR) each."""
    scene = Scene(config.width, config.height)
    encoder = ProgramEncoder(
        VideoSettings(config.width, config.height, config.fps, config.bitrate, "ultrafast", 1.0)
    )
    out: list[tuple[bytes, bool]] = []
    for index in range(config.cycle_frames):
        keyframe = index % config.fps == 0
        packets = encoder.encode(scene.frame(index, stamp_number(index)), keyframe)
        assert len(packets) == 1 and packets[0].is_keyframe == keyframe, "zero-latency, IDRs"
        out.append((bytes(packets[0]), keyframe))
    return out


class ToneTrack(MediaStreamTrack):
    """A 440 Hz microphone, 20 ms frames at 48 kHz (aiortc encodes it to Opus: cheap)."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._samples = 0
        self._start: float | None = None
        t = np.arange(48000) / 48000
        wave = (np.sin(2 * math.pi * 440 * t) * 0.2 * 32767).astype(np.int16)
        self._wave = np.repeat(wave, 2)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        await asyncio.sleep(max(0.0, self._start + self._samples / 48000 - time.monotonic()))
        offset = self._samples % 48000 * 2
        chunk = np.roll(self._wave, -offset)[: 960 * 2].reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="stereo")
        frame.sample_rate = 48000
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, 48000)
        self._samples += 960
        return frame


def h264_only(transceiver: Any) -> None:
    """Offer H.264 (packetization-mode 1, constrained baseline) and RTX only."""
    codecs = [
        c
        for c in RTCRtpSender.getCapabilities("video").codecs
        if c.mimeType == "video/rtx"
        or (
            c.mimeType == "video/H264"
            and c.parameters.get("packetization-mode") == "1"
            and str(c.parameters.get("profile-level-id", "")).lower().startswith("42e0")
        )
    ]
    transceiver.setCodecPreferences(codecs)


async def publish(config: PublisherConfig, control: Connection) -> None:
    """Publish until the controller sends anything on `control`."""
    times = SendTimes(config.shm_name)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    video = StampedPacketTrack(config, times)
    video_tx = pc.addTransceiver(video, direction="sendonly")
    h264_only(video_tx)
    video_tx.sender._send_keyframe = video.request_keyframe  # type: ignore[method-assign]
    pc.addTransceiver(ToneTrack(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    headers = {"Content-Type": "application/sdp"}
    if config.key:
        headers["Authorization"] = f"Bearer {config.key}"
    async with aiohttp.ClientSession() as session:
        async with session.post(config.url, data=pc.localDescription.sdp, headers=headers) as r:
            body = await r.text()
            if r.status != 201:
                control.send(("error", f"WHIP POST {r.status}: {body[:300]}"))
                await pc.close()
                return
            location = str(r.url.join(aiohttp.client.URL(r.headers.get("Location", "/"))))
        await pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
        control.send(("ready", os.getpid()))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, control.recv)
        control.send(("stats", {"frames": video.count, "late": video.late}))
        with contextlib.suppress(aiohttp.ClientError):
            async with session.delete(location):
                pass
    await pc.close()
    times.close()


def main(config: PublisherConfig, control: Connection) -> None:
    """Process entry point (multiprocessing, spawn)."""
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <pid>`: where a stalled one is
    pin(set(config.cpus) if config.cpus else None)
    try:
        asyncio.run(publish(config, control))
    except Exception as exc:
        control.send(("error", f"publisher failed: {exc!r}"))
        raise
