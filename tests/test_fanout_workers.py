"""Viewers served by fan-out worker processes (fanout_workers), through the real HTTP
endpoints: negotiated in a worker, fed the program encoded once by the main process."""

from __future__ import annotations

from typing import Any

import av

from livestudio.media.workers import RemoteViewer, pack_packet, unpack_packet

from .conftest import Studio
from .utils import until, whep_play, whip_publish


def test_packets_cross_to_a_worker_intact() -> None:
    packet = av.Packet(b"\x00\x00\x00\x01\x65" + bytes(range(200)))
    packet.pts, packet.dts, packet.is_keyframe = 123456, 123450, True
    from fractions import Fraction

    packet.time_base = Fraction(1, 90000)
    kind, back = unpack_packet(pack_packet(b"V", packet))
    assert kind == b"V" and bytes(back) == bytes(packet)
    assert (back.pts, back.dts, back.time_base, back.is_keyframe) == (
        123456,
        123450,
        Fraction(1, 90000),
        True,
    )


async def test_viewers_on_two_workers_play_and_leave(studio_factory: Any) -> None:
    studio: Studio = await studio_factory(fanout_workers=2)
    show_id, key = await studio.create_show()
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    await until(lambda: (live := studio.onair.get(show_id)) is not None and live.on_air, 10)
    live = studio.onair.get(show_id)
    assert live is not None and live.workers is not None
    players = [await whep_play(studio.session, studio.url(f"/whep/{show_id}")) for _ in range(3)]
    await until(lambda: all(len(p.stamps) >= 60 for p in players), 30)
    for p in players:
        assert p.stamps == sorted(p.stamps), "stamps must increase"
        assert len([r for r in p.audio_rms[-50:] if r > 500]) >= 25, "the tone"
    viewers = [live.viewer(p.location.rsplit("/", 1)[1]) for p in players]
    assert all(isinstance(v, RemoteViewer) for v in viewers)
    # Spread over both workers; the page's clock mapping is known at once.
    assert sorted(len(w.viewers) for w in live.workers.workers) == [1, 2]
    for p in players:
        async with studio.session.get(p.location) as r:
            assert isinstance((await r.json())["rtpOrigin"], int)
    # Encoded once: the main process fed each worker the same packets.
    stats = live.workers.stats()
    assert all(s["messages"] > 60 for s in stats)
    await players[0].close(studio.session)
    await until(lambda: live.viewer_count == 2, 10)
    assert sum(len(w.viewers) for w in live.workers.workers) == 2
    await pub.close(studio.session)
    for p in players[1:]:
        await p.close(studio.session)
    await until(lambda: studio.onair.get(show_id) is None, 15)
    await until(lambda: not any(w.process.is_alive() for w in live.workers.workers), 15)
