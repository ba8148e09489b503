"""Chat: hundreds of viewer WebSockets on loopback, messages at a fixed rate, a tap burst.

The server (`python -m livestudio serve`) runs as a subprocess pinned to the first CPU;
the clients (aiohttp WebSockets on `/live/{show}/events`, many per process) run in one
or more spawned processes on the other CPUs. Three windows, all clients connected:

- idle: nobody sends (the cost of holding the sockets);
- chat: `rate` messages/s in total, round-robin over the clients (each sends well under
  the server's per-connection limit of 5 per 10 s); every socket of the show receives
  every message, so deliveries = messages x clients. Latency = time received − time sent
  (`time.time()` in the text; one machine, one clock), split at the server's `at` stamp
  into send → published and published → received;
- chat + taps: the same chat while every client also taps a reaction `taps` times a
  second. The server aggregates taps into one `reactions` event per second: each client
  should receive ~1 event/s whatever the number of tappers, and the counts should add up
  to the taps sent.

CPU is utime + stime from /proc over each window: the server's, and the client
processes' (when they fill their cores, latency includes the clients' own queueing and
the run says so).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import aiohttp

from . import publisher
from .common import CpuWindow, cpu_plan, median, percentile, pin, table
from .servers import Server, start_livestudio
from .stamps import SendTimes

PER_CLIENT_RATE = 0.3
"Chat messages/s one client sends at most (the server allows 5 per 10 s per connection)."
CONNECT_CONCURRENCY = 50
"WebSocket handshakes one client process runs at once."
IDLE_SECONDS = 2.0
QUIET_SECONDS = 0.5
"A window's drain ends when no chat delivery arrived for this long..."
DRAIN_MAX = 5.0
"...or this long after the window's last send."
REACTION_DRAIN = 1.5
"The server sends a reactions event up to 1 s after a tap: wait that long for the last."
EMOJI = "❤️"
ON_AIR = {"width": 320, "height": 180, "fps": 15, "bitrate": 300_000}
"""The chat is open only while the show is live: a host sends this small picture for the
whole run (its program costs the server a few % of a core, in the idle figure too)."""


# -- the client process ---------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerConfig:
    """What one client process connects."""

    events_url: str
    indices: tuple[int, ...]
    "The global client numbers this process owns."
    cpus: frozenset[int] | None = None


@dataclass
class Window:
    """What the clients of one process saw during one measurement window."""

    first: int = 0
    "Chat messages numbered first..end-1 belong to this window."
    end: int = 0
    taps: bool = False
    latencies: list[float] = field(default_factory=list)
    to_publish: list[float] = field(default_factory=list)
    from_publish: list[float] = field(default_factory=list)
    deliveries: int = 0
    last_delivery: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    reaction_lags: list[float] = field(default_factory=list)


@dataclass(eq=False)
class BenchClient:
    """One viewer page's events socket."""

    index: int
    ws: aiohttp.ClientWebSocketResponse | None = None
    reader: asyncio.Task[None] | None = None
    closed: bool = False
    close_code: int | None = None
    reaction_events: int = 0
    reaction_counted: int = 0


class Worker:
    """Many clients on one event loop, driven by the controller over a Pipe."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.session = aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(),  # cookies set per client, by hand
            connector=aiohttp.TCPConnector(limit=0),
        )
        self.clients = [BenchClient(i) for i in config.indices]
        self.window = Window()

    async def connect(self, wait_s: float) -> dict[str, Any]:
        """Open every socket and wait for its snapshot."""
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        errors: Counter[str] = Counter()
        started = time.monotonic()

        async def one(c: BenchClient) -> None:
            async with gate:
                try:
                    # Like a viewer page: the page sets the viewer's cookie (chat limits
                    # follow it), then the page opens its events socket with it.
                    page = self.config.events_url.replace("ws://", "http://")[: -len("/events")]
                    async with self.session.get(page) as r:
                        cookie = r.headers.get("Set-Cookie", "").split(";", 1)[0]
                    ws = await self.session.ws_connect(
                        self.config.events_url, autoping=True, headers={"Cookie": cookie}
                    )
                    first = await ws.receive_json(timeout=wait_s)
                    if first.get("type") != "snapshot":
                        raise RuntimeError(f"first frame {first.get('type')!r}")
                except Exception as exc:
                    errors[type(exc).__name__ + ": " + str(exc)[:80]] += 1
                    return
                c.ws = ws
                c.reader = asyncio.ensure_future(self._read(c, ws))

        await asyncio.wait_for(asyncio.gather(*(one(c) for c in self.clients)), wait_s)
        return {
            "connected": [c.index for c in self.clients if c.ws is not None],
            "seconds": time.monotonic() - started,
            "errors": dict(errors),
        }

    async def _read(self, c: BenchClient, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                if msg.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSING,
                    aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.ERROR,
                ):
                    break
                continue
            now = time.time()
            event = json.loads(msg.data)
            kind = event.get("type")
            w = self.window
            if kind == "chat":
                parts = str(event.get("text", "")).split()
                if len(parts) != 3 or parts[0] != "bench":
                    continue
                k, sent = int(parts[1]), float(parts[2])
                if w.first <= k < w.end:
                    at = float(event["at"])
                    w.latencies.append(now - sent)
                    w.to_publish.append(at - sent)
                    w.from_publish.append(now - at)
                    w.deliveries += 1
                    w.last_delivery = now
            elif kind == "reactions":
                if w.taps:
                    c.reaction_events += 1
                    c.reaction_counted += sum(int(v) for v in event.get("counts", {}).values())
                    w.reaction_lags.append(now - float(event["at"]))
            elif kind == "error":
                w.errors[str(event.get("code"))] += 1
        c.closed = True
        c.close_code = ws.close_code

    async def measure(
        self,
        t0: float,
        seconds: float,
        first: int,
        schedule: list[tuple[int, int, float]],
        taps: float,
    ) -> dict[str, Any]:
        """Send this process's share of messages (k, client, at) and taps; collect."""
        for c in self.clients:
            c.reaction_events = c.reaction_counted = 0
        # The schedule is global (numbers first.., each with its client and time): only this
        # window's numbers count, and this process sends for its own clients.
        w = self.window = Window(first=first, end=first + len(schedule), taps=taps > 0)
        mine = {c.index: c for c in self.clients if c.ws is not None and not c.closed}
        end = t0 + seconds
        sent = 0
        send_lags: list[float] = []
        taps_sent = 0

        async def chat() -> None:
            nonlocal sent
            for k, index, at in schedule:
                c = mine.get(index)
                if c is None or c.ws is None:
                    continue
                await _sleep_until(at)
                now = time.time()
                send_lags.append(now - at)
                text = json.dumps(
                    {"type": "chat", "name": f"viewer {index}", "text": f"bench {k} {now:.6f}"}
                )
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await c.ws.send_str(text)
                    sent += 1

        async def tap(c: BenchClient) -> None:
            nonlocal taps_sent
            assert c.ws is not None
            frame = json.dumps({"type": "react", "emoji": EMOJI})
            at = t0 + random.uniform(0, 1 / taps)
            while at < end:
                await _sleep_until(at)
                if c.closed:
                    return
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await c.ws.send_str(frame)
                    taps_sent += 1
                at += 1 / taps

        jobs = [chat()] + ([tap(c) for c in mine.values()] if taps > 0 else [])
        await asyncio.gather(*jobs)
        await _sleep_until(end)
        last_send = time.time()
        while True:
            now = time.time()
            quiet = now - max(w.last_delivery, last_send) >= QUIET_SECONDS
            if (quiet and (not w.taps or now >= end + REACTION_DRAIN)) or now > end + DRAIN_MAX:
                break
            await asyncio.sleep(0.05)
        return {
            "sent": sent,
            "send_lags": send_lags,
            "latencies": w.latencies,
            "to_publish": w.to_publish,
            "from_publish": w.from_publish,
            "deliveries": w.deliveries,
            "errors": dict(w.errors),
            "taps_sent": taps_sent,
            "reaction_events": [c.reaction_events for c in mine.values()],
            "reaction_counted": [c.reaction_counted for c in mine.values()],
            "reaction_lags": w.reaction_lags,
            "closed": [{"client": c.index, "code": c.close_code} for c in self.clients if c.closed],
        }

    async def close(self) -> None:
        for c in self.clients:
            if c.ws is not None:
                with contextlib.suppress(Exception):
                    await c.ws.close()
            if c.reader is not None:
                c.reader.cancel()
        await self.session.close()


async def _sleep_until(wall: float) -> None:
    delay = wall - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def _serve(config: WorkerConfig, control: Connection) -> None:
    worker = Worker(config)
    loop = asyncio.get_running_loop()
    control.send(("ready", os.getpid()))
    try:
        while True:
            command = await loop.run_in_executor(None, control.recv)
            if command[0] == "connect":
                control.send(("connected", await worker.connect(command[1])))
            elif command[0] == "measure":
                control.send(("measured", await worker.measure(*command[1:])))
            elif command[0] == "quit":
                break
    finally:
        await worker.close()


def worker_main(config: WorkerConfig, control: Connection) -> None:
    """Client process entry point (multiprocessing, spawn)."""
    pin(set(config.cpus) if config.cpus else None)
    asyncio.run(_serve(config, control))


# -- the controller -------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatOptions:
    """What to run."""

    clients: int
    seconds: float
    "Length of the chat window and of the chat + taps window."
    rate: float = 20.0
    "Chat messages per second, all clients together."
    taps: float = 2.0
    "Reaction taps per second per client in the second window."
    procs: int | None = None
    "Client processes (default: one per client CPU)."


def _recv(conn: Connection, timeout: float) -> Any:
    if not conn.poll(timeout):
        raise TimeoutError("no answer from a chat client process")
    return conn.recv()


def _window(
    name: str,
    conns: list[Connection],
    cpu: CpuWindow,
    connected: list[int],
    first: int,
    opts: ChatOptions,
    rate: float,
    taps: float,
    cpus: tuple[set[int] | None, set[int] | None],
) -> dict[str, Any]:
    count = int(rate * opts.seconds)
    t0 = time.time() + 0.5
    schedule = [
        (first + j, connected[(first + j) % len(connected)], t0 + j / rate) for j in range(count)
    ]
    for conn in conns:
        conn.send(("measure", t0, opts.seconds, first, schedule, taps))
    time.sleep(max(0.0, t0 - time.time()))
    cpu.start()
    time.sleep(opts.seconds)
    usage = cpu.stop()
    parts = [_recv(conn, opts.seconds + DRAIN_MAX + 30)[1] for conn in conns]
    return _summary(name, parts, usage, cpu, len(connected), opts.seconds, rate, taps, *cpus)


def _summary(
    name: str,
    parts: list[dict[str, Any]],
    usage: dict[str, float],
    cpu: CpuWindow,
    clients: int,
    seconds: float,
    rate: float,
    taps: float,
    server_cpus: set[int] | None,
    client_cpus: set[int] | None,
) -> dict[str, Any]:
    def joined(key: str) -> list[Any]:
        return [x for p in parts for x in p[key]]

    latencies = [x * 1000 for x in joined("latencies")]
    to_publish = [x * 1000 for x in joined("to_publish")]
    from_publish = [x * 1000 for x in joined("from_publish")]
    send_lags = [x * 1000 for x in joined("send_lags")]
    sent = sum(p["sent"] for p in parts)
    received = sum(p["deliveries"] for p in parts)
    errors: Counter[str] = Counter()
    for p in parts:
        errors.update(p["errors"])
    client_cpu = {k: v for k, v in usage.items() if k != "server"}
    total_client_cpu = sum(client_cpu.values())
    server_cpu = usage.get("server", float("nan"))
    wall = cpu.stopped_at - cpu.started_at
    busy = cpu.cpu_busy or {}
    ours = (server_cpus or set()) | (client_cpus or set())
    # Whatever else ran on the bench's CPUs (other processes, kernel work charged to no one).
    other = (
        max(0.0, sum(busy.get(c, 0.0) for c in ours) - server_cpu - total_client_cpu)
        if ours
        else None
    )
    server_core_busy = max((busy.get(c, 0.0) for c in server_cpus or ()), default=None)
    client_core_busy = max((busy.get(c, 0.0) for c in client_cpus or ()), default=None)
    late_sends = bool(send_lags) and percentile(send_lags, 95) > 50
    clients_saturated = late_sends or (
        client_cpus is not None
        and (total_client_cpu >= 85 * len(client_cpus) or (client_core_busy or 0.0) >= 90)
    )
    server_saturated = server_cpu >= 90 or (server_core_busy or 0.0) >= 90
    out: dict[str, Any] = {
        "name": name,
        "clients": clients,
        "seconds": seconds,
        "rate": rate,
        "messages_sent": sent,
        "messages_per_s": sent / seconds if seconds else float("nan"),
        "deliveries_expected": sent * clients,
        "deliveries_received": received,
        "latency_ms_median": median(latencies),
        "latency_ms_p95": percentile(latencies, 95),
        "latency_ms_p99": percentile(latencies, 99),
        "latency_ms_max": max(latencies, default=float("nan")),
        "to_publish_ms_median": median(to_publish),
        "to_publish_ms_p95": percentile(to_publish, 95),
        "from_publish_ms_median": median(from_publish),
        "from_publish_ms_p95": percentile(from_publish, 95),
        "send_lag_ms_p95": percentile(send_lags, 95),
        "server_cpu": server_cpu,
        "wall_seconds": wall,
        "client_cpu": total_client_cpu,
        "client_cpu_by_process": client_cpu,
        "other_cpu": other,
        "cpu_busy": busy,
        "server_core_busy": server_core_busy,
        "client_core_busy": client_core_busy,
        "server_saturated": server_saturated,
        "clients_saturated": clients_saturated,
        "errors": dict(errors),
        "sockets_closed": joined("closed"),
    }
    if taps > 0:
        events = joined("reaction_events")
        counted = joined("reaction_counted")
        lags = [x * 1000 for x in joined("reaction_lags")]
        taps_sent = sum(p["taps_sent"] for p in parts)
        out.update(
            {
                "taps_per_client_per_s": taps,
                "taps_sent": taps_sent,
                "taps_per_s": taps_sent / seconds,
                "reaction_events_per_client_median": median(events),
                "reaction_events_per_client_min": min(events, default=0),
                "reaction_events_per_client_max": max(events, default=0),
                "reaction_events_per_client_per_s": median(events) / seconds,
                "reaction_taps_counted_median": median(counted),
                "reaction_lag_ms_median": median(lags),
                "reaction_lag_ms_p95": percentile(lags, 95),
            }
        )
    return out


@dataclass
class Host:
    """The publisher process that keeps the show live (its chat open)."""

    proc: BaseProcess
    conn: Connection
    times: SendTimes

    def stop(self) -> None:
        """Stop publishing (the show ends) and let the process go."""
        with contextlib.suppress(OSError):
            self.conn.send(("stop",))
        self.proc.join(timeout=15)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(timeout=5)
        self.times.close(unlink=True)


def _go_live(ctx: Any, server: Server, cpus: set[int] | None) -> Host:
    """Start the host (bench/publisher.py, ON_AIR size) and wait until it is live."""
    times = SendTimes(create=True)
    config = publisher.PublisherConfig(
        server.whip_url,
        server.key,
        times.name,
        cpus=frozenset(cpus) if cpus else None,
        **ON_AIR,
    )
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=publisher.main, args=(config, child), daemon=True)
    proc.start()
    host = Host(proc, parent, times)
    try:
        reply = _recv(parent, 60)
    except BaseException:
        host.stop()
        raise
    if reply[0] != "ready":
        host.stop()
        raise RuntimeError(f"the host could not go live: {reply}")
    return host


def measure(opts: ChatOptions) -> dict[str, Any]:
    """Start the server and the client processes, run the three windows; JSON-ready."""
    server_cpus, client_cpus = cpu_plan()
    pin(client_cpus)  # the controller stays off the server's core
    nprocs = opts.procs or max(1, min(4, len(client_cpus) if client_cpus else 1))
    ctx = multiprocessing.get_context("spawn")
    procs: list[BaseProcess] = []
    conns: list[Connection] = []
    server: Server | None = None
    host: Host | None = None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            server = start_livestudio(Path(tmp), "veryfast", server_cpus)
            host = _go_live(ctx, server, client_cpus)
            show = server.whep_url.rsplit("/", 1)[1]
            url = server.base.replace("http://", "ws://") + f"/live/{show}/events"
            pids: dict[str, int] = {"server": server.pid}
            for p in range(nprocs):
                config = WorkerConfig(
                    events_url=url,
                    indices=tuple(range(p, opts.clients, nprocs)),
                    cpus=frozenset(client_cpus) if client_cpus else None,
                )
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=worker_main, args=(config, child), daemon=True)
                proc.start()
                procs.append(proc)
                reply = _recv(parent, 60)
                conns.append(parent)
                pids[f"client{p}"] = int(reply[1])
            connect_timeout = 30 + opts.clients / 20
            for conn in conns:
                conn.send(("connect", connect_timeout))
            joins = [_recv(conn, connect_timeout + 10)[1] for conn in conns]
            connected = sorted(i for j in joins for i in j["connected"])
            connect_errors: Counter[str] = Counter()
            for j in joins:
                connect_errors.update(j["errors"])
            if not connected:
                raise RuntimeError(f"no client connected: {dict(connect_errors)}")
            cpu = CpuWindow(pids)
            cpu.start()
            time.sleep(IDLE_SECONDS)
            idle = cpu.stop()
            idle_busy = dict(cpu.cpu_busy or {})
            limit = len(connected) * PER_CLIENT_RATE
            rate = min(opts.rate, limit)
            cpus = (server_cpus, client_cpus)
            chat = _window("chat", conns, cpu, connected, 0, opts, rate, 0.0, cpus)
            first = int(rate * opts.seconds)  # the next numbers: late ones never mix in
            both = _window("chat + taps", conns, cpu, connected, first, opts, rate, opts.taps, cpus)
            for w in (chat, both):
                # Per delivery above idle: the live program that keeps the chat open costs
                # the server the same with or without chat, so it is not chat's cost.
                above = max(0.0, w["server_cpu"] - idle["server"])
                w["server_cpu_us_per_delivery"] = (
                    above / 100 * w["wall_seconds"] / w["deliveries_received"] * 1e6
                    if w["deliveries_received"]
                    else float("nan")
                )
        except Exception as exc:
            tail = server.log_tail() if server else ""
            raise RuntimeError(f"chat bench failed: {exc}\n{tail}") from exc
        finally:
            for conn in conns:
                with contextlib.suppress(OSError):
                    conn.send(("quit",))
            if host is not None:
                host.stop()
            for child_proc in procs:
                child_proc.join(timeout=15)
                if child_proc.is_alive():
                    child_proc.terminate()
                    child_proc.join(timeout=5)
            if server is not None:
                server.stop()
    return {
        "clients": opts.clients,
        "connected": len(connected),
        "connect_seconds": max(j["seconds"] for j in joins),
        "connect_errors": dict(connect_errors),
        "client_procs": nprocs,
        "server_cpus": sorted(server_cpus) if server_cpus else None,
        "client_cpus": sorted(client_cpus) if client_cpus else None,
        "rate_requested": opts.rate,
        "rate": rate,
        "rate_capped": rate < opts.rate,
        "per_client_rate": rate / len(connected),
        "idle": {
            "seconds": IDLE_SECONDS,
            "server_cpu": idle["server"],
            "client_cpu": sum(v for k, v in idle.items() if k != "server"),
            "cpu_busy": idle_busy,
        },
        "windows": [chat, both],
    }


def run(
    quick: bool, clients: int | None = None, seconds: float | None = None, **extra: Any
) -> dict[str, Any]:
    """The chat benchmark: quick ~200 clients for ~5 s per window, full 500 for ~20 s."""
    opts = ChatOptions(
        clients=clients or (200 if quick else 500),
        seconds=seconds or (5.0 if quick else 20.0),
        **{k: v for k, v in extra.items() if v is not None},
    )
    return measure(opts)


def report(results: dict[str, Any]) -> str:
    """The tables."""
    idle = results["idle"]
    windows = results["windows"]
    title = (
        f"chat: {results['connected']}/{results['clients']} WebSocket clients on loopback "
        f"({results['client_procs']} client process(es)), {results['rate']:.0f} msg/s in "
        f"total ({results['per_client_rate']:.2f}/s per sender), every message to every "
        "client; latency ms (→pub: send → server publish, pub→: publish → received), "
        "CPU % of a core"
    )
    rows: list[list[Any]] = [
        ["idle", *["-"] * 8, idle["server_cpu"], "-", idle["client_cpu"], "-", ""]
    ]
    for w in windows:
        rows.append(
            [
                w["name"],
                w["messages_sent"],
                w["deliveries_expected"],
                w["deliveries_received"],
                w["latency_ms_median"],
                w["latency_ms_p95"],
                w["latency_ms_max"],
                w["to_publish_ms_median"],
                w["from_publish_ms_p95"],
                w["server_cpu"],
                w["server_cpu_us_per_delivery"],
                w["client_cpu"],
                w["other_cpu"],
                " ".join(
                    x
                    for x, on in (
                        ("server", w["server_saturated"]),
                        ("clients", w["clients_saturated"]),
                    )
                    if on
                ),
            ]
        )
    headers = [
        "window",
        "sent",
        "expected",
        "received",
        "lat med",
        "lat p95",
        "lat max",
        "→pub med",
        "pub→ p95",
        "srv %cpu",
        "srv µs/dlv",
        "cli %cpu",
        "other",
        "saturated",
    ]
    lines = [table(headers, rows, title=title)]
    for w in windows:
        if w["errors"] or w["sockets_closed"]:
            lines.append(
                f"  {w['name']}: errors {w['errors']}, sockets closed {len(w['sockets_closed'])}"
            )
        if w["clients_saturated"]:
            lines.append(
                f"  {w['name']}: the clients were the bottleneck (client CPU "
                f"{w['client_cpu']:.0f} %, their cores {_pct(w['client_core_busy'])} busy, "
                f"send lag p95 {w['send_lag_ms_p95']:.0f} ms): latency includes their queueing"
            )
        if w["server_saturated"]:
            lines.append(
                f"  {w['name']}: the server's core was full ({_pct(w['server_core_busy'])} busy)"
            )
    taps = [w for w in windows if "taps_sent" in w]
    if taps:
        lines.append(
            table(
                [
                    "taps/client/s",
                    "taps sent",
                    "taps/s",
                    "events/client",
                    "events/client/s",
                    "min",
                    "max",
                    "taps counted",
                    "lag med",
                    "lag p95",
                ],
                [
                    [
                        w["taps_per_client_per_s"],
                        w["taps_sent"],
                        w["taps_per_s"],
                        w["reaction_events_per_client_median"],
                        w["reaction_events_per_client_per_s"],
                        w["reaction_events_per_client_min"],
                        w["reaction_events_per_client_max"],
                        w["reaction_taps_counted_median"],
                        w["reaction_lag_ms_median"],
                        w["reaction_lag_ms_p95"],
                    ]
                    for w in taps
                ],
                title=(
                    f"reactions: every client taps during the {taps[0]['seconds']:.0f} s "
                    "chat + taps window; reaction events received and taps they count, per "
                    "client (median); lag ms = server publish → received"
                ),
            )
        )
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} %"
