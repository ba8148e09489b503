"""The program thread: one per show, it turns source frames (in order) and audio into packets.

Video is driven by the source: a new frame goes out as soon as it arrives, at ~fps on
average (VideoPacer); without one the last frame repeats, and after STALL_SECONDS the
slate shows (FramePicker, StallWatch). Each frame is fitted to the program size fixed at
start (SettledSize), composited with the overlay scene, and encoded once, an IDR when
KeyframeSchedule says so. Every 20 ms an Opus (and AAC) frame of the host's audio or
silence goes out (HostAudio). Timestamps come from the show's one ProgramClock. None of it
runs on the event loop (DESIGN 4): packets are handed over with call_soon_threadsafe.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import av

from .clock import AUDIO_RATE, VIDEO_TIME_BASE, ProgramClock
from .compose import Compositor
from .encode import AUDIO_FRAME_SAMPLES, AacEncoder, OpusEncoder, ProgramEncoder, VideoSettings
from .frames import even, program_size
from .hostaudio import HostAudio
from .keyframes import KeyframeRequests, KeyframeSchedule
from .pacing import VideoPacer
from .picker import FrameOrigin, FramePicker
from .source import SettledSize, SourceFrames, StallWatch

log = logging.getLogger(__name__)


@dataclass
class ProgramStats:
    """Counters read by /metrics and the studio."""

    frames: int = 0
    frames_from_source: int = 0
    frames_repeated: int = 0
    frames_slate: int = 0
    audio_frames: int = 0
    audio_silent: int = 0
    audio_trimmed: int = 0
    "Samples of host audio dropped to keep the backlog (latency, A/V offset) small."
    encode_seconds_total: float = 0.0
    last_encode_seconds: float = 0.0

    def count_picture(self, origin: FrameOrigin) -> None:
        """Count a program frame by where its picture came from."""
        if origin is FrameOrigin.SOURCE:
            self.frames_from_source += 1
        elif origin is FrameOrigin.REPEAT:
            self.frames_repeated += 1
        else:
            self.frames_slate += 1

    def count_encode(self, seconds: float) -> None:
        """Count an encoded video frame that took `seconds`."""
        self.last_encode_seconds = seconds
        self.encode_seconds_total += seconds
        self.frames += 1


class ProgramRun:
    """What the program thread works with, built on that thread once the size is fixed."""

    def __init__(self, settings: VideoSettings, requests: KeyframeRequests) -> None:
        self.encoder = ProgramEncoder(settings)
        self.opus = OpusEncoder()
        self.pacer = VideoPacer(settings.fps)
        self.pictures = FramePicker(settings.width, settings.height, fill=settings.fill)
        self.keyframes = KeyframeSchedule(settings.keyframe_interval, settings.fps, requests)
        self.audio_pts = 0
        "Program pts (1/48000) of the next 20 ms of audio."


class Program:
    """Source frames and audio in (any thread), encoded packets out (on the loop)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        box: VideoSettings,
        on_video: Callable[[av.Packet], None],
        on_audio: Callable[[av.Packet], None],
        on_stall: Callable[[bool], None] | None = None,
        name: str = "program",
        on_aac: Callable[[av.Packet], None] | None = None,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._loop = loop
        self._box = box
        self._on_video = on_video
        self._on_audio = on_audio
        self._on_stall = on_stall
        self._on_aac = on_aac
        self._on_failure = on_failure
        self._aac = AacEncoder() if on_aac is not None else None
        self.aac_extradata = self._aac.extradata if self._aac else b""
        "AAC AudioSpecificConfig (known before the first packet) for muxers."
        self.name = name
        self.clock = ProgramClock()
        self.compositor = Compositor()
        self.keyframes = KeyframeRequests()
        self.stats = ProgramStats()
        self.settings: VideoSettings | None = None
        "The program's encoding settings, fixed by the first source frames."
        self.error: BaseException | None = None
        "What ended the program thread, if it failed."
        self._source = SourceFrames(box.fps)
        self._size = SettledSize(box.width, box.height)
        self._stall = StallWatch()
        self._host_audio = HostAudio()
        self._run: ProgramRun | None = None
        "Built by the program thread when it starts."
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def source_frames_skipped(self) -> int:
        """Camera frames never shown: too close to the one before, or more than a burst's
        worth waiting (source.MAX_WAITING)."""
        return self._source.dropped

    # -- fed from the event loop (ingest) -------------------------------------------------

    def feed_video(self, frame: av.VideoFrame) -> None:
        """Offer a decoded source frame (taken in order, a few at most waiting)."""
        self._source.put(frame, time.monotonic())
        self._wake.set()
        if self._thread is None:
            self._maybe_start(frame)

    def feed_audio(self, frame: av.AudioFrame) -> None:
        """Offer a decoded source audio frame."""
        self._host_audio.put(frame)

    @property
    def running(self) -> bool:
        """True while the program thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def _maybe_start(self, frame: av.VideoFrame) -> None:
        """Fix the program size once the source has settled, then start the thread."""
        size = self._size.offer(frame.width, frame.height, time.monotonic())
        if size is not None:
            self._start(*size)

    def _start(self, source_w: int, source_h: int) -> None:
        """Fix the settings for this source size and start the program thread."""
        if self._box.fill:  # cropped to the box: the box's size, whatever the source's
            w, h = even(self._box.width), even(self._box.height)
        else:
            w, h = program_size(source_w, source_h, self._box.width, self._box.height)
        self.settings = VideoSettings(
            width=w,
            height=h,
            fps=self._box.fps,
            bitrate=self._box.bitrate,
            preset=self._box.preset,
            keyframe_interval=self._box.keyframe_interval,
            fill=self._box.fill,
            level=self._box.level_idc,
        )
        self._thread = threading.Thread(target=self._thread_main, name=f"{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (blocking for at most a frame's encode)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    # -- the program thread ------------------------------------------------------------------

    def _thread_main(self) -> None:
        try:
            self._loop_forever()
        except BaseException as exc:  # the show must learn its program died
            self.error = exc
            log.exception("program %s failed", self.name)
            if self._on_failure is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._on_failure, exc)

    def _loop_forever(self) -> None:
        """Audio every 20 ms of program time; video when the pacer says; else wait."""
        assert self.settings is not None
        run = self._run = ProgramRun(self.settings, self.keyframes)
        self.clock.start()
        while not self._stop.is_set():
            self._wake.clear()
            now = self.clock.seconds()
            audio_due = run.audio_pts / AUDIO_RATE
            if now >= audio_due:
                self._emit_audio(run)
                continue
            source, _, waiting = self._source.get()
            fresh = run.pictures.is_new(source)
            backlog = waiting > 1
            video_due = run.pacer.due(now, fresh, backlog)
            if now >= video_due:
                self._emit_video(run, run.pacer.release(now, fresh, backlog))
                continue
            self._wake.wait(min(video_due, audio_due) - now)

    def _emit_audio(self, run: ProgramRun) -> None:
        """Take the next 20 ms of host audio (or silence), encode it, hand it to the loop."""
        pts = run.audio_pts
        run.audio_pts += AUDIO_FRAME_SAMPLES
        chunk = self._host_audio.next_chunk(stalled=self._stall.stalled)
        self.stats.audio_silent += int(chunk.silent)
        self.stats.audio_trimmed += chunk.trimmed
        for packet in run.opus.encode(chunk.samples, pts):
            self._loop.call_soon_threadsafe(self._on_audio, packet)
        if self._aac is not None and self._on_aac is not None:
            for packet in self._aac.encode(chunk.samples, pts):
                self._loop.call_soon_threadsafe(self._on_aac, packet)
        self.stats.audio_frames += 1

    def _emit_video(self, run: ProgramRun, pts: int) -> None:
        """Pick the picture, composite the scene, encode (an IDR if due), hand packets over."""
        source, source_at, _ = self._source.get()
        if self._stall.update(time.monotonic(), source_at) and self._on_stall is not None:
            self._loop.call_soon_threadsafe(self._on_stall, self._stall.stalled)
        frame, origin = run.pictures.pick(
            source, self._stall.stalled, will_draw=self.compositor.has_scene
        )
        self.stats.count_picture(origin)
        if origin is FrameOrigin.SOURCE and source is not None:
            self._source.taken(source)
        frame.pts = pts
        frame.time_base = VIDEO_TIME_BASE
        frame = self.compositor.compose(frame, pts, pts / 90000)
        keyframe = run.keyframes.due(pts)
        started = time.perf_counter()
        packets = run.encoder.encode(frame, keyframe=keyframe)
        self.stats.count_encode(time.perf_counter() - started)
        for packet in packets:
            if packet.is_keyframe:
                run.keyframes.keyframe_out(packet.pts, asked=keyframe)
            self._loop.call_soon_threadsafe(self._on_video, packet)
