"""Stream keys are stored hashed: the studio shows one only when it is made, and goes live
with the host's session instead; OBS and other WHIP clients keep using the key."""

from __future__ import annotations

import re

import aiohttp

from .conftest import Studio
from .utils import offer

SDP = {"Content-Type": "application/sdp"}


async def test_the_studio_shows_a_new_key_once(studio: Studio) -> None:
    csrf = await studio.log_in()
    async with studio.session.post(
        studio.url("/studio/shows"), data={"title": "Launch", "csrf_token": csrf}
    ) as r:
        assert r.status == 200 and r.url.path.startswith("/studio/shows/")
        first = await r.text()
        assert r.headers["Cache-Control"] == "no-store"
        show_id = r.url.path.rsplit("/", 1)[1]
    key = re.search(r'id="stream-key" type="password" readonly value="([^"]+)"', first)
    assert key is not None, "the new key, right after creating the show"
    assert await studio.store.check_stream_key(show_id, key.group(1))
    assert "streamKey" not in first
    async with studio.session.get(studio.url(f"/studio/shows/{show_id}")) as r:
        again = await r.text()
    assert key.group(1) not in again, "shown once: the server keeps only its hash"
    assert 'id="stream-key" type="password" readonly value=""' in again
    assert "Make a new stream key" in again

    async with studio.session.post(
        studio.url(f"/api/shows/{show_id}/stream-key"), headers={"X-CSRF-Token": csrf}
    ) as r:
        rotated = (await r.json())["stream_key"]
    assert await studio.store.check_stream_key(show_id, rotated)
    async with studio.session.get(studio.url(f"/studio/shows/{show_id}")) as r:
        assert rotated not in await r.text()


async def test_the_studio_publishes_with_its_session_and_csrf_token(studio: Studio) -> None:
    csrf = await studio.log_in()
    show_id, key = await studio.create_show()
    url = studio.url(f"/whip/{show_id}")
    async with studio.session.post(url, data=await offer(), headers=SDP) as r:
        assert r.status == 403, "the session cookie alone (a forged request) does not publish"
    async with aiohttp.ClientSession() as stranger:
        async with stranger.post(url, data=await offer(), headers=SDP) as r:
            assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    async with studio.session.post(
        url, data=await offer(), headers={**SDP, "X-CSRF-Token": csrf}
    ) as r:
        assert r.status == 201, await r.text()
        location = r.headers["Location"]
    async with studio.session.delete(studio.url(location)) as r:
        assert r.status == 200
    # OBS and scripts: the stream key as Bearer token, no session needed.
    async with aiohttp.ClientSession() as obs:
        async with obs.post(
            url, data=await offer(), headers={**SDP, "Authorization": f"Bearer {key}"}
        ) as r:
            assert r.status == 201, await r.text()
            location = r.headers["Location"]
        async with obs.delete(studio.url(location)) as r:
            assert r.status == 200
