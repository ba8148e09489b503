"""The studio and the viewer page in a real Chromium: go live from /studio, watch /live/{show}."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page

from .browser import PageLog, chromium, eventually, log_in, media_browser
from .conftest import Studio
from .media_files import LEFT_RGB, RIGHT_RGB, write_y4m
from .utils import until, whep_play, whip_publish

ARTIFACTS = Path(__file__).parent / "artifacts"

PROBE_JS = """() => {
  const v = document.getElementById("video");
  if (!v.videoWidth) return {width: 0};
  const c = document.createElement("canvas");
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext("2d");
  g.drawImage(v, 0, 0);
  const at = (x, y) => Array.from(
    g.getImageData(Math.floor(x * c.width), Math.floor(y * c.height), 1, 1).data.slice(0, 3));
  return {width: v.videoWidth, height: v.videoHeight, left: at(0.25, 0.4), right: at(0.75, 0.4),
          currentTime: v.currentTime, muted: v.muted};
}"""

STATS_JS = """async () => {
  const s = window.livestudio && window.livestudio.session;
  if (!s) return null;
  const out = {connection: s.pc.connectionState, location: s.location};
  (await s.pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp") out[r.kind] = {
      framesDecoded: r.framesDecoded || 0, totalAudioEnergy: r.totalAudioEnergy || 0,
      packetsReceived: r.packetsReceived || 0};
  });
  return out;
}"""


def close_to(rgb: list[int], expected: tuple[int, int, int], tolerance: int = 45) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(rgb, expected, strict=True))


async def go_live(host: Page, studio: Studio, show_id: str, log: PageLog) -> None:
    """Log in, open the show in the studio, and press Go live once the camera is up."""
    await log_in(host, studio)
    await host.goto(f"{studio.base}/studio/shows/{show_id}")
    await eventually(lambda: host.is_enabled("#go-live"), 15, "devices ready", log)
    await host.click("#go-live")


async def test_go_live_from_studio_and_watch(studio: Studio, tmp_path: Path) -> None:
    base = studio.base
    async with await media_browser(tmp_path) as browser:
        browser: Browser  # type: ignore[no-redef]
        host = await browser.new_page()
        host_log = PageLog("studio").attach(host)
        await log_in(host, studio)
        await host.fill("input[name=title]", "Spring <collection> & co")
        await host.click("#create-show button[type=submit]")
        await host.wait_for_url(f"{base}/studio/shows/*")
        show_id = host.url.rsplit("/", 1)[1]
        assert await host.text_content("h1") is not None
        assert "Spring <collection> & co" in (await host.text_content("h1") or ""), "escaped"

        # The viewer opens the link before the show starts.
        viewer = await browser.new_page()
        viewer_log = PageLog("viewer").attach(viewer)
        await viewer.goto(f"{base}/live/{show_id}")
        await viewer.evaluate("window.noReload = 1")
        assert "not started" in (await viewer.text_content("#message") or "")
        assert await viewer.is_visible("#unmute")

        await eventually(lambda: host.is_enabled("#go-live"), 15, "devices ready", host_log)
        await host.click("#go-live")
        await eventually(
            lambda: host.evaluate(
                "document.getElementById('status').textContent.includes('You are live')"
            ),
            20,
            "host is live",
            host_log,
        )

        # It starts playing by itself, showing the clip's colours.
        async def colours() -> Any:
            p = await viewer.evaluate(PROBE_JS)
            ok = p["width"] and close_to(p["left"], LEFT_RGB) and close_to(p["right"], RIGHT_RGB)
            return p if ok else None

        probe = await eventually(colours, 20, "viewer shows the clip's colours", viewer_log)
        assert (probe["width"], probe["height"]) == (640, 360)
        first = await viewer.evaluate(STATS_JS)
        await viewer.click("#unmute")  # a tap: audio plays out, so its energy counts
        assert not await viewer.evaluate("document.getElementById('video').muted")

        async def rising() -> Any:
            now = await viewer.evaluate(STATS_JS)
            return (
                now["video"]["framesDecoded"] > first["video"]["framesDecoded"] + 20
                and now["audio"]["totalAudioEnergy"] > first["audio"]["totalAudioEnergy"]
                and now
            )

        await eventually(rising, 15, "frames decoded and audio energy rising", viewer_log)
        badge = await host.text_content("#viewers")
        assert badge == "1", f"the studio counts its viewer: {badge}"
        assert "×" in (await host.text_content("#outgoing") or ""), "outgoing stats shown"

        # The server drops the viewer's session behind its back: the page recovers alone.
        location = (await viewer.evaluate(STATS_JS))["location"]
        async with studio.session.delete(location) as r:
            assert r.status == 200

        async def recovered() -> Any:
            s = await viewer.evaluate(STATS_JS)
            return (
                s
                and s["location"] != location
                and s["connection"] == "connected"
                and s.get("video", {}).get("framesDecoded", 0) > 5
            )

        await eventually(
            recovered, 20, "viewer recovered after its session was deleted", viewer_log
        )
        assert await viewer.evaluate("window.noReload") == 1, "no page reload"

        # End show (confirmed) → the viewer page says so.
        host.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await host.click("#end-show")
        await eventually(
            lambda: viewer.evaluate(
                "document.getElementById('message').textContent.includes('ended')"
            ),
            10,
            "viewer told the show ended",
            viewer_log,
        )
        # The replay is published at once: the viewer page links it, the studio can
        # unpublish and publish it again.
        await eventually(lambda: viewer.is_visible("#replay-link"), 10, "replay link", viewer_log)
        await eventually(lambda: host.is_visible("#unpublish"), 10, "unpublish offered", host_log)
        await host.click("#unpublish")
        await eventually(lambda: host.is_visible("#publish"), 10, "publish offered", host_log)
        assert (await studio.store.get_show(show_id)).state == "unpublished"  # type: ignore[union-attr]
        await host.click("#publish")
        await eventually(lambda: host.is_visible("#unpublish"), 10, "published again", host_log)
    show = await studio.store.get_show(show_id)
    assert show is not None and show.state == "published", "ended, replay published"


async def test_insecure_context_explains_why_no_camera(studio: Studio) -> None:
    show_id, _ = await studio.create_show("Over plain HTTP")
    port = studio.server.port
    async with chromium(["--host-resolver-rules=MAP studio.test 127.0.0.1"]) as browser:
        page = await browser.new_page()
        log = PageLog("studio.test").attach(page)
        base = f"http://studio.test:{port}"
        await log_in(page, studio, base)
        await page.goto(f"{base}/studio/shows/{show_id}")
        assert not await page.evaluate("window.isSecureContext")
        await eventually(lambda: page.is_visible("#insecure"), 5, "explanation shown", log)
        text = await page.text_content("#insecure") or ""
        assert "HTTPS" in text and "--tls-cert" in text and "reverse proxy" in text
        assert await page.is_disabled("#go-live")


async def test_viewer_page_on_a_phone_is_portrait(studio: Studio) -> None:
    show_id, _ = await studio.create_show("Phone layout")
    ARTIFACTS.mkdir(exist_ok=True)
    async with chromium() as browser:
        context = await browser.new_context(
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
        )
        page = await context.new_page()
        await page.goto(studio.url(f"/live/{show_id}"))
        video = await page.locator("#video").bounding_box()
        side = await page.locator("aside.side").bounding_box()
        assert video and side
        assert video["width"] >= 380, "the video spans the phone's width"
        assert side["y"] >= video["y"] + video["height"] - 1, "video on top, details below"
        await page.screenshot(path=str(ARTIFACTS / "viewer-phone-390x844.png"), full_page=True)
        og = await page.get_attribute("meta[property='og:title']", "content")
        assert og == "Phone layout"


async def test_studio_republishes_by_itself_when_the_connection_drops(
    studio_factory: Any, tmp_path: Path
) -> None:
    studio: Studio = await studio_factory(grace_period=30.0)
    show_id, _ = await studio.create_show("Flaky Wi-Fi")
    async with await media_browser(tmp_path) as browser:
        host = await browser.new_page()
        log = PageLog("studio").attach(host)
        await go_live(host, studio, show_id, log)
        await eventually(lambda: studio.onair.get(show_id) is not None, 15, "on air", log)
        live = studio.onair.get(show_id)
        assert live is not None
        await eventually(
            lambda: live.publisher is not None and live.publisher.video_frames > 10,
            15,
            "publishing",
            log,
        )
        first = live.publisher
        assert first is not None
        # Every status the page shows, kept: a quick republish replaces "reconnecting"
        # with "you are live" sooner than a poll on a loaded machine may look.
        await host.evaluate(
            """window.statuses = [];
            new MutationObserver(() => window.statuses.push(
              document.getElementById('status').textContent.toLowerCase()
            )).observe(document.getElementById('status'),
                       { childList: true, characterData: true, subtree: true });"""
        )
        await first.close()  # the connection drops (as if the network went away)
        await eventually(
            lambda: host.evaluate("window.statuses.some((s) => s.includes('reconnecting'))"),
            # A DTLS close alert is seen at once; if it is lost, ICE consent takes ~10 s.
            25,
            "the page says it is reconnecting",
            log,
        )
        await eventually(
            lambda: (
                live.publisher is not None
                and live.publisher is not first
                and live.publisher.video_frames > 10
            ),
            20,
            "republished by itself",
            log,
        )
        assert studio.onair.get(show_id) is live, "the same show"
        await eventually(lambda: live.state == "live", 10, "live again", log)
        assert await host.evaluate("window.livestudio.republishes") >= 1


async def test_a_720p_camera_goes_out_at_720p_from_the_start(
    studio: Studio, tmp_path: Path
) -> None:
    """aiortc's own bandwidth estimate held browsers at ~60 kbit/s and 640x360, and the
    program size is fixed by the first frame: the host must send full size at once."""
    show_id, _ = await studio.create_show("Full size")
    clip = write_y4m(tmp_path / "hd.y4m", 1280, 720, 30)
    async with chromium([f"--use-file-for-fake-video-capture={clip}"]) as browser:
        host = await browser.new_page()
        log = PageLog("studio").attach(host)
        await go_live(host, studio, show_id, log)
        await eventually(
            lambda: (live := studio.onair.get(show_id)) is not None and live.frame_size is not None,
            15,
            "program started",
            log,
        )
        live = studio.onair.get(show_id)
        assert live is not None and live.frame_size == (1280, 720)
        target = await eventually(
            lambda: host.evaluate(
                """(async () => { let t = 0;
                (await window.livestudio.session.pc.getStats()).forEach(r => {
                  if (r.type === 'outbound-rtp' && r.kind === 'video') t = r.targetBitrate || 0; });
                return t > 1000000 && t; })()"""
            ),
            10,
            "the browser targets over 1 Mbit/s",
            log,
        )
        assert target > 1_000_000


async def test_viewer_page_says_when_the_show_is_full_and_retries(studio_factory: Any) -> None:
    # With live HLS off: with it on, a full show plays HLS instead (test_browser_hls.py).
    studio: Studio = await studio_factory(max_viewers=1, hls=False)
    show_id, key = await studio.create_show("Full house")
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    first = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
    await until(lambda: len(first.stamps) > 0, 15)  # the one seat is taken
    async with chromium() as browser:
        page = await browser.new_page()
        log = PageLog("viewer").attach(page)
        await page.goto(studio.url(f"/live/{show_id}"))
        await eventually(
            lambda: page.evaluate(
                "document.getElementById('message').textContent.includes('full right now')"
            ),
            10,
            "the page says the show is full",
            log,
        )
        posts = [r for r in log.responses if r[0] == "POST" and "/whep/" in r[1]]
        assert posts and all(status == 503 for _, _, status in posts)
        # It retries after Retry-After by itself (a second POST arrives).
        await eventually(
            lambda: len([r for r in log.responses if r[0] == "POST" and "/whep/" in r[1]]) >= 2,
            15,
            "a retry after Retry-After",
            log,
        )
    await first.close(studio.session)
    await pub.close(studio.session)


NO_MICROPHONE_JS = """(() => {
  // This laptop has a camera and no microphone: asking for audio fails as Chromium does.
  const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = (c) => c && c.audio
    ? Promise.reject(new DOMException("Requested device not found", "NotFoundError"))
    : real(c);
})();"""


async def test_a_laptop_without_a_microphone_goes_live_with_silence(studio: Studio) -> None:
    show_id, _ = await studio.create_show("No mic")
    async with chromium() as browser:
        host = await browser.new_page()
        await host.add_init_script(NO_MICROPHONE_JS)
        log = PageLog("studio").attach(host)
        await go_live(host, studio, show_id, log)
        assert await host.is_visible("#no-microphone"), "the studio says there is no sound"
        await eventually(lambda: studio.onair.get(show_id) is not None, 15, "live", log)
        live = studio.onair.get(show_id)
        assert live is not None
        # The program's own counters: a show's stats() have no source frames or audio.
        await eventually(lambda: live.program.stats.frames_from_source > 30, 20, "video", log)
        player = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
        await eventually(lambda: len(player.pts) > 10, 15, "a viewer decodes it", log)
        # The program sends audio (silence) while no host audio ever arrived. (Not
        # audio_silent == audio_frames: the program thread bumps them one after the other.)
        assert live.program.stats.audio_frames > 0
        assert live.publisher is not None and live.publisher.audio_frames == 0, "silence"
        await player.close(studio.session)
