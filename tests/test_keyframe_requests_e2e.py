"""A viewer's PLI/FIR reaches the one program encoder, end to end, and bursts are coalesced.

aiortc answers a PLI or FIR by flagging its sender's own encoder; a WHEP viewer's sender
only packetizes the shared program packets, so the viewer rewires it to the program's
KeyframeRequests (livestudio/media/viewer.py). These tests send real RTCP PLIs from an
aiortc WHEP client through the real server and count the keyframes that come out of the
program, in the broadcast (with their pts) and decoded at the viewer.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import av
from aiortc import RTCRtpReceiver

from livestudio.media.keyframes import MIN_INTERVAL

from .conftest import Studio
from .utils import Player, ProgramTap, Publisher, until, whep_play, whip_publish

KEYFRAME_INTERVAL = 10.0
"The longest the settings allow: a periodic keyframe cannot pass for an answer to a PLI."
QUIET = 1.0
"Seconds without any keyframe before a PLI is sent (> MIN_INTERVAL: nothing held back)."
PLI_DEADLINE = 1.5
"""A PLI's keyframe takes one RTCP hop on loopback, at most one program frame (33 ms) and
one ultrafast encode: ~0.1 s, under a 10x margin here, and far below KEYFRAME_INTERVAL."""


@dataclass
class KeyframeLog:
    """Keyframes as they leave the program (broadcast sink) and as the viewer decodes them."""

    program: list[tuple[float, int]] = field(default_factory=list)
    "(monotonic arrival, pts) of every keyframe packet the broadcast fans out."
    viewer: list[float] = field(default_factory=list)
    "Monotonic time of every keyframe the viewer decoded."

    def on_packet(self, kind: str, packet: av.Packet) -> None:
        if kind == "video" and packet.is_keyframe and packet.pts is not None:
            self.program.append((time.monotonic(), packet.pts))

    def on_frame(self, frame: av.VideoFrame) -> None:
        if frame.key_frame:
            self.viewer.append(time.monotonic())

    def quiet_for(self) -> float:
        """Seconds since the last keyframe left the program."""
        return time.monotonic() - self.program[-1][0] if self.program else 0.0


async def on_air(studio: Studio) -> tuple[Any, Publisher, Player, KeyframeLog]:
    show_id, key = await studio.create_show("Keyframes")
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    live = studio.onair.get(show_id)
    assert live is not None
    log = KeyframeLog()
    ProgramTap(live, log.on_packet)  # an observer only: ends with the show
    viewer = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
    viewer.on_frame = log.on_frame
    await until(lambda: len(viewer.stamps) > 30, 20)
    assert log.program and log.viewer, "the viewer started on a keyframe"
    return live, pub, viewer, log


def video_receiver(live: Any, player: Player) -> tuple[RTCRtpReceiver, int]:
    """The viewer's video receiver and the media SSRC its PLIs name: the one it receives
    from, which must be the server's video sender (an RTX SSRC may be listed too)."""
    receiver = next(r for r in player.pc.getReceivers() if r.track.kind == "video")
    received = {s.source for s in receiver.getSynchronizationSources()}
    watching = live.viewer(player.location.rsplit("/", 1)[1])
    assert watching is not None
    # aiortc has no public getter for a sender's SSRC.
    senders = {s._ssrc for s in watching.pc.getSenders() if s.track.kind == "video"}
    assert len(senders) == 1 and senders <= received, (senders, received)
    return receiver, senders.pop()


async def settle(log: KeyframeLog) -> None:
    """Wait until no keyframe went out for QUIET seconds (the join's are all done)."""
    await until(lambda: log.quiet_for() >= QUIET, 20)


async def test_viewer_pli_makes_the_program_send_a_keyframe_at_once(studio_factory: Any) -> None:
    studio: Studio = await studio_factory(keyframe_interval=KEYFRAME_INTERVAL)
    live, pub, viewer, log = await on_air(studio)
    receiver, media_ssrc = video_receiver(live, viewer)
    await settle(log)

    before_program, before_viewer = len(log.program), len(log.viewer)
    previous_pts = log.program[-1][1]
    forced = live.stats().keyframes_forced
    pli_pts = live.program_pts()
    assert pli_pts is not None
    sent_at = time.monotonic()
    await receiver._send_rtcp_pli(media_ssrc)

    try:
        await until(lambda: len(log.program) > before_program, PLI_DEADLINE, interval=0.01)
    except AssertionError:
        raise AssertionError(
            f"no keyframe within {PLI_DEADLINE}s of the viewer's PLI "
            f"(periodic interval {KEYFRAME_INTERVAL}s): PLI/FIR do not reach the encoder"
        ) from None
    arrived_at, pts = log.program[before_program]
    assert pts >= pli_pts, "a new frame encoded after the PLI, not a cached one"
    assert (pts - previous_pts) / 90000 < KEYFRAME_INTERVAL / 2, "not the periodic keyframe"
    assert live.stats().keyframes_forced == forced + 1, "the IDR was forced by the request"
    # And the viewer who asked decodes it.
    await until(lambda: any(t >= sent_at for t in log.viewer[before_viewer:]), 5, interval=0.01)
    assert arrived_at - sent_at < PLI_DEADLINE

    await viewer.close(studio.session)
    await pub.close(studio.session)


async def test_a_burst_of_plis_costs_a_few_keyframes_not_one_each(studio_factory: Any) -> None:
    studio: Studio = await studio_factory(keyframe_interval=KEYFRAME_INTERVAL)
    live, pub, viewer, log = await on_air(studio)
    receiver, media_ssrc = video_receiver(live, viewer)
    await settle(log)

    count = 30
    start_index = len(log.program)
    # Requests that reached the program: what this test is about, and no public counter.
    requested = live.program.keyframes.requested
    frames = live.stats().program_frames
    started = time.monotonic()
    for _ in range(count):  # one PLI every ~40 ms: a fresh request for nearly every frame
        await receiver._send_rtcp_pli(media_ssrc)
        await asyncio.sleep(0.04)
    span = time.monotonic() - started
    await until(lambda: live.program.keyframes.requested >= requested + count, 5)
    # The last request held back is served at most MIN_INTERVAL later: let that time pass
    # (deliberately) so that every keyframe of the burst is counted.
    await asyncio.sleep(MIN_INTERVAL + 0.5)

    burst = log.program[start_index:]
    most = int(span / MIN_INTERVAL) + 2
    frames_during = live.stats().program_frames - frames
    assert frames_during > 2 * most, "enough frames that only coalescing limits the IDRs"
    assert 2 <= len(burst) <= most, (
        f"{count} PLIs over {span:.2f}s gave {len(burst)} keyframes; "
        f"coalescing allows 2..{most} (one per {MIN_INTERVAL}s while requests keep coming)"
    )
    gaps = [(b[1] - a[1]) / 90000 for a, b in itertools.pairwise(burst)]
    assert all(g >= MIN_INTERVAL - 0.1 for g in gaps), gaps
    assert live.stats().keyframes_forced >= len(burst)

    await viewer.close(studio.session)
    await pub.close(studio.session)
