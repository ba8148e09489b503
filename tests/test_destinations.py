"""Destinations end to end: the API, a restream to nginx-rtmp (RTMP and RTMPS) that
survives the server being killed and restarted mid-show while WHEP viewers notice
nothing, and a WHIP push to a second LiveStudio whose viewers see the first one's card."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import ssl
import subprocess
from pathlib import Path
from typing import Any

import av
import pytest

from livestudio.http.keys import DESTINATIONS
from livestudio.live.destinations import MAX_PER_SHOW

from .conftest import MUG, Studio
from .rtmp_servers import NginxRtmp, TlsTerminator, self_signed_files
from .server import ServerProcess
from .utils import card_score, read_stamp, until, whep_play, whip_publish

SECRET = "sk-live-4f9a-SECRET"


async def test_destinations_api_validates_and_never_shows_the_key(
    studio: Studio, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the server logs at INFO (aiosqlite logs SQL at DEBUG)
    token = await studio.store.create_api_token("t")
    show_id, _ = await studio.create_show()
    path = f"/api/shows/{show_id}/destinations"
    own = studio.settings.base_url + f"/whip/{show_id}"
    for body, expected in (
        ({}, "url is required"),
        ({"url": ""}, "url is required"),
        ({"url": "ftp://host/live"}, "must start with rtmp://"),
        ({"url": "rtmp:///live"}, "no server name"),
        ({"url": "rtmp://host:99999/live"}, "invalid port"),
        ({"url": "rtmp://a b/live"}, "spaces"),
        ({"url": "rtmp://user:pw@host/live"}, "user name or password"),
        ({"url": "rtmp://host/" + "x" * 1100}, "at most 1024"),
        ({"url": "rtmp://host/live", "key": "a b"}, "key must not contain spaces"),
        ({"url": "rtmp://host/live", "key": 5}, "key must be text"),
        ({"url": "rtmp://host/live", "extra": 1}, "unknown fields: extra"),
        ({"url": own, "key": "k"}, "own WHIP URL"),
    ):
        status, text = await studio.api("POST", path, token, json=body)
        assert status == 422 and expected in text, (body, status, text)

    status, youtube = await studio.api(
        "POST",
        path,
        token,
        json={"url": "rtmps://a.rtmps.youtube.com:443/live2", "key": SECRET},
    )
    assert status == 201, youtube
    assert youtube["kind"] == "rtmp" and youtube["has_key"] and youtube["state"] == "idle"
    status, sfu = await studio.api(
        "POST", path, token, json={"url": "https://sfu.example/whip/room1"}
    )
    assert status == 201 and sfu["kind"] == "whip" and not sfu["has_key"]
    status, listed = await studio.api("GET", path, token)
    assert status == 200
    assert [d["id"] for d in listed["destinations"]] == [youtube["id"], sfu["id"]]
    assert all(d["state"] == "idle" for d in listed["destinations"])
    assert SECRET not in json.dumps(listed), "the key is write-only"

    status, _ = await studio.api("DELETE", f"{path}/{sfu['id']}", token)
    assert status == 204
    for gone in (f"{path}/{sfu['id']}", f"{path}/999999", "/api/shows/nosuch/destinations/1"):
        status, _ = await studio.api("DELETE", gone, token)
        assert status == 404, gone
    status, _ = await studio.api("GET", "/api/shows/nosuch/destinations", token)
    assert status == 404
    for n in range(MAX_PER_SHOW - 1):
        status, _ = await studio.api("POST", path, token, json={"url": f"rtmp://h{n}/live"})
        assert status == 201
    status, text = await studio.api("POST", path, token, json={"url": "rtmp://one-more/live"})
    assert status == 409 and f"at most {MAX_PER_SHOW}" in text

    ended, _ = await studio.create_show("Yesterday")
    await studio.store.set_show_state(ended, "ended")
    status, text = await studio.api(
        "POST", f"/api/shows/{ended}/destinations", token, json={"url": "rtmp://h/live"}
    )
    assert status == 409 and "ended" in text
    assert SECRET not in caplog.text


def received(path: Path) -> tuple[set[str], list[int]]:
    """What nginx recorded of one stream: its codecs (by ffprobe) and the decoded stamps."""
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    codecs = {s["codec_name"] for s in json.loads(probe.stdout or "{}").get("streams", [])}
    stamps: list[int] = []
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                stamps.append(read_stamp(frame))
    except av.FFmpegError:
        pass  # a file of a killed nginx ends mid-tag
    return codecs, stamps


async def test_restream_survives_the_rtmp_server_dying_mid_show(
    studio: Studio, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the server logs at INFO (aiosqlite logs SQL at DEBUG)
    nginx = NginxRtmp(tmp_path / "nginx").start()
    cert, key = self_signed_files(tmp_path)
    rtmps_front = await TlsTerminator(cert, key, nginx.port).start()
    destinations = studio.app[DESTINATIONS]
    destinations.tls = ssl.create_default_context(cafile=str(cert))
    history: dict[int, list[str]] = {}
    destinations.on_change.append(lambda r, s: history.setdefault(r.id, []).append(s.state))
    token = await studio.store.create_api_token("t")
    show_id, stream_key = await studio.create_show()
    path = f"/api/shows/{show_id}/destinations"
    ids = []
    for url, name in ((nginx.url, f"plain-{SECRET}"), (rtmps_front.url, f"tls-{SECRET}")):
        status, made = await studio.api("POST", path, token, json={"url": url, "key": name})
        assert status == 201, made
        ids.append(made["id"])

    def states() -> list[str]:
        return [destinations.state(i).state for i in ids]

    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), stream_key)
    viewer = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
    try:  # nginx dies with the test whatever happens
        await until(lambda: states() == ["live", "live"], 30)
        live = studio.onair.get(show_id)
        assert live is not None
        mark = len(viewer.stamps)
        await until(lambda: len(viewer.stamps) > mark + 45, 15)  # 1.5 s restreamed

        nginx.kill()
        await until(lambda: states() == ["retrying", "retrying"], 30)
        status, listed = await studio.api("GET", path, token)
        assert all(d["error"] for d in listed["destinations"]), listed
        nginx.start()  # the same port
        await until(lambda: all(destinations.state(i).connections == 2 for i in ids), 40)
        assert states() == ["live", "live"]
        mark = len(viewer.stamps)
        await until(lambda: len(viewer.stamps) > mark + 45, 15)

        # The WHEP viewer never noticed: the publisher's frames in order (a frame the
        # program repeats while waiting for the source shows twice), none skipped beyond
        # a few, and no drop to a keyframe.
        stamps = viewer.stamps
        assert all(b >= a for a, b in itertools.pairwise(stamps)), "stamps never go back"
        worst = max(b - a for a, b in itertools.pairwise(stamps))
        assert worst <= 15, f"the viewer missed {worst - 1} frames in a row"
        assert sum(sub.video_drops for sub in live.broadcast.viewers()) == 0
        status, _ = await studio.api("POST", f"/api/shows/{show_id}/end", token)
        await until(lambda: states() == ["idle", "idle"], 15)
    finally:
        await viewer.close(studio.session)
        await pub.close(studio.session)
        nginx.kill()
        await rtmps_front.close()
    for i in ids:
        assert history[i][:3] == ["connecting", "live", "retrying"], history[i]
        assert history[i][-2:] == ["live", "idle"], history[i]

    # What nginx received, per stream, before and after its restart: H.264 + AAC with the
    # publisher's stamped frames.
    for prefix in ("plain", "tls"):
        files = [p for p in nginx.files() if p.name.startswith(prefix)]
        assert len(files) >= 2, (prefix, nginx.files())
        before = await asyncio.to_thread(received, files[0])
        after = await asyncio.to_thread(received, files[-1])
        for codecs, got in (before, after):
            assert codecs == {"h264", "aac"}, codecs
            assert len(got) > 30 and all(b >= a for a, b in itertools.pairwise(got)), got[:50]
        # A new connection starts at the last keyframe, which may predate the kill.
        assert after[1][0] > before[1][0] and after[1][-1] > before[1][-1] + 45
    assert SECRET not in caplog.text, "the key never reaches the log"


async def test_whip_push_reaches_a_second_studio_with_the_card_burned_in(
    studio: Studio, tmp_path: Path
) -> None:
    (tmp_path / "second").mkdir()
    second = ServerProcess(tmp_path / "second")
    await asyncio.to_thread(second.start)
    try:
        created = await asyncio.to_thread(second.cli, "show", "create", "Relay")
        assert created.returncode == 0, created.stderr
        lines = dict(line.split(": ", 1) for line in created.stdout.splitlines() if ": " in line)
        relay_id, relay_key = lines["Show"], lines["Stream key"]

        token = await studio.store.create_api_token("t")
        product = await studio.create_product(token, like=MUG)
        show_id, stream_key = await studio.create_show()
        status, made = await studio.api(
            "POST",
            f"/api/shows/{show_id}/destinations",
            token,
            json={"url": f"{second.base}/whip/{relay_id}", "key": relay_key},
        )
        assert status == 201, made
        status, wrong = await studio.api(
            "POST",
            f"/api/shows/{show_id}/destinations",
            token,
            json={"url": f"{second.base}/whip/{relay_id}", "key": "not-the-key"},
        )
        assert status == 201, wrong
        destinations = studio.app[DESTINATIONS]
        pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), stream_key)
        await until(lambda: destinations.state(made["id"]).state == "live", 30)
        # A refused key is not retried: the host has to fix it.
        await until(lambda: destinations.state(wrong["id"]).state == "failed", 30)
        assert "refused the key (HTTP 401" in destinations.state(wrong["id"]).error
        status, event = await studio.api(
            "POST", f"/api/shows/{show_id}/pin", token, json={"product": product["id"]}
        )
        assert status == 200, event
        stage = studio.onair.products(show_id)
        assert stage is not None and stage.scene is not None and stage.scene.card_rect
        rect = stage.scene.card_rect

        frames: list[Any] = []
        viewer = await whep_play(studio.session, f"{second.base}/whep/{relay_id}")
        viewer.on_frame = frames.append
        try:
            await until(lambda: any(card_score(f, rect) > 30 for f in frames[-5:]), 30)
            mark = len(viewer.stamps)
            await until(lambda: len(viewer.stamps) > mark + 30, 15)
            recent = viewer.stamps[mark:]
            assert all(b >= a for a, b in itertools.pairwise(recent)), "the first one's frames"
            assert recent[-1] in pub.video.sent, "stamped by the first studio's publisher"
        finally:
            await viewer.close(studio.session)

        status, _ = await studio.api(
            "DELETE", f"/api/shows/{show_id}/destinations/{made['id']}", token
        )
        assert status == 204
        # The push's WHIP session was deleted: the second studio's show ended.
        listed = await asyncio.to_thread(second.cli, "show", "list")
        assert f"{relay_id}  " in listed.stdout
        line = next(x for x in listed.stdout.splitlines() if x.startswith(relay_id))
        assert line.split()[1] in ("ended", "published"), line
        await pub.close(studio.session)
    finally:
        await asyncio.to_thread(second.stop)
