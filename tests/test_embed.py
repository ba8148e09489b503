"""The embeddable player without a browser: who may frame what (headers), the brand's
allowed sites, the embed page, oEmbed, the share tags, and Buy clicks counted from an embed."""

from __future__ import annotations

import html
import json
import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from livestudio.catalog.brand import validate_embed_origin
from livestudio.catalog.errors import FieldError
from livestudio.catalog.validation import ProductFields
from livestudio.http.embed import LINK_KEY, sign_viewer, viewer_of

from .conftest import Studio
from .utils import image_bytes, recorded_show


def csp(headers: Any) -> str:
    return ", ".join(headers.getall("Content-Security-Policy", []))


def config_of(page: str) -> dict[str, Any]:
    m = re.search(r'<script type="application/json" id="config">(.*?)</script>', page, re.S)
    assert m, "the page has its config"
    return json.loads(m.group(1))  # type: ignore[no-any-return]


def meta(page: str, key: str) -> str:
    m = re.search(rf'<meta (?:property|name)="{re.escape(key)}" content="([^"]*)"', page)
    assert m, f"{key} in the page"
    return html.unescape(m.group(1))


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("https://Shop.Example/", "https://shop.example"),
        ("https://shop.example:443", "https://shop.example"),
        ("https://shop.example:8443", "https://shop.example:8443"),
        ("https://*.shop.example", "https://*.shop.example"),
        ("https://bücher.example", "https://xn--bcher-kva.example"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://[::1]:80", "http://[::1]"),
        ("*", "*"),
    ],
)
def test_allowed_origins_are_normalised(given: str, stored: str) -> None:
    assert validate_embed_origin(given) == stored


@pytest.mark.parametrize(
    "bad",
    [
        "http://shop.example",  # plain http only for localhost
        "https://shop.example/blog",
        "https://shop.example?x=1",
        "https://user:pw@shop.example",
        "shop.example",
        "ftp://shop.example",
        "'self'",
        "https://shop.example 'unsafe-inline'",
        "https://shop.example;script-src *",
        "https://-shop.example",
        "https://shop.example:99999",
        "",
    ],
)
def test_anything_but_an_origin_is_refused(bad: str) -> None:
    with pytest.raises(FieldError):
        validate_embed_origin(bad)


async def test_brand_lists_the_sites_that_may_embed(studio: Studio) -> None:
    token = await studio.api_token()
    status, brand = await studio.api("GET", "/api/brand", token)
    assert status == 200 and brand["embed_origins"] == []
    status, brand = await studio.api(
        "PUT",
        "/api/brand",
        token,
        json={"embed_origins": ["https://Shop.Example/", "https://shop.example", "*"]},
    )
    assert status == 200, brand
    assert brand["embed_origins"] == ["https://shop.example", "*"]
    status, text = await studio.api(
        "PUT",
        "/api/brand",
        token,
        json={"name": "Renamed", "embed_origins": ["https://ok.example", "http://shop.example"]},
    )
    assert status == 422 and "embed_origins" in text and "https://" in text
    status, text = await studio.api("PUT", "/api/brand", token, json={"embed_origins": "x"})
    assert status == 422
    status, brand = await studio.api("GET", "/api/brand", token)
    assert brand["name"] != "Renamed" and brand["embed_origins"] == ["https://shop.example", "*"]


async def test_only_the_embed_may_be_framed_and_only_by_the_listed_sites(studio: Studio) -> None:
    show_id, _ = await studio.create_show("Framed")
    for path in ("/", f"/live/{show_id}", "/login", "/api/openapi.json", "/shows.ics"):
        reply = await studio.call("GET", path, auth=False)
        assert reply.headers["X-Frame-Options"] == "DENY", path
        assert csp(reply.headers).endswith("frame-ancestors 'none'"), path
    # Nobody listed yet: only the studio itself (its own pages) may frame the embed.
    reply = await studio.call("GET", f"/embed/{show_id}", auth=False)
    assert reply.status == 200 and "X-Frame-Options" not in reply.headers
    assert csp(reply.headers).endswith("; frame-ancestors 'self'")
    assert "script-src 'self'" in csp(reply.headers), "the pages' policy, but for framing"
    assert csp(reply.headers).count("frame-ancestors") == 1
    await studio.store.update_brand(
        {"embed_origins": ["https://shop.example", "http://localhost:3000"]}
    )
    for path in (f"/embed/{show_id}", f"/embed/{show_id}?chat=1", "/embed/no-such-show"):
        reply = await studio.call("GET", path, auth=False)
        assert "X-Frame-Options" not in reply.headers, path
        assert csp(reply.headers).endswith(
            "; frame-ancestors 'self' https://shop.example http://localhost:3000"
        ), path
    assert reply.status == 404
    # The viewer page stays unframeable whatever the brand lists.
    reply = await studio.call("GET", f"/live/{show_id}", auth=False)
    assert reply.headers["X-Frame-Options"] == "DENY"


async def test_embed_page_is_the_player_with_card_and_optional_chat(studio: Studio) -> None:
    show_id, _ = await studio.create_show("Embedded")
    plain = (await studio.call("GET", f"/embed/{show_id}", auth=False)).text
    config = config_of(plain)
    assert config["whep"] == f"/whep/{show_id}" and config["buyTarget"] == "_top"
    assert 'id="card-buy" class="buy" target="_top"' in plain
    assert 'id="chat-form"' not in plain and 'id="chat-messages"' not in plain
    assert '<script type="module" src="/static/js/live.js' in plain
    assert 'name="robots" content="noindex"' in plain
    # Buy links carry the viewer id, signed: /go counts clicks without the cookie.
    query = parse_qs(config["goSuffix"].removeprefix("?"))
    assert query["embed"] == ["1"]
    assert viewer_of(studio.app[LINK_KEY], query["v"][0]) is not None
    with_chat = (await studio.call("GET", f"/embed/{show_id}?chat=1", auth=False)).text
    assert 'id="chat-form"' in with_chat and 'id="chat-messages"' in with_chat
    assert config_of(with_chat)["replayUrl"] == f"/embed/{show_id}?chat=1"
    # The viewer page itself still opens Buy in a new tab.
    page = (await studio.call("GET", f"/live/{show_id}", auth=False)).text
    assert 'id="card-buy" class="buy" target="_blank"' in page


async def test_a_published_show_embeds_its_replay(studio: Studio) -> None:
    await studio.ensure_admin()
    show_id = await recorded_show(studio, "published")
    page = (await studio.call("GET", f"/embed/{show_id}", auth=False)).text
    config = config_of(page)
    assert config["playlist"] == f"/media/{show_id}/index.m3u8"
    assert config["goSuffix"].startswith("?from=replay&embed=1&v=")
    assert '<script type="module" src="/static/js/replay.js' in page
    assert f'poster="/media/{show_id}/poster.jpg"' in page


def test_signed_viewer_ids() -> None:
    key = b"k" * 32
    token = sign_viewer(key, "abc_DEF-123")
    assert viewer_of(key, token) == "abc_DEF-123"
    assert viewer_of(b"x" * 32, token) is None
    assert viewer_of(key, "abc_DEF-124" + token[len("abc_DEF-123") :]) is None
    assert viewer_of(key, "abc_DEF-123") is None
    assert viewer_of(key, "") is None


async def test_buy_from_an_embed_counts_once_per_viewer_without_a_cookie(studio: Studio) -> None:
    show_id, _ = await studio.create_show("Clicks")
    product = await studio.store.create_product(
        ProductFields(
            name="Mug",
            price=Decimal("12.00"),
            currency="EUR",
            url="https://shop.example/mug?utm_medium=mail&ref=1",
        )
    )
    await studio.store.set_running_order(show_id, [product.id])
    # What the embed page gives a viewer, fetched with no cookie kept (a third-party frame).
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as frame:
        async with frame.get(studio.url(f"/embed/{show_id}")) as r:
            suffix = config_of(await r.text())["goSuffix"]
        go = studio.url(f"/go/{show_id}/{product.id}{suffix}")
        for _ in range(2):  # a double tap is one buyer
            async with frame.get(go, allow_redirects=False) as r:
                assert r.status == 302
                target = urlsplit(r.headers["Location"])
        query = parse_qs(target.query)
        assert target.netloc == "shop.example" and query["utm_medium"] == ["embed"]
        assert query["utm_source"] == ["livestudio"] and query["ref"] == ["1"]
        # A forged id is sent on, not counted.
        forged = go.replace("v=", "v=x")
        async with frame.get(forged, allow_redirects=False) as r:
            assert r.status == 302
    assert await studio.store.click_counts(show_id) == {product.id: {"live": 1, "replay": 0}}
    # The viewer page's own links keep their utm_medium.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as viewer:
        async with viewer.get(studio.url(f"/live/{show_id}")):
            pass
        async with viewer.get(
            studio.url(f"/go/{show_id}/{product.id}"), allow_redirects=False
        ) as r:
            assert parse_qs(urlsplit(r.headers["Location"]).query)["utm_medium"] == ["mail"]
    assert await studio.store.click_counts(show_id) == {product.id: {"live": 2, "replay": 0}}


async def test_oembed(studio: Studio) -> None:
    await studio.ensure_admin()
    await studio.store.update_brand({"name": "Acme Shop"})
    show_id, _ = await studio.create_show('Spring "drop"')
    base = studio.settings.base_url

    async def oembed(url: str, **params: str) -> Any:
        return await studio.call("GET", "/oembed", auth=False, params={"url": url, **params})

    reply = await oembed(f"{base}/live/{show_id}")
    assert reply.status == 200 and reply.headers["Access-Control-Allow-Origin"] == "*"
    data = reply.json()
    assert data["version"] == "1.0" and data["type"] == "video"
    assert data["title"] == 'Spring "drop"' and data["provider_name"] == "Acme Shop"
    assert (data["width"], data["height"]) == (640, 360 + 88)
    frame = re.fullmatch(
        r'<iframe src="([^"]+)" title="([^"]+)" width="640" height="448".*', data["html"]
    )
    assert frame and frame.group(1) == f"{base}/embed/{show_id}"
    assert html.unescape(frame.group(2)) == 'Spring "drop"'
    assert data["thumbnail_url"] == f"{base}/static/img/og.png"
    assert (data["thumbnail_width"], data["thumbnail_height"]) == (1200, 630)
    # The request's own host is ours too (a server reached by another name than base_url).
    reply = await oembed(f"{studio.base}/live/{show_id}?chat=1", maxwidth="1000")
    data = reply.json()
    assert (data["width"], data["height"]) == (640 + 300, 360 + 88) and "chat=1" in data["html"]
    # Too narrow for the chat beside the video: under it.
    data = (await oembed(f"{base}/live/{show_id}?chat=1", maxwidth="400")).json()
    assert (data["width"], data["height"]) == (400, 225 + 88 + 240)
    reply = await oembed(f"{base}/live/{show_id}", maxwidth="1000", maxheight="300")
    assert reply.json()["height"] <= 300
    # A published show: its replay link works, with its poster.
    replay_id = await recorded_show(studio, "published")
    poster = studio.settings.recordings_dir / replay_id / "poster.jpg"
    poster.write_bytes(image_bytes("JPEG", (1280, 720)))
    data = (await oembed(f"{base}/replay/{replay_id}")).json()
    assert data["thumbnail_url"] == f"{base}/media/{replay_id}/poster.jpg"
    assert (data["thumbnail_width"], data["thumbnail_height"]) == (1280, 720)
    assert f"/embed/{replay_id}" in data["html"]
    hidden_id = await recorded_show(studio, "unpublished")
    for url, status in (
        (f"{base}/replay/{hidden_id}", 404),
        (f"{base}/live/nosuchshow", 404),
        (f"https://elsewhere.example/live/{show_id}", 404),
        (f"{base}/studio/shows/{show_id}", 404),
        ("", 400),
    ):
        assert (await oembed(url)).status == status, url
    assert (await oembed(f"{base}/live/{show_id}", format="xml")).status == 501
    assert (await oembed(f"{base}/live/{show_id}", maxwidth="wide")).status == 400


async def test_pages_advertise_oembed_and_share_the_start_time(studio_factory: Any) -> None:
    studio = await studio_factory(public_url="https://live.shop.example")
    await studio.ensure_admin()
    show, _ = await studio.store.create_show("Drop", "2030-01-02T18:00:00+01:00")
    page = (await studio.call("GET", f"/live/{show.id}", auth=False)).text
    assert meta(page, "video:release_date") == "2030-01-02T17:00:00+00:00"
    assert meta(page, "og:image") == "https://live.shop.example/static/img/og.png"
    # Twitter may frame the player only if the brand lets every site do so.
    assert meta(page, "twitter:card") == "summary_large_image"
    await studio.store.update_brand({"embed_origins": ["*"]})
    page = (await studio.call("GET", f"/live/{show.id}", auth=False)).text
    assert meta(page, "twitter:card") == "player"
    assert meta(page, "twitter:player") == f"https://live.shop.example/embed/{show.id}"
    m = re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    assert m
    data = json.loads(m.group(1))
    assert data["@type"] == "VideoObject" and data["embedUrl"].endswith(f"/embed/{show.id}")
    assert data["publication"]["@type"] == "BroadcastEvent"
    assert data["publication"]["startDate"] == "2030-01-02T17:00:00+00:00"
    link = re.search(r'<link rel="alternate" type="application/json\+oembed" href="([^"]+)"', page)
    assert link
    advertised = urlsplit(html.unescape(link.group(1)))
    reply = await studio.call("GET", f"{advertised.path}?{advertised.query}", auth=False)
    assert reply.status == 200 and reply.json()["title"] == "Drop"
    # The replay page advertises it too, with the poster as the picture.
    replay_id = await recorded_show(studio, "published")
    page = (await studio.call("GET", f"/replay/{replay_id}", auth=False)).text
    assert meta(page, "og:image") == f"https://live.shop.example/media/{replay_id}/poster.jpg"
    assert meta(page, "twitter:player") == f"https://live.shop.example/embed/{replay_id}"
    assert 'type="application/json+oembed"' in page


async def test_a_logo_is_the_shared_picture(studio: Studio) -> None:
    token = await studio.api_token()
    form = aiohttp.FormData()
    form.add_field("logo", image_bytes("PNG", (400, 200)), filename="logo.png")
    reply = await studio.call("POST", "/api/brand/logo", data=form)
    assert reply.status == 200, reply.text
    logo = reply.json()["logo_url"]
    show_id, _ = await studio.create_show("Logo")
    page = (await studio.call("GET", f"/live/{show_id}", auth=False)).text
    assert meta(page, "og:image") == studio.settings.base_url + logo
    status, data = await studio.api(
        "GET", f"/oembed?url={studio.settings.base_url}/live/{show_id}", token
    )
    assert status == 200 and data["thumbnail_url"].endswith(logo)
    assert (data["thumbnail_width"], data["thumbnail_height"]) == (400, 200)


async def test_public_routes_are_described(studio: Studio) -> None:
    spec = (await studio.call("GET", "/api/openapi.json", auth=False)).json()
    for path in ("/oembed", "/embed/{show}", "/live/{show}/calendar.ics", "/shows.ics"):
        assert spec["paths"][path]["get"]["security"] == [], path
    brand = spec["paths"]["/api/brand"]["get"]["responses"]["200"]
    assert "embed_origins" in brand["content"]["application/json"]["schema"]["properties"]
