"""A full disk never costs the replay of what was recorded (issue 6).

Only recording.mp4 is needed for a replay: the server serves the HLS playlist from its
fragment index, so the files written beside it at the end of a show (playlist, poster,
download MP4) may fail on a full disk at a log line's cost, and the show is still
published, after the show and after a restart. A recording that cannot be finalized at all
still lets its show end.

How the disk is "full" here: the side files' temporary names are symlinks to /dev/full,
so their writes fail with a real ENOSPC from the kernel, exactly where a full disk fails
them, with no root, no mount and no monkeypatching of our code. Only those writes fail:
recording.mp4 itself is written normally (tests/test_recording_disk_full.py fills a real
filesystem with it). A torn last box is appended where a disk filling mid-fragment would
leave one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from bench.replay import synthetic_recording
from livestudio.media import mp4index
from livestudio.media import show as show_module
from livestudio.media.record import (
    DOWNLOAD,
    PLAYLIST,
    POSTER,
    RECORDING,
    finalize,
    remux_for_download,
)
from livestudio.store import Store

from .conftest import Studio, make_settings
from .utils import (
    check_playlist,
    ffprobe_errors,
    refuse_side_files,
    until,
    whep_play,
    whip_publish,
)

TORN_BOX = b"\x00\x01\x00\x00moof" + b"\x00" * 100
"The start of a 64 kB moof of which only 108 bytes reached the disk."


def disk_full_lines(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if "disk is full" in r.getMessage())


def test_side_files_refused_cost_no_replay(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    folder = tmp_path / "show"
    refuse_side_files(folder)
    synthetic_recording(folder, 0.1)  # 6 s: its poster is due at 2 s, and refused
    with (folder / RECORDING).open("ab") as f:
        f.write(TORN_BOX)

    result = finalize(folder)
    assert result.playable and 5.5 < result.duration < 6.5, result
    assert not remux_for_download(folder)
    assert sorted(p.name for p in folder.iterdir()) == [RECORDING], "no side file, no temp"
    assert ffprobe_errors(folder / RECORDING) == "", "the torn box is cut"
    lines = disk_full_lines(caplog)
    assert f"{POSTER} not written: the disk is full" in lines
    assert f"{PLAYLIST} not written: the disk is full" in lines
    assert "no download MP4 for show: the disk is full" in lines

    playlist = mp4index.cached_playlist(folder / RECORDING, RECORDING)
    assert playlist is not None
    assert 5.5 < check_playlist(playlist, (folder / RECORDING).read_bytes()) < 6.5


async def test_a_show_ending_on_a_full_disk_is_published(
    studio: Studio, caplog: pytest.LogCaptureFixture
) -> None:
    """The review's case: the playlist write at the end fails; the replay goes out."""
    caplog.set_level(logging.INFO)
    show_id, key = await studio.create_show("Full disk")
    folder = studio.settings.recordings_dir / show_id
    refuse_side_files(folder)
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    viewer = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
    await until(lambda: len(viewer.stamps) >= 90, 30)
    await viewer.close(studio.session)
    await pub.close(studio.session)
    await until(lambda: studio.onair.get(show_id) is None, 15)
    await until(lambda: "no download MP4" in caplog.text, 15)

    show = await studio.store.get_show(show_id)
    assert show is not None and show.state == "published" and show.recording == "ready"
    assert show.duration is not None and show.duration > 2.5
    assert sorted(p.name for p in folder.iterdir()) == [RECORDING]
    assert f"{PLAYLIST} not written: the disk is full" in disk_full_lines(caplog)
    recording = (folder / RECORDING).read_bytes()
    async with studio.session.get(studio.url(f"/media/{show_id}/{PLAYLIST}")) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("application/vnd.apple.mpegurl")
        assert check_playlist(await r.text(), recording) >= show.duration - 0.1
    async with studio.session.get(studio.url(f"/replay/{show_id}")) as r:
        assert r.status == 200 and "/static/img/og.png" in await r.text(), "default poster"
    async with studio.session.get(studio.url(f"/replay/{show_id}/download")) as r:
        assert r.status == 200 and await r.read() == recording, "the fMP4 instead"
    async with studio.session.get(studio.url(f"/media/{show_id}/{DOWNLOAD}")) as r:
        assert r.status == 404


async def test_restart_recovery_on_a_full_disk(
    studio_factory: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A show left live by a crash on a full disk is published at the next start."""
    caplog.set_level(logging.INFO)
    settings = make_settings(tmp_path)
    store = await Store.open(settings.database_path)
    show, _ = await store.create_show("Crashed on a full disk")
    await store.set_show_state(show.id, "live")
    await store.set_recording(show.id, "recording")
    await store.close()
    folder = settings.recordings_dir / show.id
    refuse_side_files(folder)
    synthetic_recording(folder, 0.1)
    with (folder / RECORDING).open("ab") as f:
        f.write(TORN_BOX)

    studio = await studio_factory()
    recovered = await studio.store.get_show(show.id)
    assert recovered is not None and recovered.duration is not None
    assert recovered.state == "published" and recovered.recording == "ready"
    assert 5.5 < recovered.duration < 6.5
    await until(lambda: "no download MP4" in caplog.text, 15)
    assert f"{PLAYLIST} not written: the disk is full" in disk_full_lines(caplog)
    async with studio.session.get(studio.url(f"/media/{show.id}/{PLAYLIST}")) as r:
        assert r.status == 200
        check_playlist(await r.text(), (folder / RECORDING).read_bytes())


async def test_publish_finds_a_replay_once_marked_none(studio: Studio) -> None:
    """Shows ended before this fix were marked 'none'; Publish looks at the file again.

    Also: the playlist is computed once per version of the recording, not per request.
    """
    await studio.ensure_admin()
    auth = {"Authorization": f"Bearer {await studio.store.create_api_token('t')}"}
    show_id, _ = await studio.create_show("Lost replay")
    await studio.store.set_show_state(show_id, "live")
    await studio.store.set_show_state(show_id, "ended")
    await studio.store.set_recording(show_id, "none", error="the disk is full: ...")
    folder = studio.settings.recordings_dir / show_id
    synthetic_recording(folder, 0.1)

    async with studio.session.post(studio.url(f"/api/shows/{show_id}/publish"), headers=auth) as r:
        assert r.status == 200 and (await r.json())["state"] == "published"
    show = await studio.store.get_show(show_id)
    assert show is not None and show.recording == "failed" and show.duration is not None
    assert show.recording_error == "the disk is full: ..."

    (folder / PLAYLIST).unlink()  # served from the index, not from the file
    mp4index._playlist_of.cache_clear()
    for _ in range(3):
        async with studio.session.get(studio.url(f"/media/{show_id}/{PLAYLIST}")) as r:
            assert r.status == 200
            check_playlist(await r.text(), (folder / RECORDING).read_bytes())
    assert mp4index._playlist_of.cache_info().misses == 1

    # Nothing to find: still a 409.
    empty_id, _ = await studio.create_show("Never recorded")
    await studio.store.set_show_state(empty_id, "ended")
    async with studio.session.post(studio.url(f"/api/shows/{empty_id}/publish"), headers=auth) as r:
        assert r.status == 409


async def test_a_show_whose_recording_cannot_be_finalized_still_ends(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(folder: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(show_module, "finalize", full_disk)
    show_id, key = await studio.create_show()
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    player = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
    await until(lambda: len(player.stamps) > 10, 15)
    async with studio.session.delete(pub.location) as r:
        assert r.status == 200, "the DELETE returns, it does not hang"
    await until(lambda: studio.onair.get(show_id) is None, 10)
    show = await studio.store.get_show(show_id)
    assert show is not None and show.state == "ended" and show.recording == "none"
    assert "not finalized" in (show.recording_error or "")
    await player.close()
    await pub.pc.close()
