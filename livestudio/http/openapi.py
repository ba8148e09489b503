"""The OpenAPI description of /api/, served at /api/openapi.json (kept honest by a test)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import __version__
from .openapi_analytics import PATHS as ANALYTICS_PATHS

_ERROR = {"description": "error", "content": {"text/plain": {"schema": {"type": "string"}}}}
_SHOW = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "title": {"type": "string"},
        "starts_at": {"type": ["string", "null"], "format": "date-time"},
        "state": {
            "type": "string",
            "enum": [
                "scheduled",
                "live",
                "reconnecting",
                "ended",
                "published",
                "unpublished",
                "deleted",
            ],
        },
        "viewers": {"type": "integer"},
        "created_at": {"type": "number"},
        "went_live_at": {"type": ["number", "null"]},
        "ended_at": {"type": ["number", "null"]},
        "recording": {"type": "string", "enum": ["none", "recording", "ready", "failed"]},
        "recording_error": {"type": ["string", "null"]},
        "whip_url": {"type": "string"},
        "viewer_url": {"type": "string"},
    },
}


def _json_body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """A required JSON object request body with these properties."""
    schema = {"type": "object", "required": required, "properties": properties}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _op(summary: str, ok: int, schema: dict[str, Any] | None = None, **extra: Any) -> Any:
    responses: dict[str, Any] = {
        str(ok): {
            "description": "ok",
            **({"content": {"application/json": {"schema": schema}}} if schema else {}),
        },
        "401": _ERROR,
    }
    for status in extra.pop("errors", ()):
        responses[str(status)] = _ERROR
    return {"summary": summary, "responses": responses, **extra}


SHOW_PARAM = [{"name": "show", "in": "path", "required": True, "schema": {"type": "string"}}]


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}


# The catalog (livestudio/http/products.py). Prices are decimal strings, never numbers.
_MONEY = {"type": "string", "pattern": r"^\d+(\.\d+)?$", "examples": ["1299.00"]}
_PRODUCT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string", "maxLength": 200},
        "description": {"type": "string", "maxLength": 5000},
        "price": _MONEY,
        "compare_at_price": {"type": ["string", "null"]},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "price_display": {"type": "string", "examples": ["1.299,00 €"]},
        "compare_at_price_display": {"type": ["string", "null"]},
        "url": {"type": ["string", "null"], "format": "uri"},
        "stock": {"type": ["integer", "null"], "minimum": 0},
        "sku": {"type": ["string", "null"]},
        "image": {"type": ["string", "null"]},
        "image_url": {"type": ["string", "null"]},
        "thumbnail_url": {"type": ["string", "null"]},
        "created_at": {"type": "number"},
        "updated_at": {"type": "number"},
        "deleted_at": {"type": ["number", "null"]},
    },
}
_PRODUCT_INPUT = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 200},
        "description": {"type": "string"},
        "price": {"type": ["string", "number"]},
        "compare_at_price": {"type": ["string", "number", "null"]},
        "currency": {"type": "string"},
        "url": {"type": ["string", "null"]},
        "stock": {"type": ["integer", "null"], "minimum": 0},
        "sku": {"type": ["string", "null"]},
        "image": {"type": "null", "description": "PATCH only: null removes the image"},
    },
}
_PRODUCTS = {"type": "object", "properties": {"products": {"type": "array", "items": _PRODUCT}}}
_BRAND = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 100},
        "accent": {"type": "string", "pattern": "^#[0-9a-f]{6}$"},
        "corner": {
            "type": "string",
            "enum": ["top-left", "top-right", "bottom-left", "bottom-right"],
        },
        "locale": {"type": "string", "examples": ["de_DE"]},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "logo": {"type": ["string", "null"]},
        "logo_url": {"type": ["string", "null"]},
        "logo_thumbnail_url": {"type": ["string", "null"]},
    },
}
_IMAGE_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"image": {"type": "string", "format": "binary"}},
            }
        },
        "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
        "image/png": {"schema": {"type": "string", "format": "binary"}},
        "image/webp": {"schema": {"type": "string", "format": "binary"}},
    },
}
_PRODUCT_PARAM = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]
# Destinations (livestudio/http/destinations_api.py): the key is write-only.
_DESTINATION = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "url": {"type": "string", "examples": ["rtmps://a.rtmps.youtube.com:443/live2"]},
        "kind": {"type": "string", "enum": ["rtmp", "whip"]},
        "has_key": {"type": "boolean", "description": "the key itself is never returned"},
        "state": {
            "type": "string",
            "enum": ["idle", "connecting", "live", "retrying", "failed"],
        },
        "since": {"type": "number"},
        "error": {"type": ["string", "null"], "description": "the last error, if any"},
        "error_at": {"type": ["number", "null"]},
        "next_attempt_at": {"type": ["number", "null"]},
        "connections": {"type": "integer"},
        "created_at": {"type": "number"},
    },
}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "LiveStudio API", "version": __version__},
    "components": {
        "securitySchemes": {
            "token": {"type": "http", "scheme": "bearer"},
            "session": {"type": "apiKey", "in": "cookie", "name": "livestudio_session"},
        },
        "schemas": {
            "Show": _SHOW,
            "OnAirEvent": {
                "type": "object",
                "properties": {
                    "kind": {"type": "string"},
                    "pts": {"type": "integer", "description": "program pts (1/90000 s)"},
                    "wall": {"type": "number"},
                    "product": {"type": ["integer", "null"]},
                    "card": {"type": ["object", "null"]},
                },
            },
        },
    },
    "security": [{"token": []}, {"session": []}],
    "paths": {
        "/api/shows": {
            "get": _op(
                "List shows (newest first)",
                200,
                {"type": "object", "properties": {"shows": {"type": "array", "items": _SHOW}}},
            ),
            "post": _op(
                "Create a show; the response carries its stream key, shown once",
                201,
                _SHOW,
                errors=(400, 413, 422),
                requestBody=_json_body(
                    {
                        "title": {"type": "string", "maxLength": 200},
                        "starts_at": {"type": "string", "format": "date-time"},
                    },
                    ["title"],
                ),
            ),
        },
        "/api/shows/{show}": {
            "parameters": SHOW_PARAM,
            "get": _op("One show", 200, _SHOW, errors=(404,)),
            "delete": _op(
                "Delete a show: its recording files and rows (a live show is refused)",
                204,
                errors=(404, 409),
            ),
        },
        "/api/shows/{show}/pin": {
            "parameters": SHOW_PARAM,
            "post": _op(
                "Pin a product: its card is burned into the video",
                200,
                {"$ref": "#/components/schemas/OnAirEvent"},
                errors=(400, 404, 409, 422),
                requestBody=_json_body({"product": {"type": "integer"}}, ["product"]),
            ),
            "delete": _op(
                "Unpin: the card goes off air",
                200,
                {"$ref": "#/components/schemas/OnAirEvent"},
                errors=(404, 409),
            ),
        },
        "/api/shows/{show}/sale": {
            "parameters": SHOW_PARAM,
            "post": _op(
                "Start a flash sale: the product at a sale price with a countdown",
                200,
                {"$ref": "#/components/schemas/OnAirEvent"},
                errors=(400, 404, 409, 422),
                requestBody=_json_body(
                    {
                        "product": {"type": "integer"},
                        "price": {"type": "string", "example": "19.90"},
                        "seconds": {"type": "integer", "minimum": 1},
                    },
                    ["product", "price", "seconds"],
                ),
            ),
        },
        "/api/shows/{show}/destinations": {
            "parameters": SHOW_PARAM,
            "get": _op(
                "The show's destinations with their live state and last error",
                200,
                {
                    "type": "object",
                    "properties": {"destinations": {"type": "array", "items": _DESTINATION}},
                },
                errors=(404,),
            ),
            "post": _op(
                "Add a destination (RTMP/RTMPS server URL + stream key, or a WHIP endpoint +"
                " bearer token); it starts at once if the show is live",
                201,
                _DESTINATION,
                errors=(400, 404, 409, 413, 422),
                requestBody=_json_body(
                    {
                        "url": {"type": "string", "maxLength": 1024},
                        "key": {"type": "string", "writeOnly": True},
                    },
                    ["url"],
                ),
            ),
        },
        "/api/shows/{show}/destinations/{destination}": {
            "parameters": [*SHOW_PARAM, _path("destination")],
            "delete": _op("Stop and remove a destination", 204, errors=(404,)),
        },
        "/api/shows/{show}/clicks": {
            "parameters": SHOW_PARAM,
            "get": _op(
                "Buy clicks per product, live and in the replay",
                200,
                {"type": "object", "properties": {"clicks": {"type": "object"}}},
                errors=(404,),
            ),
        },
        "/api/shows/{show}/chat/settings": {
            "parameters": SHOW_PARAM,
            "get": _op("Chat settings: slow mode, blocked words", 200, errors=(404,)),
            "put": _op("Change chat settings", 200, errors=(400, 404, 422)),
        },
        "/api/shows/{show}/chat/held": {
            "parameters": SHOW_PARAM,
            "get": _op("Messages held back by blocked words", 200, errors=(404,)),
        },
        "/api/shows/{show}/chat/held/{held}/approve": {
            "parameters": [*SHOW_PARAM, _path("held")],
            "post": _op("Show a held message", 200, errors=(404,)),
        },
        "/api/shows/{show}/chat/{message}": {
            "parameters": [*SHOW_PARAM, _path("message")],
            "delete": _op("Delete a message for everyone, live and replay", 204, errors=(404,)),
        },
        "/api/shows/{show}/chat/{message}/ban": {
            "parameters": [*SHOW_PARAM, _path("message")],
            "post": _op("Ban the author (viewer session and address)", 200, errors=(404,)),
        },
        "/api/chat/bans": {
            "get": _op("The bans in force, in every show (newest first)", 200),
        },
        "/api/chat/bans/{ban}": {
            "parameters": [_path("ban")],
            "delete": _op("Lift a ban", 204, errors=(404,)),
        },
        "/api/shows/{show}/highlight": {
            "parameters": SHOW_PARAM,
            "post": _op(
                "Burn a chat question into the video as a lower-third",
                200,
                {"$ref": "#/components/schemas/OnAirEvent"},
                errors=(404, 409, 422),
            ),
            "delete": _op(
                "Dismiss the highlighted question",
                200,
                {"$ref": "#/components/schemas/OnAirEvent"},
                errors=(404, 409),
            ),
        },
        "/api/shows/{show}/publish": {
            "parameters": SHOW_PARAM,
            "post": _op("Publish the replay (again)", 200, _SHOW, errors=(404, 409)),
        },
        "/api/shows/{show}/unpublish": {
            "parameters": SHOW_PARAM,
            "post": _op("Hide the replay (files kept)", 200, _SHOW, errors=(404, 409)),
        },
        "/api/shows/{show}/stream-key": {
            "parameters": SHOW_PARAM,
            "post": _op(
                "Rotate the stream key (the old one stops working)",
                200,
                {"type": "object", "properties": {"stream_key": {"type": "string"}}},
                errors=(404,),
            ),
        },
        "/api/shows/{show}/end": {
            "parameters": SHOW_PARAM,
            "post": _op("End a live show (End show)", 200, _SHOW, errors=(404, 409)),
        },
        "/api/products": {
            "get": _op(
                "The catalog, newest first (deleted products hidden)",
                200,
                _PRODUCTS,
                parameters=[
                    {
                        "name": "q",
                        "in": "query",
                        "required": False,
                        "description": "search name, SKU and description (case-insensitive)",
                        "schema": {"type": "string"},
                    }
                ],
            ),
            "post": _op(
                "Create a product (currency defaults to the brand's)",
                201,
                _PRODUCT,
                errors=(400, 413, 422),
                requestBody={
                    "required": True,
                    "content": {"application/json": {"schema": _PRODUCT_INPUT}},
                },
            ),
        },
        "/api/products/{id}": {
            "parameters": _PRODUCT_PARAM,
            "get": _op("One product (404 once deleted)", 200, _PRODUCT, errors=(404,)),
            "patch": _op(
                'Change the fields sent, e.g. {"stock": 3}',
                200,
                _PRODUCT,
                errors=(400, 404, 413, 422),
                requestBody={
                    "required": True,
                    "content": {"application/json": {"schema": _PRODUCT_INPUT}},
                },
            ),
            "delete": _op(
                "Delete (hidden from the catalog, kept in past shows' history)", 204, errors=(404,)
            ),
        },
        "/api/products/{id}/image": {
            "parameters": _PRODUCT_PARAM,
            "post": _op(
                "Upload the product image (JPEG, PNG or WebP, at most 10 MB and 40 megapixels)",
                200,
                _PRODUCT,
                errors=(400, 404, 413, 415),
                requestBody=_IMAGE_BODY,
            ),
        },
        "/api/products.csv": {
            "get": {
                **_op("The catalog as CSV (formula cells neutralized)", 200),
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    },
                    "401": _ERROR,
                },
            },
        },
        "/api/products/import": {
            "post": _op(
                "Import a CSV (ours, or a Shopify or WooCommerce product export), all rows"
                " or none; 422 lists every bad row",
                200,
                {
                    "type": "object",
                    "properties": {
                        "created": {"type": "integer"},
                        "updated": {"type": "integer"},
                        "format": {"type": "string", "enum": ["shopify", "woocommerce"]},
                        "notes": {"type": "array", "items": {"type": "string"}},
                    },
                },
                errors=(400, 409, 413, 415, 422),
                parameters=[
                    {
                        "name": "shop_url",
                        "in": "query",
                        "required": False,
                        "description": "The shop's address, to build product URLs a shop"
                        " export lacks (also a form field)",
                        "schema": {"type": "string", "format": "uri"},
                    }
                ],
                requestBody={
                    "required": True,
                    "content": {
                        "text/csv": {"schema": {"type": "string"}},
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "file": {"type": "string", "format": "binary"},
                                    "shop_url": {"type": "string", "format": "uri"},
                                    "images": {
                                        "type": "array",
                                        "items": {"type": "string", "format": "binary"},
                                    },
                                },
                            }
                        },
                    },
                },
            ),
        },
        "/api/shows/{show}/products": {
            "parameters": SHOW_PARAM,
            "get": _op("The show's running order", 200, _PRODUCTS, errors=(404,)),
            "put": _op(
                "Replace the running order",
                200,
                _PRODUCTS,
                errors=(400, 404, 422),
                requestBody={
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "products": {"type": "array", "items": {"type": "integer"}}
                                },
                            }
                        }
                    },
                },
            ),
        },
        "/api/brand": {
            "get": _op("Brand settings", 200, _BRAND),
            "put": _op(
                "Change the brand settings sent (logo: null removes the logo)",
                200,
                _BRAND,
                errors=(400, 413, 422),
                requestBody={"required": True, "content": {"application/json": {"schema": _BRAND}}},
            ),
        },
        "/api/brand/logo": {
            "post": _op(
                "Upload the logo (JPEG, PNG or WebP)",
                200,
                _BRAND,
                errors=(400, 413, 415),
                requestBody=_IMAGE_BODY,
            ),
        },
    },
}


SPEC["paths"].update(ANALYTICS_PATHS)


async def openapi(request: web.Request) -> web.Response:
    """GET /api/openapi.json (public: it describes, it does not grant)."""
    return web.json_response(SPEC)
