"""Peers that vanish without a DELETE leave no peer connection, task or thread behind."""

from __future__ import annotations

import asyncio
import gc
import threading

import aioice.ice
from aiortc import RTCPeerConnection

from .conftest import Studio
from .utils import until, whep_play, whip_publish


def peer_connections() -> int:
    gc.collect()
    return sum(
        1
        for o in gc.get_objects()
        if isinstance(o, RTCPeerConnection) and o.connectionState != "closed"
    )


async def vanish(pc: RTCPeerConnection) -> None:
    """Drop off the network without a word: no DELETE, no DTLS close_notify."""
    for transceiver in pc.getTransceivers():
        transport = transceiver.sender.transport
        if transport is not None:
            await transport.transport.stop()  # the ICE transport: packets just stop


async def test_vanished_viewer_and_publisher_leave_nothing(studio: Studio, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Consent freshness (RFC 7675) is how a server notices a silent peer: shorten it so
    # the test sees in ~2 s what takes ~30 s in production.
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.2)
    monkeypatch.setattr(aioice.ice, "CONSENT_FAILURES", 3)
    threads_before = {t.ident for t in threading.enumerate()}
    tasks_before = len(asyncio.all_tasks())
    show_id, key = await studio.create_show()
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    viewers = [await whep_play(studio.session, studio.url(f"/whep/{show_id}")) for _ in range(2)]
    await until(lambda: all(len(v.stamps) > 10 for v in viewers), 15)
    live = studio.onair.get(show_id)
    assert live is not None and live.viewer_count == 2

    await vanish(viewers[0].pc)
    await until(lambda: live.viewer_count == 1, 15)
    assert len(live.broadcast.viewers()) == 1, "its subscription is gone too"

    await vanish(pub.pc)
    await until(lambda: live.publisher is None, 15)
    assert live.state == "reconnecting"
    # The end of the grace period ends the show and everything with it.
    await live.end()
    for v in viewers:
        await v.close()
    await pub.pc.close()
    await until(lambda: studio.onair.get(show_id) is None, 10)
    assert not live.on_air
    await until(lambda: peer_connections() == 0, 10)

    def leftover() -> list[str]:
        return [
            t.name for t in threading.enumerate() if t.ident not in threads_before and t.is_alive()
        ]

    # Only asyncio's default executor may keep idle pool threads; no program thread and
    # no per-peer decoder thread may remain (once they have had time to exit).
    try:
        await until(lambda: all(n.startswith("asyncio_") for n in leftover()), 10)
    except AssertionError:
        raise AssertionError(f"threads left behind: {leftover()}") from None
    await until(lambda: len(asyncio.all_tasks()) <= tasks_before + 2, 10)
