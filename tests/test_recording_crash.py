"""Crash safety (DESIGN 9): kill -9 mid-show, restart, and the replay is there; the bytes a
crash leaves after the last whole fragment are cut."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aiohttp
import av

from bench.replay import synthetic_recording
from livestudio.media.mp4index import scan
from livestudio.media.record import RECORDING, finalize

from .server import ServerProcess
from .utils import StampedVideoTrack, ffprobe_errors, until, whip_publish


async def test_kill_9_mid_show_then_restart_publishes_the_replay(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path).start()
    show_id, key = server.create_show()
    try:
        async with aiohttp.ClientSession() as session:
            pub = await whip_publish(session, f"{server.base}/whip/{show_id}", key)
            await until(lambda: len(pub.video.sent) >= 30, 15)
            started = time.monotonic()
            await asyncio.sleep(5.0)  # deliberately: five seconds on air, then the crash
            live_seconds = time.monotonic() - started + 1.0
            server.stop(signal.SIGKILL)
            await pub.pc.close()
    finally:
        server.stop(signal.SIGKILL)
    recording = tmp_path / "recordings" / show_id / RECORDING
    assert recording.exists()

    again = ServerProcess(tmp_path)
    again.port = server.port
    again.start()
    try:
        listed = again.cli("show", "list")
        assert f"{show_id}" in listed.stdout and "published" in listed.stdout, listed.stdout
        with av.open(str(recording)) as f:
            duration = float(f.duration or 0) / av.time_base
        assert duration >= 3.5 and duration >= live_seconds - 1.5 - 1.0, duration
        assert ffprobe_errors(recording) == ""
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{again.base}/replay/{show_id}") as r:
                assert r.status == 200
            async with session.get(f"{again.base}/media/{show_id}/index.m3u8") as r:
                playlist = await r.text()
                assert r.status == 200 and playlist.rstrip().endswith("#EXT-X-ENDLIST")
        download = tmp_path / "recordings" / show_id / "download.mp4"
        await until(download.exists, 20)  # remuxed in the background after the restart
        with av.open(str(download)) as f:
            assert float(f.duration or 0) / av.time_base >= 3.5
        extinf = sum(
            float(line[8:].rstrip(","))
            for line in playlist.splitlines()
            if line.startswith("#EXTINF:")
        )
        assert extinf >= 3.5
    finally:
        again.stop()


async def test_kill_before_the_first_keyframe_means_no_recording(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path).start()
    show_id, key = server.create_show()
    try:
        async with aiohttp.ClientSession() as session:
            camera = StampedVideoTrack()
            camera.paused = True  # connected, but not a single frame yet
            pub = await whip_publish(session, f"{server.base}/whip/{show_id}", key, video=camera)
            pub.audio.paused = True
            await until(lambda: "live" in server.cli("show", "list").stdout, 15)
            server.stop(signal.SIGKILL)
            await pub.pc.close()
    finally:
        server.stop(signal.SIGKILL)
    again = ServerProcess(tmp_path)
    again.port = server.port
    again.start()
    try:
        listed = again.cli("show", "list").stdout
        line = next(line for line in listed.splitlines() if show_id in line)
        assert "ended" in line and "published" not in line, line
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{again.base}/replay/{show_id}") as r:
                assert r.status == 404, "no broken replay"
        from livestudio.store import Store

        store = await Store.open(tmp_path / "data" / "livestudio.sqlite3")
        try:
            show = await store.get_show(show_id)
            assert show is not None and show.recording == "none"
        finally:
            await store.close()
    finally:
        again.stop()


def test_stray_bytes_after_the_last_fragment_are_cut(tmp_path: Path) -> None:
    synthetic_recording(tmp_path, 0.2)
    path = tmp_path / RECORDING
    clean = scan(path)
    with path.open("ab") as f:
        f.write(b"\x00\x01\x02")  # a crash after a few bytes of the next box
    assert scan(path).torn_at is not None
    result = finalize(tmp_path)
    assert result.playable and path.stat().st_size == clean.end
