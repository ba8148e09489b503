"""Keyframe requests from joiners and viewers' PLI/FIR, coalesced for the one shared encoder."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

MIN_INTERVAL = 0.5
"Seconds between forced IDRs: each costs ~10x a P-frame in bits for every viewer."


class KeyframeRequests:
    """Any thread may `request()`; the encoder thread asks `due()` once per frame.

    Requests arriving while an IDR was forced less than MIN_INTERVAL ago are kept and
    served together by the next allowed IDR, so a burst of joiners costs one keyframe.
    """

    def __init__(
        self, min_interval: float = MIN_INTERVAL, now: Callable[[], float] = time.monotonic
    ) -> None:
        self._min_interval = min_interval
        self._now = now
        self._lock = threading.Lock()
        self._pending = False
        self._last_forced = -1e9
        self.requested = 0
        "Requests received (joins, PLI, FIR, slow subscribers)."
        self.forced = 0
        "IDRs actually forced."

    def request(self) -> None:
        """Ask for a keyframe soon."""
        with self._lock:
            self._pending = True
            self.requested += 1

    def due(self) -> bool:
        """True if this frame should be an IDR (consumes the pending request)."""
        with self._lock:
            if not self._pending:
                return False
            now = self._now()
            if now - self._last_forced < self._min_interval:
                return False
            self._pending = False
            self._last_forced = now
            self.forced += 1
            return True

    def natural_keyframe(self) -> None:
        """A keyframe nobody asked for (x264's own, at its keyint) went out: it serves requests.

        It does not hold back the next request as a forced one does: that would make a
        viewer joining just after a periodic keyframe wait up to MIN_INTERVAL (measured:
        single-join p95 ~70 → ~330 ms), to save one keyframe's bits.
        """
        with self._lock:
            self._pending = False


class KeyframeSchedule:
    """Which program frames the encoder is asked to make IDRs; runs on the program thread.

    A frame is asked to be one when a request is due, for the show's first frame, and
    when the last keyframe is keyframe_interval old in program time. Spacing is kept in
    program time, not frames: a program running below its nominal fps (a busy machine, a
    15 fps webcam) would otherwise space them further apart than keyframe_interval, and
    joiners and the replay's seeks wait longer (with an encoder slowed to ~20 fps, gaps
    were 2.9-3.2 s for a 2 s interval; now at most 2.07 s).
    """

    def __init__(self, keyframe_interval: float, fps: int, requests: KeyframeRequests) -> None:
        self._requests = requests
        # Half a frame early counts as on time.
        self._interval_pts = round((keyframe_interval - 0.5 / fps) * 90000)
        self._last_pts: int | None = None

    def due(self, pts: int) -> bool:
        """True if the frame at `pts` (1/90000) should be an IDR.

        Asks the requests first, every frame: a pending request is consumed by a frame
        that is due anyway.
        """
        requested = self._requests.due()
        last = self._last_pts
        return requested or last is None or pts - last >= self._interval_pts

    def keyframe_out(self, pts: int | None, asked: bool) -> None:
        """A keyframe left the encoder at `pts`; `asked`: `due()` said so for its frame.

        A keyframe with no pts counts as none: the next frame is asked to be one.
        """
        self._last_pts = pts
        if not asked:
            # x264's own IDR (not asked for) serves pending requests. Letting a periodic
            # one do so too would save the odd second IDR, but in three bench runs with it
            # crowds of 8 joiners waited ~510 ms each time (without it, ~90 ms in most
            # runs); not understood yet, so not done.
            self._requests.natural_keyframe()
