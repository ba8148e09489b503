"""Chat in Chromium: hostile text shows as text and runs nothing; a highlighted question is
burned into the video and goes when dismissed; the replay plays chat back in step."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp

from .browser import PageLog, chromium, eventually, log_in
from .conftest import Studio, next_of, say
from .utils import card_score, until, whep_play, whip_publish

PAYLOADS = [
    "<script>window.pwned = 1</script>",
    '<img src=x onerror="window.pwned = 2">',
    "<b>bold?</b> &amp; \u202eevil",
]


async def test_xss_payloads_show_as_text_and_run_nothing(studio: Studio) -> None:
    show_id, _ = await studio.create_live_show("XSS")
    async with chromium() as browser:
        page = await browser.new_page()
        log = PageLog("viewer").attach(page)
        await page.goto(studio.url(f"/live/{show_id}"))
        await eventually(lambda: page.evaluate("!!window.livestudio.chat"), 10, "page ready", log)
        # From another viewer's socket...
        session, ws, _ = await studio.viewer_page(show_id)
        for text in PAYLOADS[:2]:
            await say(ws, text, name='<img src=y onerror="window.pwned=3">')
            await next_of(ws, "chat")
        # ...and typed into the page's own form.
        await page.fill("#chat-form input[name=name]", "<i>me</i>")
        await page.fill("#chat-form input[name=text]", PAYLOADS[2])
        await page.click("#chat-form button[type=submit]")
        await eventually(
            lambda: page.evaluate("document.querySelectorAll('#chat-messages li').length === 3"),
            10,
            "three messages listed",
            log,
        )
        texts = await page.evaluate(
            "[...document.querySelectorAll('#chat-messages li .text')].map(e => e.textContent)"
        )
        assert texts[:2] == PAYLOADS[:2]
        assert texts[2] == "<b>bold?</b> &amp; evil", "shown as typed, minus control characters"
        assert await page.evaluate("window.pwned") is None, "no script ran"
        assert (
            await page.evaluate(
                "document.querySelectorAll('#chat-messages img, #chat-messages script, "
                "#chat-messages b, #chat-messages i').length"
            )
            == 0
        )
        await session.close()


async def test_highlighted_question_is_burned_in_then_dismissed(studio: Studio) -> None:
    token = await studio.store.create_api_token("t")
    show_id, key = await studio.create_show()
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    player = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
    await until(lambda: len(player.stamps) > 10, 15)
    live = studio.onair.get(show_id)
    assert live is not None
    session_id = player.location.rsplit("/", 1)[1]
    watching = live.viewer(session_id)
    assert watching is not None
    frames: list[tuple[int, object]] = []
    player.on_frame = lambda f: frames.append((f.pts + (watching.first_video_pts or 0), f))
    session, ws, _ = await studio.viewer_page(show_id)
    await say(ws, "Does it come in green? 🌿 " + "verylongword" * 12, name="Zoë")
    message = await next_of(ws, "chat")
    status, event = await studio.api(
        "POST", f"/api/shows/{show_id}/highlight", token, json={"message": message["id"]}
    )
    assert status == 200, event
    assert (await next_of(ws, "highlight"))["message"] == message["id"]
    stage = studio.onair.products(show_id)
    assert stage is not None and stage.scene is not None
    layer = next(x for x in stage.scene.layers if x.name == "question")
    rect = layer.rect
    await until(lambda: any(pts >= event["pts"] for pts, _ in frames), 10)
    shown = [f for pts, f in frames if pts >= event["pts"]]
    assert card_score(shown[-1], rect) > 30, "the lower-third is in the decoded video"  # type: ignore[arg-type]
    status, gone = await studio.api("DELETE", f"/api/shows/{show_id}/highlight", token)
    assert status == 200
    await until(lambda: any(pts > gone["pts"] + 3000 for pts, _ in frames), 10)
    after = [f for pts, f in frames if pts > gone["pts"] + 3000]
    assert card_score(after[-1], rect) < 15, "dismissed"  # type: ignore[arg-type]
    await session.close()
    await player.close(studio.session)
    await pub.close(studio.session)


async def test_replay_plays_chat_back_in_order_and_in_time(studio: Studio) -> None:
    show_id, key = await studio.create_show("Chat replay")
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    live = studio.onair.get(show_id)
    assert live is not None
    await until(lambda: live.stats().program_frames > 10, 10)
    session, ws, _ = await studio.viewer_page(show_id)
    sent_at = []
    for n in range(3):
        await asyncio.sleep(1.0)  # deliberately: messages a second apart in program time
        await say(ws, f"message {n}", name=f"V{n}")
        sent_at.append((await next_of(ws, "chat"))["pts"] / 90000)
    await say(ws, "a message the host deletes")
    deleted = await next_of(ws, "chat")
    token = await studio.store.create_api_token("t")
    status, _ = await studio.api("DELETE", f"/api/shows/{show_id}/chat/{deleted['id']}", token)
    assert status == 204
    await asyncio.sleep(1.0)  # deliberately: the show goes on past the last message
    await session.close()
    await pub.close(studio.session)
    await until(lambda: studio.onair.get(show_id) is None, 15)
    async with aiohttp.ClientSession() as s, s.get(studio.url(f"/replay/{show_id}")) as r:
        assert r.status == 200
        html = await r.text()
    assert "message 2" in html and "deletes" not in html, "a deleted message is not in the page"
    assert '"viewer":' not in html, "viewers' session ids are not in the page"
    async with chromium() as browser:
        page = await browser.new_page()
        log = PageLog("replay").attach(page)
        await page.goto(studio.url(f"/replay/{show_id}"))
        await eventually(lambda: page.evaluate("window.livestudio.ready"), 15, "ready", log)
        assert await page.evaluate("document.querySelectorAll('#chat-messages li').length") == 0
        await page.evaluate("document.getElementById('video').muted = true")
        await page.evaluate("document.getElementById('video').play()")
        seen: dict[str, float] = {}

        async def all_seen() -> bool:
            """Note the playback time at which each message first shows."""
            state = await page.evaluate(
                "[document.getElementById('video').currentTime, "
                "[...document.querySelectorAll('#chat-messages li .text')].map(e => e.textContent)]"
            )
            for text in state[1]:
                seen.setdefault(text, state[0])
            assert state[0] < 20, f"playback ended before all messages: {seen}\n{log}"
            return len(seen) >= 3

        await eventually(all_seen, 60, "every message shown", log, interval=0.05)
        texts = await page.evaluate(
            "[...document.querySelectorAll('#chat-messages li .text')].map(e => e.textContent)"
        )
        assert texts == ["message 0", "message 1", "message 2"], "in order"
        for n, at in enumerate(sent_at):
            shown_at = seen[f"message {n}"]
            assert at - 0.1 <= shown_at <= at + 0.6, (n, at, shown_at)


async def test_fast_taps_float_at_once_reach_others_and_keep_the_page_connected(
    studio: Studio,
) -> None:
    show_id, _ = await studio.create_live_show("Taps")
    async with chromium() as browser:
        page = await browser.new_page()
        log = PageLog("viewer").attach(page)
        await page.goto(studio.url(f"/live/{show_id}"))
        await eventually(lambda: page.evaluate("!!window.livestudio.chat"), 10, "page ready", log)
        session, ws, _ = await studio.viewer_page(show_id)
        await page.evaluate(
            """window.floated = 0;
            new MutationObserver((changes) => {
              for (const c of changes) window.floated += c.addedNodes.length;
            }).observe(document.getElementById('floaters'), { childList: true });"""
        )
        heart = page.locator('.reaction[data-emoji="❤️"]')
        for _ in range(30):
            await heart.click()
        assert await page.evaluate("window.floated") == 30, "each tap floats at once"
        total = 0
        # Bounded as a whole: other events (viewer counts) reset next_of's own wait.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(8):
                while total < 30:
                    total += (await next_of(ws, "reactions", within=3))["counts"].get("❤️", 0)
        assert 20 <= total <= 30, f"taps reach the others ({total} counted)"
        # Deliberately wait past the next reactions event (sent each second): it must
        # not float this page's own taps again.
        await asyncio.sleep(1.2)
        assert await page.evaluate("window.floated") == 30, "own taps are not floated twice"
        # 30 taps did not get the page's socket closed for flooding.
        await page.fill("#chat-form input[name=name]", "Tapper")
        await page.fill("#chat-form input[name=text]", "still connected")
        await page.click("#chat-form button[type=submit]")
        # The server's echo on the page's own socket: it is still open. (The second
        # viewer's socket is not used here: in ~1 run in 5 it stopped receiving after the
        # reactions while the page got the message; not yet explained, see the notes.)
        await eventually(
            lambda: page.evaluate(
                "[...document.querySelectorAll('#chat-messages li .text')]"
                ".some(e => e.textContent === 'still connected')"
            ),
            10,
            "the page's message came back on its socket",
            log,
        )
        await session.close()


async def test_studio_lists_bans_and_lifts_one(studio: Studio) -> None:
    show_id, _ = await studio.create_show("Bans")
    await studio.store.add_ban(show_id, "cookie-1", "203.0.113.5", "<b>Troll</b>")
    async with chromium() as browser:
        page = await browser.new_page()
        log = PageLog("studio").attach(page)
        await log_in(page, studio)
        await page.goto(f"{studio.base}/studio/shows/{show_id}")
        await page.click("summary:has-text('Chat settings')")
        await eventually(lambda: page.is_visible("#bans li"), 10, "the ban is listed", log)
        text = await page.text_content("#bans li") or ""
        assert "<b>Troll</b>" in text and "in this show" in text, "the name shown as text"
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await page.click("#bans li button")
        await eventually(lambda: page.is_hidden("#bans li"), 10, "the ban is gone", log)
    assert await studio.store.bans() == []
