"""What every response says about itself: a Server without versions, a strict
Content-Security-Policy on pages (which therefore carry no inline script or style), and
an events WebSocket that only our pages (and allowed sites) may open."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp

from .conftest import Studio

TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"


async def test_pages_have_a_strict_policy_and_no_server_versions(studio: Studio) -> None:
    show_id, _ = await studio.create_show()
    await studio.log_in()
    token = await studio.api_token()
    pages = ["/", "/login", "/studio", f"/studio/shows/{show_id}", "/studio/sessions"]
    pages += ["/studio/brand", "/studio/products", f"/live/{show_id}", "/live/nosuchshow"]
    for path in pages:
        async with studio.session.get(studio.url(path)) as r:
            policy = r.headers.get("Content-Security-Policy", "")
            assert r.content_type == "text/html", path
            assert "script-src 'self'" in policy and "unsafe" not in policy, (path, policy)
            assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
            assert f"ws://{r.url.host}:{r.url.port}" in policy, "the events socket"
            assert "media-src 'self' blob:" in policy and "worker-src 'self' blob:" in policy
            assert r.headers["Server"] == "LiveStudio", (path, r.headers["Server"])
    for path, headers in (
        ("/api/shows", {"Authorization": f"Bearer {token}"}),
        ("/api/shows", {}),
        ("/static/css/app.css", {}),
        ("/metrics", {}),
        ("/no/such/page", {}),
    ):
        async with aiohttp.ClientSession() as client:
            async with client.get(studio.url(path), headers=headers) as r:
                assert r.headers["Server"] == "LiveStudio", (path, r.headers["Server"])
                assert not re.search(r"\d", r.headers["Server"])


def test_templates_have_no_inline_script_handlers_or_styles() -> None:
    for template in sorted(TEMPLATES.glob("*.html")):
        html = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", html):
            # Data blocks (the page config, schema.org JSON-LD) are never run as script.
            data = 'type="application/json"' in tag or 'type="application/ld+json"' in tag
            assert "src=" in tag or data, (template.name, tag)
        assert not re.search(r"\son[a-z]+\s*=", html), f"{template.name}: an inline handler"
        assert not re.search(r"\sstyle\s*=", html), f"{template.name}: an inline style"


async def test_the_events_socket_refuses_other_sites(studio_factory) -> None:  # type: ignore[no-untyped-def]
    studio: Studio = await studio_factory(allowed_origins="https://shop.example")
    show_id, _ = await studio.create_show()
    url = studio.url(f"/live/{show_id}/events")
    async with aiohttp.ClientSession() as client:
        async with client.get(url, headers={"Origin": "https://evil.example"}) as r:
            assert r.status == 403
        for origin in (studio.base, "https://shop.example", None):
            headers = {"Origin": origin} if origin else {}
            async with client.ws_connect(url, headers=headers) as ws:
                assert (await ws.receive_json(timeout=5))["type"] == "snapshot", origin
