"""Send times of stamped frames, shared between the publisher and viewer processes.

One float64 per stamp number (1..65535) in a SharedMemory block: the publisher writes
time.monotonic() (system-wide on Linux) when it captures frame n; a viewer that decodes
frame n subtracts it from its own clock.
"""

from __future__ import annotations

from multiprocessing import shared_memory

import numpy as np

STAMP_MODULUS = 65535
"Stamps run 1..65535 and wrap (about 36 minutes at 30 fps)."


def stamp_number(index: int) -> int:
    """The stamp drawn on frame `index` (never 0, which an all-black frame would read as)."""
    return index % STAMP_MODULUS + 1


class SendTimes:
    """A view of the shared send-time table; `create=True` makes a new one."""

    def __init__(self, name: str | None = None, create: bool = False) -> None:
        self._shm = shared_memory.SharedMemory(
            name=name, create=create, size=(STAMP_MODULUS + 1) * 8
        )
        self.name = self._shm.name
        self.times: np.ndarray = np.ndarray(
            (STAMP_MODULUS + 1,), dtype=np.float64, buffer=self._shm.buf
        )
        if create:
            self.times[:] = 0.0

    def close(self, unlink: bool = False) -> None:
        """Detach (and remove it, from the creator)."""
        del self.times
        self._shm.close()
        if unlink:
            self._shm.unlink()
