"""On-air actions (pin, unpin, flash sale) and the Buy redirect with its click counts.

Exact paths, as scripts and a moderator's phone rely on them:
`POST /api/shows/{show}/pin` {"product": id}, `DELETE /api/shows/{show}/pin`,
`POST /api/shows/{show}/sale` {"product": id, "price": "<decimal>", "seconds": N},
`DELETE /api/shows/{show}/sale` (end it early);
stock changes go through `PATCH /api/products/{id}` {"stock": N} (the catalog API).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiohttp import web
from aiohttp_session import get_session

from ..catalog.errors import FieldError
from ..catalog.money import parse_price
from ..live.errors import ShowActionError
from ..live.onair_products import OnAirProducts
from .api import require_host
from .embed import embed_viewer
from .errors import domain_error, error
from .ids import json_id, path_id
from .jsonbody import json_object, whole_number
from .keys import AUDIENCE, ONAIR, STORE
from .products import PRICE_FORMAT_HEADER

MAX_SALE_SECONDS = 24 * 3600


async def _on_air(request: web.Request) -> OnAirProducts:
    await require_host(request)
    show = await request.app[STORE].get_show(request.match_info["show"])
    if show is None or show.state == "deleted":
        raise error(404, "no such show")
    products = request.app[ONAIR].products(show.id)
    if products is None:
        raise error(409, f"the show is not live (it is {show.state})")
    return products


def _product_id(data: dict[str, Any]) -> int:
    return json_id(data.get("product"), "product")


async def _run(action: Any) -> web.Response:
    try:
        event = await action
    except ShowActionError as exc:
        raise domain_error(exc) from None
    return web.json_response(event)


async def pin(request: web.Request) -> web.Response:
    """POST /api/shows/{show}/pin {"product": id}: the product's card goes on air."""
    on_air = await _on_air(request)
    data = await json_object(request)
    return await _run(on_air.pin(_product_id(data)))


async def unpin(request: web.Request) -> web.Response:
    """DELETE /api/shows/{show}/pin: the card goes off air."""
    on_air = await _on_air(request)
    return await _run(on_air.unpin())


async def sale(request: web.Request) -> web.Response:
    """POST /api/shows/{show}/sale {"product", "price", "seconds"}: a flash sale."""
    on_air = await _on_air(request)
    data = await json_object(request)
    product_id = _product_id(data)
    product = await request.app[STORE].get_product(product_id)
    if product is None:
        raise error(404, "no such product (deleted or never in the catalog)")
    local = request.headers.get(PRICE_FORMAT_HEADER, "").strip().lower() == "locale"
    locale = (await request.app[STORE].get_brand()).locale if local else None
    try:
        price = parse_price(data.get("price"), product.currency, "price", locale)
    except FieldError as exc:
        raise error(422, str(exc)) from None
    if price >= product.price:
        raise error(422, "a sale price must be below the product's price")
    seconds = whole_number(data.get("seconds"))
    if seconds is None:
        raise error(422, "seconds must be a whole number of seconds")
    if not 1 <= seconds <= MAX_SALE_SECONDS:
        raise error(422, f"seconds must be between 1 and {MAX_SALE_SECONDS}")
    return await _run(on_air.start_sale(product_id, price, seconds))


async def end_sale(request: web.Request) -> web.Response:
    """DELETE /api/shows/{show}/sale: end the running flash sale early."""
    on_air = await _on_air(request)
    return await _run(on_air.end_sale())


async def clicks(request: web.Request) -> web.Response:
    """GET /api/shows/{show}/clicks: Buy clicks per product, live and replay."""
    await require_host(request)
    show = await request.app[STORE].get_show(request.match_info["show"])
    if show is None or show.state == "deleted":
        raise error(404, "no such show")
    counts = await request.app[STORE].click_counts(show.id)
    return web.json_response({"clicks": {str(k): v for k, v in counts.items()}})


def with_utm(url: str, show_id: str, medium: str | None = None) -> str:
    """The product URL with utm_source=livestudio and utm_campaign=<show> (and
    utm_medium=embed for a click from the player on another site)."""
    parts = urlsplit(url)
    ours = ("utm_source", "utm_campaign", *(("utm_medium",) if medium else ()))
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ours]
    query += [("utm_source", "livestudio"), ("utm_campaign", show_id)]
    if medium:
        query.append(("utm_medium", medium))
    return urlunsplit(parts._replace(query=urlencode(query)))


async def go(request: web.Request) -> web.Response:
    """GET /go/{show}/{product}: count the Buy click, send the viewer to the product.

    The destination is the product's own stored URL (http/https only, checked when it was
    saved), looked up by id: nothing from the request is ever redirected to. Only products
    of the show go, and a click counts once per viewer of a show's page (their cookie):
    reloads, link previews, HEAD requests and crawlers without the page's cookie are sent
    on but not counted.
    """
    store = request.app[STORE]
    show = await store.get_show(request.match_info["show"])
    product_id = path_id(request, "product", "product")
    product = await store.get_product(product_id, include_deleted=True)
    if show is None or show.state == "deleted" or product is None or not product.fields.url:
        raise error(404, "no such product")
    if urlsplit(product.fields.url).scheme not in ("http", "https"):
        raise error(404, "no such product")
    if not await store.in_show(show.id, product.id):
        raise error(404, "no such product in this show")
    viewer = (await get_session(request)).get("viewer")
    if not isinstance(viewer, str):
        # From an embed on another site, where the cookie is not kept: its signed id.
        viewer = embed_viewer(request)
    if request.method == "GET" and isinstance(viewer, str):
        source = "replay" if request.query.get("from") == "replay" else "live"
        # Stored by the analytics' keyed hash: it links the click to the viewer's watching
        # without keeping the cookie's id.
        viewer_key = request.app[AUDIENCE].viewer_key(viewer)
        await store.add_click(show.id, product.id, source, viewer_key)
    medium = "embed" if request.query.get("embed") == "1" else None
    raise web.HTTPFound(
        with_utm(product.fields.url, show.id, medium), headers={"Cache-Control": "no-store"}
    )


def setup(app: web.Application) -> None:
    """Register the on-air routes."""
    r = app.router
    r.add_post("/api/shows/{show}/pin", pin)
    r.add_delete("/api/shows/{show}/pin", unpin)
    r.add_post("/api/shows/{show}/sale", sale)
    r.add_delete("/api/shows/{show}/sale", end_sale)
    r.add_get("/api/shows/{show}/clicks", clicks)
    r.add_get(r"/go/{show}/{product:\d+}", go)
