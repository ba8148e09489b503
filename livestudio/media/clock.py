"""The program clock: one per show, monotonic, 0 at the first program frame (DESIGN 7)."""

from __future__ import annotations

import fractions
import time
from collections.abc import Callable

VIDEO_TIME_BASE = fractions.Fraction(1, 90000)
"Program pts unit: the RTP video clock, so pts map 1:1 to RTP timestamps."
AUDIO_RATE = 48000
AUDIO_TIME_BASE = fractions.Fraction(1, AUDIO_RATE)


class ProgramClock:
    """Media time of the show's program.

    aiortc restarts each inbound track at 0 and again on every reconnect; the program
    instead counts from its own first frame and keeps counting across publisher
    reconnects, so every stage (video, audio, events, recording) shares one timeline.
    """

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._origin: float | None = None
        self.wall_origin: float | None = None
        "Unix time of pts 0, for mapping program time to wall time."

    @property
    def started(self) -> bool:
        """True once the first program frame has been stamped."""
        return self._origin is not None

    def start(self) -> None:
        """Set pts 0 to now (idempotent)."""
        if self._origin is None:
            self._origin = self._now()
            self.wall_origin = time.time()

    def seconds(self) -> float:
        """Program time now, in seconds (0 before start)."""
        if self._origin is None:
            return 0.0
        return self._now() - self._origin

    def pts(self) -> int:
        """Program time now in 1/90000 units."""
        return int(self.seconds() * 90000)

    def monotonic_at(self, seconds: float) -> float:
        """The monotonic time at which program time reaches `seconds`."""
        assert self._origin is not None
        return self._origin + seconds
