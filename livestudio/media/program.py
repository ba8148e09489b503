"""The program thread: one per show, it turns the latest source frame and audio into packets.

Every program tick (1/fps) it takes the newest decoded frame from ingest (repeating the
last one on short stalls, a slate after STALL_SECONDS), fits it to the fixed program size,
composites the overlay scene and encodes it once; every 20 ms it emits an Opus frame of
the host's audio or silence. Timestamps come from the show's one ProgramClock. None of it
runs on the event loop (DESIGN 4): packets are handed over with call_soon_threadsafe.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np

from .clock import AUDIO_RATE, VIDEO_TIME_BASE, ProgramClock
from .compose import Compositor
from .encode import AUDIO_FRAME_SAMPLES, AacEncoder, OpusEncoder, ProgramEncoder, VideoSettings
from .frames import copy_frame, program_size, slate, to_program
from .keyframes import KeyframeRequests

log = logging.getLogger(__name__)

SETTLE_SECONDS = 1.0
"How long the first source frames may take to reach full size before the size is fixed."
STALL_SECONDS = 2.0
"No new source frame for this long: viewers get the slate and silence."
MAX_AUDIO_BUFFER = AUDIO_RATE // 5
AUDIO_CUSHION = AUDIO_RATE // 200
"5 ms of host audio kept in hand against arrival jitter (the rest of a standing backlog goes)."
AUDIO_LEVEL_WINDOW = 50
"Audio ticks (20 ms) over which the standing backlog is measured."
"200 ms of host audio at most: beyond that the oldest is dropped to keep latency low."


@dataclass
class ProgramStats:
    """Counters read by /metrics and the studio."""

    frames: int = 0
    frames_from_source: int = 0
    frames_repeated: int = 0
    frames_slate: int = 0
    frames_skipped: int = 0
    audio_frames: int = 0
    audio_silent: int = 0
    audio_trimmed: int = 0
    "Samples of host audio dropped to keep the backlog (latency, A/V offset) small."
    encode_seconds_total: float = 0.0
    last_encode_seconds: float = 0.0


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
        "The program's encoding settings, fixed by the first source frame."
        self._lock = threading.Lock()
        self._latest: av.VideoFrame | None = None
        self._latest_at = 0.0
        self._audio_in: deque[av.AudioFrame] = deque(maxlen=64)
        self._audio_levels: list[int] = []
        self._first_source_at: float | None = None
        self._largest = (0, 0)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stalled = False
        self._opening = True
        self.error: BaseException | None = None

    # -- fed from the event loop (ingest) -------------------------------------------------

    def feed_video(self, frame: av.VideoFrame) -> None:
        """Offer a decoded source frame; only the newest is kept."""
        with self._lock:
            self._latest = frame
            self._latest_at = time.monotonic()
        self._wake.set()
        if self._thread is None:
            self._maybe_start(frame)

    def feed_audio(self, frame: av.AudioFrame) -> None:
        """Offer a decoded source audio frame."""
        self._audio_in.append(frame)

    @property
    def running(self) -> bool:
        """True while the program thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def _maybe_start(self, frame: av.VideoFrame) -> None:
        """Fix the program size once the source has settled, then start the thread.

        Browsers often send their first frames small (CPU or bandwidth adaptation just
        after start) and the program size is fixed for the show: take the largest source
        seen, as soon as it fills the configured box or after SETTLE_SECONDS.
        """
        now = time.monotonic()
        if self._first_source_at is None:
            self._first_source_at = now
        if frame.width * frame.height > self._largest[0] * self._largest[1]:
            self._largest = (frame.width, frame.height)
        fills_box = self._largest[0] >= self._box.width or self._largest[1] >= self._box.height
        if fills_box or now - self._first_source_at >= SETTLE_SECONDS:
            self._start(*self._largest)

    def _start(self, source_w: int, source_h: int) -> None:
        w, h = program_size(source_w, source_h, self._box.width, self._box.height)
        self.settings = VideoSettings(
            width=w,
            height=h,
            fps=self._box.fps,
            bitrate=self._box.bitrate,
            preset=self._box.preset,
            keyframe_interval=self._box.keyframe_interval,
            level=self._box.level_idc,
        )
        self._thread = threading.Thread(target=self._run, name=f"{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (blocking for at most a frame's encode)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    # -- the program thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop_forever()
        except BaseException as exc:  # the show must learn its program died
            self.error = exc
            log.exception("program %s failed", self.name)
            if self._on_failure is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._on_failure, exc)

    def _loop_forever(self) -> None:
        assert self.settings is not None
        settings = self.settings
        self._encoder = ProgramEncoder(settings)
        self._opus = OpusEncoder()
        self._resampler = av.AudioResampler(format="s16", layout="stereo", rate=AUDIO_RATE)
        self._pcm = np.zeros((0, 2), dtype=np.int16)
        self._slate = slate(settings.width, settings.height)
        # Keyframe spacing is kept in program time, not frames: a program running below its
        # nominal fps (a busy machine, a 15 fps webcam) would otherwise space them further
        # apart than keyframe_interval, and joiners and the replay's seeks wait longer.
        # Half a frame early counts as on time.
        self._keyint_pts = round((settings.keyframe_interval - 0.5 / settings.fps) * 90000)
        self._last_keyframe_pts: int | None = None
        self._last_source: av.VideoFrame | None = None
        self._last_program: av.VideoFrame | None = None
        self._last_pts = -1
        interval = 1.0 / settings.fps
        last_video_s = -1.0
        repeating = False
        audio_pts = 0
        # A token per frame interval, two at most: frames that arrive bunched (network
        # jitter, a busy machine) all go out, while a 60 fps source still gets ~fps.
        tokens, tokens_at = 2.0, 0.0
        self.clock.start()
        while not self._stop.is_set():
            self._wake.clear()
            now_s = self.clock.seconds()
            next_audio_s = audio_pts / AUDIO_RATE
            if now_s >= next_audio_s:
                self._emit_audio(audio_pts)
                audio_pts += AUDIO_FRAME_SAMPLES
                continue
            with self._lock:
                fresh = self._latest is not None and self._latest is not self._last_source
            # Video is driven by the source: a new frame goes out as soon as it arrives
            # (no tick to wait for, no aliasing between two 30 fps clocks), at ~fps on
            # average; without one the last frame repeats, first after 1.5 intervals.
            tokens = min(2.0, tokens + (now_s - tokens_at) * settings.fps)
            tokens_at = now_s
            if fresh:
                due = last_video_s + 0.25 * interval
                if tokens < 1.0:
                    due = max(due, now_s + (1.0 - tokens) * interval)
            else:
                due = last_video_s + (interval if repeating else 1.5 * interval)
            if now_s >= due:
                repeating = not fresh
                last_video_s = now_s
                tokens = max(0.0, tokens - 1.0)
                self._emit_video(now_s)
                continue
            self._wake.wait(min(due, next_audio_s) - now_s)

    def _emit_audio(self, pts: int) -> None:
        self._pcm = self._take_audio(self._resampler, self._pcm)
        if self._opening:
            # Host audio from before the first program frame (the size settles for up to
            # SETTLE_SECONDS) goes with video nobody will see: starting with it would put
            # the sound that much behind the picture. Only the newest 20 ms stay, taken at
            # the first tick (not when the thread starts: frames keep arriving meanwhile),
            # to go with the frame that opens the show.
            self._opening = False
            self._pcm = self._pcm[-AUDIO_FRAME_SAMPLES:]
        if len(self._pcm) >= AUDIO_FRAME_SAMPLES:
            chunk = self._pcm[:AUDIO_FRAME_SAMPLES]
            self._pcm = self._pcm[AUDIO_FRAME_SAMPLES:]
        else:
            # Continuous audio, always (DESIGN 2): silence when the host has none.
            chunk = np.zeros((AUDIO_FRAME_SAMPLES, 2), dtype=np.int16)
            self.stats.audio_silent += 1
            if self._stalled:
                self._pcm = self._pcm[:0]
        self._trim_standing_audio()
        samples = np.ascontiguousarray(chunk).reshape(1, -1)
        for packet in self._opus.encode(samples, pts):
            self._loop.call_soon_threadsafe(self._on_audio, packet)
        if self._aac is not None and self._on_aac is not None:
            for packet in self._aac.encode(samples, pts):
                self._loop.call_soon_threadsafe(self._on_aac, packet)
        self.stats.audio_frames += 1

    def _trim_standing_audio(self) -> None:
        """Drop audio that waits here for good, keeping a small cushion against jitter.

        Host audio arrives in bursts and on its own clock: whatever backlog builds up
        would otherwise stay for the whole show, as A/V offset and latency. Once a second,
        the smallest level seen is the standing backlog; all but AUDIO_CUSHION of it goes.
        """
        self._audio_levels.append(len(self._pcm))
        # The first check comes sooner: a backlog built while the show starts would
        # otherwise stay for a whole window.
        window = AUDIO_LEVEL_WINDOW if self.stats.audio_frames >= AUDIO_LEVEL_WINDOW else 10
        if len(self._audio_levels) < window:
            return
        standing = min(self._audio_levels)
        self._audio_levels.clear()
        if standing > AUDIO_CUSHION:
            self._pcm = self._pcm[standing - AUDIO_CUSHION :]
            self.stats.audio_trimmed += standing - AUDIO_CUSHION

    def _emit_video(self, now_s: float) -> None:
        settings = self.settings
        assert settings is not None
        pts = max(int(now_s * 90000), self._last_pts + 1)
        self._last_pts = pts
        with self._lock:
            source, source_at = self._latest, self._latest_at
        stalled = time.monotonic() - source_at > STALL_SECONDS
        if stalled != self._stalled:
            self._stalled = stalled
            if self._on_stall is not None:
                self._loop.call_soon_threadsafe(self._on_stall, stalled)
        if stalled or source is None:
            frame = copy_frame(self._slate)
            self.stats.frames_slate += 1
        elif source is self._last_source and self._last_program is not None:
            frame = self._last_program
            if self.compositor.has_scene:
                frame = copy_frame(frame)
            self.stats.frames_repeated += 1
        else:
            frame = to_program(source, settings.width, settings.height)
            self._last_source, self._last_program = source, frame
            if self.compositor.has_scene:
                # keep the clean frame for repeats; draw on a copy
                frame = copy_frame(frame)
            self.stats.frames_from_source += 1

        frame.pts = pts
        frame.time_base = VIDEO_TIME_BASE
        frame = self.compositor.compose(frame, pts, pts / 90000)

        last_key = self._last_keyframe_pts
        keyframe = self.keyframes.due() or last_key is None or pts - last_key >= self._keyint_pts
        started = time.perf_counter()
        packets = self._encoder.encode(frame, keyframe=keyframe)
        elapsed = time.perf_counter() - started
        self.stats.last_encode_seconds = elapsed
        self.stats.encode_seconds_total += elapsed
        self.stats.frames += 1
        for packet in packets:
            if packet.is_keyframe:
                self._last_keyframe_pts = packet.pts
                if not keyframe:
                    # x264's own IDR (not asked for) serves pending requests. Letting a
                    # periodic one do so too would save the odd second IDR, but in three
                    # bench runs with it crowds of 8 joiners waited ~510 ms each time
                    # (without it, ~90 ms in most runs); not understood yet, so not done.
                    self.keyframes.natural_keyframe()
            self._loop.call_soon_threadsafe(self._on_video, packet)

    def _take_audio(self, resampler: av.AudioResampler, pcm: np.ndarray) -> np.ndarray:
        chunks = [pcm]
        while self._audio_in:
            frame = self._audio_in.popleft()
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1, 2))
        pcm = np.concatenate(chunks) if len(chunks) > 1 else pcm
        if len(pcm) > MAX_AUDIO_BUFFER:
            pcm = pcm[-MAX_AUDIO_BUFFER // 2 :]
        return pcm
