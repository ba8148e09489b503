"""Turning new WebRTC viewers away when the server is at its limit (media/load.py; opt-in).

The viewer page plays HLS on a 503 (tests/test_browser_studio.py shows it for a full
show); here, the load that leads to it: measured on the real loop, with a real burner."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiortc import RTCPeerConnection

from livestudio.http.keys import SERVER_LOAD
from livestudio.media.load import ServerLoad

from .utils import parse_metrics, until, whep_play, whip_publish

SDP = {"Content-Type": "application/sdp"}


class Machine:
    """Fake clocks for ServerLoad: wall time and the loop's and the process's CPU time."""

    def __init__(self, cores: int) -> None:
        self.wall = self.loop_cpu = self.process_cpu = 0.0
        self.load = ServerLoad(
            lambda: self.wall, lambda: self.loop_cpu, lambda: self.process_cpu, cores=cores
        )

    def run(self, samples: int, loop_share: float, process_cores: float) -> None:
        """`samples` half-seconds with the loop thread and the process this busy."""
        for _ in range(samples):
            self.wall += 0.5
            self.loop_cpu += 0.5 * loop_share
            self.process_cpu += 0.5 * process_cores
            self.load.sample()


def test_load_is_the_busier_of_the_loop_and_the_process_per_core() -> None:
    machine = Machine(cores=2)
    load = machine.load
    assert load.load == 0.0  # no sample yet
    machine.run(4, loop_share=0.5, process_cores=1.6)  # 1.6 of 2 cores: 0.8
    assert load.loop_share == pytest.approx(0.5)
    assert load.process_share == pytest.approx(0.8)
    assert load.load == pytest.approx(0.8)
    machine.run(4, loop_share=1.0, process_cores=1.2)  # the window forgets the past
    assert load.loop_share == pytest.approx(1.0)
    assert load.load == pytest.approx(1.0)


def test_a_short_burst_is_averaged_away() -> None:
    machine = Machine(cores=1)
    machine.run(3, loop_share=0.1, process_cores=0.1)
    machine.run(1, loop_share=1.0, process_cores=1.0)  # half a second at 100 % (a keyframe)
    assert machine.load.load == pytest.approx(0.325)


async def offer_sdp() -> tuple[RTCPeerConnection, str]:
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def metric(studio: Any, name: str) -> float:
    async with studio.session.get(studio.url("/metrics")) as r:
        text = await r.text()
    return next(v for n, _, v in parse_metrics(text) if n == name)


@pytest.mark.timeout(90)
async def test_a_busy_server_turns_new_viewers_away_and_takes_them_again(
    studio_factory: Any,
) -> None:
    studio = await studio_factory(max_server_load=0.6)
    show_id, key = await studio.create_show("Busy")
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    whep = studio.url(f"/whep/{show_id}")
    first = await whep_play(studio.session, whep)  # watching before the load
    load = studio.app[SERVER_LOAD]

    burning = True

    async def burn() -> None:  # the loop busy ~90 % of the time, as with too many viewers
        while burning:
            started = time.perf_counter()
            while time.perf_counter() - started < 0.09:
                pass
            await asyncio.sleep(0.01)

    burner = asyncio.ensure_future(burn())
    try:
        await until(lambda: load.load > 0.6, 15)
        pc, sdp = await offer_sdp()
        try:
            async with studio.session.post(whep, data=sdp, headers=SDP) as r:
                body = await r.text()
                assert r.status == 503, body
                assert r.headers["Retry-After"] and "limit" in body
        finally:
            await pc.close()
        assert await metric(studio, "livestudio_viewers_turned_away_total") == 1
        assert await metric(studio, "livestudio_server_load") > 0.6
        # The host's own preview of the program still gets in.
        await studio.log_in()
        preview = await whep_play(studio.session, f"{whep}?preview=host")
        await preview.close(studio.session)
        # Who was watching goes on watching.
        seen = len(first.stamps)
        await until(lambda: len(first.stamps) > seen + 10, 20)
    finally:
        burning = False
        await burner
    # Once the load is gone (the window forgets it in ~2 s), viewers get in again.
    await until(lambda: load.load < 0.6, 15)
    second = await whep_play(studio.session, whep)
    await until(lambda: len(second.stamps) > 5, 20)
    await second.close(studio.session)
    await first.close(studio.session)
    await pub.close(studio.session)
