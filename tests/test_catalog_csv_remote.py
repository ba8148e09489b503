"""CSV import of image URLs: fetched by the server, safely (SSRF, size, redirects), all or nothing.

Nothing here reaches the internet: the "shop" is a local server on 127.0.0.1, and every
other host is an unresolvable .invalid name or an address refused before connecting.
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer

from livestudio.catalog import fetch
from livestudio.catalog.fetch import (
    AddressNotAllowed,
    FetchPolicy,
    PolicyResolver,
    address_problem,
    fetch_bytes,
)
from livestudio.catalog.images import MAX_BYTES, ImageError
from livestudio.catalog.validation import parse_product
from livestudio.config import SettingsError, load_settings
from livestudio.store import ValidationError

from .conftest import Studio
from .utils import image_bytes

CHAIR = image_bytes("PNG", (64, 48))
BLUE = image_bytes("JPEG", (32, 32))


@dataclass
class Shop:
    """A shop's image server on 127.0.0.1, counting the requests for each path."""

    server: TestServer
    hits: Counter[str] = field(default_factory=Counter)

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    @property
    def port(self) -> int:
        port = self.server.port
        assert port is not None
        return port


def shop_app(shop_hits: Counter[str]) -> web.Application:
    async def count(request: web.Request, handler: Any) -> web.StreamResponse:
        shop_hits[request.path] += 1
        response: web.StreamResponse = await handler(request)
        return response

    async def chair(_: web.Request) -> web.Response:
        return web.Response(body=CHAIR, content_type="image/png")

    async def blue(_: web.Request) -> web.Response:
        return web.Response(body=BLUE, content_type="image/jpeg")

    async def fake(_: web.Request) -> web.Response:
        return web.Response(text="<html>a page, not a picture</html>", content_type="image/jpeg")

    async def huge(request: web.Request) -> web.StreamResponse:
        # Chunked, no Content-Length: only counting the bytes can stop it.
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        await response.prepare(request)
        chunk = b"\xff" * 65536
        try:
            for _ in range(MAX_BYTES // len(chunk) + 16):
                await response.write(chunk)
        except (ConnectionError, RuntimeError):
            pass  # the importer hung up, as it should
        return response

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(5)  # deliberately slower than the importer waits
        return web.Response(body=CHAIR, content_type="image/png")

    def redirect(location: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            target = location.replace("{port}", str(request.url.port))
            raise web.HTTPFound(target)

        return handler

    app = web.Application(middlewares=[web.middleware(count)])
    app.router.add_get("/chair.png", chair)
    app.router.add_get("/blue.jpg", blue)
    app.router.add_get("/fake.jpg", fake)
    app.router.add_get("/huge.jpg", huge)
    app.router.add_get("/slow.png", slow)
    app.router.add_get("/to-chair", redirect("/chair.png"))
    app.router.add_get("/to-metadata", redirect("http://169.254.169.254/latest/meta-data/"))
    app.router.add_get("/to-zero", redirect("http://0.0.0.0:{port}/chair.png"))
    app.router.add_get("/to-invalid", redirect("http://images.shop.invalid/chair.png"))
    app.router.add_get("/to-ftp", redirect("ftp://127.0.0.1/chair.png"))
    app.router.add_get("/loop", redirect("/loop"))
    return app


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    hits: Counter[str] = Counter()
    server = TestServer(shop_app(hits), host="127.0.0.1")
    await server.start_server()
    try:
        yield Shop(server, hits)
    finally:
        await server.close()


async def import_csv(studio: Studio, text: str) -> tuple[int, Any]:
    """POST the CSV with an API token; (status, JSON body)."""
    token = await studio.store.create_api_token("remote import tests")
    async with studio.session.post(
        studio.url("/api/products/import"),
        data=text.encode(),
        headers={"Content-Type": "text/csv", "Authorization": f"Bearer {token}"},
    ) as r:
        return r.status, await r.json(content_type=None)


def row_errors(body: Any) -> dict[int, str]:
    return {e["row"]: f"{e['column']}: {e['message']}" for e in body["errors"]}


async def test_image_urls_are_fetched_once_and_stored(studio_factory: Any, shop: Shop) -> None:
    studio: Studio = await studio_factory(import_allow_private_hosts=True)
    chair = shop.url("/chair.png")
    text = (
        "sku,name,price,currency,image\n"
        f"C-1,Chair,10,EUR,{chair}\n"
        f"C-2,Chair (oak),12,EUR, {chair} \n"
        f"C-3,Chair (ash),12,EUR,{shop.url('/to-chair')}\n"
        f"B-1,Blue,5,EUR,{shop.url('/blue.jpg')}\n"
        "L-1,Lamp,3,EUR,\n"
    )
    status, body = await import_csv(studio, text)
    assert status == 200, body
    assert body == {"created": 5, "updated": 0}
    # The same URL on two rows is one request; the redirect's target is a URL of its own.
    assert shop.hits == {"/chair.png": 2, "/to-chair": 1, "/blue.jpg": 1}
    images = {p.fields.sku: p.image for p in await studio.store.list_products()}
    assert images["C-1"] == images["C-2"] == images["C-3"] is not None
    assert images["B-1"] not in (None, images["C-1"]) and images["L-1"] is None
    keys = {images["C-1"], images["B-1"]}
    assert studio.media_files() == sorted(
        name for key in keys for name in (f"{key}.webp", f"{key}.thumb.webp")
    )


async def test_every_bad_url_is_a_row_error_and_nothing_is_stored(
    studio_factory: Any, shop: Shop
) -> None:
    studio: Studio = await studio_factory(import_allow_private_hosts=True)
    rows = [
        shop.url("/chair.png"),  # row 2 is fine: it must not be stored either
        shop.url("/missing.png"),
        shop.url("/fake.jpg"),
        shop.url("/huge.jpg"),
        shop.url("/to-metadata"),
        shop.url("/to-zero"),
        shop.url("/loop"),
        shop.url("/to-invalid"),
        shop.url("/to-ftp"),
        "https://images.shop.invalid/chair.png",
        f"http://127.1:{shop.port}/chair.png",
    ]
    text = "name,price,currency,image\n" + "".join(
        f"Product {n},5,EUR,{url}\n" for n, url in enumerate(rows)
    )
    status, body = await import_csv(studio, text)
    assert status == 422, body
    assert "nothing was imported" in body["error"]
    errors = row_errors(body)
    expected = {
        3: "HTTP 404",
        4: "fake.jpg: not a JPEG, PNG or WebP image",
        5: "huge.jpg: the image is larger than 10 MB",
        6: "address not allowed (169.254.169.254 is link-local)",
        7: "address not allowed (0.0.0.0 is unspecified)",
        8: "more than 3 redirects",
        9: "cannot resolve images.shop.invalid",
        10: "only http:// and https:// image URLs are fetched",
        11: "https://images.shop.invalid/chair.png: cannot resolve images.shop.invalid",
        12: "address not allowed (127.1 is not a plain IP address)",
    }
    assert sorted(errors) == sorted(expected), errors
    for row, message in expected.items():
        assert errors[row].startswith("image: "), errors[row]
        assert message in errors[row], (row, errors[row])
    assert errors[3] == f"image: {shop.url('/missing.png')}: HTTP 404"
    assert await studio.store.list_products() == []
    assert studio.media_files() == []


async def test_loopback_is_refused_unless_private_hosts_are_allowed(
    studio_factory: Any, shop: Shop
) -> None:
    studio: Studio = await studio_factory()
    assert studio.settings.import_allow_private_hosts is False
    urls = [
        shop.url("/chair.png"),
        f"http://localhost:{shop.port}/chair.png",
        f"http://[::ffff:127.0.0.1]:{shop.port}/chair.png",
        f"http://[::1]:{shop.port}/chair.png",
        f"http://2130706433:{shop.port}/chair.png",
    ]
    text = "name,price,currency,image\n" + "".join(f"P{n},5,EUR,{u}\n" for n, u in enumerate(urls))
    status, body = await import_csv(studio, text)
    assert status == 422, body
    errors = row_errors(body)
    assert sorted(errors) == [2, 3, 4, 5, 6]
    assert errors[2] == (
        f"image: {urls[0]}: address not allowed (127.0.0.1 is loopback;"
        " LIVESTUDIO_IMPORT_ALLOW_PRIVATE_HOSTS=true allows it)"
    )
    assert "address not allowed (localhost: " in errors[3] and "is loopback" in errors[3]
    for row in (4, 5, 6):
        assert "address not allowed" in errors[row], errors[row]
    assert shop.hits == {}  # refused before connecting, not after
    assert await studio.store.list_products() == []
    assert studio.media_files() == []


async def test_a_refused_database_import_takes_its_files_back(
    studio_factory: Any, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    studio: Studio = await studio_factory(import_allow_private_hosts=True)
    token = await studio.store.create_api_token("t")
    auth = {"Authorization": f"Bearer {token}"}
    # The chair is already stored (another product's image): the import must not remove it.
    product = await studio.store.create_product(
        parse_product({"name": "Old chair", "price": "1", "currency": "EUR"})
    )
    async with studio.session.post(
        studio.url(f"/api/products/{product.id}/image"),
        data=CHAIR,
        headers={**auth, "Content-Type": "image/png"},
    ) as r:
        assert r.status == 200
        chair_key = (await r.json())["image"]
    before = studio.media_files()
    assert before == [f"{chair_key}.thumb.webp", f"{chair_key}.webp"]

    async def refuse(items: Any) -> tuple[int, int]:
        assert studio.media_files() != before  # the new image was written before the database
        raise ValidationError("a SKU in the file was taken by another product during the import")

    monkeypatch.setattr(studio.store, "import_products", refuse)
    form = aiohttp.FormData()
    text = (
        "name,price,currency,image\n"
        f"Chair,5,EUR,{shop.url('/chair.png')}\n"
        f"Blue,5,EUR,{shop.url('/blue.jpg')}\n"
        "Mug,5,EUR,mug.png\n"
    )
    form.add_field("file", text.encode(), filename="p.csv", content_type="text/csv")
    form.add_field("images", image_bytes("PNG", (20, 20)), filename="mug.png")
    async with studio.session.post(
        studio.url("/api/products/import"), data=form, headers=auth
    ) as r:
        assert r.status == 409, await r.text()
    assert studio.media_files() == before
    assert [p.id for p in await studio.store.list_products()] == [product.id]


@pytest.mark.parametrize(
    ("address", "private_allowed", "problem"),
    [
        ("93.184.216.34", False, None),
        ("2606:4700:4700::1111", False, None),
        ("127.0.0.1", False, "loopback"),
        ("127.0.0.1", True, None),
        ("::1", False, "loopback"),
        ("::ffff:127.0.0.1", False, "loopback"),
        ("::ffff:127.0.0.1", True, None),
        ("10.1.2.3", False, "private"),
        ("172.16.5.4", False, "private"),
        ("192.168.1.10", False, "private"),
        ("192.168.1.10", True, None),
        ("100.64.0.1", False, "private"),
        ("fd12:3456::1", False, "private"),
        ("::ffff:10.0.0.1", False, "private"),
        ("64:ff9b::a00:1", False, "private"),  # NAT64 of 10.0.0.1
        ("2002:c0a8:101::1", False, "private"),  # 6to4 of 192.168.1.1
        ("169.254.169.254", True, "link-local"),  # cloud metadata: never
        ("fe80::1", True, "link-local"),
        ("fe80::1%eth0", True, "link-local"),
        ("224.0.0.1", True, "multicast"),
        ("ff02::1", True, "multicast"),
        ("0.0.0.0", True, "unspecified"),
        ("::", True, "unspecified"),
        ("240.0.0.1", True, "reserved"),
        ("192.0.2.7", True, "reserved"),  # documentation range
        ("255.255.255.255", True, "reserved"),
        ("not-an-address", True, "not an IP address"),
    ],
)
def test_address_policy(address: str, private_allowed: bool, problem: str | None) -> None:
    got = address_problem(address, private_allowed)
    if problem is None:
        assert got is None
    else:
        assert got is not None and problem in got, got


class FixedResolver(AbstractResolver):
    """Answers every name with the same addresses (what a rebinding DNS server might say)."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=a,
                port=port,
                family=socket.AF_INET6 if ":" in a else socket.AF_INET,
                proto=0,
                flags=0,
            )
            for a in self.addresses
        ]

    async def close(self) -> None:
        pass


async def test_the_resolver_hands_the_connector_only_allowed_addresses() -> None:
    mixed = PolicyResolver(False, FixedResolver("10.0.0.5", "93.184.216.34", "::1"))
    assert [r["host"] for r in await mixed.resolve("shop.test", 443)] == ["93.184.216.34"]
    inside = PolicyResolver(False, FixedResolver("169.254.169.254", "10.0.0.5"))
    with pytest.raises(AddressNotAllowed, match=r"shop\.test: 169\.254\.169\.254 is link-local"):
        await inside.resolve("shop.test", 443)
    allowed = PolicyResolver(True, FixedResolver("169.254.169.254", "10.0.0.5"))
    assert [r["host"] for r in await allowed.resolve("shop.test", 443)] == ["10.0.0.5"]


async def test_the_connection_goes_to_the_checked_address(shop: Shop) -> None:
    # A name whose DNS says 127.0.0.1: refused without a request when private hosts are not
    # allowed; when they are, the connector connects to exactly what the resolver checked.
    url = f"http://images.shop.test:{shop.port}/chair.png"
    for allow, expected in ((False, None), (True, CHAIR)):
        policy = FetchPolicy(allow_private=allow, timeout=5)
        resolver = PolicyResolver(allow, FixedResolver("127.0.0.1"))
        async with fetch._session(resolver, policy) as session:
            if expected is None:
                with pytest.raises(ImageError, match=r"images\.shop\.test: 127\.0\.0\.1 is loop"):
                    await fetch_bytes(session, url, policy)
                assert shop.hits == {}
            else:
                assert await fetch_bytes(session, url, policy) == expected
    assert shop.hits == {"/chair.png": 1}


class EndlessBody:
    """A response body that never ends, counting what is read from it."""

    def __init__(self) -> None:
        self.read_bytes = 0

    async def read(self, n: int = -1) -> bytes:
        assert n > 0, "an unbounded read"
        self.read_bytes += n
        return b"\0" * n


@dataclass
class FakeResponse:
    content: EndlessBody
    content_length: int | None = None


async def test_the_body_is_read_to_the_limit_plus_one_byte_at_most() -> None:
    body = EndlessBody()
    with pytest.raises(ImageError, match="larger than") as caught:
        await fetch._read_capped(FakeResponse(body), 1000)  # type: ignore[arg-type]
    assert caught.value.status == 413 and body.read_bytes == 1001
    declared = EndlessBody()
    with pytest.raises(ImageError, match="larger than"):
        await fetch._read_capped(FakeResponse(declared, 1001), 1000)  # type: ignore[arg-type]
    assert declared.read_bytes == 0  # refused on the header alone


async def test_a_slow_server_times_out(shop: Shop) -> None:
    policy = FetchPolicy(allow_private=True, timeout=0.3)
    async with fetch._session(PolicyResolver(True), policy) as session:
        with pytest.raises(ImageError, match=r"no answer within 0\.3 s"):
            await fetch_bytes(session, shop.url("/slow.png"), policy)
        assert await fetch_bytes(session, shop.url("/chair.png"), policy) == CHAIR


def test_the_setting_is_off_by_default_and_checked(tmp_path: Path) -> None:
    base = {"data_dir": str(tmp_path)}
    assert load_settings(base, environ={}).import_allow_private_hosts is False
    environ = {"LIVESTUDIO_IMPORT_ALLOW_PRIVATE_HOSTS": "yes"}
    assert load_settings(base, environ=environ).import_allow_private_hosts is True
    with pytest.raises(SettingsError, match=r"^LIVESTUDIO_IMPORT_ALLOW_PRIVATE_HOSTS must be"):
        load_settings(base, environ={"LIVESTUDIO_IMPORT_ALLOW_PRIVATE_HOSTS": "maybe"})
    # From code, only a real bool: a truthy 1 must not quietly lower the guard.
    with pytest.raises(SettingsError, match=r"^--import-allow-private-hosts must be .*\(got 1\)"):
        load_settings({**base, "import_allow_private_hosts": 1}, environ={})
