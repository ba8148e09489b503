"""python -m bench loss: what viewers see when the host's uplink loses and delays packets.

In one process: the server (in-process, like the tests), an aiortc host sending stamped
640x360 frames at 30 fps through tests/relay.py (loss 0/1/3/5 %, each packet delayed a
random 0-50 ms), and one clean WHEP viewer whose decoded stamps give fps and freezes on
media time. Each loss level runs with livestudio/media/recovery.py on and, to compare in
the same run (machines are noisy), off: aiortc's receiver alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from livestudio.app import create_app
from livestudio.config import load_settings
from livestudio.http.keys import ONAIR, STORE
from livestudio.media.recovery import PublisherRecovery

from .common import fmt, table

JITTER = 0.05
"Each host packet is delayed by a random 0..JITTER seconds (reordering them)."
LOSSES = (0.0, 0.01, 0.03, 0.05)


@contextlib.contextmanager
def recovery_off() -> Iterator[None]:
    """aiortc's receiver alone: recovery hooks nothing and lets every frame through."""
    attach, take = PublisherRecovery.attach, PublisherRecovery.take
    PublisherRecovery.attach = lambda self, kind, receiver: None  # type: ignore[method-assign]
    PublisherRecovery.take = lambda self, frame: True  # type: ignore[method-assign]
    try:
        yield
    finally:
        PublisherRecovery.attach, PublisherRecovery.take = attach, take  # type: ignore[method-assign]


async def _step(
    server: TestServer, session: aiohttp.ClientSession, loss: float, warmup: float, seconds: float
) -> dict[str, Any]:
    # The tests' relay and aiortc clients (imported by name: mypy checks bench, not tests).
    relays = importlib.import_module("tests.relay")
    clients = importlib.import_module("tests.utils")
    Impairment, LossyRelay, smoothness = relays.Impairment, relays.LossyRelay, relays.smoothness
    until, whep_play, whip_publish = clients.until, clients.whep_play, clients.whip_publish

    onair = server.app[ONAIR]
    show, key = await _create_show(server)
    relay = await LossyRelay(up=Impairment(loss=loss, jitter=JITTER, seed=14)).start()
    try:
        pub = await whip_publish(session, str(server.make_url(f"/whip/{show}")), key, relay=relay)
        await until(lambda: (live := onair.get(show)) is not None and live.on_air, 20)
        viewer = await whep_play(session, str(server.make_url(f"/whep/{show}")))
        await until(lambda: len(viewer.stamps) > 10, 20)
        await asyncio.sleep(warmup)
        start = len(viewer.stamps)
        await asyncio.sleep(seconds)
        seen = smoothness(viewer.stamps[start:], viewer.pts[start:])
        live = onair.get(show)
        stats = live.publisher.recovery.stats if live and live.publisher else None
        await viewer.close(session)
        await pub.close(session)
    finally:
        relay.close()
    return {
        "loss": loss,
        "jitter": JITTER,
        "media_seconds": seen.seconds,
        "fps": seen.fps,
        "freezes_per_minute": seen.freezes_per_minute,
        "longest_freeze": seen.longest_freeze,
        "dropped": relay.up.dropped,
        "recovery": vars(stats) if stats else None,
    }


async def _create_show(server: TestServer) -> tuple[str, str]:
    store = server.app[STORE]
    record, key = await store.create_show("Bench loss", None)
    return str(record.id), str(key)


async def _run(losses: list[float], modes: list[str], warmup: float, seconds: float) -> list[Any]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-loss-") as tmp:
        settings = load_settings(
            {
                "data_dir": str(Path(tmp) / "data"),
                "recordings_dir": str(Path(tmp) / "recordings"),
                "x264_preset": "ultrafast",
            },
            environ={},
        )
        server = TestServer(create_app(settings), host="127.0.0.1")
        await server.start_server()
        try:
            async with aiohttp.ClientSession() as session:
                for loss in losses:
                    for mode in modes:
                        with recovery_off() if mode == "off" else contextlib.nullcontext():
                            row = await _step(server, session, loss, warmup, seconds)
                        row["mode"] = mode
                        rows.append(row)
                        print(
                            f"  loss {loss:.0%} recovery {mode}: {fmt(row['fps'])} fps, "
                            f"longest freeze {fmt(row['longest_freeze'], 2)} s",
                            flush=True,
                        )
        finally:
            await server.close()
    return rows


def run(
    quick: bool,
    losses: list[float] | None = None,
    modes: list[str] | None = None,
    seconds: float | None = None,
) -> dict[str, Any]:
    """Measure every loss level in every mode; returns what goes in the JSON."""
    logging.getLogger("aiortc").setLevel(logging.ERROR)
    rows = asyncio.run(
        _run(
            losses if losses is not None else list(LOSSES),
            modes or ["off", "on"],
            warmup=2.0 if quick else 4.0,
            seconds=seconds or (8.0 if quick else 30.0),
        )
    )
    return {"jitter": JITTER, "rows": rows}


def report(result: dict[str, Any]) -> str:
    """The table: fps and freezes per loss level, recovery off and on, and their ratio."""
    by = {(r["loss"], r["mode"]): r for r in result["rows"]}
    lines = []
    for loss in sorted({r["loss"] for r in result["rows"]}):
        row: list[Any] = [f"{loss:.0%}"]
        for mode in ("off", "on"):
            r = by.get((loss, mode))
            row += [r["fps"], r["freezes_per_minute"], r["longest_freeze"]] if r else [None] * 3
        off, on = by.get((loss, "off")), by.get((loss, "on"))
        row.append(on["fps"] / off["fps"] if on and off and off["fps"] else None)
        lines.append(row)
    headers = [
        "loss",
        "fps off",
        "freezes/min off",
        "longest off (s)",
        "fps on",
        "freezes/min on",
        "longest on (s)",
        "fps on/off",
    ]
    title = (
        f"Host uplink with loss and 0-{JITTER * 1000:.0f} ms jitter: one clean viewer "
        "(fps and freezes of >= 0.2 s on media time; recovery off = aiortc alone)"
    )
    return table(headers, lines, title)
