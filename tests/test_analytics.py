"""Analytics: the figures of a real show match exactly what its viewers did (joins over
WHEP and HLS, leaves, chat, reactions, Buy clicks live and in the replay, replay views);
viewer ids are stored hashed and no address is kept; the report's arithmetic on known
sessions (series, peak, median, CTR); CSV and the cross-show overview."""

from __future__ import annotations

import asyncio
import csv
import io
import sqlite3
import time
from typing import Any

import aiohttp

from livestudio.http.keys import AUDIENCE, CHAT
from livestudio.live.analytics import ShowInputs, build_report, product_totals
from livestudio.store import ClickRow, SessionRow, ShowRecord, TimedEvent

from .conftest import MUG, Studio, say
from .utils import until, whep_play, whip_publish


async def reactions_stored(studio: Studio, show_id: str, taps: int) -> bool:
    """Whether the room has written `taps` reaction taps to the show's events."""
    events = await studio.store.list_events(show_id)
    return sum(sum(e.data["counts"].values()) for e in events if e.kind == "reactions") == taps


class Clock:
    """When the test did something, bracketed (the server's stamp lies inside)."""

    def __init__(self) -> None:
        self.marks: dict[str, tuple[float, float]] = {}

    async def mark(self, name: str, action: Any) -> Any:
        before = time.time()
        result = await action
        self.marks[name] = (before, time.time())
        return result


async def _go(session: aiohttp.ClientSession, studio: Studio, path: str) -> None:
    async with session.get(studio.url(path), allow_redirects=False) as r:
        assert r.status == 302, await r.text()


async def test_the_figures_are_what_the_viewers_did(studio: Studio) -> None:
    token = await studio.api_token()
    mug = await studio.create_product(like=MUG)
    lamp = await studio.create_product(like=MUG, name="Lamp", sku="L-1")
    show_id, key = await studio.create_show("Analytics show")
    status, _ = await studio.api(
        "PUT", f"/api/shows/{show_id}/products", token, json=[mug["id"], lamp["id"]]
    )
    assert status == 200
    whep = studio.url(f"/whep/{show_id}")
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    live = studio.onair.get(show_id)
    assert live is not None
    await until(lambda: live.on_air and live.stats().program_frames > 5, 10)

    # Four viewer pages (each its own cookie): A, B and C watch over WebRTC, E over HLS.
    pages = {name: await studio.viewer_page(show_id) for name in "ABCE"}
    clock = Clock()
    a = await clock.mark("A joins", whep_play(pages["A"][0], whep))
    b = await clock.mark("B joins", whep_play(pages["B"][0], whep))
    await asyncio.sleep(0.3)
    status, _ = await studio.api(
        "POST", f"/api/shows/{show_id}/pin", token, json={"product": mug["id"]}
    )
    assert status == 200
    await _go(pages["A"][0], studio, f"/go/{show_id}/{mug['id']}")  # A buys the mug, live
    await _go(pages["A"][0], studio, f"/go/{show_id}/{mug['id']}")  # a double tap: once
    await clock.mark("B leaves", b.close(pages["B"][0]))
    c = await clock.mark("C joins", whep_play(pages["C"][0], whep))
    e_session = pages["E"][0]
    for n in range(2):  # E's player loads the live playlist twice
        before = time.time()
        async with e_session.get(studio.url(f"/media/{show_id}/index.m3u8")) as r:
            assert r.status == 200, await r.text()
        clock.marks[f"E fetch {n}"] = (before, time.time())
        await asyncio.sleep(0.3)
    await say(pages["A"][1], "Is it dishwasher-safe?")
    await say(pages["A"][1], "And the lamp?")
    await say(pages["C"][1], "Love it", name="Cy")
    await pages["C"][1].send_json({"type": "react", "emoji": "❤️", "count": 3})
    await asyncio.sleep(0.3)
    status, _ = await studio.api(
        "POST", f"/api/shows/{show_id}/pin", token, json={"product": lamp["id"]}
    )
    assert status == 200
    await _go(pages["C"][0], studio, f"/go/{show_id}/{lamp['id']}")  # C buys the lamp
    await until(lambda: reactions_stored(studio, show_id, 3), 10)  # counted once a second
    await clock.mark("A leaves", a.close(pages["A"][0]))
    await clock.mark("C leaves", c.close(pages["C"][0]))
    await pub.close(studio.session)
    await until(lambda: studio.onair.get(show_id) is None, 15)
    # After the show: B buys the mug in the replay; A opens the replay twice, the host once.
    await _go(pages["B"][0], studio, f"/go/{show_id}/{mug['id']}?from=replay")
    for _ in range(2):
        async with pages["A"][0].get(studio.url(f"/replay/{show_id}")) as r:
            assert r.status == 200
    await studio.log_in()
    async with studio.session.get(studio.url(f"/replay/{show_id}")) as r:
        assert r.status == 200

    status, report = await studio.api("GET", f"/api/shows/{show_id}/analytics", token)
    assert status == 200, report
    # A+B, then A+C with E's player: three at once at most; four viewers in all.
    assert report["peak"] == 3 and report["peak_webrtc"] == 2 and report["peak_hls"] == 1
    assert report["unique_viewers"] == 4
    assert report["chat_messages"] == 3 and report["reactions"] == 3
    assert report["clicks_live"] == 2 and report["clicks_replay"] == 1
    assert report["buyers"] == 2 and report["conversion"] == 0.5
    assert report["replay_views"] == 1 and report["clip_views"] == 0
    series = report["series"]
    assert sum(b["chat"] for b in series) == 3 and sum(b["clicks"] for b in series) == 2
    assert sum(b["reactions"] for b in series) == 3
    assert max(b["viewers"] for b in series) == 3
    assert [(m["kind"], m["product"]) for m in report["markers"]] == [
        ("pin", mug["id"]),
        ("pin", lamp["id"]),
    ]
    products = {p["product"]: p for p in report["products"]}
    # The mug was on air while A, B, C and E watched; A clicked it. The lamp: A and C
    # watched (E's player had stopped), C clicked.
    assert (products[mug["id"]]["watchers"], products[mug["id"]]["clickers"]) == (4, 1)
    assert products[mug["id"]]["ctr"] == 0.25
    assert (products[mug["id"]]["clicks_live"], products[mug["id"]]["clicks_replay"]) == (1, 1)
    assert (products[lamp["id"]]["watchers"], products[lamp["id"]]["clickers"]) == (2, 1)
    assert products[lamp["id"]]["ctr"] == 0.5

    # Watch times: each session lies within what the test saw, and the report adds them up.
    sessions = await studio.store.sessions(show_id)
    assert sorted(s.kind for s in sessions) == ["hls", "webrtc", "webrtc", "webrtc"]
    show = await studio.store.get_show(show_id)
    assert show is not None and show.went_live_at is not None
    by_kind = sorted((s for s in sessions if s.kind == "webrtc"), key=lambda s: s.joined_at)
    for s, (join, leave) in zip(
        by_kind,
        (("A joins", "A leaves"), ("B joins", "B leaves"), ("C joins", "C leaves")),
        strict=True,
    ):
        assert clock.marks[join][0] <= s.joined_at <= clock.marks[join][1], join
        assert s.left_at is not None
        assert clock.marks[leave][0] <= s.left_at <= clock.marks[leave][1], leave
    hls = next(s for s in sessions if s.kind == "hls")
    # The HLS player joined at its first playlist fetch and left at its last: when each
    # fetch happened, not a wall-clock bound (a loaded machine stretches the 0.3 s gap).
    first, last = clock.marks["E fetch 0"], clock.marks["E fetch 1"]
    assert first[0] <= hls.joined_at <= first[1]
    assert hls.left_at is not None and last[0] <= hls.left_at <= last[1]
    assert hls.left_at - hls.joined_at > 0.25
    watched = sorted((s.left_at or 0) - s.joined_at for s in sessions)
    assert abs(report["watch_avg"] - sum(watched) / 4) < 0.002
    assert abs(report["watch_median"] - (watched[1] + watched[2]) / 2) < 0.002

    # Privacy: viewer ids are keyed hashes, never the cookie's id; no address anywhere.
    room = await studio.app[CHAT].room(show_id)
    raw = {m.viewer for m in room.messages.values()} or await _chat_viewers(studio, show_id)
    assert len(raw) == 2
    hashed = {studio.app[AUDIENCE].viewer_key(v) for v in raw}
    with sqlite3.connect(studio.settings.database_path) as db:
        stored = {
            row[0]
            for sql in (
                "SELECT viewer FROM viewer_sessions",
                "SELECT viewer FROM clicks",
                "SELECT viewer FROM page_views",
            )
            for row in db.execute(sql)
        }
        dump = "\n".join(
            str(row)
            for table in ("viewer_sessions", "page_views", "clicks")
            for row in db.execute(f"SELECT * FROM {table}")
        )
    assert hashed <= stored and not raw & stored
    assert "127.0.0.1" not in dump

    # CSV per time bucket and per product: the same figures.
    reply = await studio.call("GET", f"/api/shows/{show_id}/analytics.csv?rows=time")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    assert len(rows) == len(series) and sum(int(r["chat"]) for r in rows) == 3
    reply = await studio.call("GET", f"/api/shows/{show_id}/analytics.csv?rows=products")
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    assert {(r["name"], r["ctr"]) for r in rows} == {("Kaffeetasse Café", "0.25"), ("Lamp", "0.5")}
    for _session, ws, _ in pages.values():
        await ws.close()
        await _session.close()


async def _chat_viewers(studio: Studio, show_id: str) -> set[str]:
    return {e.data["viewer"] for e in await studio.store.list_events(show_id) if e.kind == "chat"}


def _show(went_live: float = 1000.0, ended: float | None = 1060.0) -> ShowRecord:
    return ShowRecord("s1", "Show", None, "published", 900.0, went_live, ended)


def _event(kind: str, wall: float, **data: Any) -> TimedEvent:
    return TimedEvent(kind, wall, int((wall - 1000) * 90000), data)


def test_report_arithmetic_on_known_sessions() -> None:
    sessions = [
        SessionRow("v1", "webrtc", 1000.0, 1030.0),  # 30 s
        SessionRow("v1", "hls", 1020.0, 1040.0),  # the same viewer in a second tab: +10 s
        SessionRow("v2", "webrtc", 1005.0, 1012.0),  # 7 s
        SessionRow("v3", "hls", 1012.0, None),  # open when the server stopped: to the end
        SessionRow("v4", "webrtc", 990.0, 995.0),  # before the show went live: not counted
    ]
    events = [
        _event("pin", 1010.0, product=1, name="Mug"),
        _event("sale", 1015.0, product=1, name="Mug"),  # a sale on the pinned product: same span
        _event("chat", 1011.0, id=1),
        _event("chat", 1021.0, id=2),
        _event("chat_delete", 1022.0, id=2),
        _event("reactions", 1021.5, counts={"❤️": 4, "🔥": 1}),
        _event("pin", 1025.0, product=2, name="Lamp"),
        _event("unpin", 1035.0, product=None),
    ]
    clicks = [
        ClickRow(1, "live", 1011.0, "v2"),
        ClickRow(1, "live", 1026.0, "v1"),  # 1 s after the mug left the air: within the grace
        ClickRow(2, "live", 1050.0, "v3"),  # 15 s after the lamp left: no CTR click
        ClickRow(2, "replay", 1100.0, "v9"),
    ]
    inputs = ShowInputs(
        _show(), sessions, events, clicks, {"replay": 5, "clip:1": 2, "clip:2": 1}, {1: "Mug"}, 0.0
    )
    report = build_report(inputs)
    assert report.duration == 60.0 and len(report.series) == 6
    assert [b.viewers for b in report.series] == [2, 2, 3, 2, 1, 1]
    assert [b.webrtc for b in report.series] == [2, 2, 1, 0, 0, 0]
    assert [b.hls for b in report.series] == [0, 1, 2, 2, 1, 1]
    assert (report.peak, report.peak_at) == (3, 20.0)
    assert report.unique_viewers == 3  # v4 left before the show went live
    # v1 40 s (two players, overlap once), v2 7 s, v3 48 s (open: until the end)
    assert report.watch_avg == (40 + 7 + 48) / 3 and report.watch_median == 40
    assert [b.chat for b in report.series] == [0, 1, 0, 0, 0, 0]
    assert [b.reactions for b in report.series] == [0, 0, 5, 0, 0, 0]
    assert [b.clicks for b in report.series] == [0, 1, 1, 0, 0, 1]
    assert (report.replay_views, report.clip_views) == (5, 3)
    assert (report.buyers, report.conversion) == (3, 1.0)
    assert [(m.t, m.kind) for m in report.markers] == [
        (10.0, "pin"),
        (15.0, "sale"),
        (25.0, "pin"),
        (35.0, "unpin"),
    ]
    mug, lamp = report.products
    assert (mug.name, mug.spans, mug.on_air_seconds) == ("Mug", [(10.0, 25.0)], 15.0)
    assert (mug.watchers, mug.clickers, mug.ctr) == (3, 2, 2 / 3)  # v1, v2, v3; v2 and v1
    assert (lamp.name, lamp.spans, lamp.watchers, lamp.clickers) == ("Lamp", [(25.0, 35.0)], 2, 0)
    assert (lamp.clicks_live, lamp.clicks_replay, lamp.ctr) == (1, 1, 0.0)
    totals = product_totals([report, report])
    assert [(t.product, t.shows, t.watchers, t.clickers) for t in totals] == [
        (1, 2, 6, 4),
        (2, 2, 4, 0),
    ]


def test_a_show_that_never_went_live_has_empty_figures() -> None:
    report = build_report(ShowInputs(_show(None, None), [], [], [], {}, {}, 2000.0))
    assert report.series == [] and report.peak == 0 and report.conversion is None


async def test_overview_and_its_csv(studio: Studio) -> None:
    token = await studio.api_token()
    show_id, _ = await studio.create_show("Old show")
    await studio.store.set_show_state(show_id, "live", at=1000.0)
    await studio.store.set_show_state(show_id, "ended", at=1030.0)
    await studio.store.write_sessions([("k1", show_id, "v1", "webrtc", 1000.0, 1030.0)], [])
    await studio.create_show("Never live")
    status, overview = await studio.api("GET", "/api/analytics", token)
    assert status == 200
    assert [(s["title"], s["peak"], s["unique_viewers"]) for s in overview["shows"]] == [
        ("Old show", 1, 1)
    ]
    assert "series" not in overview["shows"][0]
    reply = await studio.call("GET", "/api/analytics.csv?rows=shows")
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    assert [(r["title"], r["duration"], r["watch_avg"]) for r in rows] == [("Old show", "30", "30")]
    assert (await studio.call("GET", "/api/analytics.csv?rows=nope")).status == 400
    assert (await studio.call("GET", f"/api/shows/{show_id}/analytics.csv?rows=x")).status == 400
    assert (await studio.call("GET", "/api/shows/nosuch/analytics")).status == 404
    assert (await studio.call("GET", "/api/analytics", auth=False)).status == 401


def test_charts_escape_names_and_csv_cells_are_inert() -> None:
    from livestudio.http.analytics import _cell
    from livestudio.http.charts import viewers_chart
    from livestudio.live.analytics import Bucket, Marker

    svg = viewers_chart(
        [Bucket(0.0, 2, 2, 0, 0, 0, 0), Bucket(10.0, 3, 2, 1, 0, 0, 0)],
        [Marker(5.0, "pin", 7, '<script>alert("x")</script>')],
        20.0,
        10.0,
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'class="marker pin" data-product="7"' in svg
    assert (
        _cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and _cell(0.25) == "0.25" and _cell(3.0) == "3"
    )


async def test_studio_pages_render_without_data(studio: Studio) -> None:
    await studio.log_in()
    show_id, _ = await studio.create_show("Not yet")
    async with studio.session.get(studio.url(f"/studio/shows/{show_id}/analytics")) as r:
        assert r.status == 200 and "has not been live yet" in await r.text()
    async with studio.session.get(studio.url("/studio/analytics")) as r:
        assert r.status == 200 and "No show has been live yet" in await r.text()
    async with studio.session.get(studio.url(f"/studio/shows/{show_id}/clips")) as r:
        assert r.status == 200 and "/static/js/clips.js" in await r.text()
