"""The show outlives its publisher's connection: reconnects, reloads, resolution changes."""

from __future__ import annotations

import asyncio
import itertools

from .conftest import Studio, next_of
from .utils import (
    StampedVideoTrack,
    ToneAudioTrack,
    bearer,
    offer,
    until,
    whep_play,
    whip_publish,
)


async def test_host_reconnect_keeps_show_viewers_and_clock(studio: Studio) -> None:
    show_id, key = await studio.create_show()
    whip = studio.url(f"/whip/{show_id}")
    first = await whip_publish(studio.session, whip, key)
    viewer = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
    await until(lambda: len(viewer.stamps) > 30, 15)
    live = studio.onair.get(show_id)
    assert live is not None

    # The host's connection drops (no DELETE): the show waits for them.
    await first.pc.close()
    await until(lambda: live.state == "reconnecting", 10)
    assert (await studio.store.get_show(show_id)).state == "reconnecting"  # type: ignore[union-attr]
    before = len(viewer.pts)
    await asyncio.sleep(0.5)  # deliberately: half a second without a host

    # Back within the grace period, with a camera counting from 5000.
    camera = StampedVideoTrack(first=5000)
    second = await whip_publish(studio.session, whip, key, video=camera)
    await until(lambda: any(s > 5000 for s in viewer.stamps), 15)
    await until(lambda: live.state == "live", 5)
    assert studio.onair.get(show_id) is live, "same show, same program"
    assert live.viewer_count == 1 and viewer.pc.connectionState == "connected"
    pts = viewer.pts
    assert all(b > a for a, b in itertools.pairwise(pts)), "program clock only increases"
    assert len(pts) > before, "the viewer kept receiving during the gap (repeat, slate)"
    assert (await studio.store.get_show(show_id)).state == "live"  # type: ignore[union-attr]
    await viewer.close(studio.session)
    await second.close(studio.session)


async def test_reload_replaces_a_silent_publisher(studio: Studio) -> None:
    show_id, key = await studio.create_show()
    whip = studio.url(f"/whip/{show_id}")
    first = await whip_publish(studio.session, whip, key)
    live = studio.onair.get(show_id)
    assert live is not None
    await until(lambda: live.publisher is not None and live.publisher.video_frames > 10, 10)
    # A reloaded page: the old connection is still up but sends nothing.
    first.video.paused = first.audio.paused = True
    await until(lambda: live.publisher is not None and live.publisher.silent_for >= 0.2, 5)
    async with studio.session.post(whip, data=await offer(), headers=bearer(key)) as r:
        assert r.status == 409, "silent for < 2 s: still the healthy publisher"
    await until(lambda: live.publisher is not None and live.publisher.silent_for >= 2.1, 10)
    second = await whip_publish(studio.session, whip, key)
    assert live.publisher is not None and live.publisher.video_frames == 0
    await until(lambda: live.publisher is not None and live.publisher.video_frames > 10, 10)
    assert first.pc.connectionState in ("closed", "failed") or live.publisher.pc is not first.pc
    await second.close(studio.session)
    await first.pc.close()


async def test_source_resolution_change_keeps_program_size(studio: Studio) -> None:
    show_id, key = await studio.create_show()
    camera = StampedVideoTrack(640, 360)
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key, video=camera)
    viewer = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
    await until(lambda: len(viewer.stamps) > 20, 15)
    camera.resize(320, 180)  # a browser dropping its resolution
    mark = camera.count
    await until(lambda: any(s > mark + 20 for s in viewer.stamps), 15)
    camera.resize(480, 360)  # a 4:3 camera: letterboxed
    live = studio.onair.get(show_id)
    assert live is not None and live.frame_size == (640, 360)
    frames_before = live.stats().program_frames
    await until(lambda: live.stats().program_frames > frames_before + 20, 10)
    assert viewer.sizes == {(640, 360)}, "one program size for the whole show"
    await viewer.close(studio.session)
    await pub.close(studio.session)


async def test_stalled_source_gets_slate_and_silence(studio: Studio) -> None:
    show_id, key = await studio.create_show()
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    viewer = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
    await until(lambda: len(viewer.stamps) > 10, 15)
    live = studio.onair.get(show_id)
    assert live is not None
    pub.video.paused = pub.audio.paused = True
    await until(lambda: live.stats().frames_slate > 10, 10)
    await until(lambda: live.state == "reconnecting", 5)
    n = len(viewer.audio_rms)
    await until(lambda: len(viewer.audio_rms) > n + 20, 5)
    assert max(viewer.audio_rms[-10:]) < 50, "silence while the host is away"
    slate_stamp = viewer.stamps[-1]
    assert viewer.pc.connectionState == "connected"
    pub.video.paused = pub.audio.paused = False
    await until(lambda: live.state == "live", 10)
    await until(lambda: viewer.stamps[-1] != slate_stamp, 5)
    await viewer.close(studio.session)
    await pub.close(studio.session)


async def test_a_program_that_dies_ends_the_show_cleanly(studio: Studio, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from livestudio.media import encode

    show_id, key = await studio.create_show()
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    viewer = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
    await until(lambda: len(viewer.stamps) > 45, 15)

    def broken(self, frame, keyframe=False):  # type: ignore[no-untyped-def]
        raise RuntimeError("encoder exploded")

    monkeypatch.setattr(encode.ProgramEncoder, "encode", broken)
    await until(lambda: studio.onair.get(show_id) is None, 15)
    show = await studio.store.get_show(show_id)
    assert show is not None and show.state == "published", "ended, what was recorded published"
    await viewer.close(studio.session)
    await pub.pc.close()


async def test_a_host_whose_media_never_arrives_leaves_the_show_to_start_later(
    studio: Studio,
) -> None:
    show_id, key = await studio.create_show()
    session, page, _ = await studio.viewer_page(show_id)
    # The host's connection comes up but no media gets through, then it goes.
    silent_video, silent_audio = StampedVideoTrack(), ToneAudioTrack()
    silent_video.paused = silent_audio.paused = True
    pub = await whip_publish(
        studio.session, studio.url(f"/whip/{show_id}"), key, silent_video, silent_audio
    )
    assert (await next_of(page, "state"))["state"] == "live"
    await until(lambda: pub.pc.connectionState == "connected", 10)
    await pub.pc.close()
    assert (await next_of(page, "state", within=10))["state"] == "scheduled"
    await until(lambda: studio.onair.get(show_id) is None, 10)
    show = await studio.store.get_show(show_id)
    assert show is not None and show.state == "scheduled" and show.recording == "none"
    assert show.went_live_at is None, "it never went live"
    # Not ended for good: the host goes live on the next try.
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    player = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
    await until(lambda: len(player.stamps) > 5, 15)
    await player.close(studio.session)
    await pub.close(studio.session)
    await session.close()
