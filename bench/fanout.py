"""`fanout`: server CPU and delivered frame rate against the number of WHEP viewers.

The server under test runs as a subprocess pinned to CPU 0; the publisher and the viewer
client processes share CPU 1 (the clients niced, so the publisher keeps its pace). For
each N, N viewers join (split round-robin over a few client processes; one in eight
decodes and reads stamps, the rest only count frames), settle, and are measured over a
window: server CPU from /proc/<pid>/stat, frames each viewer received, latency of the
decoded ones, time to first frame of every join. Run for LiveStudio (encode once) and
for the naive relay (bench/naive_server.py: one encoder per viewer).
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from . import publisher, viewers
from .common import (
    CpuWindow,
    cpu_busy_seconds,
    cpu_plan,
    median,
    percentile,
    pin,
    process_cpu_seconds,
    slope,
    table,
    write_results,
)
from .servers import Server, start_livestudio, start_naive
from .stamps import SendTimes

SENDERS = ("lean", "aiortc")
"""LiveStudio's two send paths, each a design: lean (the default: packetized once, one
loop over viewers) and aiortc (an RTCRtpSender per viewer, the path before)."""
INGEST_MISSING = "livestudio_ingest_packets_missing_total"
SATURATED_PCT = 90.0
"Client processes (publisher included) above this share of their core: numbers suspect."
STARVED_FPS = 5.0
"""With stop_when_starved, a design stops growing N once its median viewer gets less,
or once the clients were saturated (more N would measure the clients, not the server)."""


@dataclass
class FanoutOptions:
    """What to run."""

    viewers: list[int]
    seconds: float = 5.0
    warmup: float = 1.5
    clients: int = 4
    preset: str = "veryfast"
    designs: tuple[str, ...] = ("lean", "aiortc", "naive")
    naive_codec: str = "vp8"
    decode_every: int = 8
    max_decoding: int = 2
    """At most this many decoding viewers per step: a 720p decode costs the clients' core
    ~10 % each, so past a few they, not the server, would set the limit."""
    light_viewers: str = "srtp"
    "How the other viewers count frames: srtp (lightest), rtp or decoder (bench.counting)."
    join_timeout: float = 20.0
    stop_when_starved: bool = False
    profile: Path | None = None
    "Run LiveStudio under pyinstrument and write its text report here."
    keep_logs: Path | None = None
    "Run the servers in this folder and keep it (their logs), instead of a temporary one."
    quiet_wait: float = 60.0
    "Seconds a step may wait for the server's core to be quiet before its window."
    fanout_workers: int = 0
    """LiveStudio's fanout_workers setting: with N > 0, the viewers are served by N worker
    processes, worker k pinned to CPU k mod the CPU count (so on this 2-core machine one
    shares the server's core and one the clients')."""
    join_probes: int = 0
    "After the N steps: this many single decoding viewers join and leave, one at a time."


@dataclass
class Step:
    """One design at one N."""

    n: int
    joined: int
    failed: int
    server_cpu: float
    clients_cpu: float
    "Viewer client processes plus the publisher, % of one core (they share one)."
    publisher_cpu: float
    clients_saturated: bool
    server_cpu_other: float
    "Busy % of the server's CPU outside the server process: other processes, interrupts."
    fps_min: float
    fps_median: float
    fps_mean: float
    audio_fps_median: float
    loss_pct: float
    "Video RTP packets missing at the counting viewers (rtp mode), % of those sent."
    cpu_ms_per_delivered_frame: float
    "Server CPU time per video frame delivered to one viewer."
    main_cpu: float
    "The server's main process alone (with fan-out workers: signalling, encode, feeding)."
    workers_cpu: list[float]
    "Each fan-out worker process, % of one core (server_cpu includes them)."
    cpu_ms_per_program_frame: float
    """Server CPU time per program frame (LiveStudio): what one frame costs with N viewers,
    whatever share of the core other processes left the server."""
    latency_ms_median: float
    latency_ms_p95: float
    latency_samples: int
    stamp_errors: int
    join_ms_median: float
    "WHEP POST → first video frame, every viewer (counted, or decoded for decoders)."
    join_ms_p95: float
    join_decoded_ms: list[float]
    "WHEP POST → first decoded frame, decoding viewers only."
    answer_ms_median: float
    publisher_fps: float
    "Frames the publisher captured per second during the window."
    program_fps: float
    repeated_fps: float
    "Program frames per second that repeated the last source frame (ingest gaps)."
    encode_ms: float
    subscriber_drops: float
    errors: list[str] = field(default_factory=list)
    quiet_wait_s: float = 0.0
    "Seconds waited before the window for the server's core to be quiet (_wait_quiet)."
    slate_fps: float = float("nan")
    "Program frames per second showing the 'back in a moment' slate (the host stalled)."
    skipped_fps: float = float("nan")
    "Host frames per second the program skipped (more arrived at once than it keeps)."
    ingest_missing: float = float("nan")
    "Host video packets the server found missing, from the first join to the window's end."


@dataclass
class DesignResult:
    """All steps of one design."""

    design: str
    steps: list[Step]
    marginal_cpu_per_viewer: float
    "Least-squares slope of server CPU (% of a core) over N."
    marginal_cpu_per_viewer_30fps: float = float("nan")
    """The slope of server CPU per program frame over N, at 30 fps, in % of a core: the
    same figure, robust to steps where other processes took the server's core and the
    program (so every viewer) got fewer frames."""
    join_probes_ms: list[float] = field(default_factory=list)
    "WHEP POST → first decoded frame of each join probe (one viewer at a time)."
    publisher_frames: int = 0
    publisher_late: int = 0
    note: str = ""


class Procs:
    """The spawned publisher and client processes and their control pipes."""

    def __init__(self) -> None:
        self.ctx = multiprocessing.get_context("spawn")
        self.procs: list[BaseProcess] = []
        self.clients: list[tuple[Connection, int]] = []
        self.publisher: tuple[Connection, int] | None = None
        self.times: SendTimes | None = None
        self.workers: list[int] = []
        "PIDs of the server's fan-out workers."

    def start(self, target: Any, config: Any, timeout: float = 60) -> tuple[Connection, int]:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=target, args=(config, child), daemon=True)
        proc.start()
        self.procs.append(proc)
        reply = recv(parent, timeout)
        if reply[0] != "ready":
            raise RuntimeError(f"{target.__module__}: {reply}")
        return parent, int(reply[1])

    def close(self) -> None:
        for conn, _ in self.clients:
            try:
                conn.send(("quit",))
            except OSError:
                pass
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)


def recv(conn: Connection, timeout: float) -> Any:
    """The next message on `conn`, or TimeoutError."""
    if not conn.poll(timeout):
        raise TimeoutError("no answer from a bench process")
    return conn.recv()


def _broadcast(conns: list[Connection], message: tuple[Any, ...], timeout: float) -> list[Any]:
    for conn in conns:
        conn.send(message)
    return [recv(conn, timeout) for conn in conns]


def _wait_program(server: Server, timeout: float = 15) -> None:
    """Until the server produces program frames (LiveStudio) or for 2 s (naive)."""
    if not server.metrics_url:
        time.sleep(2)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.metrics().get("livestudio_program_frames_total", 0) > 30:
            return
        time.sleep(0.2)
    raise RuntimeError(f"no program frames from the server:\n{server.log_tail()}")


QUIET_PCT = 20.0
"Other processes' share of the server's core under which a measurement window starts."


def _wait_quiet(server_pids: list[int], cpus: set[int] | None, limit: float) -> float:
    """Wait, up to `limit` s, for a second in which processes other than the server used
    less than QUIET_PCT of its core (this machine is shared); the seconds waited."""
    start = time.monotonic()
    while cpus and time.monotonic() - start < limit:
        busy, ours, t0 = cpu_busy_seconds(), _cpu(server_pids), time.monotonic()
        time.sleep(1.0)
        after = cpu_busy_seconds()
        used = sum(after[c] - busy[c] for c in cpus if c in busy and c in after)
        other = 100 * (used - (_cpu(server_pids) - ours)) / (time.monotonic() - t0)
        if other < QUIET_PCT:
            break
    return time.monotonic() - start


def _cpu(pids: list[int]) -> float:
    return sum(process_cpu_seconds(pid) for pid in pids)


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            out += [int(x) for x in (task / "children").read_text().split()]
    return out


def _pin_workers(server_pid: int, count: int) -> list[int]:
    """The server's worker processes (its children running media.workers), each pinned to
    CPU k mod the machine's CPUs."""
    deadline = time.monotonic() + 30
    workers: list[int] = []
    while time.monotonic() < deadline:
        workers = sorted(
            pid
            for pid in _children(server_pid)
            if b"multiprocessing" in Path(f"/proc/{pid}/cmdline").read_bytes()
            and b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
        )
        if len(workers) >= count:
            break
        time.sleep(0.2)
    cpus = sorted(os.sched_getaffinity(0) | (cpu_plan()[0] or set()))
    for k, pid in enumerate(workers):
        os.sched_setaffinity(pid, {cpus[k % len(cpus)]})
    return workers


def measure_step(server: Server, procs: Procs, n: int, opts: FanoutOptions) -> Step:
    """Join n viewers, settle, measure a window, and make them leave."""
    conns = [conn for conn, _ in procs.clients]
    specs: list[list[tuple[int, bool]]] = [[] for _ in conns]
    for i in range(n):
        decode = i % opts.decode_every == 0 and i // opts.decode_every < opts.max_decoding
        specs[i % len(conns)].append((i, decode))
    active = [(conn, s) for conn, s in zip(conns, specs, strict=True) if s]
    before_joins = server.metrics()
    # Joins queue behind each other (JOIN_CONCURRENCY per client process, the server's
    # negotiation cap): a crowd of hundreds takes longer than one viewer's timeout.
    wait = max(opts.join_timeout, 0.15 * n)
    for conn, s in active:
        conn.send(("join", s, wait))
    joins = [r for conn, _ in active for r in recv(conn, wait + 30)[1]]
    time.sleep(opts.warmup)
    assert procs.publisher is not None
    pids = {"server": server.pid, "publisher": procs.publisher[1]}
    pids.update({f"worker{i}": pid for i, pid in enumerate(procs.workers)})
    pids.update({f"client{i}": pid for i, (_, pid) in enumerate(procs.clients)})
    server_pids = [server.pid, *procs.workers]
    waited = _wait_quiet(server_pids, cpu_plan()[0], opts.quiet_wait)
    window = CpuWindow(pids)
    before = server.metrics()
    window.start()
    _broadcast([c for c, _ in active], ("start",), 30)
    time.sleep(opts.seconds)
    results = [r for reply in _broadcast([c for c, _ in active], ("stop",), 30) for r in reply[1]]
    cpu = window.stop()
    after = server.metrics()
    _broadcast([c for c, _ in active], ("leave",), 60)
    time.sleep(1.0)  # let the server tear the sessions down before the next step
    published = _published(procs.times, window)
    # The window as the server's counters saw it: the nominal seconds plus the time the
    # clients took to answer start and stop (~0.5 s with 300 viewers: +5 % fps otherwise).
    span = window.stopped_at - window.started_at
    step = _step(n, joins, results, cpu, before, after, span, published)
    step.quiet_wait_s = waited
    # The host's packets lost on the way in, joins included: a crowd's negotiations keep
    # the server's loop from reading the host's socket (media/rcvbuf.py).
    step.ingest_missing = after.get(INGEST_MISSING, 0.0) - before_joins.get(INGEST_MISSING, 0.0)
    server_cpus, _ = cpu_plan()
    if server_cpus and window.cpu_busy:
        busy = sum(window.cpu_busy.get(c, 0.0) for c in server_cpus)
        step.server_cpu_other = max(0.0, busy - step.server_cpu)
    return step


def _loss(results: list[dict[str, Any]]) -> float:
    received = sum(r["packets"] for r in results)
    lost = sum(r["lost"] for r in results)
    return 100 * lost / (received + lost) if received + lost else float("nan")


def _published(times: SendTimes | None, window: CpuWindow) -> float:
    """Frames per second the publisher captured during the window (from the stamp table)."""
    if times is None:
        return float("nan")
    t = times.times
    start, end = window.started_at, window.stopped_at
    return float(((t >= start) & (t < end)).sum()) / (end - start)


def _step(
    n: int,
    joins: list[dict[str, Any]],
    results: list[dict[str, Any]],
    cpu: dict[str, float],
    before: dict[str, float],
    after: dict[str, float],
    seconds: float,
    published: float,
) -> Step:
    failed = {j["index"] for j in joins if j["error"]}
    ok = [r for r in results if r["index"] not in failed]
    fps = [r["frames"] / r["seconds"] for r in ok]
    latencies = [1000 * x for r in ok for x in r["latencies"]]
    first = [1000 * j["first_frame_s"] for j in joins if j["first_frame_s"] is not None]
    answers = [1000 * j["answer_s"] for j in joins if j["answer_s"] is not None]
    clients_cpu = sum(v for k, v in cpu.items() if k != "server" and not k.startswith("worker"))
    delivered = sum(r["frames"] for r in ok)
    workers_cpu = [v for k, v in sorted(cpu.items()) if k.startswith("worker")]
    server_cpu = cpu["server"] + sum(workers_cpu)

    def delta(name: str) -> float:
        return after.get(name, float("nan")) - before.get(name, float("nan"))

    frames = delta("livestudio_program_frames_total")
    encode_s = delta("livestudio_encode_seconds_total")
    return Step(
        n=n,
        joined=n - len(failed),
        failed=len(failed),
        server_cpu=server_cpu,
        clients_cpu=clients_cpu,
        publisher_cpu=cpu["publisher"],
        clients_saturated=clients_cpu >= SATURATED_PCT,
        server_cpu_other=float("nan"),
        fps_min=min(fps) if fps else 0.0,
        fps_median=median(fps) if fps else 0.0,
        fps_mean=sum(fps) / len(fps) if fps else 0.0,
        audio_fps_median=median([r["audio_frames"] / r["seconds"] for r in ok]) if ok else 0.0,
        loss_pct=_loss([r for r in ok if r["packets"] is not None]),
        cpu_ms_per_delivered_frame=(
            server_cpu * 10 * seconds / delivered if delivered else float("nan")
        ),
        cpu_ms_per_program_frame=server_cpu * 10 * seconds / frames if frames else float("nan"),
        main_cpu=cpu["server"],
        workers_cpu=workers_cpu,
        latency_ms_median=median(latencies),
        latency_ms_p95=percentile(latencies, 95),
        latency_samples=len(latencies),
        stamp_errors=sum(r["stamp_errors"] for r in ok),
        join_ms_median=median(first),
        join_ms_p95=percentile(first, 95),
        join_decoded_ms=[
            1000 * j["first_frame_s"] for j in joins if j["decode"] and j["first_frame_s"]
        ],
        answer_ms_median=median(answers),
        publisher_fps=published,
        program_fps=frames / seconds,
        repeated_fps=delta("livestudio_program_frames_repeated_total") / seconds,
        slate_fps=delta("livestudio_program_frames_slate_total") / seconds,
        skipped_fps=delta("livestudio_source_frames_skipped_total") / seconds,
        encode_ms=1000 * encode_s / frames if frames else float("nan"),
        subscriber_drops=delta("livestudio_subscriber_video_drops_total"),
        errors=sorted({j["error"] for j in joins if j["error"]})[:3],
    )


def join_probes(procs: Procs, opts: FanoutOptions) -> list[float]:
    """Time single decoding viewers from WHEP POST to first decoded frame, one at a time."""
    conn = procs.clients[0][0]
    out: list[float] = []
    for k in range(opts.join_probes):
        conn.send(("join", [(10_000 + k, True)], opts.join_timeout))
        (joined,) = recv(conn, opts.join_timeout + 30)[1]
        if joined["first_frame_s"] is not None:
            out.append(1000 * joined["first_frame_s"])
        conn.send(("leave",))
        recv(conn, 60)
        time.sleep(0.7)  # past the server's keyframe coalescing window: an independent join
    return out


def run_design(design: str, opts: FanoutOptions, workdir: Path) -> DesignResult:
    """Start the server, publisher and clients; measure every N; tear everything down."""
    server_cpus, client_cpus = cpu_plan()
    pin(client_cpus)  # the controller stays off the server's core too
    times = SendTimes(create=True)
    procs = Procs()
    procs.times = times
    result = DesignResult(design=design, steps=[], marginal_cpu_per_viewer=float("nan"))
    frozen = frozenset(client_cpus) if client_cpus else None
    server: Server | None = None
    try:
        if design in SENDERS:
            profile = opts.profile
            if profile is not None and len([d for d in opts.designs if d in SENDERS]) > 1:
                profile = profile.with_name(f"{profile.stem}-{design}{profile.suffix}")
            server = start_livestudio(
                workdir / design,
                opts.preset,
                server_cpus,
                profile,
                sender=design,
                workers=opts.fanout_workers,
            )
        else:
            server = start_naive(workdir / design, opts.naive_codec, server_cpus)
        procs.publisher = procs.start(
            publisher.main,
            publisher.PublisherConfig(
                server.whip_url,
                server.key,
                times.name,
                cpus=frozen,
                # Stamps repeat once a cycle: longer than a window, so _published counts
                # each frame of the window once.
                cycle_frames=30 * max(10, math.ceil(opts.seconds + opts.warmup + 5)),
            ),
        )
        _wait_program(server)
        if opts.fanout_workers and design in SENDERS:
            procs.workers = _pin_workers(server.pid, opts.fanout_workers)
        n_clients = max(1, min(opts.clients, max(opts.viewers)))
        client_config = viewers.ClientConfig(
            server.whep_url, times.name, cpus=frozen, light=opts.light_viewers
        )
        procs.clients = [procs.start(viewers.main, client_config) for _ in range(n_clients)]
        for n in opts.viewers:
            if server.proc.poll() is not None:
                result.note = f"server exited:\n{server.log_tail()}"
                break
            step = measure_step(server, procs, n, opts)
            result.steps.append(step)
            print(
                f"  {design:10s} N={n:3d}: server {step.server_cpu:5.1f}% "
                f"clients {step.clients_cpu:5.1f}% fps med {step.fps_median:4.1f} "
                f"min {step.fps_min:4.1f}",
                flush=True,
            )
            if opts.stop_when_starved and step.fps_median < STARVED_FPS:
                result.note = f"stopped after N={n}: median viewer below {STARVED_FPS} fps"
                break
            if opts.stop_when_starved and step.clients_saturated:
                result.note = f"stopped after N={n}: client CPU saturated"
                break
        if server.proc.poll() is None:
            result.join_probes_ms = join_probes(procs, opts)
        conn = procs.publisher[0]
        conn.send(("stop",))
        reply = recv(conn, 15)
        if reply[0] == "stats":
            result.publisher_frames = reply[1]["frames"]
            result.publisher_late = reply[1]["late"]
    finally:
        procs.close()
        if server is not None:
            server.stop()
        times.close(unlink=True)
    # A step whose clients were saturated measures them, one whose core was full the cap or
    # the other processes (its viewers got fewer frames, so the server did less): it stays
    # in the table, out of the slope.
    fair = [s for s in result.steps if _fair(s)] or result.steps
    result.marginal_cpu_per_viewer = slope([s.n for s in fair], [s.server_cpu for s in fair])
    per_frame = slope([s.n for s in fair], [s.cpu_ms_per_program_frame for s in fair])
    result.marginal_cpu_per_viewer_30fps = per_frame * 30 / 10
    return result


FULL_CORE_PCT = 95.0
FAIR_FPS = 27.5


def _fair(step: Step) -> bool:
    """Whether a step measures the server's cost: its clients not saturated, the server's
    core not full (server + other processes: then it got less than it needed, and the
    slope would measure the cap), its viewers getting (nearly) every frame."""
    full = step.server_cpu + (step.server_cpu_other or 0.0) >= FULL_CORE_PCT
    return not step.clients_saturated and not full and step.fps_median >= FAIR_FPS


def print_design(result: DesignResult) -> None:
    """The per-N table of one design."""
    headers = [
        "N",
        "ok",
        "srv %cpu",
        "other",
        "cli %cpu",
        "sat",
        "fps min",
        "fps med",
        "loss %",
        "srv ms/frame",
        "ms/prog frame",
        "pub fps",
        "prog fps",
        "repeat fps",
        "slate fps",
        "skip fps",
        "host lost",
        "enc ms",
        "drops",
        "quiet wait s",
    ]
    ours = result.design in SENDERS
    rows = [
        [
            s.n,
            s.joined,
            s.server_cpu,
            s.server_cpu_other,
            s.clients_cpu,
            "yes" if s.clients_saturated else "",
            s.fps_min,
            s.fps_median,
            s.loss_pct,
            s.cpu_ms_per_delivered_frame,
            s.cpu_ms_per_program_frame if ours else None,
            s.publisher_fps,
            s.program_fps if ours else None,
            s.repeated_fps if ours else None,
            s.slate_fps if ours else None,
            s.skipped_fps if ours else None,
            s.ingest_missing if ours else None,
            s.encode_ms if ours else None,
            s.subscriber_drops if ours else None,
            s.quiet_wait_s,
        ]
        for s in result.steps
    ]
    title = (
        f"fanout: {result.design} — marginal server CPU per viewer "
        f"{result.marginal_cpu_per_viewer:.2f} % of a core"
        + (
            f" (per program frame, at 30 fps: {result.marginal_cpu_per_viewer_30fps:.3f} %)"
            if result.design in SENDERS
            else ""
        )
    )
    print(table(headers, rows, title))
    if any(s.workers_cpu for s in result.steps):
        print(
            table(
                [
                    "N",
                    "main %cpu",
                    *(f"worker{i} %cpu" for i in range(len(result.steps[0].workers_cpu))),
                ],
                [[s.n, s.main_cpu, *s.workers_cpu] for s in result.steps],
                f"{result.design}: the server's processes (fan-out workers pinned to CPU k mod 2)",
            )
        )
    for s in result.steps:
        for e in s.errors:
            print(f"  N={s.n}: {e}")
    if result.note:
        print(f"  note: {result.note}")
    print()


def print_comparison(a: DesignResult, b: DesignResult) -> list[dict[str, Any]]:
    """Design `a` (lean) against `b` at the same N, from the same run."""
    theirs = {s.n: s for s in b.steps}
    rows_out: list[dict[str, Any]] = []
    for s in a.steps:
        o = theirs.get(s.n)
        if o is None:
            continue
        rows_out.append(
            {
                "n": s.n,
                "against": b.design,
                "cpu": s.server_cpu,
                "other_cpu": o.server_cpu,
                "cpu_ratio": o.server_cpu / s.server_cpu if s.server_cpu else float("nan"),
                "fps_median": s.fps_median,
                "other_fps_median": o.fps_median,
                "cpu_per_frame_ratio": (
                    o.cpu_ms_per_delivered_frame / s.cpu_ms_per_delivered_frame
                    if s.cpu_ms_per_delivered_frame
                    else float("nan")
                ),
                "latency_ms_median": s.latency_ms_median,
                "other_latency_ms_median": o.latency_ms_median,
                "join_ms_p95": s.join_ms_p95,
                "other_join_ms_p95": o.join_ms_p95,
            }
        )
    keys = [
        "cpu",
        "other_cpu",
        "cpu_ratio",
        "fps_median",
        "other_fps_median",
        "cpu_per_frame_ratio",
        "latency_ms_median",
        "other_latency_ms_median",
        "join_ms_p95",
        "other_join_ms_p95",
    ]
    x, y = a.design, b.design
    headers = [
        "N",
        f"{x} %cpu",
        f"{y} %cpu",
        "cpu ratio",
        f"{x} fps",
        f"{y} fps",
        "cpu/frame ratio",
        f"{x} lat med",
        f"{y} lat med",
        f"{x} join p95",
        f"{y} join p95",
    ]
    rows = [[int(r["n"]), *(r[k] for k in keys)] for r in rows_out]
    title = f"fanout: {y} vs {x}, same run (ratios {y} / {x}; CPU caps at ~100 %)"
    print(table(headers, rows, title))
    ratio = b.marginal_cpu_per_viewer / a.marginal_cpu_per_viewer
    print(
        f"marginal CPU per viewer: {x} {a.marginal_cpu_per_viewer:.3f} %, "
        f"{y} {b.marginal_cpu_per_viewer:.3f} % of a core ({ratio:.1f}x)"
    )
    if b.design in SENDERS:
        ratio = b.marginal_cpu_per_viewer_30fps / a.marginal_cpu_per_viewer_30fps
        print(
            f"per program frame, at 30 fps: {x} {a.marginal_cpu_per_viewer_30fps:.3f} %, "
            f"{y} {b.marginal_cpu_per_viewer_30fps:.3f} % of a core ({ratio:.1f}x)"
        )
    print()
    return rows_out


def run(opts: FanoutOptions, results_dir: Path | None = None) -> list[DesignResult]:
    """Run every design, print the tables, write fanout.json."""
    designs: dict[str, DesignResult] = {}
    with tempfile.TemporaryDirectory(prefix="livestudio-bench-") as tmp:
        workdir = opts.keep_logs or Path(tmp)
        for design in opts.designs:
            designs[design] = run_design(design, opts, workdir)
    for result in designs.values():
        print_design(result)
    comparison: list[dict[str, Any]] = []
    for other in ("aiortc", "naive"):
        if "lean" in designs and other in designs:
            comparison += print_comparison(designs["lean"], designs[other])
    server_cpus, client_cpus = cpu_plan()
    data: dict[str, Any] = {
        "options": asdict(opts),
        "server_cpus": sorted(server_cpus or []),
        "client_cpus": sorted(client_cpus or []),
        "designs": {name: asdict(r) for name, r in designs.items()},
        "comparison": comparison,
    }
    path = write_results("fanout", data, results_dir)
    print(f"-> {path}\n")
    return list(designs.values())
