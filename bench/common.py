"""Shared helpers: percentiles, tables, JSON results, CPU accounting from /proc."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    """The median; nan for no values."""
    return percentile(values, 50)


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ys over xs (nan with fewer than two distinct xs)."""
    pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if y == y]  # drop nan
    if len({x for x, _ in pairs}) < 2:
        return float("nan")
    n = len(pairs)
    mx = sum(x for x, _ in pairs) / n
    my = sum(y for _, y in pairs) / n
    sxx = sum((x - mx) ** 2 for x, _ in pairs)
    sxy = sum((x - mx) * (y - my) for x, y in pairs)
    return sxy / sxx


def fmt(value: Any, digits: int = 1) -> str:
    """A table cell: floats rounded, nan and None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:
            return "-"
        return f"{value:.{digits}f}"
    return str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], title: str = "") -> str:
    """A plain-text table with right-aligned columns."""
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    lines = []
    if title:
        lines.append(title)
    lines.append("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import aiortc
    import av

    return {
        "nproc": os.cpu_count(),
        "usable_cpus": _INITIAL_CPUS,
        "cpu_model": model,
        "python": platform.python_version(),
        "aiortc": aiortc.__version__,
        "av": av.__version__,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def write_results(name: str, data: dict[str, Any], results_dir: Path | None = None) -> Path:
    """Write bench/results/<name>.json (or under results_dir) and return its path."""
    directory = results_dir or RESULTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    payload = {"benchmark": name, "machine": machine(), **data}
    text = json.dumps(_clean(payload), indent=2, default=str, allow_nan=False)
    path.write_text(text + "\n")
    return path


def _clean(value: Any) -> Any:
    """NaN (no data) → null, so the file is strict JSON."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a whole process (all its threads), in seconds; nan if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return float("nan")
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_busy_seconds() -> dict[int, float]:
    """Busy time (all but idle and iowait) of each CPU since boot, from /proc/stat."""
    out: dict[int, float] = {}
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            ticks = [int(v) for v in values[:8]]
            out[int(name[3:])] = (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS
    return out


@dataclass
class CpuWindow:
    """CPU use of some processes over a wall-clock window, in % of one core."""

    pids: dict[str, int]
    started_at: float = 0.0
    stopped_at: float = 0.0
    _start_cpu: dict[str, float] | None = None
    _start_busy: dict[int, float] | None = None
    cpu_busy: dict[int, float] | None = None
    "After stop(): % busy of each CPU over the window, whoever used it."

    def start(self) -> None:
        """Take the starting snapshot."""
        self.started_at = time.monotonic()
        self._start_cpu = {name: process_cpu_seconds(pid) for name, pid in self.pids.items()}
        self._start_busy = cpu_busy_seconds()

    def stop(self) -> dict[str, float]:
        """Percent of one core used by each process since start()."""
        assert self._start_cpu is not None
        self.stopped_at = time.monotonic()
        wall = self.stopped_at - self.started_at
        busy = cpu_busy_seconds()
        start_busy = self._start_busy or {}
        self.cpu_busy = {
            cpu: 100 * (busy[cpu] - start_busy[cpu]) / wall for cpu in busy if cpu in start_busy
        }
        return {
            name: 100 * (process_cpu_seconds(pid) - self._start_cpu[name]) / wall
            for name, pid in self.pids.items()
        }


_INITIAL_CPUS = sorted(os.sched_getaffinity(0))
"The CPUs this process could use when it started (before pin() narrowed them)."


def cpu_plan() -> tuple[set[int] | None, set[int] | None]:
    """(server CPUs, client CPUs): the first CPU for the server, the rest for clients.

    (None, None) on a one-CPU machine: nothing is pinned then.
    """
    cpus = _INITIAL_CPUS
    if len(cpus) < 2:
        return None, None
    return {cpus[0]}, set(cpus[1:])


def pin(cpus: set[int] | None) -> None:
    """Pin the calling process (and threads it starts later) to `cpus`, if given."""
    if cpus:
        os.sched_setaffinity(0, cpus)
