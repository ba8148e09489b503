"""Which picture a program frame carries: the new source frame, a repeat, or the slate."""

from __future__ import annotations

import enum

import av

from .frames import copy_frame, slate, to_program


class FrameOrigin(enum.Enum):
    """Where a program frame's picture came from (counted in ProgramStats)."""

    SOURCE = "source"
    "A source frame not sent before, fitted to the program size."
    REPEAT = "repeat"
    "The last source frame again: the source is late (DESIGN 8)."
    SLATE = "slate"
    "The 'back in a moment' slate: the source stalled, or never sent a frame."


class FramePicker:
    """Turns the newest source frame into a program-sized picture; program thread only.

    Keeps the last source frame fitted to the program, clean, so a repeat costs no scaling
    and shows no overlay drawn twice; hands out copies when a scene will draw on them.
    """

    def __init__(self, width: int, height: int, fill: bool = False) -> None:
        self._width = width
        self._height = height
        self._fill = fill
        "Crop sources to fill the program (portrait from a landscape camera)."
        self._slate = slate(width, height)
        self._last_source: av.VideoFrame | None = None
        self._last_program: av.VideoFrame | None = None
        "`_last_source` fitted to the program size, never drawn on."

    def is_new(self, source: av.VideoFrame | None) -> bool:
        """True if `source` is a frame not picked yet."""
        return source is not None and source is not self._last_source

    def pick(
        self, source: av.VideoFrame | None, stalled: bool, will_draw: bool
    ) -> tuple[av.VideoFrame, FrameOrigin]:
        """The picture for the next program frame, and where it came from.

        `source`: the newest source frame; `stalled`: the source is stalled (slate);
        `will_draw`: a scene will draw on the frame, so it must not be one kept here.
        """
        if stalled or source is None:
            return copy_frame(self._slate), FrameOrigin.SLATE
        if source is self._last_source and self._last_program is not None:
            frame = self._last_program
            return (copy_frame(frame) if will_draw else frame), FrameOrigin.REPEAT
        frame = to_program(source, self._width, self._height, fill=self._fill)
        self._last_source, self._last_program = source, frame
        # keep the clean frame for repeats; draw on a copy
        return (copy_frame(frame) if will_draw else frame), FrameOrigin.SOURCE
