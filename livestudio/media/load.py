"""How close the server is to its limit, for turning new WebRTC viewers away in time.

One process serves every viewer from one event loop (with `fanout_workers`, from its
workers'). Past its capacity everybody loses: the loop reads the host's packets late,
the program repeats and skips camera frames, and at worst the host's connection lapses
(measured: aiortc's old send path at 128+ viewers on one core starved ingest until the
show ended; the lean path fills a core at ~350–500 viewers). Refusing the viewers past
that point (503, Retry-After: the viewer page then plays the show's HLS, at standard
latency) is meant to keep the show whole for the host and everyone already watching.
It is opt-in (`max_server_load`): a crowd joining at once loads the server more than the
same crowd watching, so a threshold on the load alone sends part of a show-start crowd to
HLS, and lets retrying clients in whenever it dips (measured: docs/deploy.md). With
`fanout_workers` only the main process is measured, not its workers.

Two shares are watched, each averaged over the last WINDOW_SECONDS:
- the event loop's thread: CPU seconds it used per second (`time.thread_time`). Unpinned
  on a multi-core machine, it is the loop that runs out first;
- the process: CPU seconds of all its threads (program encoder, decoders) per second,
  per core it may run on (`sched_getaffinity`). Pinned to one core, or on a one-core VM,
  the program's encoder and the loop share it, and the core runs out first.
The load is the larger. CPU taken by other processes shows in neither: a loop starved by
a neighbour is not turned into refused viewers.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Callable

SAMPLE_SECONDS = 0.5
WINDOW_SECONDS = 2.0
"Averaged over this long: a moment's burst (a keyframe to every viewer) is not overload."


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def process_cpu_seconds() -> float:
    """User + system CPU seconds of every thread of this process so far."""
    times = os.times()
    return times.user + times.system


class ServerLoad:
    """Samples the loop thread's and the process's CPU shares on the running loop."""

    def __init__(
        self,
        wall: Callable[[], float] = time.monotonic,
        loop_cpu: Callable[[], float] = time.thread_time,
        process_cpu: Callable[[], float] = process_cpu_seconds,
        cores: int | None = None,
    ) -> None:
        self._wall, self._loop_cpu, self._process_cpu = wall, loop_cpu, process_cpu
        self._cores = cores or available_cores()
        self._samples: deque[tuple[float, float]] = deque(
            maxlen=max(1, round(WINDOW_SECONDS / SAMPLE_SECONDS))
        )
        self._last = (self._wall(), self._loop_cpu(), self._process_cpu())

    def sample(self) -> None:
        """Take one sample (called on the loop's thread: thread_time is the loop's)."""
        now, loop_cpu, process_cpu = self._wall(), self._loop_cpu(), self._process_cpu()
        then, loop_before, process_before = self._last
        self._last = (now, loop_cpu, process_cpu)
        elapsed = now - then
        if elapsed <= 0:
            return
        self._samples.append(
            ((loop_cpu - loop_before) / elapsed, (process_cpu - process_before) / elapsed)
        )

    @property
    def loop_share(self) -> float:
        """The loop thread's share of a core, averaged over the window (0 before samples)."""
        return sum(s[0] for s in self._samples) / len(self._samples) if self._samples else 0.0

    @property
    def process_share(self) -> float:
        """The process's share of the cores it may use, averaged over the window."""
        if not self._samples:
            return 0.0
        return sum(s[1] for s in self._samples) / len(self._samples) / self._cores

    @property
    def load(self) -> float:
        """The larger share: 1.0 means no room left."""
        return max(self.loop_share, self.process_share)

    async def run(self) -> None:
        """Sample every SAMPLE_SECONDS until cancelled."""
        self._last = (self._wall(), self._loop_cpu(), self._process_cpu())
        while True:
            await asyncio.sleep(SAMPLE_SECONDS)
            self.sample()
