"""WHIP DELETE of a session of which nothing aired puts the show back, not to its end.

FFmpeg's whip muxer DELETEs its session right after a failed handshake; that must not
end the show for good (a retry would get 409 "this show has ended").
"""

from __future__ import annotations

import asyncio

from aiortc import RTCPeerConnection

from livestudio.media.show import REPLACE_SILENT_AFTER

from .conftest import Studio
from .utils import StampedVideoTrack, ToneAudioTrack, bearer, until, whip_publish


async def post_and_never_connect(studio: Studio, show_id: str, key: str) -> str:
    """POST an offer whose client never applies the answer; the session's URL."""
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver(StampedVideoTrack(), direction="sendonly")
        pc.addTransceiver(ToneAudioTrack(), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        async with studio.session.post(
            studio.url(f"/whip/{show_id}"), data=pc.localDescription.sdp, headers=bearer(key)
        ) as r:
            assert r.status == 201, await r.text()
            return studio.url(r.headers["Location"])
    finally:
        await pc.close()


async def state(studio: Studio, show_id: str) -> str:
    show = await studio.store.get_show(show_id)
    assert show is not None
    return show.state


async def test_delete_before_anything_aired_puts_the_show_back(studio: Studio) -> None:
    show_id, key = await studio.create_show()
    session = await post_and_never_connect(studio, show_id, key)
    assert await state(studio, show_id) == "live"
    async with studio.session.delete(session) as r:
        assert r.status == 200
    assert studio.onair.get(show_id) is None
    assert await state(studio, show_id) == "scheduled"

    # the host tries again, and this time the show goes on
    publisher = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    try:
        live = studio.onair.get(show_id)
        assert live is not None
        await until(lambda: live.aired, 15)
        async with studio.session.delete(publisher.location) as r:
            assert r.status == 200
        await until(lambda: studio.onair.get(show_id) is None, 15)
        assert await state(studio, show_id) in ("ended", "published")
    finally:
        await publisher.pc.close()


async def test_late_delete_of_an_earlier_attempt_leaves_the_newer_one(studio: Studio) -> None:
    show_id, key = await studio.create_show()
    first = await post_and_never_connect(studio, show_id, key)
    await asyncio.sleep(REPLACE_SILENT_AFTER + 0.2)  # the first attempt may be replaced
    second = await post_and_never_connect(studio, show_id, key)
    async with studio.session.delete(first) as r:
        assert r.status == 200
    live = studio.onair.get(show_id)
    assert live is not None and live.publisher is not None
    assert second.endswith(live.publisher.id), "the newer attempt is still connecting"
    assert await state(studio, show_id) == "live"
    async with studio.session.delete(second) as r:
        assert r.status == 200
    assert await state(studio, show_id) == "scheduled"
    async with studio.session.delete(second) as r:
        assert r.status == 404
