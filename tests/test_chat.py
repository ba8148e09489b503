"""Chat over the events WebSocket, through the real server: delivery, history, resume,
moderation (delete, ban, slow mode, rate limit, blocked words), proxies, reactions, and the
highlighted question."""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp

from livestudio.http.keys import CHAT
from livestudio.live.chat import HELD_MAX, Sender

from .conftest import Studio, next_of, say
from .utils import until, whip_publish


async def test_messages_history_resume_and_deletion(studio: Studio) -> None:
    show_id, _ = await studio.create_live_show()
    token = await studio.store.create_api_token("t")
    s1, a, _ = await studio.viewer_page(show_id)
    s2, b, _ = await studio.viewer_page(show_id)
    await say(a, "Is it dishwasher-safe? <img src=x onerror=alert(1)>", name="Ann <3")
    got = await next_of(b, "chat")
    assert got["name"] == "Ann <3" and got["text"].endswith("onerror=alert(1)>"), "text as sent"
    first_id = got["id"]
    s3, c, snap = await studio.viewer_page(show_id)
    assert [m["text"] for m in snap["chat"]][-1] == got["text"], "history on join"

    # b drops; two messages later it resumes with exactly those, no duplicate, no gap.
    last = got["id"]
    await b.close()
    await say(a, "one")
    await say(a, "two")
    await next_of(c, "chat")
    await next_of(c, "chat")
    b = await s2.ws_connect(studio.url(f"/live/{show_id}/events?last_event_id={last}"))
    resumed = [await b.receive_json(timeout=5) for _ in range(2)]
    assert [m["text"] for m in resumed] == ["one", "two"]
    assert [m["id"] for m in resumed] == [last + 1, last + 2]

    status, _ = await studio.api("DELETE", f"/api/shows/{show_id}/chat/{first_id}", token)
    assert status == 204
    for ws in (b, c):
        gone = await next_of(ws, "chat_delete")
        assert gone["message"] == first_id
    s4, _, snap = await studio.viewer_page(show_id)
    assert first_id not in [m["id"] for m in snap["chat"]]
    status, _ = await studio.api("DELETE", f"/api/shows/{show_id}/chat/{first_id}", token)
    assert status == 404

    async def kinds() -> list[str]:
        return [e.kind for e in await studio.store.list_events(show_id)]

    async def written() -> bool:  # by the batch writer, a moment later
        stored = await kinds()
        return stored.count("chat") >= 3 and "chat_delete" in stored

    await until(written, 5)
    stored = await kinds()
    assert stored.count("chat") == 3 and "chat_delete" in stored
    for s in (s1, s2, s3, s4):
        await s.close()


async def test_bad_frames_rate_limit_and_slow_mode(studio: Studio) -> None:
    show_id, _ = await studio.create_live_show()
    token = await studio.store.create_api_token("t")
    session, ws, _ = await studio.viewer_page(show_id)
    for frame, code in (
        ({"type": "chat", "name": "A", "text": "x" * 501}, "too_long"),
        ({"type": "chat", "name": "A", "text": "  \u0000\u0007 "}, "invalid"),
        ({"type": "chat", "name": "", "text": "hi"}, "invalid"),
        ({"type": "chat", "name": "A", "text": 42}, "invalid"),
        ({"type": "nonsense"}, "invalid"),
        ([1, 2], "invalid"),
    ):
        await ws.send_json(frame)
        assert (await next_of(ws, "error"))["code"] == code, frame
    await ws.send_bytes(b"\x00\x01binary")
    assert (await next_of(ws, "error"))["code"] == "invalid"
    await ws.send_str("{not json")
    assert (await next_of(ws, "error"))["code"] == "invalid"
    await say(ws, "ctrl\u202echars\u0001 stripped")
    assert (await next_of(ws, "chat"))["text"] == "ctrlchars stripped"

    for n in range(4):
        await say(ws, f"fast {n}")
        await next_of(ws, "chat")
    await say(ws, "one too many")
    limited = await next_of(ws, "error", "chat")
    assert limited["type"] == "error" and limited["code"] == "rate_limited"
    assert limited["retry_after"] > 0

    status, settings = await studio.api(
        "PUT", f"/api/shows/{show_id}/chat/settings", token, json={"slow_mode": 30}
    )
    assert status == 200 and settings["slow_mode"] == 30
    status, _ = await studio.api(
        "PUT", f"/api/shows/{show_id}/chat/settings", token, json={"slow_mode": -1}
    )
    assert status == 422
    other_session, other, _ = await studio.viewer_page(show_id)
    await say(other, "first is fine")
    assert (await next_of(other, "chat"))["text"] == "first is fine"
    await say(other, "second is too soon")
    slow = await next_of(other, "error", "chat")
    assert slow["type"] == "error" and slow["code"] == "slow_mode"
    await session.close()
    await other_session.close()


async def test_flooding_connection_is_closed(studio: Studio) -> None:
    show_id, _ = await studio.create_live_show()
    session, ws, _ = await studio.viewer_page(show_id)
    # A fast tapper (a page sends at most 4 react frames a second) stays connected...
    for _ in range(40):
        await ws.send_json({"type": "react", "emoji": "🔥"})
    await say(ws, "still here")
    assert (await next_of(ws, "chat"))["text"] == "still here"
    # ...a connection spamming frames, malformed ones included, does not.
    for _ in range(120):
        await ws.send_bytes(b"\x00junk")
    while True:
        msg = await ws.receive(timeout=5)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            break
    assert ws.close_code == 1008
    await session.close()


async def test_ban_holds_across_reconnects_blocked_words(studio: Studio) -> None:
    show_id, _ = await studio.create_live_show()
    token = await studio.store.create_api_token("t")
    troll_session, troll, _ = await studio.viewer_page(show_id)
    fan_session, fan, _ = await studio.viewer_page(show_id)
    await say(troll, "buy crypto now", name="Troll")
    bad = await next_of(fan, "chat")
    status, banned = await studio.api("POST", f"/api/shows/{show_id}/chat/{bad['id']}/ban", token)
    assert status == 200 and banned["banned"] == "Troll"
    assert (await next_of(fan, "chat_delete"))["message"] == bad["id"], "their messages go"
    await troll.close()
    troll = await troll_session.ws_connect(studio.url(f"/live/{show_id}/events"))
    await say(troll, "I'm back", name="Troll2")
    assert (await next_of(troll, "error"))["code"] == "banned"

    status, _ = await studio.api(
        "PUT",
        f"/api/shows/{show_id}/chat/settings",
        token,
        json={"blocked_words": ["darn"], "blocked_mode": "mask"},
    )
    assert status == 200
    # The fan shares the troll's address (127.0.0.1 here) and may still chat: a ban is by
    # cookie unless the host asks for the address too.
    await say(fan, "still here")
    assert (await next_of(fan, "chat"))["text"] == "still here"
    # A fresh room shows masking and holding.
    other_show, _ = await studio.create_live_show("Other")
    status, _ = await studio.api(
        "PUT",
        f"/api/shows/{other_show}/chat/settings",
        token,
        json={"blocked_words": ["Darn"], "blocked_mode": "mask"},
    )
    s1, a, _ = await studio.viewer_page(other_show)
    s2, b, _ = await studio.viewer_page(other_show)
    await say(a, "oh DARN it")
    assert (await next_of(b, "chat"))["text"] == "oh **** it"
    assert (await next_of(a, "chat"))["text"] == "oh **** it", "its own message, as others see it"
    await studio.api(
        "PUT",
        f"/api/shows/{other_show}/chat/settings",
        token,
        json={"blocked_mode": "hold"},
    )
    await say(a, "darn again")
    assert (await next_of(a, "held", "chat"))["type"] == "held"
    status, held = await studio.api("GET", f"/api/shows/{other_show}/chat/held", token)
    assert [m["text"] for m in held["held"]] == ["**** again"]
    status, _ = await studio.api(
        "POST", f"/api/shows/{other_show}/chat/held/{held['held'][0]['id']}/approve", token
    )
    assert status == 200
    assert (await next_of(b, "chat"))["text"] == "**** again"
    for s in (troll_session, fan_session, s1, s2):
        await s.close()


async def test_bans_by_address_trust_only_the_configured_proxy(studio_factory) -> None:  # type: ignore[no-untyped-def]
    studio: Studio = await studio_factory(trusted_proxy="127.0.0.1")
    show_id, _ = await studio.create_live_show()
    token = await studio.store.create_api_token("t")
    s1, troll, _ = await studio.viewer_page(show_id, {"X-Forwarded-For": "203.0.113.5"})
    s2, fan, _ = await studio.viewer_page(show_id, {"X-Forwarded-For": "203.0.113.6"})
    await say(troll, "spam")
    bad = await next_of(fan, "chat")
    status, banned = await studio.api(
        "POST",
        f"/api/shows/{show_id}/chat/{bad['id']}/ban",
        token,
        json={"address_minutes": 60},
    )
    assert status == 200 and 3500 < banned["address_until"] - time.time() <= 3600
    await say(fan, "still here")
    assert (await next_of(fan, "chat"))["text"] == "still here", "the proxy's other clients stay"
    # A new session from the banned address is banned too (the host asked for it).
    s3, again, _ = await studio.viewer_page(show_id, {"X-Forwarded-For": "203.0.113.5"})
    await say(again, "new cookie, same address")
    assert (await next_of(again, "error"))["code"] == "banned"
    await again.send_json({"type": "react", "emoji": "❤️", "count": 5})
    await fan.send_json({"type": "react", "emoji": "❤️"})
    assert (await next_of(fan, "reactions"))["counts"] == {"❤️": 1}, "banned taps don't count"
    room = studio.app[CHAT].rooms[show_id]
    assert set(room.banned_addresses) == {"203.0.113.5"}
    for s in (s1, s2, s3):
        await s.close()

    # Without a trusted proxy the header is the client's own claim: ignored.
    plain: Studio = await studio_factory()
    show_id, _ = await plain.create_live_show()
    s4, forged, _ = await plain.viewer_page(show_id, {"X-Forwarded-For": "198.51.100.1"})
    await say(forged, "hello")
    await next_of(forged, "chat")
    room = plain.app[CHAT].rooms[show_id]
    assert {m.address for m in room.messages.values()} == {"127.0.0.1"}
    await s4.close()


async def test_reactions_are_aggregated_per_second(studio: Studio) -> None:
    show_id, _ = await studio.create_live_show()
    s1, a, _ = await studio.viewer_page(show_id)
    s2, b, _ = await studio.viewer_page(show_id)
    for _ in range(10):
        await a.send_json({"type": "react", "emoji": "❤️"})
        await b.send_json({"type": "react", "emoji": "❤️"})
    await b.send_json({"type": "react", "emoji": "🔥"})
    await b.send_json({"type": "react", "emoji": "<script>"})
    assert (await next_of(b, "error"))["code"] == "invalid"
    got = await next_of(a, "reactions")
    assert got["counts"] == {"❤️": 20, "🔥": 1}, "one event for all the taps"

    # Pages send taps in batches; one connection counts for at most 20 taps a second
    # (a second boundary may fall inside the burst: 40 at most then).
    for bad in (0, 21, "5", 2.5, True):
        await a.send_json({"type": "react", "emoji": "👏", "count": bad})
        assert (await next_of(a, "error"))["code"] == "invalid", bad
    for _ in range(10):
        await a.send_json({"type": "react", "emoji": "👏", "count": 20})
    await b.send_json({"type": "react", "emoji": "👏", "count": 3})
    total = 0
    while total < 23:
        total += (await next_of(b, "reactions", within=3))["counts"].get("👏", 0)
    with contextlib.suppress(TimeoutError):
        total += (await next_of(b, "reactions", within=1.5))["counts"].get("👏", 0)
    assert 23 <= total <= 43, total
    await s1.close()
    await s2.close()


async def test_many_sockets_leave_nothing_behind(studio: Studio) -> None:
    show_id, _ = await studio.create_live_show()
    tasks_before = len(asyncio.all_tasks())
    async with aiohttp.ClientSession() as session:
        for _ in range(6):
            sockets = await asyncio.gather(
                *(session.ws_connect(studio.url(f"/live/{show_id}/events")) for _ in range(50))
            )
            await asyncio.gather(*(ws.close() for ws in sockets))
    channel = studio.onair.hub.channel(show_id)
    await until(
        lambda: not channel.sockets and len(asyncio.all_tasks()) <= tasks_before + 2, 5, 0.1
    )
    assert not channel.sockets
    assert len(asyncio.all_tasks()) <= tasks_before + 2


async def test_moderation_outlives_a_restart(studio_factory) -> None:  # type: ignore[no-untyped-def]
    first: Studio = await studio_factory(trusted_proxy="127.0.0.1")
    show_id, _ = await first.create_live_show()
    next_week, _ = await first.create_show("Next week")
    token = await first.store.create_api_token("t")
    troll_headers = {"X-Forwarded-For": "203.0.113.5"}
    s1, troll, _ = await first.viewer_page(show_id, troll_headers)
    s2, fan, _ = await first.viewer_page(show_id, {"X-Forwarded-For": "203.0.113.6"})
    await say(fan, "hello from before the restart")
    hello = await next_of(fan, "chat")
    await say(troll, "spam", name="Troll")
    spam = await next_of(fan, "chat")
    status, _ = await first.api(
        "PUT", f"/api/shows/{show_id}/chat/settings", token, json={"slow_mode": 30}
    )
    assert status == 200
    status, _ = await first.api(
        "POST",
        f"/api/shows/{show_id}/chat/{spam['id']}/ban",
        token,
        json={"address_minutes": 60},
    )
    assert status == 200
    await first.app[CHAT].close()  # what a shutdown writes

    # The same data, a new process: nothing of the above lives in memory any more.
    second: Studio = await studio_factory(trusted_proxy="127.0.0.1")
    for show in (show_id, next_week):  # both on air in the new process
        second.onair.start(show)
    status, settings = await second.api("GET", f"/api/shows/{show_id}/chat/settings", token)
    assert status == 200 and settings["slow_mode"] == 30
    for show in (show_id, next_week):  # the troll's cookie is banned in every show
        ws = await s1.ws_connect(second.url(f"/live/{show}/events"), headers=troll_headers)
        await say(ws, "I'm back")
        assert (await next_of(ws, "error"))["code"] == "banned", show
        await ws.close()
    s3, fresh, _ = await second.viewer_page(show_id, troll_headers)  # new cookie, same address
    await say(fresh, "new cookie")
    assert (await next_of(fresh, "error"))["code"] == "banned", "the address, in its show"
    s4, elsewhere, _ = await second.viewer_page(next_week, troll_headers)
    await say(elsewhere, "new cookie, other show")
    assert (await next_of(elsewhere, "chat"))["text"] == "new cookie, other show"

    # A message from before the restart can still be deleted (live and in the replay).
    status, _ = await second.api("DELETE", f"/api/shows/{show_id}/chat/{hello['id']}", token)
    assert status == 204
    status, _ = await second.api("DELETE", f"/api/shows/{show_id}/chat/{hello['id']}", token)
    assert status == 404, "already deleted"
    await second.app[CHAT].close()
    assert await second.store.chat_message(show_id, hello["id"]) is None

    # The host lifts the ban: the troll may chat again.
    status, bans = await second.api("GET", "/api/chat/bans", token)
    assert [(b["name"], b["show"]) for b in bans["bans"]] == [("Troll", show_id)]
    ban_id = bans["bans"][0]["id"]
    status, _ = await second.api("DELETE", f"/api/chat/bans/{ban_id}", token)
    assert status == 204
    status, _ = await second.api("DELETE", f"/api/chat/bans/{ban_id}", token)
    assert status == 404
    await say(fresh, "forgiven")
    assert (await next_of(fresh, "chat", "error"))["text"] == "forgiven"
    for s in (s1, s2, s3, s4):
        await s.close()


async def test_a_finished_show_lets_its_room_go_and_keeps_moderation(studio: Studio) -> None:
    show_id, key = await studio.create_show()
    token = await studio.store.create_api_token("t")
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    live = studio.onair.get(show_id)
    assert live is not None
    await until(lambda: live.on_air, 10)
    session, ws, _ = await studio.viewer_page(show_id)
    await say(ws, "said on air")
    said = await next_of(ws, "chat")
    await studio.onair.end(show_id)
    await until(lambda: show_id not in studio.app[CHAT].rooms, 15)
    # Its messages were written before the room went, and can still be moderated.
    status, _ = await studio.api("DELETE", f"/api/shows/{show_id}/chat/{said['id']}", token)
    assert status == 204
    await pub.pc.close()
    await session.close()


async def test_chat_limits_survive_a_reconnect(studio: Studio) -> None:
    show_id, _ = await studio.create_live_show()
    token = await studio.store.create_api_token("t")
    await studio.api("PUT", f"/api/shows/{show_id}/chat/settings", token, json={"slow_mode": 60})
    session, ws, _ = await studio.viewer_page(show_id)
    await say(ws, "first")
    await next_of(ws, "chat")
    await ws.close()
    ws = await session.ws_connect(studio.url(f"/live/{show_id}/events"))
    await say(ws, "second, from a fresh socket")
    assert (await next_of(ws, "error", "chat"))["code"] == "slow_mode"
    await session.close()


async def test_highlight_marks_clear_and_deleting_the_question_dismisses_it(
    studio: Studio,
) -> None:
    token = await studio.store.create_api_token("t")
    show_id, key = await studio.create_show()
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    live = studio.onair.get(show_id)
    assert live is not None
    await until(lambda: live.on_air and live.stats().program_frames > 5, 10)
    session, ws, _ = await studio.viewer_page(show_id)
    await say(ws, "question one", name="A")
    one = await next_of(ws, "chat")
    await say(ws, "question two", name="B")
    two = await next_of(ws, "chat")
    for message in (one, two):
        status, _ = await studio.api(
            "POST",
            f"/api/shows/{show_id}/highlight",
            token,
            json={"message": message["id"]},
        )
        assert status == 200
    _, _, snap = await studio.viewer_page(show_id)
    marked = [m["text"] for m in snap["chat"] if m["highlighted"]]
    assert marked == ["question two"], "only the current question is marked"
    status, _ = await studio.api("DELETE", f"/api/shows/{show_id}/chat/{two['id']}", token)
    assert status == 204
    stage = studio.onair.products(show_id)
    assert stage is not None and stage.state.question is None, "no deleted text on air"
    await session.close()
    await pub.close(studio.session)


async def test_the_chat_is_open_only_while_the_show_is_live(studio: Studio) -> None:
    show_id, _ = await studio.create_show()
    session, ws, _ = await studio.viewer_page(show_id)
    await say(ws, "anyone here before the show?")
    refused = await next_of(ws, "error", "chat")
    assert refused["code"] == "not_live"
    await ws.send_json({"type": "react", "emoji": "❤️"})
    assert (await next_of(ws, "error", "reactions"))["code"] == "not_live"

    studio.onair.start(show_id)  # the host pressed Go live
    await say(ws, "hello, live")
    assert (await next_of(ws, "chat", "error"))["text"] == "hello, live"

    await studio.onair.end(show_id)
    await say(ws, "after the end")
    assert (await next_of(ws, "error", "chat"))["code"] == "not_live"
    await studio.app[CHAT].close()
    stored = [e.data.get("text") for e in await studio.store.list_events(show_id)]
    assert "hello, live" in stored
    assert "anyone here before the show?" not in stored and "after the end" not in stored
    await session.close()


async def frames(ws: aiohttp.ClientWebSocketResponse, quiet: float = 0.5) -> list[dict]:  # type: ignore[type-arg]
    """What a socket receives until it has been quiet for `quiet` seconds."""
    got = []
    with contextlib.suppress(TimeoutError):
        while True:
            got.append(await ws.receive_json(timeout=quiet))
    return got


async def test_fresh_cookies_from_one_address_share_its_limit(studio_factory) -> None:  # type: ignore[no-untyped-def]
    """A page fetched without its cookie gets a new viewer id: per-viewer limits alone let
    four cookies send 20 messages in a second. The address (an IPv6 /64) has its own."""
    studio: Studio = await studio_factory(trusted_proxy="127.0.0.1", chat_messages_per_ip=8)
    show_id, _ = await studio.create_live_show()
    pages = [
        await studio.viewer_page(show_id, {"X-Forwarded-For": f"2001:db8:1:2::{n}"})
        for n in range(1, 5)
    ]
    watcher_session, watcher, _ = await studio.viewer_page(
        show_id, {"X-Forwarded-For": "203.0.113.9"}
    )
    for n in range(20):
        await say(pages[n % 4][1], f"flood {n}")
    shown = [(await next_of(watcher, "chat"))["text"] for _ in range(8)]
    refused = [
        frame for _, ws, _ in pages for frame in await frames(ws) if frame["type"] == "error"
    ]
    assert len(refused) == 12 and {r["code"] for r in refused} == {"rate_limited"}
    assert all(r["retry_after"] > 0 for r in refused)
    late = [frame for frame in await frames(watcher) if frame["type"] == "chat"]
    assert len(shown) == 8 and not late, "the address's 8 per 10 s, whatever the cookies"
    await say(watcher, "another address chats on")
    assert (await next_of(watcher, "chat", "error"))["text"] == "another address chats on"
    for session in [watcher_session, *(session for session, _, _ in pages)]:
        await session.close()


async def test_a_ban_is_by_cookie_and_by_address_only_when_asked(studio_factory) -> None:  # type: ignore[no-untyped-def]
    """Behind one NAT (a café), banning one viewer must not silence the others."""
    studio: Studio = await studio_factory(trusted_proxy="127.0.0.1")
    show_id, _ = await studio.create_live_show()
    token = await studio.api_token()
    cafe = {"X-Forwarded-For": "198.51.100.20"}
    troll_session, troll, _ = await studio.viewer_page(show_id, cafe)
    neighbour_session, neighbour, _ = await studio.viewer_page(show_id, cafe)
    await say(troll, "spam", name="Troll")
    spam = await next_of(neighbour, "chat")
    status, banned = await studio.api("POST", f"/api/shows/{show_id}/chat/{spam['id']}/ban", token)
    assert status == 200 and banned == {
        "banned": "Troll",
        "address_until": None,
        "removed": 1,
        "question_dismissed": False,
    }
    await say(neighbour, "same café, still chatting")
    assert (await next_of(neighbour, "chat", "error"))["text"] == "same café, still chatting"
    await say(troll, "me again")
    assert (await next_of(troll, "error"))["code"] == "banned", "by cookie"
    _, bans = await studio.api("GET", "/api/chat/bans", token)
    assert bans["bans"][0]["address_until"] is None

    # The host may add the address, for a while; it is checked and stored with its end.
    await say(neighbour, "me too", name="Troll's friend")
    other = await next_of(neighbour, "chat")
    for bad in (0, 7 * 24 * 60 + 1, "60", True, 1.5):
        status, _ = await studio.api(
            "POST",
            f"/api/shows/{show_id}/chat/{other['id']}/ban",
            token,
            json={"address_minutes": bad},
        )
        assert status == 422, bad
    status, banned = await studio.api(
        "POST",
        f"/api/shows/{show_id}/chat/{other['id']}/ban",
        token,
        json={"address_minutes": 30},
    )
    assert status == 200 and 1700 < banned["address_until"] - time.time() <= 1800
    fresh_session, fresh, _ = await studio.viewer_page(show_id, cafe)  # new cookie, same address
    await say(fresh, "new cookie")
    assert (await next_of(fresh, "error"))["code"] == "banned"
    next_door = {"X-Forwarded-For": "198.51.100.21"}
    elsewhere_session, elsewhere, _ = await studio.viewer_page(show_id, next_door)
    await say(elsewhere, "next door")
    assert (await next_of(elsewhere, "chat", "error"))["text"] == "next door"
    (ban, *_) = await studio.store.bans()
    assert ban.address == "198.51.100.20" and ban.address_until == banned["address_until"]
    for session in (troll_session, neighbour_session, fresh_session, elsewhere_session):
        await session.close()


async def test_an_ipv6_address_ban_covers_its_64_and_ends(studio_factory) -> None:  # type: ignore[no-untyped-def]
    studio: Studio = await studio_factory(trusted_proxy="127.0.0.1")
    show_id, _ = await studio.create_live_show()
    token = await studio.api_token()
    s1, troll, _ = await studio.viewer_page(show_id, {"X-Forwarded-For": "2001:db8:5:6::1"})
    await say(troll, "spam")
    spam = await next_of(troll, "chat")
    await studio.api(
        "POST",
        f"/api/shows/{show_id}/chat/{spam['id']}/ban",
        token,
        json={"address_minutes": 5},
    )
    s2, hop, _ = await studio.viewer_page(show_id, {"X-Forwarded-For": "2001:db8:5:6:ffff::2"})
    await say(hop, "another address of the same /64")
    assert (await next_of(hop, "error", "chat"))["code"] == "banned"
    # An address ban that has ended (here one stored as ended) no longer holds.
    later, _ = await studio.create_live_show("Later")
    await studio.store.add_ban(
        later, "someone", "2001:db8:7:8::/64", "Old", address_until=time.time() - 1
    )
    s3, back, _ = await studio.viewer_page(later, {"X-Forwarded-For": "2001:db8:7:8::1"})
    await say(back, "the ban is over")
    assert (await next_of(back, "chat", "error"))["text"] == "the ban is over"
    for session in (s1, s2, s3):
        await session.close()


async def test_held_messages_are_capped(studio: Studio) -> None:
    show_id, _ = await studio.create_live_show()
    room = await studio.app[CHAT].room(show_id)
    room.settings.blocked_words = ("darn",)
    room.settings.blocked_mode = "hold"
    for n in range(HELD_MAX + 30):  # from many viewers and addresses: within every limit
        sender = Sender(viewer=f"viewer-{n}", address=f"10.0.{n // 250}.{n % 250}")
        reply = room.receive(sender, {"type": "chat", "name": "A", "text": f"darn {n}"})
        assert reply is not None and reply["type"] == "held"
    assert len(room.held) == HELD_MAX
    texts = [m.text for m in room.held.values()]
    assert texts[0] == "**** 30" and texts[-1] == f"**** {HELD_MAX + 29}", "the newest are kept"
