"""CSV import (all-or-nothing, per-row errors) and export (formula cells neutralized)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from livestudio.catalog.csvio import (
    CsvImportError,
    export_csv,
    neutralize,
    plan_import,
    read_rows,
    restore,
)
from livestudio.catalog.validation import parse_product

from .conftest import Studio
from .utils import image_bytes

CSV = {"Content-Type": "text/csv"}


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        (
            '=HYPERLINK("http://evil.example","Click")',
            '\'=HYPERLINK("http://evil.example","Click")',
        ),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("'=1", "''=1"),
        ("Chair", "Chair"),
        ("it's fine", "it's fine"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_neutralize_and_restore(cell: str, safe: str) -> None:
    assert neutralize(cell) == safe
    assert restore(neutralize(cell)) == cell


def test_export_neutralizes_every_cell() -> None:
    product = parse_product(
        {
            "name": "=cmd|' /C calc'!A0",
            "description": "@SUM(1+1)",
            "price": "5",
            "currency": "EUR",
            "url": "https://shop.example/x",
            "sku": "A-1",
        }
    )
    text = export_csv([(product, "https://studio.example/media/products/x.webp")])
    assert text.startswith("\ufeffsku,name,description,price,compare_at_price,currency,url")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows[1] == [
        "A-1",
        "'=cmd|' /C calc'!A0",
        "'@SUM(1+1)",
        "5.00",
        "",
        "EUR",
        "https://shop.example/x",
        "",
        "https://studio.example/media/products/x.webp",
    ]
    for row in rows:
        for cell in row:
            assert not cell or cell[0] not in "=+-@\t\r"


def test_read_rows_reports_every_broken_row() -> None:
    text = (
        "name,price,currency\n"
        "Chair,10,EUR\n"
        "Table,20\n"  # a cell short
        "=1+1,5,EUR\n"  # a formula
        "\n"  # blank lines are skipped
        "Lamp,3,EUR,extra\n"  # a cell too many
        "@me,2,EUR\n"
    )
    rows, errors = read_rows(text)
    assert [row.cells["name"] for row in rows] == ["Chair", "=1+1", "@me"]
    assert [(e.row, e.column) for e in errors] == [
        (3, None),
        (4, "name"),
        (6, None),
        (7, "name"),
    ]
    assert "expected 3 cells, found 2" in errors[0].message
    assert "formula" in errors[1].message


def test_read_rows_header_problems_and_broken_quotes() -> None:
    for text, message in (
        ("", "header row is needed"),
        ("name,colour\nx,red\n", "unknown column"),
        ("name,name,price\n", "appears twice"),
        ("description\nx\n", "needs name and price"),
    ):
        with pytest.raises(CsvImportError) as caught:
            read_rows(text)
        assert message in caught.value.errors[0].message, text
    rows, errors = read_rows('name,price\nLamp,5\n"Chair,10\nLamp,5\n')
    assert len(rows) == 1
    assert errors[0].row == 3 and "broken CSV" in errors[0].message


def test_semicolons_bom_and_aliases() -> None:
    rows, errors = read_rows("\ufeffName;Price;Image URL\r\nStuhl;12.50;\r\n")
    assert errors == []
    assert rows[0].cells == {"name": "Stuhl", "price": "12.50", "image": ""}


def test_plan_import_creates_and_updates() -> None:
    existing = parse_product({"name": "Chair", "price": "10", "currency": "EUR", "sku": "C-1"})
    rows, _ = read_rows("sku,stock,price\nC-1,4,\nN-1,1,3\nN-1,2,3\n")
    with pytest.raises(CsvImportError) as caught:
        plan_import(rows, {"C-1": (1, existing)}, "EUR", lambda cell: cell)
    messages = [(e.row, e.column, e.message) for e in caught.value.errors]
    assert messages == [
        (2, "price", "is required"),
        (3, "name", "must be text"),
        (4, "sku", "'N-1' is also on row 3"),
    ]
    rows, _ = read_rows("sku,stock\nC-1,4\n")
    [item] = plan_import(rows, {"C-1": (1, existing)}, "EUR", lambda cell: cell)
    assert item.product_id == 1 and item.fields.stock == 4 and item.fields.name == "Chair"
    assert not item.set_image


async def test_round_trip(catalog: Studio) -> None:
    show_me = {
        "name": '=HYPERLINK("http://evil.example")',
        "description": '- soft\n- warm, "cosy"',
        "price": "1299.00",
        "compare_at_price": "1499.00",
        "currency": "EUR",
        "url": "https://shop.example/a?b=1,2",
        "stock": 4,
        "sku": "A-1",
    }
    first = await catalog.create_product(**show_me)
    uploaded = await catalog.call(
        "POST",
        f"/api/products/{first['id']}/image",
        data=image_bytes(),
        headers={"Content-Type": "image/png"},
    )
    key = uploaded.json()["image"]
    await catalog.create_product(name="Mug 椅子", price="1200", currency="JPY", sku="M-1")
    await catalog.create_product(name="No SKU", price="1", currency="USD")
    exported = await catalog.call("GET", "/api/products.csv")
    assert exported.status == 200
    assert exported.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in exported.headers["Content-Disposition"]
    assert "'=HYPERLINK" in exported.text
    before = {p["sku"]: p for p in (await catalog.call("GET", "/api/products")).json()["products"]}

    # Re-importing the export changes nothing for SKU'd products (one new copy of the
    # product without a SKU: nothing identifies it).
    reply = await catalog.call("POST", "/api/products/import", data=exported.body, headers=CSV)
    assert reply.status == 200, reply.text
    assert reply.json() == {"created": 1, "updated": 2}
    after = (await catalog.call("GET", "/api/products")).json()["products"]
    by_sku = {p["sku"]: p for p in after}
    for sku in ("A-1", "M-1"):
        ignore = ("updated_at",)
        assert {k: v for k, v in by_sku[sku].items() if k not in ignore} == {
            k: v for k, v in before[sku].items() if k not in ignore
        }
    assert by_sku["A-1"]["name"] == show_me["name"]
    assert by_sku["A-1"]["description"] == show_me["description"]
    assert by_sku["A-1"]["image"] == key
    assert [p["name"] for p in after].count("No SKU") == 2
    store_products = await catalog.store.list_products()
    assert {p.fields.price for p in store_products} == {
        Decimal("1299.00"),
        Decimal("1200"),
        Decimal("1.00"),
    }


async def test_import_creates_in_the_brand_currency(catalog: Studio) -> None:
    await catalog.call("PUT", "/api/brand", json={"currency": "JPY", "locale": "ja_JP"})
    text = "name,price,stock,url\nChair,1299,5,https://shop.example/c\nLamp,300,,\n"
    reply = await catalog.call("POST", "/api/products/import", data=text.encode(), headers=CSV)
    assert reply.status == 200 and reply.json() == {"created": 2, "updated": 0}
    products = (await catalog.call("GET", "/api/products")).json()["products"]
    assert [(p["name"], p["price_display"], p["stock"]) for p in products] == [
        ("Lamp", "￥300", None),
        ("Chair", "￥1,299", 5),
    ]


BAD_FILES: list[tuple[str, list[tuple[int, str | None, str]]]] = [
    (
        "name,price,currency\nChair,abc,EUR\nLamp,-5,EUR\nSofa,1e12,EUR\nMug,1.5,JPY\n"
        "Cup,5,XYZ\n,5,EUR\nTable,10\n",
        [
            (2, "price", "'abc' is not a number"),
            (3, "price", "must not be negative"),
            (4, "price", "is not a number"),
            (5, "price", "JPY has no minor units"),
            (6, "currency", "'XYZ' is not an ISO 4217"),
            (7, "name", "must not be empty"),
            (8, None, "expected 3 cells, found 2"),
        ],
    ),
    (
        'name,price,url\nGood,5,https://shop.example\n=HYPERLINK("x"),5,\n'
        "Evil,5,javascript:alert(1)\n+cmd,5,\n",
        [
            (3, "name", "formula"),
            (4, "url", "must start with http"),
            (5, "name", "formula"),
        ],
    ),
    ('name,price\nOk,5\n"unterminated,5\n', [(3, None, "broken CSV")]),
    ("name,price\n" + "x" * 300 + ",5\n", [(2, "name", "at most 200")]),
    (
        "name,price,image\nChair,5,ftp://cdn.example/chair.jpg\nLamp,5,missing.png\n"
        "Mug,5,/static/mug.png\n",
        [
            (2, "image", "only http:// and https:// URLs are fetched"),
            (3, "image", "neither an uploaded file nor a stored image"),
            (4, "image", "give a file name, an http(s) URL or a /media/products/ path"),
        ],
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD_FILES)
async def test_bad_imports_store_nothing(
    catalog: Studio, text: str, expected: list[tuple[int, str | None, str]]
) -> None:
    reply = await catalog.call("POST", "/api/products/import", data=text.encode(), headers=CSV)
    assert reply.status == 422, reply.text
    assert reply.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = reply.json()
    assert "nothing was imported" in body["error"]
    got = [(e["row"], e["column"], e["message"]) for e in body["errors"]]
    assert len(got) == len(expected) == body["total"], got
    for (row, column, message), (want_row, want_column, want_message) in zip(
        got, expected, strict=True
    ):
        assert (row, column) == (want_row, want_column), got
        assert want_message in message, got
    assert await catalog.store.list_products() == []
    assert catalog.media_files() == []


async def test_import_refuses_bad_bodies(catalog: Studio) -> None:
    reply = await catalog.call(
        "POST", "/api/products/import", data="name,price\nCafé,5\n".encode("latin-1"), headers=CSV
    )
    assert reply.status == 400 and "UTF-8" in reply.text
    reply = await catalog.call(
        "POST", "/api/products/import", data=b"{}", headers={"Content-Type": "application/json"}
    )
    assert reply.status == 415
    big = b"name,price\n" + b"x,1\n" * 600_000
    reply = await catalog.call("POST", "/api/products/import", data=big, headers=CSV)
    assert reply.status == 413
    rows = "name,price\n" + "x,1\n" * 5001
    reply = await catalog.call("POST", "/api/products/import", data=rows.encode(), headers=CSV)
    assert reply.status == 422 and "too many rows" in reply.text
    assert await catalog.store.list_products() == []


async def test_import_with_uploaded_images(catalog: Studio) -> None:
    form = aiohttp.FormData()
    form.add_field(
        "file",
        b"name,price,image\nChair,5,chair.png\nLamp,6,\n",
        filename="products.csv",
        content_type="text/csv",
    )
    form.add_field("images", image_bytes("PNG"), filename="chair.png", content_type="image/png")
    form.add_field("images", image_bytes("JPEG"), filename="unused.jpg", content_type="image/jpeg")
    reply = await catalog.call("POST", "/api/products/import", data=form)
    assert reply.status == 200, reply.text
    products = {
        p["name"]: p for p in (await catalog.call("GET", "/api/products")).json()["products"]
    }
    key = products["Chair"]["image"]
    assert key and products["Lamp"]["image"] is None
    assert catalog.media_files() == sorted([f"{key}.webp", f"{key}.thumb.webp"])

    # A broken image referenced by a row fails the whole import, and nothing is stored.
    form = aiohttp.FormData()
    form.add_field("file", b"name,price,image\nSofa,5,sofa.jpg\nBed,5,\n", filename="p.csv")
    form.add_field("images", b"not an image", filename="sofa.jpg", content_type="image/jpeg")
    reply = await catalog.call("POST", "/api/products/import", data=form)
    assert reply.status == 422
    [error] = reply.json()["errors"]
    assert error["row"] == 2 and "sofa.jpg: not a JPEG, PNG or WebP image" in error["message"]
    assert len(await catalog.store.list_products()) == 2

    # An image already stored here can be named by its URL (what the export writes).
    text = f"name,price,image\nCopy,5,http://elsewhere.example/media/products/{key}.webp\n"
    reply = await catalog.call("POST", "/api/products/import", data=text.encode(), headers=CSV)
    assert reply.status == 200, reply.text
    form = aiohttp.FormData()
    form.add_field("images", image_bytes(), filename="x.png")
    reply = await catalog.call("POST", "/api/products/import", data=form)
    assert reply.status == 400 and "field named 'file'" in reply.text
