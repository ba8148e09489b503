"""When the next program video frame goes out, and its pts: pure logic on program time.

Video is driven by the source: a new frame goes out as soon as it arrives (no tick to wait
for, no aliasing between two 30 fps clocks), at ~fps on average; without one the last
frame repeats, first after 1.5 intervals, then every interval.
"""

from __future__ import annotations

MAX_TOKENS = 2.0
"""A token per frame interval, two at most: frames that arrive bunched (network jitter, a
busy machine) all go out, while a 60 fps source still gets ~fps. Under two busy cores
this delivered 99 % of distinct source frames, against ~80 % with a fixed 0.9-interval gap."""
FRESH_GAP = 0.25
"Intervals a fresh frame waits after the previous frame, even with tokens to spend."
FIRST_REPEAT = 1.5
"Intervals without a fresh frame before the last one repeats (later repeats: one interval)."


class VideoPacer:
    """Decides, from program time (seconds), when the next video frame is due.

    Ask `due(now, fresh)` whenever the program thread wakes up; once `now` reaches it,
    `release(now, fresh)` lets the frame out and returns its pts.
    """

    def __init__(self, fps: int) -> None:
        self._fps = fps
        self._interval = 1.0 / fps
        self._tokens = MAX_TOKENS
        self._tokens_at = 0.0
        self._last_out = -1.0
        "Program time of the last frame out (-1: none yet, so the first one is due at once)."
        self._repeating = False
        "The last frame out repeated the one before (no fresh source frame)."
        self._last_pts = -1

    def due(self, now: float, fresh: bool, backlog: bool = False) -> float:
        """Program time at which the next frame is due (`fresh`: a new source frame waits;
        `backlog`: more wait behind it, a burst to catch up on without waiting for tokens —
        source.SourceFrames keeps them at most the program's rate apart in source time)."""
        self._tokens = min(MAX_TOKENS, self._tokens + (now - self._tokens_at) * self._fps)
        self._tokens_at = now
        if fresh:
            due = self._last_out + FRESH_GAP * self._interval
            if self._tokens < 1.0 and not backlog:
                due = max(due, now + (1.0 - self._tokens) * self._interval)
            return due
        gap = self._interval if self._repeating else FIRST_REPEAT * self._interval
        return self._last_out + gap

    def release(self, now: float, fresh: bool, backlog: bool = False) -> int:
        """A frame goes out at `now` (after `due`): spend its token; returns its pts (1/90000).

        A frame of a backlog spends none: its interval passed while it waited, and a debt
        would hold every later frame back (a source at the program's rate never repays
        it: ~1 frame of lasting delay, A/V out of sync). Pts strictly increase even if
        two frames go out within one pts unit.
        """
        self._repeating = not fresh
        self._last_out = now
        if not backlog:
            self._tokens = max(0.0, self._tokens - 1.0)
        self._last_pts = max(int(now * 90000), self._last_pts + 1)
        return self._last_pts
