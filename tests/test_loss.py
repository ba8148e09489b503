"""A bad network, end to end: loss and jitter on the host's uplink, loss on a viewer's.

The host (an aiortc client sending stamped frames) publishes through tests/relay.py,
which drops and delays its RTP; a clean WHEP viewer decodes the program and its stamps
say how smoothly the picture moved (on media time: a loaded CI slows the wall clock,
not the pts). The recovery of livestudio/media/recovery.py (NACK retries, a PLI when a
packet is lost for good) is what keeps it above 25 fps with no long freeze; without it,
aiortc's jitter buffer waits seconds on a packet whose one retransmission was lost.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from .conftest import Studio
from .relay import Impairment, LossyRelay, smoothness
from .utils import Player, until, whep_play, whip_publish

WARMUP = 4.0
"Seconds of playback before the window: the host's encoder ramps up, the viewer joins."
WINDOW = 20.0
"""Seconds measured: at 3 % loss a few hundred packets are lost, some retransmissions
too; short enough to keep the test under a minute."""
MIN_FPS = 25.0
"The source sends 30 fps: with recovery ~29-30 were measured (2 cores, idle)."
MAX_FREEZE = 1.0
"With recovery a picture lost for good freezes ~0.5 s (give-up, PLI, keyframe)."
LOST_WINDOW = 8.0
"Seconds watched after a packet is lost for good."
MAX_LOST_FREEZE = 1.2
"""A packet lost for good: ~0.57 s measured with recovery (0.45 s of NACKs, a PLI, the
keyframe), several seconds without."""


async def relayed_show(studio: Studio, name: str, relay: LossyRelay) -> tuple[str, Any, Player]:
    """A show whose host publishes through `relay`, on air, and a clean viewer playing it
    (30 stamped frames in): the show's id, the host and the viewer."""
    show_id, key = await studio.create_show(name)
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key, relay=relay)
    await until(lambda: (live := studio.onair.get(show_id)) is not None and live.on_air, 15)
    viewer = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
    await until(lambda: len(viewer.stamps) > 30, 20)
    return show_id, pub, viewer


async def watch(player: Player, seconds: float) -> Any:
    """The player's smoothness over the next `seconds` of wall time."""
    start = len(player.stamps)
    await asyncio.sleep(seconds)
    end = len(player.stamps)
    return smoothness(player.stamps[start:end], player.pts[start:end])


@pytest.mark.timeout(90)
async def test_host_uplink_with_loss_and_jitter_keeps_viewers_smooth(studio: Studio) -> None:
    relay = await LossyRelay(up=Impairment(loss=0.03, jitter=0.05, seed=14)).start()
    try:
        show_id, pub, viewer = await relayed_show(studio, "Bad uplink", relay)
        await asyncio.sleep(WARMUP)
        live = studio.onair.get(show_id)
        assert live is not None and live.publisher is not None
        audio = live.program.stats
        silent_before, chunks_before = audio.audio_silent, audio.audio_frames
        seen = await watch(viewer, WINDOW)
        silent = (audio.audio_silent - silent_before) / (audio.audio_frames - chunks_before)
        recovery = getattr(live.publisher, "recovery", None)
        print(f"\n3 % loss, 50 ms jitter: {seen}, audio silent {silent:.1%}, relay {relay.up}")
        print(f"recovery {recovery.stats if recovery else None}")
        assert relay.up.dropped > 50, "the relay dropped packets"
        assert seen.seconds > WINDOW / 2, seen
        assert seen.fps >= MIN_FPS, seen
        assert seen.longest_freeze < MAX_FREEZE, seen
        assert recovery is not None and recovery.stats.recovered > 0, "NACKed and resent"
        await viewer.close(studio.session)
        await pub.close(studio.session)
    finally:
        relay.close()


@pytest.mark.timeout(90)
async def test_a_packet_lost_for_good_freezes_the_picture_briefly(studio: Studio) -> None:
    # A video packet and all its retransmissions lost: aiortc alone NACKs once and then
    # waits for 512 packets (~10 s here, the viewers get the slate); recovery gives it
    # up, skips it and asks the host for a keyframe (PLI).
    relay = await LossyRelay().start()
    try:
        show_id, pub, viewer = await relayed_show(studio, "Lost for good", relay)
        await asyncio.sleep(1.0)
        start = len(viewer.stamps)
        relay.lose_for_good()
        await asyncio.sleep(LOST_WINDOW)
        seen = smoothness(viewer.stamps[start:], viewer.pts[start:])
        print(f"\nlost for good {relay.lost_for_good}: {seen}")
        live = studio.onair.get(show_id)
        assert live is not None and live.publisher is not None, "the host is still there"
        recovery = getattr(live.publisher, "recovery", None)
        print(f"recovery {recovery.stats if recovery else None}")
        assert relay.lost_for_good, "a packet was lost"
        assert seen.seconds > LOST_WINDOW / 2, seen
        assert seen.longest_freeze < MAX_LOST_FREEZE, seen
        assert recovery is not None and recovery.stats.plis >= 1
        await viewer.close(studio.session)
        await pub.close(studio.session)
    finally:
        relay.close()


@pytest.mark.timeout(90)
async def test_lossy_viewer_recovers_by_retransmission_clean_viewer_unaffected(
    studio: Studio,
) -> None:
    relay = await LossyRelay(down=Impairment(loss=0.05, seed=15)).start()
    try:
        show_id, key = await studio.create_show("Bad downlink")
        pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
        await until(lambda: (live := studio.onair.get(show_id)) is not None and live.on_air, 15)
        clean = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
        lossy = await whep_play(studio.session, studio.url(f"/whep/{show_id}"), relay=relay)
        await until(lambda: len(clean.stamps) > 30 and len(lossy.stamps) > 30, 20)
        await asyncio.sleep(WARMUP)
        clean_start, lossy_start = len(clean.stamps), len(lossy.stamps)
        await asyncio.sleep(WINDOW)
        got = {
            name: smoothness(p.stamps[start:], p.pts[start:])
            for name, p, start in (("clean", clean, clean_start), ("lossy", lossy, lossy_start))
        }
        live = studio.onair.get(show_id)
        assert live is not None
        watching = live.viewer(lossy.location.rsplit("/", 1)[1])
        assert watching is not None
        lean = watching.lean["video"].stream
        assert lean is not None
        resent = lean.retransmitted
        print(f"\nviewer at 5 % loss: {got}, relay {relay.down}, retransmitted {resent}")
        assert relay.down.dropped > 50, "the relay dropped packets"
        assert resent > relay.down.dropped / 4, "lost packets were sent again"
        for name, seen in got.items():
            assert seen.seconds > WINDOW / 2, (name, seen)
            assert seen.fps >= MIN_FPS, (name, seen)
            assert seen.longest_freeze < MAX_FREEZE, (name, seen)
        for player in (clean, lossy):
            assert player.stamps == sorted(player.stamps), "never backwards"
        await clean.close(studio.session)
        await lossy.close(studio.session)
        await pub.close(studio.session)
    finally:
        relay.close()
