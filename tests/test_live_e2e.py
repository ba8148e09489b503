"""The live path end to end through the real HTTP endpoints, with aiortc clients."""

from __future__ import annotations

from typing import Any

import pytest
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.opus import OpusEncoder
from aiortc.codecs.vpx import Vp8Encoder

from .conftest import Studio
from .utils import until, whep_play, whip_publish


@pytest.mark.parametrize("sender", ["lean", "aiortc"])
async def test_publish_and_three_viewers_decode_stamped_frames(
    studio_factory: Any, sender: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    studio: Studio = await studio_factory(fanout_sender=sender)
    # The publisher is an aiortc client in this process and encodes, as a camera does;
    # what matters is that no encoder owned by a *viewer's* sender ever encodes.
    encoded_by: set[int] = set()
    for cls in (H264Encoder, Vp8Encoder, OpusEncoder):
        original = cls.encode

        def counting(self, frame, force_keyframe=False, _orig=original):  # type: ignore[no-untyped-def]
            encoded_by.add(id(self))
            return _orig(self, frame, force_keyframe)

        monkeypatch.setattr(cls, "encode", counting)

    show_id, key = await studio.create_show()
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    await until(lambda: (live := studio.onair.get(show_id)) is not None and live.on_air, 10)
    viewers = [await whep_play(studio.session, studio.url(f"/whep/{show_id}")) for _ in range(3)]
    await until(lambda: all(len(v.stamps) >= 90 for v in viewers), 30)
    first_sent_after = len(pub.video.sent)
    await until(lambda: all(len(v.stamps) >= 150 for v in viewers), 30)
    for v in viewers:
        got = v.stamps
        # Never backwards; a frame may repeat when the source is late (DESIGN 8).
        assert got == sorted(got), "stamps must increase"
    # Between two points in time, each viewer decoded >= 80 % of what the publisher sent.
    live = studio.onair.get(show_id)
    assert live is not None
    for v in viewers:
        window = {s for s in v.stamps if s > first_sent_after - 60}
        sent = {s for s in pub.video.sent if min(window) <= s <= max(window)}
        assert len(window) >= 0.8 * len(sent), "distinct stamped frames decoded"
        loud = [r for r in v.audio_rms[-50:] if r > 500]
        assert len(loud) >= 25, f"audio should be the tone, got rms {v.audio_rms[-10:]}"
    # One encode, proven: every viewer was sent packets; no sender encoded.
    assert live.viewer_count == 3
    sent = 0
    for player in viewers:
        viewer = live.viewer(player.location.rsplit("/", 1)[1])
        assert viewer is not None
        assert viewer.frames_sent("video") > 0 and viewer.frames_sent("audio") > 0
        sent += viewer.frames_sent("video") + viewer.frames_sent("audio")
        for transceiver in viewer.pc.getTransceivers():
            sender_encoder = transceiver.sender._RTCRtpSender__encoder
            if sender == "aiortc":
                assert sender_encoder is not None, "the sender packetized through its codec"
            else:
                assert sender_encoder is None, "aiortc's sender sent nothing itself"
            assert id(sender_encoder) not in encoded_by, "a viewer's sender encoded a frame"
    assert live.stats().program_frames > 0, "the program encoder did the encoding"
    if sender == "lean":
        # Packetized once for the three viewers (the joiners' re-stamped GOP apart).
        assert live.broadcast.payload_cache.packetized < 0.5 * sent
    for v in viewers:
        await v.close(studio.session)
    await pub.close(studio.session)
    await until(lambda: studio.onair.get(show_id) is None, 10)
    show = await studio.store.get_show(show_id)
    # ended, and its recording published as a replay at once
    assert show is not None and show.state == "published" and show.recording == "ready"
