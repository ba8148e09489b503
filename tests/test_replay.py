"""Recordings and replays: the file, publishing, the page, media safety, host actions."""

from __future__ import annotations

import os
from pathlib import Path

import av

from livestudio.media.record import PLAYLIST, POSTER, RECORDING

from .conftest import Studio
from .utils import until, whep_play, whip_publish


async def record_show(studio: Studio, seconds_of_frames: int = 90) -> str:
    show_id, key = await studio.create_show("Recorded show")
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    viewer = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
    await until(lambda: len(viewer.stamps) >= seconds_of_frames, 30)
    await viewer.close(studio.session)
    await pub.close(studio.session)
    await until(lambda: studio.onair.get(show_id) is None, 15)
    return show_id


async def test_recording_file_and_published_replay(studio: Studio) -> None:
    show_id = await record_show(studio)
    show = await studio.store.get_show(show_id)
    assert show is not None and show.state == "published" and show.recording == "ready"
    folder = studio.settings.recordings_dir / show_id
    with av.open(str(folder / RECORDING)) as f:
        kinds = sorted((s.type, s.codec_context.name) for s in f.streams)
        assert kinds == [("audio", "aac"), ("video", "h264")]
        video = f.streams.video[0]
        packets = [p for p in f.demux(video) if p.size]
    assert packets[0].is_keyframe, "the recording starts on a keyframe"
    dts = [p.dts for p in packets]
    assert dts == sorted(dts) and len(set(dts)) == len(dts), "monotonic timestamps"
    assert show.duration is not None and 2.5 < show.duration < 6
    assert (folder / PLAYLIST).read_text().startswith("#EXTM3U")
    assert (folder / POSTER).exists() or show.duration < 2.5

    # The replay is public: page, playlist, media by range, listed on /.
    async with studio.session.get(studio.url(f"/replay/{show_id}")) as r:
        assert r.status == 200 and "hls.light.min.js" in await r.text()
    async with studio.session.get(studio.url(f"/media/{show_id}/{PLAYLIST}")) as r:
        assert r.status == 200 and "#EXT-X-ENDLIST" in await r.text()
    size = (folder / RECORDING).stat().st_size
    async with studio.session.get(
        studio.url(f"/media/{show_id}/{RECORDING}"), headers={"Range": "bytes=4-11"}
    ) as r:
        assert r.status == 206
        assert await r.read() == (folder / RECORDING).read_bytes()[4:12]
        assert r.headers["Content-Range"] == f"bytes 4-11/{size}"
    async with studio.session.get(
        studio.url(f"/media/{show_id}/{RECORDING}"), headers={"Range": f"bytes={size + 10}-"}
    ) as r:
        assert r.status == 416
    async with studio.session.get(studio.url("/")) as r:
        assert f"/replay/{show_id}" in await r.text()


async def test_media_paths_cannot_escape(studio: Studio, tmp_path: Path) -> None:
    show_id = await record_show(studio, 30)
    secret = tmp_path / "secret.txt"
    secret.write_text("not for you")
    folder = studio.settings.recordings_dir / show_id
    os.symlink(secret, folder / "poster.jpg.link")
    (folder / POSTER).unlink(missing_ok=True)
    os.symlink(secret, folder / POSTER)
    for path in (
        f"/media/{show_id}/..%2F..%2Fsecret.txt",
        f"/media/{show_id}/%2e%2e/secret.txt",
        f"/media/{show_id}/poster.jpg.link",
        f"/media/{show_id}/{POSTER}",  # a symlink out of the recordings dir
        f"/media/..%2F{show_id}/{RECORDING}",
        f"/media/{show_id}/%2Fetc%2Fpasswd",
        "/media/nosuchshow/recording.mp4",
        f"/media/{show_id}/data.sqlite3",
    ):
        async with studio.session.get(studio.url(path)) as r:
            assert r.status == 404, path
            assert b"not for you" not in await r.read()


async def test_host_unpublishes_publishes_and_deletes(studio: Studio) -> None:
    show_id = await record_show(studio, 30)
    await studio.ensure_admin()
    anonymous = studio.session
    async with anonymous.post(studio.url(f"/api/shows/{show_id}/unpublish")) as r:
        assert r.status == 401
    token = await studio.store.create_api_token("t")
    auth = {"Authorization": f"Bearer {token}"}
    async with anonymous.post(studio.url(f"/api/shows/{show_id}/unpublish"), headers=auth) as r:
        assert r.status == 200 and (await r.json())["state"] == "unpublished"
    async with anonymous.get(studio.url(f"/replay/{show_id}")) as r:
        assert r.status == 404
    async with anonymous.get(studio.url(f"/media/{show_id}/{PLAYLIST}")) as r:
        assert r.status == 404
    async with anonymous.post(studio.url(f"/api/shows/{show_id}/publish"), headers=auth) as r:
        assert r.status == 200 and (await r.json())["state"] == "published"
    async with anonymous.get(studio.url(f"/replay/{show_id}/download")) as r:
        assert r.status == 200 and r.headers["Content-Disposition"].startswith("attachment")
        assert len(await r.read()) > 1000

    # A live show cannot be deleted; another show is untouched by a delete.
    other_id, key = await studio.create_show("Other")
    pub = await whip_publish(anonymous, studio.url(f"/whip/{other_id}"), key)
    async with anonymous.delete(studio.url(f"/api/shows/{other_id}"), headers=auth) as r:
        assert r.status == 409 and "live" in await r.text()
    await pub.close(anonymous)
    async with anonymous.delete(studio.url(f"/api/shows/{show_id}"), headers=auth) as r:
        assert r.status == 204
    assert not (studio.settings.recordings_dir / show_id).exists()
    assert await studio.store.get_show(show_id) is None
    assert await studio.store.get_show(other_id) is not None
    async with anonymous.get(studio.url(f"/replay/{show_id}")) as r:
        assert r.status == 404


async def test_home_lists_replays_with_products_featured(studio: Studio) -> None:
    show_id = await record_show(studio, 30)
    await studio.store.add_event(show_id, "pin", {"product": 1, "name": "Tasse <Café>"}, 9000)
    async with studio.session.get(studio.url("/")) as r:
        html = await r.text()
    assert f"/replay/{show_id}" in html and f"/media/{show_id}/poster.jpg" in html
    assert "Tasse &lt;Café&gt;" in html
