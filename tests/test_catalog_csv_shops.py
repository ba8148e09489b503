"""CSV import of Shopify and WooCommerce product exports, as the shops write them.

Nothing here reaches the internet: images are served by a local server on 127.0.0.1
(with import_allow_private_hosts), and the continuation rows' images are .invalid hosts.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from livestudio.catalog.shops import html_to_text

from .conftest import Studio
from .utils import image_bytes

SHOPIFY_HEADER = (
    "Handle,Title,Body (HTML),Vendor,Product Category,Type,Tags,Published,Option1 Name,"
    "Option1 Value,Option2 Name,Option2 Value,Option3 Name,Option3 Value,Variant SKU,"
    "Variant Grams,Variant Inventory Tracker,Variant Inventory Qty,Variant Inventory Policy,"
    "Variant Fulfillment Service,Variant Price,Variant Compare At Price,"
    "Variant Requires Shipping,Variant Taxable,Variant Barcode,Image Src,Image Position,"
    "Image Alt Text,Gift Card,SEO Title,SEO Description,"
    "Google Shopping / Google Product Category,Google Shopping / Gender,"
    "Google Shopping / Age Group,Google Shopping / MPN,Google Shopping / Condition,"
    "Google Shopping / Custom Product,Variant Image,Variant Weight Unit,Variant Tax Code,"
    "Cost per item,Included / United States,Price / United States,"
    "Compare At Price / United States,Included / International,Price / International,"
    "Compare At Price / International,Status"
).split(",")
WOO_HEADER = [
    "ID", "Type", "SKU", "Name", "Published", "Is featured?", "Visibility in catalog",
    "Short description", "Description", "Date sale price starts", "Date sale price ends",
    "Tax status", "Tax class", "In stock?", "Stock", "Low stock amount",
    "Backorders allowed?", "Sold individually?", "Weight (kg)", "Length (cm)", "Width (cm)",
    "Height (cm)", "Allow customer reviews?", "Purchase note", "Sale price", "Regular price",
    "Categories", "Tags", "Shipping class", "Images", "Download limit",
    "Download expiry days", "Parent", "Grouped products", "Upsells", "Cross-sells",
    "External URL", "Button text", "Position", "Attribute 1 name", "Attribute 1 value(s)",
    "Attribute 1 visible", "Attribute 1 global",
]  # fmt: skip
SHIRT_HTML = (
    "<p>Soft <strong>linen</strong> shirt &amp; relaxed fit.</p>"
    "<ul><li>100% linen</li><li>Machine wash</li></ul>"
    '<script>alert("x")</script><img src="x" onerror="alert(1)">'
)


def write_csv(header: list[str], rows: list[dict[str, str]]) -> str:
    """A CSV as the shop writes it: every header column, the cells the row names."""
    unknown = {key for row in rows for key in row} - set(header)
    assert not unknown, unknown
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(column, "") for column in header])
    return out.getvalue()


def shopify_export(chair_url: str) -> str:
    common = {"Vendor": "Brand", "Published": "TRUE", "Gift Card": "FALSE", "Status": "active"}
    variant = {
        "Variant Inventory Tracker": "shopify",
        "Variant Inventory Policy": "deny",
        "Variant Fulfillment Service": "manual",
        "Variant Requires Shipping": "TRUE",
        "Variant Taxable": "TRUE",
        "Variant Weight Unit": "kg",
    }
    return write_csv(
        SHOPIFY_HEADER,
        [
            {
                **common,
                **variant,
                "Handle": "linen-shirt",
                "Title": "Linen Shirt",
                "Body (HTML)": SHIRT_HTML,
                "Type": "Shirts",
                "Tags": "linen, summer",
                "Option1 Name": "Size",
                "Option1 Value": "S",
                "Variant SKU": "LS-S",
                "Variant Grams": "300",
                "Variant Inventory Qty": "12",
                "Variant Price": "49.00",
                "Variant Compare At Price": "59.00",
                "Image Src": chair_url,
                "Image Position": "1",
            },
            {  # the second variant: same Handle, no Title
                **variant,
                "Handle": "linen-shirt",
                "Option1 Value": "M",
                "Variant SKU": "LS-M",
                "Variant Inventory Qty": "7",
                "Variant Price": "49.00",
                "Image Src": "https://cdn.shop.invalid/files/shirt-back.jpg",
                "Image Position": "2",
            },
            {  # an extra image only
                "Handle": "linen-shirt",
                "Image Src": "https://cdn.shop.invalid/files/shirt-side.jpg",
                "Image Position": "3",
            },
            {
                **common,
                **variant,
                "Handle": "clay-mug",
                "Title": "Clay Mug",
                "Body (HTML)": "<p>Hand&#8209;thrown, 300&nbsp;ml.</p>",
                "Option1 Name": "Title",
                "Option1 Value": "Default Title",
                "Variant SKU": "MUG-1",
                "Variant Inventory Qty": "-2",  # oversold
                "Variant Price": "18.00",
                "Variant Compare At Price": "18.00",  # no sale
            },
        ],
    )


def woo_export(image_urls: str, sale_price: str = "15.00") -> str:
    common = {"Type": "simple", "Published": "1", "Tax status": "taxable", "In stock?": "1"}
    return "\ufeff" + write_csv(
        WOO_HEADER,
        [
            {
                **common,
                "ID": "101",
                "SKU": "TOTE-1",
                "Name": "Canvas Tote",
                "Short description": "A sturdy tote.",
                "Description": "<h2>Canvas tote</h2>\\n<p>Holds <em>everything</em>.</p>",
                "Stock": "30",
                "Sale price": sale_price,
                "Regular price": "20.00",
                "Categories": "Bags",
                "Images": image_urls,
                "Attribute 1 name": "Colour",
                "Attribute 1 value(s)": "Natural",
            },
            {
                **common,
                "Type": "external",
                "ID": "102",
                "SKU": "CAP-1",
                "Name": "Cotton Cap",
                "Short description": "<p>One size.</p>",
                "Regular price": "12.50",
                "External URL": "https://partner.example/cap",
                "Button text": "Buy",
            },
        ],
    )


@pytest.fixture
async def image_server() -> AsyncIterator[tuple[TestServer, Counter[str]]]:
    hits: Counter[str] = Counter()

    async def chair(request: web.Request) -> web.Response:
        hits[request.path] += 1
        return web.Response(body=image_bytes("PNG", (64, 48)), content_type="image/png")

    app = web.Application()
    app.router.add_get("/chair.png", chair)
    app.router.add_get("/chair-2.png", chair)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server, hits
    finally:
        await server.close()


async def post_import(studio: Studio, text: str, query: str = "", **form: str) -> tuple[int, Any]:
    """POST the CSV with an API token (as text/csv, or multipart with option fields)."""
    token = await studio.store.create_api_token("shop import tests")
    headers = {"Authorization": f"Bearer {token}"}
    data: Any = text.encode()
    if form:
        data = aiohttp.FormData()
        data.add_field("file", text.encode(), filename="export.csv", content_type="text/csv")
        for name, value in form.items():
            data.add_field(name, value)
    else:
        headers["Content-Type"] = "text/csv"
    async with studio.session.post(
        studio.url("/api/products/import" + query), data=data, headers=headers
    ) as r:
        text = await r.text()
        return r.status, json.loads(text) if r.content_type == "application/json" else text


async def products(studio: Studio) -> dict[str, Any]:
    return {p.fields.sku: p for p in await studio.store.list_products()}


async def test_shopify_export_imports(
    studio_factory: Any, image_server: tuple[TestServer, Counter[str]]
) -> None:
    studio: Studio = await studio_factory(import_allow_private_hosts=True)
    server, hits = image_server
    text = shopify_export(str(server.make_url("/chair.png")))
    status, body = await post_import(studio, text, "?shop_url=https://brand.example/")
    assert status == 200, body
    assert body["created"] == 2 and body["updated"] == 0
    assert body["format"] == "Shopify"
    notes = " ".join(body["notes"])
    assert "2 row(s) skipped" in notes
    assert "No currency column" in notes
    assert "Vendor" in notes and "Variant Grams" in notes  # ignored columns, named once
    assert hits == {"/chair.png": 1}  # the skipped rows' images are not fetched

    found = await products(studio)
    assert set(found) == {"LS-S", "MUG-1"}
    shirt, mug = found["LS-S"].fields, found["MUG-1"].fields
    assert shirt.name == "Linen Shirt"
    assert shirt.price == Decimal("49.00") and shirt.compare_at_price == Decimal("59.00")
    assert shirt.stock == 12
    assert shirt.url == "https://brand.example/products/linen-shirt"
    assert shirt.description == ("Soft linen shirt & relaxed fit.\n\n- 100% linen\n- Machine wash")
    assert "<" not in shirt.description and "alert" not in shirt.description
    assert found["LS-S"].image is not None and found["MUG-1"].image is None
    assert mug.name == "Clay Mug" and mug.price == Decimal("18.00")
    assert mug.compare_at_price is None  # equal to the price: no sale
    assert mug.stock == 0
    assert mug.url == "https://brand.example/products/clay-mug"
    assert mug.description == "Hand\u2011thrown, 300 ml."
    assert mug.currency == shirt.currency == (await studio.store.get_brand()).currency


async def test_shopify_without_shop_url_is_a_row_error(studio: Studio) -> None:
    text = shopify_export("")
    status, body = await post_import(studio, text)
    assert status == 422, body
    errors = [(e["row"], e["column"]) for e in body["errors"]]
    assert errors == [(2, "url"), (5, "url")]  # product rows only, not the continuations
    assert all("shop_url" in e["message"] for e in body["errors"])
    assert await studio.store.list_products() == []
    # A shop_url that is not an http(s) URL is refused as a whole.
    status, body = await post_import(studio, text, "?shop_url=javascript:alert(1)")
    assert status == 400 and "shop_url must start with http" in body
    assert await studio.store.list_products() == []


async def test_woocommerce_export_imports(
    studio_factory: Any, image_server: tuple[TestServer, Counter[str]]
) -> None:
    studio: Studio = await studio_factory(import_allow_private_hosts=True)
    server, hits = image_server
    images = f"{server.make_url('/chair.png')}, {server.make_url('/chair-2.png')}"
    status, body = await post_import(studio, woo_export(images), shop_url="https://brand.example")
    assert status == 200, body
    assert body["created"] == 2 and body["format"] == "WooCommerce"
    assert hits == {"/chair.png": 1}  # only the first of the product's images

    found = await products(studio)
    tote, cap = found["TOTE-1"].fields, found["CAP-1"].fields
    assert tote.name == "Canvas Tote"
    assert tote.price == Decimal("15.00") and tote.compare_at_price == Decimal("20.00")
    assert tote.stock == 30
    assert tote.url == "https://brand.example/?p=101"
    assert tote.description == "Canvas tote\n\nHolds everything."
    assert found["TOTE-1"].image is not None
    assert cap.price == Decimal("12.50") and cap.compare_at_price is None
    assert cap.stock is None
    assert cap.url == "https://partner.example/cap"
    assert cap.description == "One size."  # the short description when there is no other
    assert found["CAP-1"].image is None


async def test_bad_woocommerce_rows_store_nothing(studio: Studio) -> None:
    # No shop_url: the simple product cannot be linked (the external one can), and a bad
    # sale price on the same row is reported too.
    status, body = await post_import(studio, woo_export("", sale_price="abc"))
    assert status == 422, body
    got = [(e["row"], e["column"]) for e in body["errors"]]
    assert got == [(2, "url"), (2, "price")]
    assert "shop_url" in body["errors"][0]["message"]
    assert "not a number" in body["errors"][1]["message"]
    status, body = await post_import(
        studio, woo_export("", sale_price="abc"), shop_url="https://brand.example"
    )
    assert status == 422 and [(e["row"], e["column"]) for e in body["errors"]] == [(2, "price")]
    assert await studio.store.list_products() == []
    assert studio.media_files() == []


async def test_shop_exports_need_their_name_and_price_columns(studio: Studio) -> None:
    status, body = await post_import(studio, "Handle,Title,Vendor\nmug,Mug,Brand\n")
    assert status == 422
    assert "Shopify export needs its name and price columns" in body["errors"][0]["message"]
    # Our own format still refuses unknown columns.
    status, body = await post_import(studio, "name,price,colour\nMug,5,red\n")
    assert status == 422 and "unknown column" in body["errors"][0]["message"]


def test_html_to_text_is_text_only() -> None:
    assert html_to_text("<p>a<br>b</p><style>p{}</style><p>&lt;b&gt; &amp; c</p>") == (
        "a\nb\n\n<b> & c"
    )
    assert html_to_text("plain, no tags") == "plain, no tags"
    assert html_to_text("<div><p>unclosed <b>bold") == "unclosed bold"
