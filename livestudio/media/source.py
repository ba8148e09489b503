"""The host's video as the program sees it: its frames in order, their settled size, its stalls.

Times are monotonic seconds passed in by the caller, so all of it is testable without
threads or sleeps.
"""

from __future__ import annotations

import threading
from collections import deque

import av

SETTLE_SECONDS = 1.0
"How long the first source frames may take to reach full size before the size is fixed."
STALL_SECONDS = 2.0
"No new source frame for this long: viewers get the slate and silence."


MAX_WAITING = 4
"""Source frames waiting for the program at most. Jitter and retransmissions deliver
frames in bursts; taken newest-only, a burst loses all but its last picture (~27 of 30
fps at 50 ms jitter): in order, a burst of up to this many is shown, and past it the
oldest go, so what a burst adds to latency stays bounded."""
MIN_SPACING = 0.75
"""Program intervals of source time between two frames kept: a 60 fps camera makes a
~30 fps program, so a backlog always drains at the program's rate (VideoPacer)."""


class SourceFrames:
    """Decoded source frames in order, for the program: ingest puts, the program takes.

    Frames wait (MAX_WAITING at most) until the program takes them; with none waiting,
    the last one taken is the picture (a repeat). Source time (pts) orders them: one
    closer than MIN_SPACING intervals to the last kept is dropped, and a frame from
    before it means a new stream (the host reconnected, timestamps restart).
    """

    def __init__(self, fps: int = 30) -> None:
        self._lock = threading.Lock()
        self._spacing = MIN_SPACING / fps
        self._waiting: deque[av.VideoFrame] = deque()
        self._last: av.VideoFrame | None = None
        "The last frame taken by the program."
        self._last_time: float | None = None
        "Source time (s) of the last frame kept."
        self._at = 0.0
        self.dropped = 0
        "Frames dropped: too close to the one before, or beyond MAX_WAITING."

    def put(self, frame: av.VideoFrame, at: float) -> None:
        """A source frame arrived at monotonic time `at`."""
        time_ = frame.time
        with self._lock:
            self._at = at
            if time_ is not None and self._last_time is not None:
                if time_ < self._last_time:
                    self._waiting.clear()  # a new stream: its timestamps start again
                elif time_ - self._last_time < self._spacing:
                    self.dropped += 1
                    return
            self._last_time = time_
            self._waiting.append(frame)
            while len(self._waiting) > MAX_WAITING:
                self._waiting.popleft()
                self.dropped += 1

    def get(self) -> tuple[av.VideoFrame | None, float, int]:
        """The next frame (the oldest waiting, else the last taken; None before the
        first), when the newest source frame arrived, and how many wait."""
        with self._lock:
            frame = self._waiting[0] if self._waiting else self._last
            return frame, self._at, len(self._waiting)

    def taken(self, frame: av.VideoFrame) -> None:
        """The program put `frame` in a program frame."""
        with self._lock:
            if self._waiting and self._waiting[0] is frame:
                self._waiting.popleft()
            self._last = frame


class SettledSize:
    """The source size the program is fixed to, once the source has settled (DESIGN 8).

    Browsers often send their first frames small (CPU or bandwidth adaptation just after
    start) and the program size is fixed for the show: take the largest source seen, as
    soon as it fills the configured box or after SETTLE_SECONDS.
    """

    def __init__(self, box_width: int, box_height: int) -> None:
        self._box = (box_width, box_height)
        self._first_at: float | None = None
        self._largest = (0, 0)

    def offer(self, width: int, height: int, now: float) -> tuple[int, int] | None:
        """A source frame of width x height arrived at `now`: the size to fix, if settled."""
        if self._first_at is None:
            self._first_at = now
        if width * height > self._largest[0] * self._largest[1]:
            self._largest = (width, height)
        fills_box = self._largest[0] >= self._box[0] or self._largest[1] >= self._box[1]
        if fills_box or now - self._first_at >= SETTLE_SECONDS:
            return self._largest
        return None


class StallWatch:
    """Whether the source is stalled: no new frame for more than STALL_SECONDS."""

    def __init__(self) -> None:
        self.stalled = False
        "As of the last `update()`."

    def update(self, now: float, last_frame_at: float) -> bool:
        """Re-check at `now` (the last frame arrived at `last_frame_at`); True if it changed."""
        stalled = now - last_frame_at > STALL_SECONDS
        changed = stalled != self.stalled
        self.stalled = stalled
        return changed
