"""The studio's catalog pages in a real Chromium: products, CSV, images, brand, running order."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

from PIL import Image
from playwright.async_api import Page, expect

from livestudio.catalog.validation import parse_product

from .browser import PageLog, chromium, eventually, log_in
from .conftest import Studio

NAME = "Café <b>chair</b>"
NBSP = "\xa0"
WAIT = 5000
"""Milliseconds Playwright waits for the page to show something."""


def png(colour: tuple[int, int, int] = (200, 60, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "PNG")
    return out.getvalue()


def upload(name: str, data: bytes, mime: str) -> dict[str, Any]:
    return {"name": name, "mimeType": mime, "buffer": data}


async def studio_page(studio: Studio, browser: Any, name: str) -> tuple[Page, PageLog]:
    """A page logged in to the studio; dialogs (confirm) are accepted."""
    page = await browser.new_page()
    log = PageLog(name).attach(page)
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await log_in(page, studio)
    return page, log


async def add_product(studio: Studio, name: str, price: str = "12.50", **fields: Any) -> int:
    data = {"name": name, "price": price, "currency": "EUR", **fields}
    return (await studio.store.create_product(parse_product(data))).id


async def test_products_add_search_edit_image_csv(studio: Studio) -> None:
    async with chromium() as browser:
        page, log = await studio_page(studio, browser, "products")
        await page.click("header.site >> text=Products")
        await page.wait_for_url("**/studio/products")
        rows = page.locator("#product-rows tr:not(.empty)")
        await expect(rows).to_have_count(0)

        # A price written the European way, under an en_US brand, is refused with the API's
        # message (saying how en_US writes it); nothing stored.
        form = page.locator("#product-form")
        await form.locator("[name=name]").fill(NAME)
        await form.locator("[name=price]").fill("1.299,00")
        await form.locator("[name=currency]").fill("EUR")
        await form.locator("[name=url]").fill("https://shop.example/chair")
        await page.click("#save")
        await expect(page.locator("#form-error")).to_contain_text(
            "as en_US writes it, e.g. 1,299.90"
        )
        assert await studio.store.list_products() == []

        await form.locator("[name=price]").fill("1299.00")
        await page.click("#save")
        await expect(rows).to_have_count(1)
        assert await rows.first.locator("td.name strong").text_content() == NAME
        assert await page.locator("#product-rows b").count() == 0, "no element from the name"
        await expect(rows.first).to_contain_text("€1,299.00")
        [chair] = await studio.store.list_products()
        assert chair.name == NAME and chair.fields.url == "https://shop.example/chair"

        # Search narrows the list (a product added elsewhere shows up too).
        await add_product(studio, "Desk lamp", sku="LAMP-1")
        await page.fill("#search", "lamp")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_contain_text("Desk lamp")
        await page.fill("#search", "")
        await expect(rows).to_have_count(2)

        # Edit: stock and an image in one save.
        await rows.filter(has_text="chair").locator("button.edit").click()
        await expect(page.locator("#form-title")).to_have_text("Edit product")
        assert await form.locator("[name=name]").input_value() == NAME
        await form.locator("[name=stock]").fill("7")
        await form.locator("[name=image]").set_input_files(upload("c.png", png(), "image/png"))
        await page.click("#save")
        chair_row = rows.filter(has_text="chair")
        await expect(chair_row.locator("td.stock")).to_have_text("7")
        await expect(chair_row.locator("img.thumb")).to_have_count(1)
        edited = await studio.store.get_product(chair.id)
        assert edited is not None and edited.stock == 7 and edited.image is not None
        loaded = "(img) => img.complete && img.naturalWidth > 0"
        await page.wait_for_function(
            f"({loaded})(document.querySelector('#product-rows img.thumb'))", timeout=WAIT
        )

        # CSV import: one bad row and nothing is stored; the page lists each problem.
        assert "nothing is imported" in (await page.text_content("#all-or-nothing") or "")
        bad = (
            "name,price,currency\n"
            "Good mug,8.00,EUR\n"
            "Bad price,abc,EUR\n"
            '"=HYPERLINK(""http://evil.example"")",1.00,EUR\n'
        )
        importer = page.locator("#import-form")
        await importer.locator("[name=file]").set_input_files(
            upload("bad.csv", bad.encode(), "text/csv")
        )
        await page.click("#import")
        errors = page.locator("#import-errors li")
        await expect(errors).to_have_count(2)
        await expect(errors.nth(0)).to_contain_text("Row 3 · price:")
        await expect(errors.nth(1)).to_contain_text("Row 4 · name:")
        await expect(page.locator("#import-message")).to_contain_text("nothing was imported")
        assert len(await studio.store.list_products()) == 2

        good = (
            "sku,name,price,currency,stock\nMUG-1,Good mug,8.00,EUR,5\nTEA-1,<i>Tea</i>,3.50,EUR,\n"
        )
        await importer.locator("[name=file]").set_input_files(
            upload("good.csv", good.encode(), "text/csv")
        )
        await page.click("#import")
        await expect(page.locator("#import-message")).to_have_text("Imported: 2 added, 0 updated.")
        await expect(errors).to_have_count(0)
        await expect(rows).to_have_count(4)
        assert await page.locator("#product-rows i").count() == 0
        await expect(rows.filter(has_text="<i>Tea</i>")).to_have_count(1)

        # Export downloads the catalog as CSV.
        async with page.expect_download() as info:
            await page.click("#export")
        download = await info.value
        assert download.suggested_filename == "products.csv"
        exported = await asyncio.to_thread(Path(await download.path()).read_text, "utf-8-sig")
        assert exported.startswith("sku,name,")
        assert NAME in exported and "MUG-1,Good mug" in exported

        # Delete (confirmed): gone from the list and the catalog.
        await rows.filter(has_text="Desk lamp").locator("button.delete").click()
        await expect(rows).to_have_count(3)
        assert len(await studio.store.list_products()) == 3
        assert not [line for line in log.lines if "pageerror" in line], log


async def test_brand_settings_and_prices_per_locale(studio: Studio) -> None:
    await add_product(studio, NAME, price="1299.00")
    async with chromium() as browser:
        page, log = await studio_page(studio, browser, "brand")
        await page.click("header.site >> text=Brand")
        await page.wait_for_url("**/studio/brand")
        form = page.locator("#brand-form")
        await form.locator("[name=accent]").fill("#0088ff")
        await form.locator("[name=corner]").select_option("top-right")
        await form.locator("[name=locale]").fill("xx_YY")
        await page.click("#save-brand")
        await expect(page.locator("#brand-error")).to_contain_text("locale")
        assert (await studio.store.get_brand()).locale == "en_US", "nothing changed"

        await form.locator("[name=locale]").fill("de_DE")
        await form.locator("[name=currency]").fill("EUR")
        await expect(page.locator("#preview")).to_have_class("brand-preview corner-top-right")
        await page.click("#save-brand")
        await expect(page.locator("#brand-status")).to_have_text("Saved.")
        brand = await studio.store.get_brand()
        assert (brand.accent, brand.corner, brand.locale, brand.currency) == (
            "#0088ff",
            "top-right",
            "de_DE",
            "EUR",
        )
        await page.locator("#logo-file").set_input_files(upload("l.png", png(), "image/png"))
        await expect(page.locator("#logo-status")).to_have_text("Logo saved.")
        await expect(page.locator("#logo")).to_be_visible()
        assert (await studio.store.get_brand()).logo is not None

        await page.click("header.site >> text=Products")
        price = page.locator("#product-rows .price .now")
        await expect(price).to_have_text(f"1.299,00{NBSP}€")
        await page.fill("#search", "chair")  # the list the script draws says the same
        await expect(price).to_have_text(f"1.299,00{NBSP}€")
        assert not [line for line in log.lines if "pageerror" in line], log


async def test_running_order_add_and_reorder(studio: Studio) -> None:
    chair = await add_product(studio, NAME)
    lamp = await add_product(studio, "Desk lamp")
    await add_product(studio, "Mug")
    show_id, _ = await studio.create_show("Spring")

    async def saved(ids: list[int]) -> bool:
        return [p.id for p in await studio.store.get_running_order(show_id)] == ids

    async with chromium() as browser:
        page, log = await studio_page(studio, browser, "running order")
        await page.goto(studio.url(f"/studio/shows/{show_id}/products"))
        picker = page.locator("#catalog li")
        await expect(picker).to_have_count(3)
        await picker.filter(has_text="chair").locator("button.add").click()
        await picker.filter(has_text="Desk lamp").locator("button.add").click()
        order = page.locator("#order li")
        await expect(order).to_have_count(2)
        assert await order.first.locator(".item-name strong").text_content() == NAME
        assert await page.locator("#order b").count() == 0
        await expect(picker.filter(has_text="chair").locator("button.add")).to_be_disabled()
        await expect(page.locator("#order-status")).to_have_text("Saved.")
        await eventually(lambda: saved([chair, lamp]), 5, "added in order", log, interval=0.05)

        await order.first.locator("button.down").click()
        await expect(order.first).to_contain_text("Desk lamp")
        await eventually(lambda: saved([lamp, chair]), 5, "reordered", log, interval=0.05)

        await page.reload()  # persisted: the page draws it from the server
        await expect(order).to_have_count(2)
        await expect(order.first).to_contain_text("Desk lamp")
        await order.nth(1).drag_to(order.first)  # dragging works too
        await expect(order.first).to_contain_text("chair")
        await eventually(lambda: saved([chair, lamp]), 5, "dragged", log, interval=0.05)

        await page.fill("#catalog-search", "mug")
        await expect(picker).to_have_count(1)
        assert not [line for line in log.lines if "pageerror" in line], log
