"""The compositing stage between decode and encode: blends the current overlay scene.

The scene is swapped from the event loop; the program thread reports back the pts of the
first frame that carries a new scene, so show events are stamped with what viewers saw.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

import av

log = logging.getLogger(__name__)


class Scene(Protocol):
    """Something that draws itself onto a program frame in place (YUV planes)."""

    def draw(self, frame: av.VideoFrame, seconds: float) -> None:
        """Draw onto `frame`, which is writable; `seconds` is program time."""


SceneShown = Callable[[int], None]
"Called (from the program thread) with the pts of the first frame showing a new scene."


class Compositor:
    """Holds the current scene; `compose()` runs on the program thread only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scene: Scene | None = None
        self._pending_report: list[SceneShown] = []
        self._failed: Scene | None = None
        self.frames = 0
        self.draw_errors = 0
        "Frames a scene failed to draw on (they went out as drawn so far)."

    def set_scene(self, scene: Scene | None, on_shown: SceneShown | None = None) -> None:
        """Show `scene` from the next frame on (None: clear); `on_shown(pts)` reports it."""
        with self._lock:
            self._scene = scene
            if on_shown is not None:
                self._pending_report.append(on_shown)

    @property
    def has_scene(self) -> bool:
        """True when frames get drawn on (so repeated frames must be copied first)."""
        return self._scene is not None

    def compose(self, frame: av.VideoFrame, pts: int, seconds: float) -> av.VideoFrame:
        """Blend the scene onto `frame`; frames with no scene pass through untouched."""
        with self._lock:
            scene = self._scene
            reports, self._pending_report = self._pending_report, []
        if scene is not None:
            frame.make_writable()
            try:
                scene.draw(frame, seconds)
            except Exception:
                # A broken overlay must not take the show down: log it once per scene.
                self.draw_errors += 1
                if self._failed is not scene:
                    self._failed = scene
                    log.exception("overlay scene failed to draw; frames go out without it")
        for report in reports:
            report(pts)
        self.frames += 1
        return frame
