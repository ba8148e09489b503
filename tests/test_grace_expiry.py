"""The grace period, run for real: a host who vanishes without a WHIP DELETE ends the show
after `grace_period` seconds, by the timer alone; one who comes back in time keeps it live.

(tests/test_cleanup.py ends such a show with `live.end()`: the timer never runs there.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import aiohttp

from livestudio.media.record import PLAYLIST

from .conftest import Studio
from .utils import StampedVideoTrack, until, whep_play, whip_publish


class EventLog:
    """A viewer page's events socket, read in the background."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.events.append(json.loads(msg.data))

    def states(self) -> list[str]:
        return [e["state"] for e in self.events if e["type"] == "state"]

    def state_event(self, state: str) -> dict[str, Any] | None:
        return next((e for e in self.events if e["type"] == "state" and e["state"] == state), None)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.ws.close()


async def watch(studio: Studio, show_id: str) -> EventLog:
    return EventLog(await studio.session.ws_connect(studio.url(f"/live/{show_id}/events")))


async def store_state(studio: Studio, show_id: str) -> str:
    show = await studio.store.get_show(show_id)
    assert show is not None
    return show.state


async def test_a_vanished_host_ends_the_show_when_the_grace_period_runs_out(
    studio_factory: Any,
) -> None:
    grace = 1.5
    studio: Studio = await studio_factory(grace_period=grace)
    show_id, key = await studio.create_show("Grace")
    page = await watch(studio, show_id)
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    viewer = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
    await until(lambda: len(viewer.stamps) > 45, 20)  # > 1.5 s of program to record
    live = studio.onair.get(show_id)
    assert live is not None and live.recorder is not None

    await pub.pc.close()  # the connection drops; no WHIP DELETE
    await until(lambda: live.state == "reconnecting", 10)
    gone_at = time.monotonic()
    await until(lambda: "reconnecting" in page.states(), 5)
    assert await store_state(studio, show_id) == "reconnecting"

    # Not before the grace period: still waiting for the host halfway through it (this
    # sleep deliberately lets half of it pass).
    await asyncio.sleep(grace / 2)
    assert live.state == "reconnecting" and studio.onair.get(show_id) is live

    # Then the timer alone ends it (nothing in this test calls end()).
    try:
        await until(lambda: live.ended, grace + 10)
    except AssertionError:
        raise AssertionError(
            f"still {live.state!r} {time.monotonic() - gone_at:.1f}s after the host vanished "
            f"(grace period {grace}s): the grace timer did not end the show"
        ) from None
    await until(lambda: page.state_event("ended") is not None, 5)
    reconnecting, ended = page.state_event("reconnecting"), page.state_event("ended")
    assert reconnecting is not None and ended is not None
    assert ended["at"] - reconnecting["at"] >= grace - 0.1, "it waited the full grace period"

    # Everything a show's end does: off air, viewers and program gone, the recording
    # finalized and the replay published.
    await until(lambda: studio.onair.get(show_id) is None, 20)
    assert live.broadcast.ended and live.viewer_count == 0 and not live.on_air
    # Its thread too (no public view of it: a show only says whether it is on air).
    assert not live.program.running
    await until(lambda: all(t.done() for t in viewer.tasks), 10)  # the viewer's tracks ended
    assert live.recording is not None and live.recording.playable, live.recording
    assert live.recording.duration > 1.0
    show = await studio.store.get_show(show_id)
    assert show is not None
    assert (show.state, show.recording) == ("published", "ready")
    assert show.ended_at is not None and show.duration is not None and show.duration > 1.0
    await until(lambda: page.state_event("published") is not None, 5)
    published = page.state_event("published")
    assert published is not None and published["replay"] == f"/replay/{show_id}"
    assert page.states()[-3:] == ["reconnecting", "ended", "published"]
    async with studio.session.get(studio.url(f"/replay/{show_id}")) as r:
        assert r.status == 200  # public: this session is not logged in
    async with studio.session.get(studio.url(f"/media/{show_id}/{PLAYLIST}")) as r:
        assert r.status == 200 and "#EXT-X-ENDLIST" in await r.text()

    await page.close()
    await viewer.close()


async def test_a_host_back_within_the_grace_period_cancels_the_timer(
    studio_factory: Any,
) -> None:
    grace = 4.0
    studio: Studio = await studio_factory(grace_period=grace)
    show_id, key = await studio.create_show("Grace")
    page = await watch(studio, show_id)
    whip = studio.url(f"/whip/{show_id}")
    first = await whip_publish(studio.session, whip, key)
    viewer = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
    await until(lambda: len(viewer.stamps) > 30, 20)
    live = studio.onair.get(show_id)
    assert live is not None

    await first.pc.close()  # no DELETE
    await until(lambda: live.state == "reconnecting", 10)
    gone_at = time.monotonic()
    # The timer itself (no public view of it; what it does is checked below and in the
    # test above).
    assert live._grace is not None and not live._grace.done(), "the grace timer runs"

    second = await whip_publish(studio.session, whip, key, video=StampedVideoTrack(first=5000))
    await until(lambda: live.state == "live", grace / 2)
    back_after = time.monotonic() - gone_at
    assert back_after < grace / 2, f"back after {back_after:.1f}s: the test needs margin"
    assert live._grace is None, "media from the new connection cancelled the timer"

    # Well past the moment the timer would have fired (a sleep on purpose): still the
    # same live show.
    await asyncio.sleep(gone_at + grace + 2.0 - time.monotonic())
    assert live.state == "live" and not live.ended, live.state
    assert studio.onair.get(show_id) is live
    assert await store_state(studio, show_id) == "live"
    mark = len(viewer.stamps)
    await until(lambda: any(s > 5000 for s in viewer.stamps[mark:]), 10)  # still playing
    assert "ended" not in page.states()
    assert page.states()[-2:] == ["reconnecting", "live"]

    await viewer.close(studio.session)
    await second.close(studio.session)
    await until(lambda: studio.onair.get(show_id) is None, 20)
    await page.close()
