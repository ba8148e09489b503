"""Every status code of DESIGN's WHIP/WHEP contract, through the real HTTP endpoints."""

from __future__ import annotations

import asyncio

from livestudio.http.signalling import NEGOTIATIONS

from .conftest import Studio
from .utils import SDP, bearer, offer, until, whep_play, whip_publish


def without_codec(sdp: str, name: str, new_name: str) -> str:
    """Rename a codec in an offer (aiortc cannot offer VP9/AV1 itself)."""
    return sdp.replace(f" {name}/90000", f" {new_name}/90000")


async def test_whip_errors(studio: Studio) -> None:
    show_id, key = await studio.create_show()
    url = studio.url(f"/whip/{show_id}")
    good = await offer()
    s = studio.session

    async with s.post(studio.url("/whip/nope"), data=good, headers=bearer(key)) as r:
        assert r.status == 404
    async with s.post(url, data=good, headers=bearer("wrong")) as r:
        assert r.status == 401
        assert "stream key" in await r.text()
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    async with s.post(url, data=good, headers=SDP) as r:
        assert r.status == 401
    async with s.post(url, data="hello", headers=bearer(key)) as r:
        assert r.status == 400
        assert "SDP" in await r.text()
    async with s.post(url, data="v=0\r\nm=video 9 UDP 96\r\n", headers=bearer(key)) as r:
        assert r.status == 400, await r.text()
    async with s.post(url, data=b"\xff\xfe" * 10, headers=bearer(key)) as r:
        assert r.status == 400
    async with s.post(
        url, data=good, headers={"Authorization": f"Bearer {key}", "Content-Type": "text/plain"}
    ) as r:
        assert r.status == 415
    async with s.post(url, data="v=0\r\n" + "a=x\r\n" * 40000, headers=bearer(key)) as r:
        assert r.status == 413
    vp9_only = without_codec(without_codec(good, "VP8", "VP9"), "H264", "AV1")
    async with s.post(url, data=vp9_only, headers=bearer(key)) as r:
        assert r.status == 422
        assert "VP8 or H.264" in await r.text()
    # none of that put the show on air
    assert studio.onair.get(show_id) is None
    show = await studio.store.get_show(show_id)
    assert show is not None and show.state == "scheduled"

    async with s.options(url) as r:
        assert r.status == 204
        assert "Location" in r.headers["Access-Control-Expose-Headers"]
        assert r.headers["Access-Control-Allow-Origin"] == "*"
    async with s.patch(studio.url(f"/whip/{show_id}/whatever"), data="a=candidate") as r:
        assert r.status == 404  # trickle PATCH: tests/test_trickle.py
    async with s.delete(studio.url(f"/whip/{show_id}/nosuchsession")) as r:
        assert r.status == 404


async def test_whip_healthy_publisher_conflicts_and_delete_ends_show(studio: Studio) -> None:
    show_id, key = await studio.create_show()
    url = studio.url(f"/whip/{show_id}")
    pub = await whip_publish(studio.session, url, key)
    live = studio.onair.get(show_id)
    assert live is not None
    await until(lambda: live.publisher is not None and live.publisher.video_frames > 5, 10)
    async with studio.session.post(url, data=await offer(), headers=bearer(key)) as r:
        assert r.status == 409
        assert "already" in await r.text()
    assert live.publisher is not None and live.publisher.video_frames > 0, "the host stays on"
    async with studio.session.delete(pub.location) as r:
        assert r.status == 200
    await pub.pc.close()
    await until(lambda: studio.onair.get(show_id) is None, 10)
    show = await studio.store.get_show(show_id)
    assert show is not None and show.state in ("ended", "published")
    # an ended show takes no publisher and no viewers
    async with studio.session.post(url, data=await offer(), headers=bearer(key)) as r:
        assert r.status == 409
    async with studio.session.post(
        studio.url(f"/whep/{show_id}"), data=await offer("play"), headers=SDP
    ) as r:
        assert r.status == 409


async def test_whep_errors(studio_factory) -> None:  # type: ignore[no-untyped-def]
    studio: Studio = await studio_factory(max_viewers=1)
    show_id, key = await studio.create_show()
    url = studio.url(f"/whep/{show_id}")
    play = await offer("play")
    s = studio.session
    async with s.post(studio.url("/whep/nope"), data=play, headers=SDP) as r:
        assert r.status == 404
    async with s.post(url, data=play, headers=SDP) as r:
        assert r.status == 409
        assert "not started" in await r.text()

    pub = await whip_publish(s, studio.url(f"/whip/{show_id}"), key)
    async with s.post(url, data="garbage", headers=SDP) as r:
        assert r.status == 400
    vp8_only = await offer("play", codec="video/VP8")
    async with s.post(url, data=vp8_only, headers=SDP) as r:
        assert r.status == 422
        assert "H.264" in await r.text()
    async with s.options(url) as r:
        assert r.status == 204
    viewer = await whep_play(s, url)
    async with s.post(url, data=play, headers=SDP) as r:
        assert r.status == 503
        assert r.headers["Retry-After"].isdigit()
    async with s.delete(studio.url(f"/whep/{show_id}/unknown")) as r:
        assert r.status == 404
    await viewer.close(s)
    await until(lambda: studio.onair.get(show_id).viewer_count == 0, 5)  # type: ignore[union-attr]
    await pub.close(s)


async def test_too_many_negotiations_and_per_ip_limit(studio_factory) -> None:  # type: ignore[no-untyped-def]
    studio: Studio = await studio_factory(max_negotiations=1, max_sessions_per_ip=2)
    show_id, key = await studio.create_show()
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    url = studio.url(f"/whep/{show_id}")
    offers = [await offer("play") for _ in range(3)]
    sessions: list[str] = []
    "WHEP sessions given, oldest first."

    async def post(sdp: str) -> tuple[int, str]:
        async with studio.session.post(url, data=sdp, headers=SDP) as r:
            if r.status == 201:
                sessions.append(r.headers["Location"].rsplit("/", 1)[1])
            return r.status, r.headers.get("Retry-After", "")

    negotiations = studio.app[NEGOTIATIONS]
    # one negotiation is in flight (held open deterministically): the next must wait
    negotiations.in_flight = 1
    status, retry = await post(offers[0])
    assert status == 503 and retry.isdigit()
    negotiations.in_flight = 0
    assert (await post(offers[1]))[0] == 201
    async with studio.session.post(url, data="garbage", headers=SDP) as r:
        assert r.status == 400
    assert negotiations.in_flight == 0, "finished and failed negotiations free their slot"
    assert (await post(offers[2]))[0] == 201
    assert (await post(await offer("play")))[0] == 429, "third session from one address"
    live = studio.onair.get(show_id)
    assert live is not None
    # POSTs arriving together: the seat is taken before negotiating, so only the free one
    # is given (it was counted after negotiating: all would have passed the check).
    first = live.viewer(sessions[0])
    assert first is not None
    await first.close()
    negotiations.limit = 10  # they negotiate at the same time
    sdps = [await offer("play") for _ in range(3)]
    together = await asyncio.gather(*(post(sdp) for sdp in sdps))
    assert sorted(status for status, _ in together) == [201, 429, 429], together
    assert live is not None
    for viewer in [live.viewer(session_id) for session_id in sessions]:
        if viewer is not None:  # not one that already left
            await viewer.close()
    await pub.close(studio.session)


async def test_viewers_joining_in_a_crowd_leave_the_host_slots(studio_factory) -> None:  # type: ignore[no-untyped-def]
    """A quarter of the negotiation slots is the host's: anonymous WHEP joiners filling the
    rest must not keep the host from (re)connecting, which the whole show waits for."""
    studio: Studio = await studio_factory(max_negotiations=4)
    show_id, key = await studio.create_show()
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    negotiations = studio.app[NEGOTIATIONS]
    assert negotiations.reserved_for_publishers == 1
    negotiations.in_flight = 3  # three viewers negotiating (held open deterministically)
    async with studio.session.post(
        studio.url(f"/whep/{show_id}"), data=await offer("play"), headers=SDP
    ) as r:
        assert r.status == 503 and r.headers["Retry-After"].isdigit()
    other_show, other_key = await studio.create_show("Another host")
    other = await whip_publish(studio.session, studio.url(f"/whip/{other_show}"), other_key)
    assert negotiations.in_flight == 3, "the host's slot was free, and given back"
    negotiations.in_flight = 0
    await other.close(studio.session)
    await pub.close(studio.session)
