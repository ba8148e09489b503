"""The host's catalog pages in the studio: products, brand settings, a show's running order.

The pages render their first view on the server (autoescaped) and hand the same data to
their scripts, which then work through the JSON API (products.py, brand.py) with the
session cookie and the page's CSRF token.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web
from babel.numbers import format_decimal

from ..catalog.brand import CORNERS
from ..catalog.csvio import COLUMNS
from ..catalog.money import format_price
from ..catalog.validation import DESCRIPTION_MAX, NAME_MAX
from .auth import csrf_token, require_login
from .brand import brand_json
from .keys import STORE
from .pages import render
from .products import product_json

SAMPLE_PRICE = Decimal("1299.00")
"""The price the brand page shows to preview the locale's formatting."""
CURRENCY_SUGGESTIONS = ("EUR", "USD", "GBP", "CHF", "JPY", "SEK", "NOK", "DKK", "PLN", "CAD")
LOCALE_SUGGESTIONS = (
    "en_US",
    "en_GB",
    "de_DE",
    "de_CH",
    "fr_FR",
    "es_ES",
    "it_IT",
    "nl_NL",
    "sv_SE",
    "pl_PL",
    "pt_BR",
    "ja_JP",
)


async def products_page(request: web.Request) -> web.Response:
    """GET /studio/products?q=: list, search, add, edit and delete products; CSV in and out."""
    await require_login(request)
    store = request.app[STORE]
    query = request.query.get("q", "").strip()
    brand = await store.get_brand()
    products = [product_json(r, brand) for r in await store.list_products(query)]
    config = {
        "csrf": await csrf_token(request),
        "products": products,
        "query": query,
        "currency": brand.currency,
        "locale": brand.locale,
    }
    return await render(
        request,
        "studio_products.html",
        {
            "products": products,
            "query": query,
            "brand": brand,
            "config": config,
            "currencies": CURRENCY_SUGGESTIONS,
            "csv_columns": COLUMNS,
            # Prices are typed as the brand's locale writes them ("1.299,00" in de_DE).
            "price_example": format_decimal(
                Decimal("1299.00"), format="#,##0.00", locale=brand.locale
            ),
            "name_max": NAME_MAX,
            "description_max": DESCRIPTION_MAX,
        },
    )


async def brand_page(request: web.Request) -> web.Response:
    """GET /studio/brand: name, logo, accent colour, overlay corner, locale, currency."""
    await require_login(request)
    brand = await request.app[STORE].get_brand()
    config = {"csrf": await csrf_token(request), "brand": brand_json(brand)}
    return await render(
        request,
        "studio_brand.html",
        {
            "brand": brand,
            "logo_url": brand_json(brand)["logo_thumbnail_url"],
            "corners": CORNERS,
            "locales": LOCALE_SUGGESTIONS,
            "currencies": CURRENCY_SUGGESTIONS,
            "sample_price": format_price(SAMPLE_PRICE, brand.currency, brand.locale),
            "config": config,
        },
    )


async def running_order_page(request: web.Request) -> web.Response:
    """GET /studio/shows/{show}/products: the products of a show, in the order presented."""
    await require_login(request)
    store = request.app[STORE]
    show = await store.get_show(request.match_info["show"])
    if show is None or show.state == "deleted":
        return await render(request, "not_found.html", {"what": "show"}, status=404)
    brand = await store.get_brand()
    order = [product_json(r, brand) for r in await store.get_running_order(show.id)]
    catalog = [product_json(r, brand) for r in await store.list_products()]
    config: dict[str, Any] = {
        "csrf": await csrf_token(request),
        "show": show.id,
        "order": order,
        "catalog": catalog,
    }
    return await render(
        request,
        "studio_running_order.html",
        {"show": show, "order": order, "catalog": catalog, "config": config},
    )


def setup(app: web.Application) -> None:
    """Register the catalog's studio pages."""
    r = app.router
    r.add_get("/studio/products", products_page)
    r.add_get("/studio/brand", brand_page)
    r.add_get("/studio/shows/{show}/products", running_order_page)
