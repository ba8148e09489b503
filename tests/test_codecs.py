"""Codec negotiation: VP8 and H.264 hosts; viewers get H.264 whose SPS matches the answer."""

from __future__ import annotations

import re

import pytest
from aiortc.codecs.h264 import H264Decoder

from .conftest import Studio
from .utils import until, whep_play, whip_publish


def sps_profile_level_id(data: bytes) -> str | None:
    """profile_idc, constraint flags and level_idc of the first SPS in Annex-B data."""
    for m in re.finditer(b"\x00\x00\x01", data):
        i = m.end()
        if i + 4 <= len(data) and data[i] & 0x1F == 7:
            return data[i + 1 : i + 4].hex()
    return None


@pytest.mark.parametrize("host_codec", ["video/VP8", "video/H264"])
async def test_host_codec_and_viewer_sps(studio: Studio, host_codec: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    first_sps: dict[int, str] = {}
    original = H264Decoder.decode

    def spy(self, encoded_frame):  # type: ignore[no-untyped-def]
        plid = sps_profile_level_id(encoded_frame.data)
        if plid is not None:
            first_sps.setdefault(id(self), plid)
        return original(self, encoded_frame)

    monkeypatch.setattr(H264Decoder, "decode", spy)
    show_id, key = await studio.create_show()
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key, codec=host_codec)
    live = studio.onair.get(show_id)
    assert live is not None and live.publisher is not None
    assert live.publisher.video_codec.lower() == host_codec.lower()
    ingest_decoders = set(first_sps)
    viewer = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
    await until(lambda: len(viewer.stamps) > 15, 15)
    assert viewer.stamps[-1] > 0
    answered = re.search(r"a=rtpmap:(\d+) H264/90000", viewer.answer)
    assert answered, "the viewer is answered with H.264"
    assert "VP8" not in viewer.answer, "H.264 only for viewers"
    fmtp = re.search(rf"a=fmtp:{answered.group(1)} (.*)", viewer.answer)
    assert fmtp is not None
    plid = re.search(r"profile-level-id=([0-9a-fA-F]{6})", fmtp.group(1))
    assert plid is not None and "packetization-mode=1" in fmtp.group(1)
    # With an H.264 host the server's ingest decoder saw SPS first; the viewer's is new.
    viewer_sps = [v for k, v in first_sps.items() if k not in ingest_decoders]
    if host_codec == "video/H264":
        viewer_sps = viewer_sps[-1:]
    assert viewer_sps, "the viewer received an SPS with its first IDR"
    assert viewer_sps[0].lower() == plid.group(1).lower()
    await viewer.close(studio.session)
    await pub.close(studio.session)


async def test_session_clock_maps_rtp_to_program_pts(studio: Studio) -> None:
    show_id, key = await studio.create_show()
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    viewer = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
    await until(lambda: len(viewer.stamps) > 10, 15)
    async with studio.session.get(viewer.location) as r:
        clock = await r.json()
    assert clock["clockRate"] == 90000 and isinstance(clock["rtpOrigin"], int)
    live = studio.onair.get(show_id)
    assert live is not None
    session = viewer.location.rsplit("/", 1)[1]
    watching = live.viewer(session)
    assert watching is not None
    # The RTP timestamps sent are origin + program pts.
    sent = watching.last_video_rtp_timestamp
    assert sent is not None
    pts = (sent - clock["rtpOrigin"]) & 0xFFFFFFFF
    now = live.program_pts()
    assert now is not None and abs(pts - now) < 90000, "within a second of program time now"
    await viewer.close(studio.session)
    await pub.close(studio.session)
