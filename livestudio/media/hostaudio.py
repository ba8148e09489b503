"""The host's audio as the program takes it: 20 ms chunks of s16 stereo 48 kHz, or silence.

Host audio arrives in bursts, on its own clock, from before the show opens and after a
stall; the program must send 20 ms every 20 ms, always (DESIGN 2), and keep sound and
picture together. The backlog this buffer holds is sound that far behind the picture,
so it is kept small: trimmed at the opening, when it stands, and when it overflows.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import av
import numpy as np

from .clock import AUDIO_RATE
from .encode import AUDIO_FRAME_SAMPLES

INBOX_FRAMES = 64
"Decoded host frames waiting for the program thread (~1.3 s at 20 ms); beyond, the oldest go."
MAX_AUDIO_BUFFER = AUDIO_RATE // 5
"200 ms of host audio at most: beyond that the oldest is dropped to keep latency low."
AUDIO_CUSHION = AUDIO_RATE // 200
"5 ms of host audio kept in hand against arrival jitter (the rest of a standing backlog goes)."
AUDIO_LEVEL_WINDOW = 50
"Audio ticks (20 ms) over which the standing backlog is measured."
OPENING_LEVEL_WINDOW = 10
"""Audio ticks per measure during the show's first AUDIO_LEVEL_WINDOW ticks: a backlog
built while the show starts goes after 200 ms instead of staying for a whole window."""


@dataclass(frozen=True)
class AudioChunk:
    """20 ms of program audio, ready for the encoders."""

    samples: np.ndarray
    "Interleaved s16 stereo, shape (1, 2 * AUDIO_FRAME_SAMPLES)."
    silent: bool
    "No host audio was there: the chunk is silence."
    trimmed: int
    "Samples of standing backlog dropped while taking this chunk."


class HostAudio:
    """Any thread may `put()` decoded host frames; the program thread takes `next_chunk()`."""

    def __init__(self) -> None:
        self._inbox: deque[av.AudioFrame] = deque(maxlen=INBOX_FRAMES)
        self._resampler = av.AudioResampler(format="s16", layout="stereo", rate=AUDIO_RATE)
        self._pcm: np.ndarray = np.zeros((0, 2), dtype=np.int16)
        "Resampled host audio not sent yet, one row per sample."
        self._levels: list[int] = []
        "Samples left after each tick since the last standing-backlog measure."
        self._opening = True
        "No chunk taken yet."
        self._chunks = 0

    def put(self, frame: av.AudioFrame) -> None:
        """Offer a decoded host audio frame (any format, layout or rate)."""
        self._inbox.append(frame)

    @property
    def buffered(self) -> int:
        """Samples of host audio waiting to be sent."""
        return len(self._pcm)

    def next_chunk(self, stalled: bool = False) -> AudioChunk:
        """The next 20 ms: host audio if there is enough, else silence.

        `stalled`: the source is stalled (viewers see the slate); a part chunk left then is
        dropped rather than kept to open the sound when the host returns.
        """
        self._take_inbox()
        if self._opening:
            # Host audio from before the first program frame (the size settles for up to
            # SETTLE_SECONDS) goes with video nobody will see: starting with it would put
            # the sound that much behind the picture (up to ~90 ms was seen). Only the
            # newest 20 ms stay, taken at the first tick (not when the thread starts:
            # frames keep arriving meanwhile), to go with the frame that opens the show.
            # Under a two-core CPU hog, first-flash offsets went from 28-48 ms to 21 ms.
            self._opening = False
            self._pcm = self._pcm[-AUDIO_FRAME_SAMPLES:]
        silent = len(self._pcm) < AUDIO_FRAME_SAMPLES
        if not silent:
            chunk = self._pcm[:AUDIO_FRAME_SAMPLES]
            self._pcm = self._pcm[AUDIO_FRAME_SAMPLES:]
        else:
            # Continuous audio, always (DESIGN 2): silence when the host has none.
            chunk = np.zeros((AUDIO_FRAME_SAMPLES, 2), dtype=np.int16)
            if stalled:
                self._pcm = self._pcm[:0]
        trimmed = self._trim_standing()
        self._chunks += 1
        samples = np.ascontiguousarray(chunk).reshape(1, -1)
        return AudioChunk(samples=samples, silent=silent, trimmed=trimmed)

    def _take_inbox(self) -> None:
        """Resample what arrived onto the end of the buffer; keep at most MAX_AUDIO_BUFFER."""
        chunks: list[np.ndarray] = [self._pcm]
        while self._inbox:
            frame = self._inbox.popleft()
            for out in self._resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1, 2))
        if len(chunks) > 1:
            self._pcm = np.concatenate(chunks)
        if len(self._pcm) > MAX_AUDIO_BUFFER:
            self._pcm = self._pcm[-MAX_AUDIO_BUFFER // 2 :]

    def _trim_standing(self) -> int:
        """Drop audio that waits here for good, keeping a small cushion against jitter.

        Host audio arrives in bursts and on its own clock: whatever backlog builds up
        would otherwise stay for the whole show, as A/V offset and latency. Once a second
        (every 200 ms in the first second), the smallest level seen is the standing
        backlog; all but AUDIO_CUSHION of it goes. With this and ingest's one-frame jitter
        prefetch, a flash and a beep sent together are recorded 0-28 ms apart (was ~70 ms).
        Returns the samples dropped.
        """
        self._levels.append(len(self._pcm))
        opening = self._chunks < AUDIO_LEVEL_WINDOW
        window = OPENING_LEVEL_WINDOW if opening else AUDIO_LEVEL_WINDOW
        if len(self._levels) < window:
            return 0
        standing = min(self._levels)
        self._levels.clear()
        if standing <= AUDIO_CUSHION:
            return 0
        self._pcm = self._pcm[standing - AUDIO_CUSHION :]
        return standing - AUDIO_CUSHION
