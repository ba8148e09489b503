"""The studio's catalog pages over HTTP: login required, product text escaped everywhere."""

from __future__ import annotations

import json
import re
from typing import Any

from livestudio.catalog.validation import parse_product
from livestudio.store import ProductRecord

from .conftest import Studio

NAME = "Café <b>chair</b> & \"co\" '1'"
ESCAPED = "Café &lt;b&gt;chair&lt;/b&gt; &amp; &#34;co&#34; &#39;1&#39;"
PAGES = ("/studio/products", "/studio/brand")


async def page(studio: Studio, path: str, status: int = 200) -> str:
    async with studio.session.get(studio.url(path)) as r:
        text = await r.text()
        assert r.status == status, text
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        return text


def config_of(html: str) -> dict[str, Any]:
    m = re.search(r'<script type="application/json" id="config">(.*?)</script>', html, re.S)
    assert m, "the page hands its data to its script"
    data: dict[str, Any] = json.loads(m.group(1))
    return data


def assert_escaped(html: str) -> None:
    assert ESCAPED in html, "the name shows as text, escaped"
    assert "<b>" not in html and "chair</b>" not in html, "no markup from product text"


async def add(studio: Studio, name: str, **fields: Any) -> ProductRecord:
    data = {"name": name, "price": "1299.00", "currency": "EUR", **fields}
    return await studio.store.create_product(parse_product(data))


async def test_pages_need_a_login(studio: Studio) -> None:
    show_id, _ = await studio.create_show()
    for path in (*PAGES, f"/studio/shows/{show_id}/products", "/studio/products?q=x"):
        async with studio.session.get(studio.url(path), allow_redirects=False) as r:
            assert r.status == 303, path
            assert r.headers["Location"].startswith(f"/login?next={path[:10]}"), path


async def test_products_page_lists_searches_and_escapes(studio: Studio) -> None:
    await studio.log_in()
    await add(studio, NAME, sku="CH-1", url="https://shop.example/chair", stock=3)
    await add(studio, "Lamp", price="12.50")
    html = await page(studio, "/studio/products")
    assert_escaped(html)
    assert "€1,299.00" in html and "€12.50" in html
    assert 'href="/studio/products"' in html and 'href="/studio/brand"' in html, "nav links"
    assert "All or nothing" in html and 'href="/api/products.csv"' in html
    config = config_of(html)
    assert config["csrf"] and [p["name"] for p in config["products"]] == ["Lamp", NAME]
    assert "\\u003cb\\u003e" in html, "the JSON for the script is escaped too"

    found = await page(studio, "/studio/products?q=CHAIR")
    assert ESCAPED in found and "Lamp" not in found.split('id="product-rows"')[1]
    assert [p["sku"] for p in config_of(found)["products"]] == ["CH-1"]
    none = await page(studio, "/studio/products?q=%3Cscript%3E")
    assert "No product matches “&lt;script&gt;”" in none and "<script>x" not in none


async def test_brand_page_shows_settings_escaped(studio: Studio) -> None:
    await studio.log_in()
    await studio.store.update_brand(
        {"name": "<i>Shop</i>", "locale": "de_DE", "currency": "EUR", "corner": "top-right"}
    )
    html = await page(studio, "/studio/brand")
    assert "&lt;i&gt;Shop&lt;/i&gt;" in html and "<i>" not in html
    assert "1.299,00\xa0€" in html, "the sample price in the brand's locale"
    assert re.search(r'<option value="top-right" selected>', html)
    assert config_of(html)["brand"]["locale"] == "de_DE"


async def test_running_order_page(studio: Studio) -> None:
    await studio.log_in()
    show_id, _ = await studio.create_show("Spring <show>")
    chair = await add(studio, NAME)
    lamp = await add(studio, "Lamp")
    gone = await add(studio, "Old <i>vase</i>")
    await studio.store.set_running_order(show_id, [lamp.id, gone.id, chair.id])
    await studio.store.delete_product(gone.id)
    html = await page(studio, f"/studio/shows/{show_id}/products")
    assert_escaped(html)
    assert "Spring &lt;show&gt;" in html and "<show>" not in html
    assert "Old &lt;i&gt;vase&lt;/i&gt;" in html and "deleted" in html, "history kept"
    config = config_of(html)
    assert [p["id"] for p in config["order"]] == [lamp.id, gone.id, chair.id]
    assert {p["id"] for p in config["catalog"]} == {lamp.id, chair.id}
    assert config["show"] == show_id and config["csrf"]

    missing = await page(studio, "/studio/shows/nope/products", status=404)
    assert "no such show" in missing
    await studio.store.delete_show(show_id)
    await page(studio, f"/studio/shows/{show_id}/products", status=404)
