"""The catalog's JSON API: products, bad input, images, soft delete, running order, brand."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from livestudio.http.openapi import SPEC
from livestudio.http.products import PRODUCT_CHANGED

from .conftest import Studio
from .utils import image_bytes, png_bomb

DOCS = Path(__file__).resolve().parent.parent / "docs"
NBSP = "\xa0"


async def assert_nothing_stored(c: Studio) -> None:
    assert await c.store.list_products() == []
    assert c.media_files() == []


async def test_every_catalog_route_needs_a_token(catalog: Studio) -> None:
    product = await catalog.create_product()
    show, _ = await catalog.store.create_show("Spring")
    calls = [
        ("GET", "/api/products"),
        ("POST", "/api/products"),
        ("GET", f"/api/products/{product['id']}"),
        ("PATCH", f"/api/products/{product['id']}"),
        ("DELETE", f"/api/products/{product['id']}"),
        ("POST", f"/api/products/{product['id']}/image"),
        ("GET", f"/api/shows/{show.id}/products"),
        ("PUT", f"/api/shows/{show.id}/products"),
        ("GET", "/api/products.csv"),
        ("POST", "/api/products/import"),
        ("GET", "/api/brand"),
        ("PUT", "/api/brand"),
        ("POST", "/api/brand/logo"),
    ]
    for method, path in calls:
        reply = await catalog.call(method, path, auth=False, json={"stock": 0})
        assert reply.status == 401, (method, path)
        assert "API token" in reply.text
        wrong = await catalog.call(
            method, path, auth=False, headers={"Authorization": "Bearer ls_wrong"}
        )
        assert wrong.status == 401, (method, path)
    still = await catalog.store.get_product(product["id"])
    assert still is not None and still.stock is None


async def test_create_get_list_search(catalog: Studio) -> None:
    chair = await catalog.create_product(
        name="Café chair",
        price="1299",
        compare_at_price="1499.00",
        currency="EUR",
        url="https://shop.example/chair",
        stock=4,
        sku="CH-1",
        description="<b>Oak</b>",
    )
    assert chair["price"] == "1299.00" and chair["compare_at_price"] == "1499.00"
    assert chair["price_display"] == "€1,299.00"
    assert chair["compare_at_price_display"] == "€1,499.00"
    assert chair["image_url"] is None and chair["deleted_at"] is None
    mug = await catalog.create_product(name="Mug 椅子", price=1200, currency="JPY")
    assert mug["price"] == "1200" and mug["price_display"] == "¥1,200"

    got = await catalog.call("GET", f"/api/products/{chair['id']}")
    assert got.status == 200 and got.json() == chair
    listed = (await catalog.call("GET", "/api/products")).json()["products"]
    assert [p["id"] for p in listed] == [mug["id"], chair["id"]]
    for query, expected in (
        ("café", [chair]),
        ("CAFÉ", [chair]),
        ("ch-1", [chair]),
        ("椅子", [mug]),
        ("oak", [chair]),
        ("nothing", []),
    ):
        found = (await catalog.call("GET", "/api/products", params={"q": query})).json()
        assert [p["id"] for p in found["products"]] == [p["id"] for p in expected], query


async def test_prices_follow_the_brand_locale_and_currency(catalog: Studio) -> None:
    reply = await catalog.call("PUT", "/api/brand", json={"locale": "de_DE", "currency": "EUR"})
    assert reply.status == 200, reply.text
    product = await catalog.create_product(price="1299", currency=None)
    assert product["currency"] == "EUR"
    assert product["price_display"] == f"1.299,00{NBSP}€"
    await catalog.call("PUT", "/api/brand", json={"locale": "ja_JP"})
    yen = await catalog.create_product(price="1299", currency="JPY")
    assert yen["price_display"] == "￥1,299"


async def test_json_numbers_are_exact(catalog: Studio) -> None:
    reply = await catalog.call(
        "POST",
        "/api/products",
        data='{"name": "Pen", "price": 0.1, "compare_at_price": 19.99, "currency": "USD"}',
        headers={"Content-Type": "application/json"},
    )
    assert reply.status == 201, reply.text
    assert reply.json()["price"] == "0.10" and reply.json()["compare_at_price"] == "19.99"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"price": "abc"}, "price: 'abc' is not a number"),
        ({"price": "-5"}, "price: must not be negative"),
        ({"price": -5}, "price: must not be negative"),
        ({"price": "10000000000"}, "price: must be less than 1,000,000,000"),
        ({"price": 1e300}, "price: must be less than"),
        ({"price": "1.5", "currency": "JPY"}, "price: JPY has no minor units"),
        ({"price": "1.999", "currency": "EUR"}, "price: EUR allows at most 2 decimal places"),
        ({"currency": "XYZ"}, "currency: 'XYZ' is not an ISO 4217 currency code"),
        ({"currency": "euro"}, "currency: 'euro' is not an ISO 4217"),
        ({"name": ""}, "name: must not be empty"),
        ({"name": "   "}, "name: must not be empty"),
        ({"name": "x" * 10_000}, "name: must be at most 200 characters"),
        ({"url": "javascript:alert(document.cookie)"}, "url: must start with http:// or https://"),
        ({"url": "data:text/html;base64,PHNjcmlwdD4="}, "url: must start with http://"),
        ({"stock": -1}, "stock: must not be negative"),
        ({"stock": "lots"}, "stock: must be a whole number"),
        ({"compare_at_price": "5.00"}, "compare_at_price: must be greater than the price"),
        ({"sku": "=cmd|' /C calc'!A0"}, "sku: 1 to 64 letters"),
        ({"image": "https://evil.example/x.jpg"}, "image: upload it with POST"),
        ({"colour": "red"}, "colour: unknown field"),
    ],
)
async def test_bad_product_input_is_refused(
    catalog: Studio, fields: dict[str, Any], message: str
) -> None:
    data = {"name": "Lamp", "price": "10.00", "currency": "EUR", **fields}
    reply = await catalog.call("POST", "/api/products", json=data)
    assert reply.status == 422, reply.text
    assert message in reply.text
    assert reply.headers["Content-Type"].startswith("text/plain")
    await assert_nothing_stored(catalog)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ("not json", 400, "valid JSON"),
        ('{"name": "x", "price": NaN}', 400, "valid JSON"),
        ("[1, 2]", 400, "JSON object"),
        ('{"name": "' + "x" * 70_000 + '"}', 413, "too large"),
    ],
)
async def test_bad_bodies(catalog: Studio, body: str, status: int, message: str) -> None:
    reply = await catalog.call(
        "POST", "/api/products", data=body, headers={"Content-Type": "application/json"}
    )
    assert reply.status == status and message in reply.text
    await assert_nothing_stored(catalog)


async def test_patch_changes_only_what_is_sent(catalog: Studio) -> None:
    product = await catalog.create_product(stock=10, sku="L-1", url="https://shop.example/l")
    path = f"/api/products/{product['id']}"
    reply = await catalog.call("PATCH", path, json={"stock": 3})
    assert reply.status == 200, reply.text
    changed = reply.json()
    assert changed["stock"] == 3
    assert {k: v for k, v in changed.items() if k not in ("stock", "updated_at")} == {
        k: v for k, v in product.items() if k not in ("stock", "updated_at")
    }
    for bad, message in (
        ({"stock": -1}, "stock: must not be negative"),
        ({"price": "abc", "stock": 1}, "price: 'abc' is not a number"),
        ({"currency": "JPY", "price": "10.50"}, "JPY has no minor units"),
        ({"url": "javascript:alert(1)"}, "url: must start with http"),
        ({"name": None}, "name: must be text"),
    ):
        reply = await catalog.call("PATCH", path, json=bad)
        assert reply.status == 422 and message in reply.text, (bad, reply.text)
    after = (await catalog.call("GET", path)).json()
    assert after["stock"] == 3 and after["price"] == "10.00" and after["currency"] == "EUR"
    reply = await catalog.call("PATCH", path, json={"stock": None, "compare_at_price": "12"})
    assert reply.json()["stock"] is None and reply.json()["compare_at_price"] == "12.00"
    assert (await catalog.call("PATCH", "/api/products/999", json={"stock": 1})).status == 404
    assert (await catalog.call("GET", "/api/products/abc")).status == 404


async def test_sku_is_unique_among_live_products(catalog: Studio) -> None:
    first = await catalog.create_product(sku="A-1")
    reply = await catalog.call(
        "POST", "/api/products", json={"name": "B", "price": "1", "sku": "A-1"}
    )
    assert reply.status == 409 and "sku: 'A-1' is already used" in reply.text
    other = await catalog.create_product(sku="B-1")
    reply = await catalog.call("PATCH", f"/api/products/{other['id']}", json={"sku": "A-1"})
    assert reply.status == 409 and "already used" in reply.text
    assert (await catalog.call("DELETE", f"/api/products/{first['id']}")).status == 204
    await catalog.create_product(sku="A-1")  # free again once the first is deleted


async def test_image_upload_multipart_and_raw(catalog: Studio) -> None:
    product = await catalog.create_product()
    form = aiohttp.FormData()
    form.add_field(
        "image", image_bytes("JPEG", (3200, 2400)), filename="p.jpg", content_type="image/jpeg"
    )
    reply = await catalog.call("POST", f"/api/products/{product['id']}/image", data=form)
    assert reply.status == 200, reply.text
    uploaded = reply.json()
    key = uploaded["image"]
    assert uploaded["image_url"] == f"/media/products/{key}.webp"
    assert uploaded["thumbnail_url"] == f"/media/products/{key}.thumb.webp"
    assert catalog.media_files() == sorted([f"{key}.webp", f"{key}.thumb.webp"])

    served = await catalog.call("GET", uploaded["image_url"], auth=False)
    assert served.status == 200
    assert served.headers["Content-Type"] == "image/webp"
    assert "immutable" in served.headers["Cache-Control"]
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert Image.open(io.BytesIO(served.body)).size == (1600, 1200)
    thumb = await catalog.call("GET", uploaded["thumbnail_url"], auth=False)
    assert Image.open(io.BytesIO(thumb.body)).size == (320, 240)

    # The same picture again, raw this time, on another product: stored once.
    other = await catalog.create_product(name="Other")
    same = await catalog.call(
        "POST",
        f"/api/products/{other['id']}/image",
        data=image_bytes("JPEG", (3200, 2400)),
        headers={"Content-Type": "image/jpeg"},
    )
    assert same.status == 200, same.text
    assert same.json()["image"] == key and len(catalog.media_files()) == 2
    webp = await catalog.call(
        "POST",
        f"/api/products/{other['id']}/image",
        data=image_bytes("WEBP", (300, 300)),
        headers={"Content-Type": "image/webp"},
    )
    assert webp.status == 200 and webp.json()["image"] != key
    assert len(catalog.media_files()) == 4

    removed = await catalog.call("PATCH", f"/api/products/{other['id']}", json={"image": None})
    assert removed.json()["image"] is None and removed.json()["image_url"] is None


@pytest.mark.parametrize(
    ("make_body", "content_type", "status", "message"),
    [
        (lambda: b"GIF89a... not really", "image/jpeg", 400, "not a JPEG, PNG or WebP image"),
        (lambda: b"#!/bin/sh\nrm -rf /\n", "image/jpeg", 400, "not a JPEG, PNG or WebP image"),
        (lambda: image_bytes("GIF"), "image/gif", 415, "send a JPEG, PNG or WebP image"),
        (lambda: b"hello", "text/plain", 415, "send a JPEG, PNG or WebP"),
        (lambda: image_bytes("JPEG")[:4000], "image/jpeg", 400, "damaged or truncated"),
        (lambda: b"\xff\xd8\xff" + bytes(11 * 1024 * 1024), "image/jpeg", 413, "too large"),
        (lambda: _bomb(), "image/png", 413, "megapixels"),
    ],
)
async def test_bad_images_store_nothing(
    catalog: Studio, make_body: Any, content_type: str, status: int, message: str
) -> None:
    product = await catalog.create_product()
    reply = await catalog.call(
        "POST",
        f"/api/products/{product['id']}/image",
        data=make_body(),
        headers={"Content-Type": content_type},
    )
    assert reply.status == status, reply.text
    assert message in reply.text
    assert catalog.media_files() == []
    assert (await catalog.call("GET", f"/api/products/{product['id']}")).json()["image"] is None


def _bomb() -> bytes:
    return png_bomb(20000, 20000)


async def test_a_text_file_named_jpg_in_a_form(catalog: Studio) -> None:
    product = await catalog.create_product()
    form = aiohttp.FormData()
    form.add_field("image", b"just text\n" * 100, filename="photo.jpg", content_type="image/jpeg")
    reply = await catalog.call("POST", f"/api/products/{product['id']}/image", data=form)
    assert reply.status == 400 and "not a JPEG, PNG or WebP image" in reply.text
    big = aiohttp.FormData()
    big.add_field("image", bytes(11 * 1024 * 1024), filename="big.jpg", content_type="image/jpeg")
    reply = await catalog.call("POST", f"/api/products/{product['id']}/image", data=big)
    assert reply.status == 413
    empty = aiohttp.FormData(default_to_multipart=True)
    empty.add_field("note", "hi")
    reply = await catalog.call("POST", f"/api/products/{product['id']}/image", data=empty)
    assert reply.status == 400 and "multipart file field named 'image'" in reply.text
    assert catalog.media_files() == []
    unknown = await catalog.call(
        "POST", "/api/products/999/image", data=image_bytes(), headers={"Content-Type": "image/png"}
    )
    assert unknown.status == 404


async def test_media_path_tricks_are_404(catalog: Studio) -> None:
    product = await catalog.create_product()
    await catalog.call(
        "POST",
        f"/api/products/{product['id']}/image",
        data=image_bytes(),
        headers={"Content-Type": "image/png"},
    )
    (catalog.media.parent / "secret.webp").write_bytes(b"secret")
    for path in (
        "/media/products/../secret.webp",
        "/media/products/..%2Fsecret.webp",
        "/media/products/%2E%2E/secret.webp",
        "/media/products/secret.webp",
        "/media/products/" + "0" * 32 + ".webp",
        "/media/products/",
        "/media/products/x.webp%00.png",
    ):
        reply = await catalog.call("GET", path, auth=False)
        assert reply.status == 404, path
        assert b"secret" not in reply.body


async def test_soft_delete_keeps_history(catalog: Studio) -> None:
    chair = await catalog.create_product(name="Poäng chair", sku="P-1")
    lamp = await catalog.create_product(name="Lamp")
    show, _ = await catalog.store.create_show("Past show")
    reply = await catalog.call(
        "PUT", f"/api/shows/{show.id}/products", json={"products": [chair["id"], lamp["id"]]}
    )
    assert reply.status == 200, reply.text
    await catalog.store.add_event(show.id, "pin", {"product": chair["id"]}, 90_000)
    await catalog.store.set_show_state(show.id, "ended")

    assert (await catalog.call("DELETE", f"/api/products/{chair['id']}")).status == 204
    assert (await catalog.call("GET", f"/api/products/{chair['id']}")).status == 404
    assert (await catalog.call("DELETE", f"/api/products/{chair['id']}")).status == 404
    assert (await catalog.call("PATCH", f"/api/products/{chair['id']}", json={})).status == 404
    listed = (await catalog.call("GET", "/api/products")).json()["products"]
    assert [p["id"] for p in listed] == [lamp["id"]]

    # The show's history still names it: running order and the pin event's product.
    order = (await catalog.call("GET", f"/api/shows/{show.id}/products")).json()["products"]
    assert [(p["id"], p["name"]) for p in order] == [
        (chair["id"], "Poäng chair"),
        (lamp["id"], "Lamp"),
    ]
    assert order[0]["deleted_at"] is not None and order[1]["deleted_at"] is None
    events = await catalog.store.list_events(show.id)
    pinned = await catalog.store.get_products([e.data["product"] for e in events])
    assert pinned[chair["id"]].name == "Poäng chair"
    assert await catalog.store.get_product(chair["id"]) is None
    kept = await catalog.store.get_product(chair["id"], include_deleted=True)
    assert kept is not None and kept.deleted_at is not None


async def test_running_order(catalog: Studio) -> None:
    a, b, c = [await catalog.create_product(name=n) for n in ("A", "B", "C")]
    show, _ = await catalog.store.create_show("Tonight")
    path = f"/api/shows/{show.id}/products"
    assert (await catalog.call("GET", path)).json() == {"products": []}
    reply = await catalog.call("PUT", path, json={"products": [c["id"], a["id"], b["id"]]})
    assert reply.status == 200
    assert [p["name"] for p in reply.json()["products"]] == ["C", "A", "B"]
    reply = await catalog.call("PUT", path, json=[b["id"], c["id"]])  # a bare list works too
    assert [p["name"] for p in reply.json()["products"]] == ["B", "C"]
    assert [p["name"] for p in (await catalog.call("GET", path)).json()["products"]] == ["B", "C"]

    await catalog.call("DELETE", f"/api/products/{a['id']}")
    for body, status, message in (
        ({"products": [b["id"], b["id"]]}, 422, f"product {b['id']} is in the list twice"),
        ({"products": [b["id"], 999]}, 404, "there is no product 999"),
        ({"products": [a["id"]]}, 409, f"product {a['id']} was deleted"),
        ({"products": ["1"]}, 422, "products must be an id"),
        ({"products": [True]}, 422, "products must be an id"),
        ({"order": []}, 422, "unknown fields: order"),
    ):
        reply = await catalog.call("PUT", path, json=body)
        assert reply.status == status and message in reply.text, (body, reply.text)
    assert [p["name"] for p in (await catalog.call("GET", path)).json()["products"]] == ["B", "C"]
    # A deleted product already in the order may stay (editing a past show's order).
    await catalog.call("DELETE", f"/api/products/{c['id']}")
    reply = await catalog.call("PUT", path, json=[c["id"], b["id"]])
    assert reply.status == 200 and [p["name"] for p in reply.json()["products"]] == ["C", "B"]
    assert (await catalog.call("GET", "/api/shows/nope/products")).status == 404
    assert (await catalog.call("PUT", "/api/shows/nope/products", json=[])).status == 404
    assert (await catalog.call("PUT", path, json=[])).json() == {"products": []}


async def test_brand_settings(catalog: Studio) -> None:
    reply = await catalog.call("GET", "/api/brand")
    assert reply.status == 200
    assert reply.json() == {
        "name": "LiveStudio",
        "accent": "#e11d48",
        "corner": "bottom-left",
        "locale": "en_US",
        "currency": "USD",
        "logo": None,
        "logo_url": None,
        "logo_thumbnail_url": None,
        "embed_origins": [],
    }
    changes = {
        "name": "Möbel & Co",
        "accent": "#00AA77",
        "corner": "top-right",
        "locale": "de-DE",
        "currency": "eur",
    }
    reply = await catalog.call("PUT", "/api/brand", json=changes)
    assert reply.status == 200, reply.text
    brand = reply.json()
    assert (
        brand["name"],
        brand["accent"],
        brand["corner"],
        brand["locale"],
        brand["currency"],
    ) == ("Möbel & Co", "#00aa77", "top-right", "de_DE", "EUR")
    for bad, message in (
        ({"accent": "red"}, "accent: must be a colour written #rrggbb"),
        ({"accent": "#12345g"}, "accent: must be a colour"),
        ({"corner": "center"}, "corner: must be one of top-left, top-right"),
        ({"locale": "xx_YY"}, "locale: 'xx_YY' is not a known locale"),
        ({"currency": "ABC"}, "currency: 'ABC' is not an ISO 4217"),
        ({"name": ""}, "name: must not be empty"),
        ({"name": "x" * 101}, "name: must be at most 100"),
        ({"logo": "../../etc/passwd"}, "upload a logo with POST /api/brand/logo"),
        ({"font": "Comic"}, "font: unknown field"),
    ):
        reply = await catalog.call("PUT", "/api/brand", json={"name": "Changed", **bad})
        assert reply.status == 422 and message in reply.text, (bad, reply.text)
    assert (await catalog.call("GET", "/api/brand")).json() == brand

    form = aiohttp.FormData()
    form.add_field(
        "logo", image_bytes("PNG", (800, 200)), filename="logo.png", content_type="image/png"
    )
    reply = await catalog.call("POST", "/api/brand/logo", data=form)
    assert reply.status == 200, reply.text
    logo = reply.json()
    assert logo["logo_url"] == f"/media/products/{logo['logo']}.webp"
    assert (await catalog.call("GET", logo["logo_url"], auth=False)).status == 200
    bad_logo = await catalog.call(
        "POST", "/api/brand/logo", data=b"<svg/>", headers={"Content-Type": "image/png"}
    )
    assert bad_logo.status == 400
    assert (await catalog.call("GET", "/api/brand")).json()["logo"] == logo["logo"]
    reply = await catalog.call("PUT", "/api/brand", json={"logo": None})
    assert reply.json()["logo"] is None and reply.json()["name"] == "Möbel & Co"


async def test_product_text_is_returned_as_data(catalog: Studio) -> None:
    name = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
    product = await catalog.create_product(name=name, description="<b>bold</b>\nline")
    reply = await catalog.call("GET", f"/api/products/{product['id']}")
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.json()["name"] == name
    # JSON escapes nothing that matters to HTML; pages must escape it (autoescape).
    assert "<script>" in reply.text


async def test_catalog_routes_are_documented(catalog: Studio) -> None:
    text = (DOCS / "api.md").read_text()
    routes = {
        (route.method, route.resource.canonical)
        for route in catalog.app.router.routes()
        if route.resource is not None
        and re.match(r"/api/(products|brand|shows/\{show\}/products)", route.resource.canonical)
        and route.method != "HEAD"
    }
    assert len(routes) == 13
    for method, path in routes:
        assert method.lower() in SPEC["paths"].get(path, {}), f"{method} {path} not in openapi"
        assert f"{method} {path}" in text, f"{method} {path} not in docs/api.md"
    assert "GET /media/products/{file}" in text


async def test_a_real_sized_photo_uploads(catalog: Studio) -> None:
    # Bigger than aiohttp's default 1 MB body limit, well under ours.
    noise = Image.effect_noise((1400, 1000), 80).convert("RGB")
    out = io.BytesIO()
    noise.save(out, "PNG")
    assert 2 * 1024 * 1024 < len(out.getvalue()) < 10 * 1024 * 1024
    product = await catalog.create_product()
    form = aiohttp.FormData()
    form.add_field("image", out.getvalue(), filename="n.png", content_type="image/png")
    reply = await catalog.call("POST", f"/api/products/{product['id']}/image", data=form)
    assert reply.status == 200, reply.text
    raw = await catalog.call(
        "POST",
        f"/api/products/{product['id']}/image",
        data=out.getvalue(),
        headers={"Content-Type": "image/png"},
    )
    assert raw.status == 200 and raw.json()["image"] == reply.json()["image"]
    form = aiohttp.FormData()
    form.add_field("photo", out.getvalue(), filename="n.png", content_type="image/png")
    reply = await catalog.call("POST", f"/api/products/{product['id']}/image", data=form)
    assert reply.status == 400 and "field named 'image' (not 'photo')" in reply.text


async def test_listeners_hear_about_changes(catalog: Studio) -> None:
    heard: list[int] = []

    async def listener(product_id: int) -> None:
        heard.append(product_id)

    async def broken(product_id: int) -> None:
        raise RuntimeError("a listener bug must not fail the request")

    catalog.app[PRODUCT_CHANGED].extend([broken, listener])
    product = await catalog.create_product(sku="S-1")
    assert (
        await catalog.call("PATCH", f"/api/products/{product['id']}", json={"stock": 2})
    ).status == 200
    await catalog.call(
        "POST",
        "/api/products/import",
        data=b"sku,stock\nS-1,1\n",
        headers={"Content-Type": "text/csv"},
    )
    await catalog.call("DELETE", f"/api/products/{product['id']}")
    assert heard == [product["id"]] * 3
