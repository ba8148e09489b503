"""The OpenAPI description of /api/, served at /api/openapi.json (kept honest by a test)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import __version__

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
        "whip_url": {"type": "string"},
        "viewer_url": {"type": "string"},
    },
}


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

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "LiveStudio API", "version": __version__},
    "components": {
        "securitySchemes": {
            "token": {"type": "http", "scheme": "bearer"},
            "session": {"type": "apiKey", "in": "cookie", "name": "livestudio_session"},
        },
        "schemas": {"Show": _SHOW},
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
                requestBody={
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["title"],
                                "properties": {
                                    "title": {"type": "string", "maxLength": 200},
                                    "starts_at": {"type": "string", "format": "date-time"},
                                },
                            }
                        }
                    },
                },
            ),
        },
        "/api/shows/{show}": {
            "parameters": SHOW_PARAM,
            "get": _op("One show", 200, _SHOW, errors=(404,)),
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
    },
}


async def openapi(request: web.Request) -> web.Response:
    """GET /api/openapi.json (public: it describes, it does not grant)."""
    return web.json_response(SPEC)
