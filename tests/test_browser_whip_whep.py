"""A real Chromium publishes with the reference WHIP client and plays with the WHEP client.

The clients are the npm package `whip-whep` (tests/vendor/whip-whep), loaded by pages on
an origin of their own, so signalling is cross-origin as for any third-party tool. They
POST the offer before ICE gathering and then trickle candidates with PATCH, which the
server takes (RFC 9725 trickle ICE, 204); it offers 127.0.0.1 to these local clients.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page

from .browser import PageLog, chromium, static_site
from .conftest import Studio
from .utils import until

# Shared by both pages: a summary of getStats() per RTP stream, with its codec.
STATS_JS = """
window.rtpStats = async (pc) => {
  const report = await pc.getStats();
  const out = {};
  report.forEach((s) => {
    if (s.type !== "inbound-rtp" && s.type !== "outbound-rtp") return;
    const codec = s.codecId ? report.get(s.codecId) : null;
    out[s.type + ":" + s.kind] = {
      codec: codec ? codec.mimeType : null,
      fmtp: codec ? codec.sdpFmtpLine || "" : "",
      packetsSent: s.packetsSent || 0,
      packetsReceived: s.packetsReceived || 0,
      framesEncoded: s.framesEncoded || 0,
      framesDecoded: s.framesDecoded || 0,
      totalSamplesReceived: s.totalSamplesReceived || 0,
    };
  });
  return out;
};
"""

PUBLISH_HTML = f"""<!doctype html>
<meta charset="utf-8"><title>whip-whep publisher</title><link rel="icon" href="data:,">
<script>{STATS_JS}</script>
<script type="module">
import {{ WHIPClient }} from "/vendor/whip-whep/whip.js";
window.publish = async (url, token) => {{
  const stream = await navigator.mediaDevices.getUserMedia({{
    video: {{ width: 640, height: 360, frameRate: 30 }}, audio: true }});
  const pc = window.pc = new RTCPeerConnection({{ bundlePolicy: "max-bundle" }});
  for (const track of stream.getTracks()) pc.addTransceiver(track, {{ direction: "sendonly" }});
  const whip = window.whip = new WHIPClient();
  await whip.publish(pc, url, token);
  return whip.resourceURL.href;
}};
window.state = async () => ({{
  connection: window.pc ? window.pc.connectionState : "none",
  stats: window.pc ? await rtpStats(window.pc) : {{}},
}});
window.loaded = true;
</script>
"""

VIEW_HTML = f"""<!doctype html>
<meta charset="utf-8"><title>whip-whep viewer</title><link rel="icon" href="data:,">
<video muted autoplay playsinline width="640" height="360"></video>
<script>{STATS_JS}</script>
<script type="module">
import {{ WHEPClient }} from "/vendor/whip-whep/whep.js";
window.view = async (url) => {{
  const pc = window.pc = new RTCPeerConnection({{ bundlePolicy: "max-bundle" }});
  pc.addTransceiver("audio", {{ direction: "recvonly" }});
  pc.addTransceiver("video", {{ direction: "recvonly" }});
  const video = document.querySelector("video");
  const stream = new MediaStream();
  pc.ontrack = (event) => {{
    stream.addTrack(event.track);
    video.srcObject = stream;
  }};
  const whep = window.whep = new WHEPClient();
  await whep.view(pc, url);
  return whep.resourceURL.href;
}};
window.state = async () => {{
  const video = document.querySelector("video");
  return {{
    connection: window.pc ? window.pc.connectionState : "none",
    width: video.videoWidth,
    height: video.videoHeight,
    currentTime: video.currentTime,
    paused: video.paused,
    stats: window.pc ? await rtpStats(window.pc) : {{}},
  }};
}};
window.loaded = true;
</script>
"""

CONNECT_TIMEOUT = 20.0
"ICE + DTLS normally take < 2 s here; generous for a loaded 2-core CI."
PLAYING_TIMEOUT = 20.0
"First decoded frames at the viewer normally arrive < 2 s after it connects."
PROGRESS_WINDOW = 2.0
"Seconds between two samples that must show playback advancing."


async def state(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate("window.state()")
    return result


async def wait_state(
    page: Page,
    check: Callable[[dict[str, Any]], bool],
    within: float,
    what: str,
    logs: Callable[[], str],
) -> dict[str, Any]:
    """Poll the page's state() until `check` holds; fail with the last state and the logs."""
    deadline = time.monotonic() + within
    while True:
        current = await state(page)
        if check(current):
            return current
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not within {within}s; last state {current}\n{logs()}")
        await asyncio.sleep(0.1)  # the poll interval


async def open_page(browser: Any, url: str, log: PageLog) -> Page:
    page = await browser.new_page()
    log.attach(page)
    await page.goto(url)
    await page.wait_for_function("window.loaded === true", timeout=10_000)
    return page


async def eventually(predicate: Callable[[], Awaitable[bool]], within: float) -> bool:
    """Whether `predicate` holds within `within` seconds."""
    try:
        await until(predicate, within, interval=0.1)
    except AssertionError:
        return False
    return True


async def publish_from_browser(
    browser: Any, site: TestServer, whip_url: str, key: str, log: PageLog, logs: Callable[[], str]
) -> tuple[Page, dict[str, Any]]:
    """Open the publisher page, publish with WHIPClient; returns once it sends media."""
    page = await open_page(browser, str(site.make_url("/publish.html")), log)
    resource = await page.evaluate("([u, t]) => publish(u, t)", [whip_url, key])
    assert resource.startswith(whip_url + "/"), resource
    await wait_state(
        page, lambda s: s["connection"] == "connected", CONNECT_TIMEOUT, "publisher connected", logs
    )
    published = await wait_state(
        page,
        lambda s: (
            s["stats"].get("outbound-rtp:video", {}).get("framesEncoded", 0) > 0
            and s["stats"].get("outbound-rtp:audio", {}).get("packetsSent", 0) > 0
        ),
        CONNECT_TIMEOUT,
        "publisher sending video and audio",
        logs,
    )
    return page, published


PAGES = {"/publish.html": PUBLISH_HTML, "/view.html": VIEW_HTML}


@pytest.mark.timeout(90)
async def test_chromium_publishes_with_whip_js_and_plays_with_whep_js(studio: Studio) -> None:
    show_id, key = await studio.create_show("Browser WHIP/WHEP")
    whip_url = studio.url(f"/whip/{show_id}")
    whep_url = studio.url(f"/whep/{show_id}")
    pub_log, view_log = PageLog("publisher"), PageLog("viewer")

    def logs() -> str:
        return f"{pub_log}\n{view_log}"

    async with static_site(PAGES) as site, chromium() as browser:
        # --- publish: getUserMedia → WHIPClient.publish (POST, then trickle PATCHes)
        pub, published = await publish_from_browser(browser, site, whip_url, key, pub_log, logs)
        # The browser's own choice (VP8 by default); the server takes VP8 or H.264.
        pub_codec = published["stats"]["outbound-rtp:video"]["codec"]
        assert pub_codec in ("video/VP8", "video/H264"), f"publisher codec {pub_codec}"
        assert published["stats"]["outbound-rtp:audio"]["codec"] == "audio/opus"
        live = studio.onair.get(show_id)
        assert live is not None and live.publisher is not None

        # --- play: WHEPClient.view into <video muted autoplay>
        view = await open_page(browser, str(site.make_url("/view.html")), view_log)
        resource = await view.evaluate("(u) => view(u)", whep_url)
        assert resource.startswith(whep_url + "/"), resource
        await wait_state(
            view,
            lambda s: s["connection"] == "connected",
            CONNECT_TIMEOUT,
            "viewer connected",
            logs,
        )

        def playing(s: dict[str, Any]) -> bool:
            video = s["stats"].get("inbound-rtp:video", {})
            audio = s["stats"].get("inbound-rtp:audio", {})
            return (
                s["width"] > 0
                and s["currentTime"] > 0
                and video.get("framesDecoded", 0) > 0
                and audio.get("packetsReceived", 0) > 0
            )

        first = await wait_state(view, playing, PLAYING_TIMEOUT, "viewer playing", logs)
        await asyncio.sleep(PROGRESS_WINDOW)  # deliberately: playback over a window
        second = await state(view)
        v1, v2 = first["stats"]["inbound-rtp:video"], second["stats"]["inbound-rtp:video"]
        a1, a2 = first["stats"]["inbound-rtp:audio"], second["stats"]["inbound-rtp:audio"]
        detail = f"first {first}\nsecond {second}\n{logs()}"
        assert not second["paused"], detail
        assert second["width"] > 0 and second["height"] > 0, detail
        assert second["currentTime"] - first["currentTime"] >= 0.5 * PROGRESS_WINDOW, detail
        # ≥ 5 fps over the window (the program runs at ~30): playback, not a trickle.
        assert v2["framesDecoded"] - v1["framesDecoded"] >= 5 * PROGRESS_WINDOW, detail
        # Opus at 20 ms per packet: 100 packets in 2 s; accept a quarter of it.
        assert a2["packetsReceived"] - a1["packetsReceived"] >= 12 * PROGRESS_WINDOW, detail
        assert a2["totalSamplesReceived"] > a1["totalSamplesReceived"], detail
        assert v2["codec"] == "video/H264", f"viewer video codec {v2['codec']}\n{detail}"
        assert a2["codec"] == "audio/opus", detail

        # Trickle: both clients sent their candidates in PATCHes (RFC 9725), each taken
        # with a 204, read cross-origin (test_trickle_patch_is_readable_cross_origin).
        for log in (pub_log, view_log):
            answered = [s for m, _u, s in log.responses if m == "PATCH"]
            blocked = [u for m, u, _e in log.failed if m == "PATCH"]
            assert answered and not blocked, f"{log.name}: PATCHes\n{logs()}"
            assert all(s == 204 for s in answered), logs()
            errors = [line for line in log.lines if line.startswith("pageerror:")]
            assert not errors, logs()

        # --- stop: WHEPClient.stop closes its peer connection, then DELETEs (the server may
        # already have dropped the viewer on the DTLS close, hence 200 or 404).
        await view.evaluate("whep.stop()")
        assert await eventually(lambda: _no_viewers(studio, show_id), 10), logs()
        deletes = await statuses(view_log, "DELETE")
        assert deletes and deletes[0] in (200, 404), logs()
        # WHIPClient.stop: the publisher leaves (whether the show then ends at once is
        # test_whip_stop_after_the_connection_closed_ends_the_show's business).
        await pub.evaluate("whip.stop()")
        assert await eventually(lambda: _publisher_gone(studio, show_id), 10), logs()


@pytest.mark.timeout(60)
async def test_whip_stop_after_the_connection_closed_ends_the_show(studio_factory: Any) -> None:
    """whip.js stop() = pc.close() then DELETE: the DELETE must still end the show at once."""
    studio: Studio = await studio_factory(grace_period=60.0)
    show_id, key = await studio.create_show("Stop")
    whip_url = studio.url(f"/whip/{show_id}")
    log = PageLog("publisher")
    async with static_site(PAGES) as site, chromium() as browser:
        pub, _ = await publish_from_browser(browser, site, whip_url, key, log, log.__str__)
        # The browser sending is not the server airing it: a publisher that leaves before
        # its first frame reached the program puts the show back as it was (nothing aired),
        # and its DELETE then finds no session (404). This test is about a show that aired.
        assert await eventually(lambda: _aired(studio, show_id), CONNECT_TIMEOUT), str(log)
        # Make the order deterministic: the server has seen the connection close (DTLS
        # close_notify) before the DELETE arrives, as it usually does anyway.
        await pub.evaluate("window.pc.close()")
        assert await eventually(lambda: _publisher_gone(studio, show_id), 10), str(log)
        await pub.evaluate("whip.stop()")
        deletes = await statuses(log, "DELETE")
        assert deletes == [200], f"DELETE of the WHIP session answered {deletes}\n{log}"
        assert await eventually(lambda: _show_off_air(studio, show_id), 5), str(log)
    show = await studio.store.get_show(show_id)
    assert show is not None and show.state in ("ended", "published")


@pytest.mark.timeout(60)
async def test_trickle_patch_is_readable_cross_origin(studio: Studio) -> None:
    """A WHIP/WHEP page on another origin must see what a PATCH got (not a CORS failure)."""
    show_id, key = await studio.create_show("CORS")
    log = PageLog("cors")
    page_html = (
        '<!doctype html><link rel="icon" href="data:,"><script>window.loaded = true</script>'
    )
    async with static_site({"/cors.html": page_html}) as site, chromium() as browser:
        page = await open_page(browser, str(site.make_url("/cors.html")), log)
        for kind in ("whip", "whep"):
            url = studio.url(f"/{kind}/{show_id}/no-such-session")
            status = await page.evaluate(
                """async ([url, token]) => {
                     try {
                       const r = await fetch(url, { method: "PATCH",
                         headers: { "Content-Type": "application/trickle-ice-sdpfrag",
                                    "Authorization": "Bearer " + token },
                         body: "a=ice-ufrag:abcd\\r\\na=ice-pwd:0123456789abcdef0123\\r\\n" });
                       return r.status;
                     } catch (e) { return String(e); }
                   }""",
                [url, key],
            )
            assert status == 404, f"{kind} PATCH from another origin: {status}\n{log}"


async def statuses(log: PageLog, method: str, within: float = 5.0) -> list[int]:
    """Statuses of the page's `method` requests (waiting a little for the response event)."""

    async def seen() -> bool:
        return any(m == method for m, _u, _s in log.responses)

    await eventually(seen, within)
    return [s for m, _u, s in log.responses if m == method]


async def _no_viewers(studio: Studio, show_id: str) -> bool:
    live = studio.onair.get(show_id)
    return live is None or live.viewer_count == 0


async def _publisher_gone(studio: Studio, show_id: str) -> bool:
    live = studio.onair.get(show_id)
    return live is None or live.publisher is None


async def _aired(studio: Studio, show_id: str) -> bool:
    live = studio.onair.get(show_id)
    return live is not None and live.aired


async def _show_off_air(studio: Studio, show_id: str) -> bool:
    return studio.onair.get(show_id) is None
