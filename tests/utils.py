"""Fakes and helpers shared by the tests: stamped video, tones, WHIP/WHEP clients and
offers, images, media checks, shows with a recording, and `until`."""

from __future__ import annotations

import asyncio
import fractions
import inspect
import io
import math
import re
import shutil
import struct
import subprocess
import threading
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpsender import RTCRtpSender
from PIL import Image

from bench.replay import synthetic_recording
from livestudio.media.record import DOWNLOAD, PLAYLIST, POSTER

from .conftest import MUG, Studio

CAMERA_RGB = (90, 60, 200)
"The plain picture of StampedVideoTrack (outside its stamp)."
STAMP_BITS = 16
STAMP_BLOCK = 24
"Pixels per stamp bit: big blocks survive any sane H.264/VP8 quantiser."


def stamp(y_plane: np.ndarray, number: int) -> None:
    """Draw `number` as STAMP_BITS black/white blocks in the top rows of a Y plane."""
    for bit in range(STAMP_BITS):
        value = 235 if (number >> bit) & 1 else 16
        x = bit * STAMP_BLOCK
        y_plane[0:STAMP_BLOCK, x : x + STAMP_BLOCK] = value


def read_stamp(frame: av.VideoFrame) -> int:
    """Read back a number drawn by `stamp` (frame at any size: blocks are relative)."""
    y = frame.to_ndarray(format="gray")
    scale = frame.width / StampedVideoTrack.WIDTH_FOR_SCALE
    number = 0
    for bit in range(STAMP_BITS):
        cx = int((bit * STAMP_BLOCK + STAMP_BLOCK / 2) * scale)
        cy = int(STAMP_BLOCK / 2 * scale)
        if y[cy - 2 : cy + 3, cx - 2 : cx + 3].mean() > 128:
            number |= 1 << bit
    return number


class StampedVideoTrack(MediaStreamTrack):
    """A camera that draws its frame number into every frame, at a real-time pace."""

    kind = "video"
    WIDTH_FOR_SCALE = 640

    def __init__(
        self,
        width: int = 640,
        height: int = 360,
        fps: int = 30,
        color: tuple[int, int, int] = CAMERA_RGB,
        first: int = 1,
    ) -> None:
        super().__init__()
        self.fps = fps
        self.first = first
        "The number stamped on the first frame (0 would be indistinguishable from black)."
        self.color = color
        self.count = 0
        self.sent: list[int] = []
        self.paused = False
        self._start: float | None = None
        self.resize(width, height)

    def resize(self, width: int, height: int) -> None:
        """Change the resolution mid-stream, as browsers do."""
        self.width, self.height = width, height
        base = np.zeros((height, width, 3), dtype=np.uint8)
        base[:] = self.color
        rgb = av.VideoFrame.from_ndarray(base, format="rgb24")
        self._base_array = rgb.reformat(format="yuv420p").to_ndarray()

    async def recv(self) -> av.VideoFrame:  # type: ignore[override]
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        while True:
            due = self._start + self.count / self.fps
            await asyncio.sleep(max(0.0, due - time.monotonic()))  # a camera's pace
            if not self.paused:
                break
            self.count += 1
        array = self._base_array.copy()
        n = self.count + self.first
        # stamp scaled to the frame width, so read_stamp works after rescaling
        scale = self.width / self.WIDTH_FOR_SCALE
        block = max(2, int(STAMP_BLOCK * scale))
        for bit in range(STAMP_BITS):
            value = 235 if (n >> bit) & 1 else 16
            x = int(bit * STAMP_BLOCK * scale)
            array[0:block, x : x + block] = value
        frame = av.VideoFrame.from_ndarray(array, format="yuv420p")
        frame.pts = self.count * (90000 // self.fps)
        frame.time_base = fractions.Fraction(1, 90000)
        self.sent.append(n)
        self.count += 1
        return frame


class ToneAudioTrack(MediaStreamTrack):
    """A microphone playing a sine tone (440 Hz by default), 20 ms frames at 48 kHz."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0, amplitude: float = 0.3) -> None:
        super().__init__()
        self.frequency = frequency
        self.amplitude = amplitude
        self._samples = 0
        self._start: float | None = None
        self.paused = False

    async def recv(self) -> av.AudioFrame:  # type: ignore[override]
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        while True:
            due = self._start + self._samples / 48000
            await asyncio.sleep(max(0.0, due - time.monotonic()))  # a microphone's pace
            if not self.paused:
                break
            self._samples += 960
        t = (np.arange(960) + self._samples) / 48000
        wave = (np.sin(2 * math.pi * self.frequency * t) * self.amplitude * 32767).astype(np.int16)
        stereo = np.repeat(wave, 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        frame.sample_rate = 48000
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, 48000)
        self._samples += 960
        return frame


async def wait_for_ice(pc: RTCPeerConnection) -> None:
    """aiortc gathers inside setLocalDescription; nothing more to wait for."""


@dataclass
class Publisher:
    """An aiortc WHIP client."""

    pc: RTCPeerConnection
    video: StampedVideoTrack
    audio: ToneAudioTrack
    location: str

    async def close(
        self, session: aiohttp.ClientSession | None = None, delete: bool = True
    ) -> None:
        if delete and session is not None:
            async with session.delete(self.location):
                pass
        await self.pc.close()


async def whip_publish(
    session: aiohttp.ClientSession,
    url: str,
    key: str,
    video: StampedVideoTrack | None = None,
    audio: ToneAudioTrack | None = None,
    codec: str | None = None,
    relay: Any = None,
) -> Publisher:
    """Publish a stamped video and a tone over WHIP; returns once the answer is applied.

    `relay` (tests/relay.py LossyRelay): the offer and answer are rewritten so that the
    media passes through it."""
    pc = RTCPeerConnection()
    video = video or StampedVideoTrack()
    audio = audio or ToneAudioTrack()
    vt = pc.addTransceiver(video, direction="sendonly")
    pc.addTransceiver(audio, direction="sendonly")
    if codec:
        caps = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == codec]
        vt.setCodecPreferences(caps)
    await pc.setLocalDescription(await pc.createOffer())
    sdp = relay.offer(pc.localDescription.sdp) if relay else pc.localDescription.sdp
    async with session.post(
        url,
        data=sdp,
        headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {key}"},
    ) as resp:
        body = await resp.text()
        if resp.status != 201:
            await pc.close()
            raise AssertionError(f"WHIP POST {resp.status}: {body}")
        location = str(resp.url.join(aiohttp.client.URL(resp.headers["Location"])))
    if relay:
        body = relay.answer(body)
    await pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
    return Publisher(pc, video, audio, location)


@dataclass
class Player:
    """An aiortc WHEP client that decodes what it receives."""

    pc: RTCPeerConnection
    location: str
    answer: str
    stamps: list[int] = field(default_factory=list)
    pts: list[int] = field(default_factory=list)
    sizes: set[tuple[int, int]] = field(default_factory=set)
    frames: list[av.VideoFrame] = field(default_factory=list)
    audio_rms: list[float] = field(default_factory=list)
    keep_frames: int = 0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    on_frame: Callable[[av.VideoFrame], None] | None = None

    async def close(
        self, session: aiohttp.ClientSession | None = None, delete: bool = True
    ) -> None:
        for t in self.tasks:
            t.cancel()
        if delete and session is not None:
            async with session.delete(self.location):
                pass
        await self.pc.close()


async def whep_play(
    session: aiohttp.ClientSession, url: str, keep_frames: int = 0, relay: Any = None
) -> Player:
    """Play over WHEP; received frames are decoded and their stamps recorded (`relay`:
    through a tests/relay.py LossyRelay)."""
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = relay.offer(pc.localDescription.sdp) if relay else pc.localDescription.sdp
    async with session.post(url, data=sdp, headers={"Content-Type": "application/sdp"}) as resp:
        body = await resp.text()
        if resp.status != 201:
            await pc.close()
            raise AssertionError(f"WHEP POST {resp.status}: {body}")
        location = str(resp.url.join(aiohttp.client.URL(resp.headers["Location"])))
    if relay:
        body = relay.answer(body)
    player = Player(pc, location, body, keep_frames=keep_frames)

    async def consume(track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                if isinstance(frame, av.VideoFrame):
                    player.stamps.append(read_stamp(frame))
                    player.pts.append(frame.pts)
                    player.sizes.add((frame.width, frame.height))
                    if player.on_frame:
                        player.on_frame(frame)
                    if len(player.frames) < keep_frames:
                        player.frames.append(frame)
                else:
                    samples = frame.to_ndarray().astype(np.float64)
                    player.audio_rms.append(float(np.sqrt(np.mean(samples**2))))
        except MediaStreamError:
            pass

    await pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
    for transceiver in pc.getTransceivers():
        player.tasks.append(asyncio.ensure_future(consume(transceiver.receiver.track)))
    return player


async def until(
    predicate: Callable[[], bool | Awaitable[bool]], within: float, interval: float = 0.05
) -> None:
    """Wait until predicate() (plain or async) holds; fail with a clear message after
    `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        held = predicate()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(interval)


class ProgramTap:
    """Every packet a show's program fans out, as an output sees it: a subscription to
    the show's broadcast (from its last keyframe on) read by a thread of its own, which
    hands each (kind, packet) to `on_packet`."""

    def __init__(self, live: Any, on_packet: Callable[[str, av.Packet], None]) -> None:
        self._live = live
        self.feed = live.subscribe("test tap")
        self._on_packet = on_packet
        self._thread = threading.Thread(target=self._run, name="test-tap", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self.feed.get()) is not None:
            self._on_packet(*item)

    def close(self) -> None:
        self._live.unsubscribe(self.feed)
        self._thread.join(timeout=5)


# -- signalling ------------------------------------------------------------------------------

SDP = {"Content-Type": "application/sdp"}
"Headers of a WHEP POST (and, with `bearer`, a WHIP one)."


def bearer(key: str) -> dict[str, str]:
    """Headers of a WHIP POST with this stream key."""
    return {**SDP, "Authorization": f"Bearer {key}"}


async def offer(kind: str = "publish", codec: str | None = None) -> str:
    """An aiortc offer, sendonly stamped video and a tone ("publish") or recvonly ("play");
    `codec` keeps only that video codec. Its peer connection is closed at once."""
    pc = RTCPeerConnection()
    try:
        if kind == "publish":
            t = pc.addTransceiver(StampedVideoTrack(), direction="sendonly")
            pc.addTransceiver(ToneAudioTrack(), direction="sendonly")
        else:
            t = pc.addTransceiver("video", direction="recvonly")
            pc.addTransceiver("audio", direction="recvonly")
        if codec:
            caps = RTCRtpSender.getCapabilities("video").codecs
            t.setCodecPreferences([c for c in caps if c.mimeType == codec])
        await pc.setLocalDescription(await pc.createOffer())
        return pc.localDescription.sdp
    finally:
        await pc.close()


# -- pictures --------------------------------------------------------------------------------


def card_score(frame: av.VideoFrame, rect: Any) -> float:
    """How far a rectangle of a frame is from the plain camera picture (0: untouched)."""
    rgb = frame.to_ndarray(format="rgb24")[
        rect.y : rect.y + rect.height, rect.x : rect.x + rect.width
    ]
    return float(np.abs(rgb.astype(int) - CAMERA_RGB).mean())


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (640, 480)) -> bytes:
    """A plain blue picture, encoded as `fmt`."""
    im = Image.new("RGB", size, (30, 120, 200))
    out = io.BytesIO()
    im.save(out, fmt)
    return out.getvalue()


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A black greyscale PNG of width x height that is tiny compressed (never held decoded)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    compressor = zlib.compressobj(9)
    row = bytes(1 + width)  # filter byte 0, then black pixels
    parts = [compressor.compress(row) for _ in range(height)]
    idat = b"".join(parts) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


# -- recordings ------------------------------------------------------------------------------

DEV_FULL = Path("/dev/full")
SIDE_FILES = (PLAYLIST, POSTER, DOWNLOAD)
"What is written beside recording.mp4 at the end of a show."


def ffprobe_errors(path: Path) -> str:
    """What Debian's ffprobe says is wrong with a media file ("" if nothing)."""
    ffprobe = shutil.which("ffprobe")
    assert ffprobe, "ffprobe is needed (Debian: apt-get install -y ffmpeg)"
    result = subprocess.run(
        [ffprobe, "-v", "error", "-show_entries", "format=duration", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stderr.strip()


def refuse_side_files(folder: Path) -> None:
    """Make every write of a side file of this recording fail with ENOSPC (a full disk):
    their temporary names are symlinks to /dev/full."""
    assert DEV_FULL.is_char_device(), "/dev/full is needed (every Linux has it)"
    folder.mkdir(parents=True, exist_ok=True)
    for name in SIDE_FILES:
        (folder / (name + ".tmp")).symlink_to(DEV_FULL)


def check_playlist(playlist: str, recording: bytes) -> float:
    """Every byte range lies in the recording and starts a box; returns the seconds."""
    assert playlist.startswith("#EXTM3U") and playlist.rstrip().endswith("#EXT-X-ENDLIST")
    init = re.search(r'BYTERANGE="(\d+)@0"', playlist)
    assert init is not None and recording[4:8] == b"ftyp"
    ranges = [(int(n), int(at)) for n, at in re.findall(r"#EXT-X-BYTERANGE:(\d+)@(\d+)", playlist)]
    assert ranges and ranges[0][1] == int(init.group(1))
    for length, at in ranges:
        assert at + length <= len(recording)
        assert recording[at + 4 : at + 8] == b"moof"
    return sum(float(s) for s in re.findall(r"#EXTINF:([\d.]+),", playlist))


METRIC_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    r'(?:\{(?P<labels>[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)\})?'
    r" (?P<value>[-+]?(?:[0-9.]+(?:[eE][-+]?[0-9]+)?|Inf|NaN))$"
)
METRIC_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Samples of a Prometheus text exposition, checking its shape on the way."""
    assert text.endswith("\n")
    typed: set[str] = set()
    samples: list[tuple[str, dict[str, str], float]] = []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge"), line
            assert name not in typed, f"{name} typed twice"
            typed.add(name)
            continue
        if line.startswith("# HELP "):
            continue
        m = METRIC_SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name = m["name"]
        assert name in typed, f"{name} has no # TYPE before its samples"
        labels = dict(METRIC_LABEL.findall(m["labels"] or ""))
        samples.append((name, labels, float(m["value"])))
    return samples


async def recorded_show(studio: Studio, state: str = "unpublished") -> str:
    """A show that ended with a recording (files on disk), in `state`."""
    show_id, _ = await studio.create_show("Recorded")
    await studio.store.set_show_state(show_id, "live")
    await studio.store.set_show_state(show_id, "ended")
    await studio.store.set_recording(show_id, "ready", duration=12.0)
    if state != "ended":
        await studio.store.set_show_state(show_id, state)
    folder = studio.settings.recordings_dir / show_id
    folder.mkdir(parents=True, exist_ok=True)
    synthetic_recording(folder, 0.05)  # a real fMP4: the playlist is made from it
    (folder / DOWNLOAD).write_bytes(b"\0\0\0\x18ftypisom" + bytes(100))
    (folder / POSTER).write_bytes(b"\xff\xd8\xff\xd9")
    return show_id


PINS = ((5.3, "pin"), (12.9, "pin"), (20.0, "unpin"))


async def clipped_show(studio: Studio, state: str = "published", minutes: float = 0.5) -> Any:
    """A show that ended with a 30 s recording and two product chapters: the mug from
    5.3 s to 12.9 s, the lamp from 12.9 s to 20 s."""
    token = await studio.api_token()
    mug = await studio.create_product(like=MUG)
    lamp = await studio.create_product(like=MUG, name="Lamp", sku="L-1")
    show_id, _ = await studio.create_show("Clip show")
    store = studio.store
    await store.set_show_state(show_id, "live")
    for (seconds, kind), product in zip(PINS, (mug, lamp, None), strict=True):
        data: dict[str, Any] = {"product": product["id"] if product else None}
        if product:
            data["name"] = product["name"]
        await store.add_event(show_id, kind, data, round(seconds * 90000))
    await store.set_show_state(show_id, "ended")
    folder = studio.settings.recordings_dir / show_id
    await asyncio.to_thread(synthetic_recording, folder, minutes)
    await store.set_recording(show_id, "ready", duration=minutes * 60)
    await store.set_show_state(show_id, state)
    return show_id, mug, lamp, token
