"""Clips: a chapter cut without re-encoding is the recording's own packets (checked with
PyAV), from a keyframe, within one GOP of the chapter; trimming snaps to keyframes; the
vertical clip is a 720x1280 re-encode with the card; share pages, media, lists, errors."""

from __future__ import annotations

import io
import re
from typing import Any

import aiohttp
import av
from PIL import Image

from livestudio.http.keys import CLIPS
from livestudio.media.mp4clip import extent

from .conftest import Studio
from .utils import clipped_show, until

GOP = 2.0
"The synthetic recording's keyframe interval (seconds)."


def packets(
    path: Any, start: float = 0.0, end: float = 1e9
) -> dict[str, list[tuple[float, bytes]]]:
    """(seconds, bytes) of every packet of each stream whose pts lies in [start, end)."""
    out: dict[str, list[tuple[float, bytes]]] = {"video": [], "audio": []}
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.dts is None or packet.pts is None:
                continue
            t = float(packet.pts * packet.time_base)
            if start - 1e-6 <= t < end - 1e-6:
                out[packet.stream.type].append((t, bytes(packet)))
    return out


async def test_a_clip_is_the_recordings_own_packets_from_a_keyframe(studio: Studio) -> None:
    show_id, mug, _lamp, token = await clipped_show(studio)
    status, listing = await studio.api("GET", f"/api/shows/{show_id}/clips", token)
    assert status == 200 and listing["unavailable"] is None
    assert [(c["title"], c["start"], c["end"]) for c in listing["chapters"]] == [
        ("Kaffeetasse Café", 5.3, 12.9),
        ("Lamp", 12.9, 20.0),
    ]
    status, clip = await studio.api(
        "POST", f"/api/shows/{show_id}/clips", token, json={"chapter": 0}
    )
    assert status == 201, clip
    assert clip["status"] == "ready" and clip["kind"] == "plain" and clip["product"] == mug["id"]
    assert clip["cut_start"] == 4.0  # the keyframe at or before 5.3 s
    path = studio.app[CLIPS].video_path(await studio.store.get_clip(clip["id"]))  # type: ignore[arg-type]
    recording = studio.settings.recordings_dir / show_id / "recording.mp4"

    got = packets(path)
    want = packets(recording, clip["cut_start"], 12.9)
    # The same video packets, byte for byte, re-timed to start at 0; a keyframe first.
    assert [b for _, b in got["video"]] == [b for _, b in want["video"]]
    assert [round(t - 4.0, 4) for t, _ in want["video"]] == [round(t, 4) for t, _ in got["video"]]
    assert len(got["video"]) == round((12.9 - 4.0) * 30)
    with av.open(str(path)) as container:
        first = next(p for p in container.demux(video=0) if p.dts is not None)
        assert first.is_keyframe and first.pts == 0
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (160, 90)
        duration = float(container.duration or 0) / 1e6
    # Within one GOP of the chapter: it starts at most a GOP early and ends with it.
    chapter = 12.9 - 5.3
    assert chapter <= duration <= chapter + GOP and 0 <= 5.3 - clip["cut_start"] <= GOP
    assert abs(clip["cut_end"] - 12.9) < 1 / 30 + 1e-3
    # The audio of the span, the same packets (the AAC frames from the keyframe on).
    assert [b for _, b in got["audio"]] == [b for _, b in packets(recording, 4.0, 12.9)["audio"]]
    assert got["audio"] and got["audio"][0][0] < 1 / 30


async def test_trim_snaps_to_keyframes_and_delete_removes_files(studio: Studio) -> None:
    show_id, _mug, _lamp, token = await clipped_show(studio)
    _, clip = await studio.api("POST", f"/api/shows/{show_id}/clips", token, json={"chapter": 1})
    assert (clip["cut_start"], clip["version"]) == (12.0, 1)
    status, trimmed = await studio.api(
        "PATCH", f"/api/clips/{clip['id']}", token, json={"start": 15.1, "end": 18.5}
    )
    assert status == 200, trimmed
    assert (trimmed["start"], trimmed["end"], trimmed["cut_start"]) == (15.1, 18.5, 14.0)
    assert abs(trimmed["cut_end"] - 18.5) < 0.04 and trimmed["version"] == 2
    folder = studio.settings.recordings_dir / show_id / "clips"
    assert sorted(p.name for p in folder.iterdir()) == [
        f"{clip['id']}-2.jpg",
        f"{clip['id']}-2.mp4",
    ]
    assert len(packets(folder / f"{clip['id']}-2.mp4")["video"]) == round((18.5 - 14.0) * 30)
    status, only_end = await studio.api(
        "PATCH", f"/api/clips/{clip['id']}", token, json={"end": 16.5}
    )
    assert (only_end["start"], only_end["end"], only_end["version"]) == (15.1, 16.5, 3)
    for body, expected in (
        ({"start": 16.5, "end": 16.0}, 422),  # ends before it starts
        ({"start": 10.0, "end": 10.5}, 422),  # shorter than a second
        ({"end": 31.0}, 409),  # past the recording's end: it is the recording that does not fit
        ({"start": "soon"}, 422),
        ({"length": 3}, 422),
    ):
        status, answer = await studio.api("PATCH", f"/api/clips/{clip['id']}", token, json=body)
        assert status == expected, (body, answer)
    assert (await studio.call("DELETE", f"/api/clips/{clip['id']}")).status == 204
    assert not list(folder.iterdir())
    assert (await studio.call("GET", f"/api/clips/{clip['id']}")).status == 404
    assert (await studio.call("DELETE", f"/api/clips/{clip['id']}")).status == 404


async def test_clips_need_an_ended_recorded_show(studio: Studio) -> None:
    token = await studio.api_token()
    live_id, _ = await studio.create_show("Live one")
    await studio.store.set_show_state(live_id, "live")
    status, listing = await studio.api("GET", f"/api/shows/{live_id}/clips", token)
    assert status == 200 and listing["chapters"] == [] and "end the show" in listing["unavailable"]
    status, text = await studio.api(
        "POST", f"/api/shows/{live_id}/clips", token, json={"chapter": 0}
    )
    assert status == 409, text
    show_id, _mug, _lamp, _ = await clipped_show(studio)
    for body, expected in (
        ({"chapter": 5}, 409),
        ({"chapter": -1}, 422),
        ({"chapter": "0"}, 422),
        ({"chapter": 0, "kind": "square"}, 422),
        ({"chapter": 0, "zoom": 2}, 422),
        ({"chapter": 0, "start": 6.0, "end": 6.5}, 422),
    ):
        status, answer = await studio.api("POST", f"/api/shows/{show_id}/clips", token, json=body)
        assert status == expected, (body, answer)
    assert (
        await studio.call("POST", f"/api/shows/{show_id}/clips", auth=False, json={})
    ).status == 401
    assert (await studio.call("GET", "/api/shows/nosuch/clips")).status == 404


async def test_share_page_media_and_lists(studio: Studio) -> None:
    show_id, mug, _lamp, token = await clipped_show(studio, state="unpublished")
    _, clip = await studio.api("POST", f"/api/shows/{show_id}/clips", token, json={"chapter": 0})
    page = f"/clips/{clip['id']}"
    async with aiohttp.ClientSession() as stranger:
        for path in (page, f"{page}/video.mp4", f"{page}/poster.jpg", f"{page}/download"):
            async with stranger.get(studio.url(path)) as r:
                assert r.status == 404, f"unpublished {path} → {r.status}"
    await studio.store.set_show_state(show_id, "published")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as viewer:
        for _ in range(2):
            async with viewer.get(studio.url(page)) as r:
                assert r.status == 200
                html = await r.text()
        base = studio.settings.base_url  # what links in pages say (public_url)
        video_url = f"{base}{page}/video.mp4"
        assert f'<meta property="og:video" content="{video_url}">' in html
        assert '<meta property="og:video:type" content="video/mp4">' in html
        assert '<meta property="og:video:width" content="160">' in html
        assert f'<meta property="og:image" content="{base}{page}/poster.jpg">' in html
        assert "Kaffeetasse Café" in html and "€24.90" in html
        buy = re.search(r'<a class="buy" id="buy" href="([^"]+)"', html)
        assert buy and buy.group(1) == f"/go/{show_id}/{mug['id']}?from=replay"
        async with viewer.get(studio.url(buy.group(1)), allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"].startswith("https://shop.example/")
        async with viewer.get(
            studio.url(f"{page}/video.mp4"), headers={"Range": "bytes=0-99"}
        ) as r:
            assert r.status == 206 and r.headers["Content-Type"] == "video/mp4"
            assert len(await r.read()) == 100
        async with viewer.get(studio.url(f"{page}/download")) as r:
            assert r.status == 200 and "attachment" in r.headers["Content-Disposition"]
            assert r.headers["Content-Disposition"].endswith(f'kaffeetasse-caf-{clip["id"]}.mp4"')
        async with viewer.get(studio.url(f"{page}/poster.jpg")) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "image/jpeg"
            assert Image.open(io.BytesIO(await r.read())).size == (160, 90)
        async with viewer.get(studio.url(f"/replay/{show_id}")) as r:
            assert f'href="/clips/{clip["id"]}"' in await r.text()
        async with viewer.get(studio.url("/")) as r:
            home = await r.text()
            assert 'id="latest-clips"' in home and f'href="/clips/{clip["id"]}"' in home
    _, report = await studio.api("GET", f"/api/shows/{show_id}/analytics", token)
    assert report["clip_views"] == 1 and report["clicks_replay"] == 1
    for missing in ("/clips/999999", "/clips/999999/video.mp4", f"{page}/other.mp4"):
        assert (await studio.call("GET", missing, auth=False)).status == 404


async def test_a_vertical_clip_is_portrait_with_the_card(studio: Studio) -> None:
    show_id, _mug, _lamp, token = await clipped_show(studio)
    status, clip = await studio.api(
        "POST",
        f"/api/shows/{show_id}/clips",
        token,
        json={"chapter": 1, "kind": "vertical", "start": 14.5, "end": 17.0},
    )
    assert status == 201 and clip["status"] == "working" and clip["kind"] == "vertical"
    seen: list[float] = []
    store, clips = studio.store, studio.app[CLIPS]
    update_clip = store.update_clip
    while_stored: list[float] = []

    async def storing(record: Any, **changes: Any) -> Any:
        # What a poll sees while the finished clip is being stored as ready.
        if changes.get("status") == "ready":
            current = await store.get_clip(record.id)
            assert current is not None
            while_stored.append(clips.progress(current))
        return await update_clip(record, **changes)

    store.update_clip = storing  # type: ignore[method-assign]

    async def ready() -> bool:
        _, now = await studio.api("GET", f"/api/clips/{clip['id']}", token)
        seen.append(now["progress"])
        return bool(now["status"] == "ready")

    await until(ready, 60, interval=0.1)
    _, done = await studio.api("GET", f"/api/clips/{clip['id']}", token)
    assert (done["width"], done["height"], done["progress"]) == (720, 1280, 1.0)
    assert done["cut_start"] == 14.0 and seen == sorted(seen)
    assert while_stored == [1.0], "progress never falls back while the clip is stored"
    path = studio.app[CLIPS].video_path(await studio.store.get_clip(clip["id"]))  # type: ignore[arg-type]
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (720, 1280)
        assert container.streams.audio, "the clip's audio, copied"
        frames = list(container.decode(video=0))
    assert len(frames) == round((17.0 - 14.0) * 30)
    rgb = frames[0].to_ndarray(format="rgb24")
    # The portrait card: white, left of the buttons, above the bottom quarter.
    card = rgb[880:975, 40:595]
    assert (card > 240).all(axis=2).mean() > 0.5, "the card's white background"
    assert (rgb[880:975, 620:700] < 240).any(axis=2).all(), "nothing right of it (buttons)"
    assert rgb[200:300, 300:400].mean() < 200, "the picture above it"
    status, again = await studio.api("PATCH", f"/api/clips/{clip['id']}", token, json={"end": 16.0})
    assert status == 200 and again["status"] == "working"
    await until(ready, 60, interval=0.1)
    _, done = await studio.api("GET", f"/api/clips/{clip['id']}", token)
    assert done["version"] == 2 and abs(done["duration"] - 2.0) < 0.05


async def test_times_rounded_to_the_millisecond_still_name_the_recordings_ends(
    studio: Studio,
) -> None:
    show_id, _mug, _lamp, token = await clipped_show(studio)
    _, listing = await studio.api("GET", f"/api/shows/{show_id}/clips", token)
    _first, last = extent(studio.settings.recordings_dir / show_id / "recording.mp4")
    past = last / 90000 + 0.0005  # the end as a page rounds it up, a hair past the end
    status, clip = await studio.api(
        "POST", f"/api/shows/{show_id}/clips", token, json={"chapter": 1, "end": past}
    )
    assert status == 201 and clip["end"] == round(last / 90000, 3), clip
    status, clip = await studio.api(
        "PATCH", f"/api/clips/{clip['id']}", token, json={"start": -0.0005, "end": 2.5}
    )
    assert status == 200 and (clip["start"], clip["cut_start"]) == (0.0, 0.0), clip
    assert listing["chapters"][1]["end"] == 20.0
