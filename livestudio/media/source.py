"""The host's video as the program sees it: the newest frame, its settled size, its stalls.

Times are monotonic seconds passed in by the caller, so all of it is testable without
threads or sleeps.
"""

from __future__ import annotations

import threading

import av

SETTLE_SECONDS = 1.0
"How long the first source frames may take to reach full size before the size is fixed."
STALL_SECONDS = 2.0
"No new source frame for this long: viewers get the slate and silence."


class LatestFrame:
    """The newest decoded source frame and when it arrived: ingest puts, the program reads.

    Only the newest is kept: the program never works through a backlog of old pictures.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frame: av.VideoFrame | None = None
        self._at = 0.0

    def put(self, frame: av.VideoFrame, at: float) -> None:
        """Replace the newest frame with `frame`, arrived at monotonic time `at`."""
        with self._lock:
            self._frame = frame
            self._at = at

    def get(self) -> tuple[av.VideoFrame | None, float]:
        """The newest frame (None before the first) and when it arrived."""
        with self._lock:
            return self._frame, self._at


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
