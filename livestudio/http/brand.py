"""The brand settings API: name, logo, accent colour, overlay corner, locale, currency."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..catalog.brand import BrandSettings
from ..catalog.errors import InvalidInput
from ..catalog.images import image_urls
from .api import require_host
from .errors import error
from .images import store_upload
from .jsonbody import json_object
from .keys import ONAIR, STORE


def brand_json(brand: BrandSettings) -> dict[str, Any]:
    """The brand as the API returns it."""
    urls = image_urls(brand.logo)
    return {
        "name": brand.name,
        "accent": brand.accent,
        "corner": brand.corner,
        "locale": brand.locale,
        "currency": brand.currency,
        "logo": brand.logo,
        "logo_url": urls["image_url"],
        "logo_thumbnail_url": urls["thumbnail_url"],
        "embed_origins": list(brand.embed_origins),
    }


async def get_brand(request: web.Request) -> web.Response:
    """GET /api/brand."""
    await require_host(request)
    return web.json_response(brand_json(await request.app[STORE].get_brand()))


async def put_brand(request: web.Request) -> web.Response:
    """PUT /api/brand: the fields sent change, the others stay; "logo": null removes the logo."""
    await require_host(request)
    data = await json_object(request)
    try:
        brand = await request.app[STORE].update_brand(data)
    except InvalidInput as exc:
        raise error(422, str(exc)) from None
    await _redraw(request)
    return web.json_response(brand_json(brand))


async def _redraw(request: web.Request) -> None:
    """Shows on air pick up the new accent, corner or logo at once."""
    await request.app[ONAIR].brand_changed()


async def upload_logo(request: web.Request) -> web.Response:
    """POST /api/brand/logo: multipart field "logo" (or "image"), or a raw image body."""
    await require_host(request)
    key = await store_upload(request, ("logo", "image", "file"))
    brand = await request.app[STORE].set_brand_logo(key)
    await _redraw(request)
    return web.json_response(brand_json(brand))


def setup(app: web.Application) -> None:
    """Register the brand routes."""
    app.router.add_get("/api/brand", get_brand)
    app.router.add_put("/api/brand", put_brand)
    app.router.add_post("/api/brand/logo", upload_logo)
