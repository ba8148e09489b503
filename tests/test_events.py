"""The live events WebSocket: state changes and viewer counts, resumable by last event id
(also across a restart), a few sockets per address."""

from __future__ import annotations

from .conftest import Studio, next_of
from .utils import until, whep_play, whip_publish


async def test_state_and_viewers_then_resume(studio: Studio) -> None:
    show_id, key = await studio.create_show()
    async with studio.session.ws_connect(studio.url(f"/live/{show_id}/events")) as ws:
        hello = await ws.receive_json(timeout=5)
        assert hello["type"] == "snapshot" and hello["state"] == "scheduled"
        pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
        live_event = await next_of(ws, "state", within=15)
        assert live_event["state"] == "live"
        viewer = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
        count = await next_of(ws, "viewers", within=15)
        assert count["viewers"] == 1
        last_seen = count["id"]
        await until(lambda: len(viewer.stamps) > 3, 10)  # something was recorded
    # While this page is away, the viewer leaves and the show ends.
    await viewer.close(studio.session)
    await until(lambda: studio.onair.get(show_id).viewer_count == 0, 5)  # type: ignore[union-attr]
    await pub.close(studio.session)
    await until(lambda: studio.onair.get(show_id) is None, 10)
    url = studio.url(f"/live/{show_id}/events?last_event_id={last_seen}")
    async with studio.session.ws_connect(url) as ws:
        missed = [await ws.receive_json(timeout=5) for _ in range(3)]
        if any(e["type"] == "clock" for e in missed):  # the program started after the join
            missed.append(await ws.receive_json(timeout=5))
    assert [e["id"] for e in missed] == [last_seen + i for i in range(1, len(missed) + 1)], (
        "no gap, no dup"
    )
    missed = [e for e in missed if e["type"] != "clock"]
    assert missed[0] == {**missed[0], "type": "viewers", "viewers": 0}
    assert missed[1]["type"] == "state" and missed[1]["state"] == "ended"
    assert missed[2]["state"] == "published" and missed[2]["replay"] == f"/replay/{show_id}"


async def test_events_errors(studio: Studio) -> None:
    async with studio.session.get(studio.url("/live/nosuch/events")) as r:
        assert r.status == 404
    show_id, _ = await studio.create_show()
    async with studio.session.get(studio.url(f"/live/{show_id}/events?last_event_id=x")) as r:
        assert r.status == 400


async def test_a_page_resuming_from_another_process_gets_a_snapshot(studio: Studio) -> None:
    show_id, _ = await studio.create_show()
    url = studio.url(f"/live/{show_id}/events?last_event_id=9999")
    async with studio.session.ws_connect(url) as ws:
        first = await ws.receive_json(timeout=5)
    assert first["type"] == "snapshot", "a restarted server's ids begin again at 1"


async def test_event_sockets_are_capped_per_address(studio_factory) -> None:  # type: ignore[no-untyped-def]
    studio: Studio = await studio_factory(max_event_sockets_per_ip=2)
    show_id, _ = await studio.create_show()
    url = studio.url(f"/live/{show_id}/events")
    a = await studio.session.ws_connect(url)
    b = await studio.session.ws_connect(url)
    async with studio.session.get(url) as r:
        assert r.status == 429
    await a.close()
    await b.close()
    await until(lambda: studio.onair.hub.watchers(show_id) == 0, 5)
    c = await studio.session.ws_connect(url)  # the slots came back
    assert (await c.receive_json(timeout=5))["type"] == "snapshot"
    await c.close()
