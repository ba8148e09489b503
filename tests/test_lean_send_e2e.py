"""The lean send path end to end, with aiortc viewers: what a viewer's receiver needs
beyond the packets themselves — retransmission of what got lost, and sender reports."""

from __future__ import annotations

import asyncio

from livestudio.media.rtpsend import DatagramOut

from .conftest import Studio
from .utils import until, whep_play, whip_publish


class Lossy(DatagramOut):
    """Drops one datagram in `every` of a viewer's first transmissions (never a resend)."""

    def __init__(self, inner: DatagramOut, every: int) -> None:
        self.inner = inner
        self.every = every
        self.seen = 0
        self.lost = 0
        self.resending = False
        self.dropped = 0
        self.sends = 0

    def send(self, datagrams: list[bytes]) -> None:
        if self.resending:
            self.inner.send(datagrams)
            return
        kept = []
        for datagram in datagrams:
            self.seen += 1
            if self.seen % self.every == 0:
                self.lost += 1
            else:
                kept.append(datagram)
        if kept:
            self.inner.send(kept)

    def send_one(self, datagram: bytes) -> None:
        self.send([datagram])

    def close(self) -> None:
        self.inner.close()


async def test_lost_packets_are_retransmitted_and_reports_count_what_was_sent(
    studio: Studio,
) -> None:
    show_id, key = await studio.create_show()
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    await until(lambda: (live := studio.onair.get(show_id)) is not None and live.on_air, 10)
    player = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
    await until(lambda: len(player.stamps) >= 15, 15)
    live = studio.onair.get(show_id)
    assert live is not None
    viewer = live.viewer(player.location.rsplit("/", 1)[1])
    assert viewer is not None and viewer.sender_kind == "lean"
    stream = viewer.lean["video"].stream
    assert stream is not None
    # From now on one video datagram in 8 never reaches the viewer (12.5 % loss).
    lossy = Lossy(stream.out, every=8)
    stream.out = lossy
    retransmit = stream.retransmit

    def resend(sequence_number: int) -> bool:
        lossy.resending = True
        try:
            return retransmit(sequence_number)
        finally:
            lossy.resending = False

    stream.retransmit = resend  # type: ignore[method-assign]
    decoded_before = len(player.stamps)
    await until(lambda: len(player.stamps) >= decoded_before + 120, 30)
    assert lossy.lost >= 10
    # aiortc's receiver NACKs the gaps; every one of them was in our history.
    assert stream.retransmitted >= 0.8 * lossy.lost, (stream.retransmitted, lossy.lost)
    recent = player.stamps[decoded_before:]
    assert recent == sorted(recent), "stamps must increase"
    # Retransmitted in time, the frames decode: nothing worth a keyframe was lost.
    assert len(set(recent)) >= 0.9 * (max(recent) - min(recent) + 1) - 2

    # The sender reports aiortc sends carry our counts (RFC 3550 6.4.1); one goes out
    # every 0.5-1.5 s.
    report: dict[str, int] = {}
    for _ in range(40):
        await asyncio.sleep(0.1)  # deliberately: polling the client's stats
        stats = await player.pc.getStats()
        for s in stats.values():
            if s.type == "remote-outbound-rtp" and s.kind == "video":
                report = {"packets": s.packetsSent, "octets": s.bytesSent}
        if report and report["packets"] > 100:
            break
    assert report and 100 < report["packets"] <= stream.packets
    assert report["octets"] <= stream.octets
    per_packet = stream.octets / stream.packets
    assert 0.5 * per_packet < report["octets"] / report["packets"] < 2 * per_packet
    await player.close(studio.session)
    await pub.close(studio.session)
