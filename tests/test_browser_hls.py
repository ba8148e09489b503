"""In a real Chromium, the viewer page plays HLS when WebRTC cannot: the show is full
(WHEP 503) or no media gets through (UDP blocked: the answer's candidates never reach
the browser), or `?hls=1`; it says so quietly, plays (hls.js, LL-HLS), and keeps the
product card in step with its own playback. Chat, reactions and Buy work the same there."""

from __future__ import annotations

import contextlib
from typing import Any

from .browser import PageLog, chromium, eventually, pin_and_watch, watch
from .conftest import MUG, Studio, next_of, say
from .utils import until, whep_play, whip_publish


async def _playing_hls(page: Any, log: Any) -> None:
    """The page plays HLS: its mode, the quiet note, time advancing over real frames."""
    assert await page.evaluate("window.livestudio.mode") == "hls"
    assert await page.is_visible("#latency")
    assert "standard latency" in (await page.text_content("#latency") or "")
    start = await page.evaluate("document.getElementById('video').currentTime")
    await eventually(
        lambda: page.evaluate(f"document.getElementById('video').currentTime > {start} + 1"),
        10,
        "HLS playback advancing",
        log,
    )
    assert await page.evaluate("document.getElementById('video').videoWidth") > 0


async def _chat_and_reactions_work(studio: Studio, show_id: str, page: Any, log: Any) -> None:
    """On an HLS page: its chat message and taps reach another viewer, and theirs show
    here (as text: hostile markup runs nothing)."""
    assert await page.evaluate("window.livestudio.mode") == "hls"
    session, ws, _ = await studio.viewer_page(show_id)
    try:
        await page.evaluate(
            """window.floated = [];
            new MutationObserver((changes) => {
              for (const c of changes) for (const n of c.addedNodes) floated.push(n.textContent);
            }).observe(document.getElementById('floaters'), { childList: true });"""
        )
        hostile = '<img src=x onerror="window.pwned = 1">'
        await page.fill("#chat-form input[name=name]", "<b>HLS</b>")
        await page.fill("#chat-form input[name=text]", hostile)
        await page.click("#chat-form button[type=submit]")
        message = await next_of(ws, "chat")
        assert (message["name"], message["text"]) == ("<b>HLS</b>", hostile), message

        await say(ws, "<script>window.pwned = 2</script>", name="Other")
        await eventually(
            lambda: page.evaluate("document.querySelectorAll('#chat-messages li').length === 2"),
            10,
            "both messages listed on the HLS page",
            log,
        )
        texts = await page.evaluate(
            "[...document.querySelectorAll('#chat-messages li .text')].map(e => e.textContent)"
        )
        assert texts == [hostile, "<script>window.pwned = 2</script>"], texts
        assert await page.evaluate("window.pwned") is None, "no script ran"
        assert await page.evaluate(
            "document.querySelectorAll('#chat-messages img, #chat-messages script,"
            " #chat-messages b').length === 0"
        )

        # Three taps on the HLS page reach the other viewer's per-second totals...
        heart = page.locator('.reaction[data-emoji="❤️"]')
        for _ in range(3):
            await heart.click()
        hearts = 0
        with contextlib.suppress(TimeoutError):
            while hearts < 3:
                hearts += (await next_of(ws, "reactions", within=3))["counts"].get("❤️", 0)
        assert hearts == 3, f"the HLS page's taps counted ({hearts})"
        # ...and the other viewer's taps float on the HLS page.
        await ws.send_json({"type": "react", "emoji": "🔥", "count": 2})
        await eventually(
            lambda: page.evaluate("window.floated.filter(e => e === '🔥').length === 2"),
            5,
            "the other viewer's taps float here",
            log,
        )
        assert await page.evaluate("window.livestudio.mode") == "hls", "still on HLS"
    finally:
        await session.close()


async def test_a_full_show_plays_over_hls_with_the_card_in_step(studio_factory: Any) -> None:
    studio: Studio = await studio_factory(max_viewers=1, keyframe_interval=1.0)
    token = await studio.store.create_api_token("t")
    product = await studio.create_product(token, like=MUG)
    show_id, key = await studio.create_show("Full house")
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    live = studio.onair.get(show_id)
    assert live is not None
    await until(lambda: live.stats().program_frames > 5, 10)
    seat = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))  # the only seat
    async with chromium() as browser:
        page, log = await watch(browser, studio.url(f"/live/{show_id}"))
        assert ("POST", studio.url(f"/whep/{show_id}"), 503) in log.responses
        await _playing_hls(page, log)
        assert await page.evaluate("window.livestudio.hls.hls.lowLatencyMode") is True

        t0, probe, shown = await pin_and_watch(studio, page, log, show_id, token, product["id"])
        # HLS plays seconds behind: shown on arrival, the card would lead the video by that.
        assert shown["at"] - t0 >= 800, f"the page waited for its own playback ({shown})"
        assert abs(shown["at"] - probe["seenAt"]) <= 250, (shown, probe)
        assert await page.text_content("#card-name") == "Kaffeetasse Café"
        href = await page.get_attribute("#card-buy", "href")
        assert href == f"/go/{show_id}/{product['id']}"
        await _chat_and_reactions_work(studio, show_id, page, log)

        # ?hls=1 plays HLS without asking WHEP, even with a seat free.
        await seat.close(studio.session)
        forced, forced_log = await watch(browser, studio.url(f"/live/{show_id}?hls=1"))
        await _playing_hls(forced, forced_log)
        assert not [r for r in forced_log.responses if "/whep/" in r[1]]
    await pub.close(studio.session)


async def test_blocked_udp_falls_back_to_hls(studio: Studio) -> None:
    show_id, key = await studio.create_show("Hotel wifi")
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    live = studio.onair.get(show_id)
    assert live is not None
    await until(lambda: live.stats().program_frames > 5, 10)
    async with chromium() as browser:
        page = await browser.new_page()
        log = PageLog("viewer").attach(page)

        def without_candidates(sdp: str) -> str:
            lines = sdp.splitlines(keepends=True)
            return "".join(line for line in lines if not line.startswith("a=candidate"))

        async def no_candidates(route: Any) -> None:
            # As behind a network that drops UDP: offer and answer arrive, but neither
            # side learns an address it can reach, so ICE never connects.
            offer = without_candidates(route.request.post_data or "")
            response = await route.fetch(post_data=offer)
            answer = without_candidates(await response.text())
            await route.fulfill(response=response, body=answer)

        await page.route(f"**/whep/{show_id}", no_candidates)
        await page.goto(studio.url(f"/live/{show_id}"))
        await eventually(
            lambda: page.evaluate("window.livestudio.mode === 'hls'"), 15, "fell back to HLS", log
        )
        assert ("POST", studio.url(f"/whep/{show_id}"), 201) in log.responses
        await eventually(
            lambda: page.evaluate("document.getElementById('video').videoWidth > 0"),
            15,
            "playing",
            log,
        )
        await _playing_hls(page, log)
        assert any("no media over WebRTC" in line for line in log.lines), log
    await pub.close(studio.session)
