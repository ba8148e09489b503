"""The OpenAPI paths of analytics and clips (merged into openapi.SPEC)."""

from __future__ import annotations

from typing import Any

from .ids import MAX_ID

_ERROR = {"description": "error", "content": {"text/plain": {"schema": {"type": "string"}}}}
_NUMBER_OR_NULL = {"type": ["number", "null"]}
_SHOW = [
    {
        "name": "show",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
    }
]
_CLIP = [
    {
        "name": "clip",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }
]


def _op(summary: str, ok: int, content: dict[str, Any] | None, errors: tuple[int, ...] = ()) -> Any:
    responses: dict[str, Any] = {str(ok): {"description": "ok"}, "401": _ERROR}
    if content:
        responses[str(ok)]["content"] = content
    for status in errors:
        responses[str(status)] = _ERROR
    return {"summary": summary, "responses": responses}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


_CSV = {"text/csv": {"schema": {"type": "string"}}}
_BUCKET = {
    "type": "object",
    "description": "One time bucket: [t, t + bucket) seconds from the show's start",
    "properties": {
        k: {"type": "integer" if k != "t" else "number"}
        for k in ("t", "viewers", "webrtc", "hls", "chat", "reactions", "clicks")
    },
}
_MARKER = {
    "type": "object",
    "properties": {
        "t": {"type": "number"},
        "kind": {"type": "string", "enum": ["pin", "unpin", "sale", "sale_end"]},
        "product": {"type": ["integer", "null"]},
        "name": {"type": "string"},
    },
}
_PRODUCT_FIGURES = {
    "type": "object",
    "properties": {
        "product": {"type": "integer"},
        "name": {"type": "string"},
        "spans": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
        "on_air_seconds": {"type": "number"},
        "clicks_live": {"type": "integer"},
        "clicks_replay": {"type": "integer"},
        "watchers": {"type": "integer"},
        "clickers": {"type": "integer"},
        "ctr": _NUMBER_OR_NULL,
    },
}
_SUMMARY_FIELDS: dict[str, Any] = {
    "show": {"type": "string"},
    "title": {"type": "string"},
    "state": {"type": "string"},
    "started_at": _NUMBER_OR_NULL,
    "ended_at": _NUMBER_OR_NULL,
    "duration": {"type": "number"},
    "bucket": {"type": "number"},
    "peak": {"type": "integer"},
    "peak_at": _NUMBER_OR_NULL,
    "peak_webrtc": {"type": "integer"},
    "peak_hls": {"type": "integer"},
    "unique_viewers": {"type": "integer"},
    "watch_avg": {"type": "number"},
    "watch_median": {"type": "number"},
    "chat_messages": {"type": "integer"},
    "reactions": {"type": "integer"},
    "clicks_live": {"type": "integer"},
    "clicks_replay": {"type": "integer"},
    "buyers": {"type": "integer"},
    "conversion": _NUMBER_OR_NULL,
    "replay_views": {"type": "integer"},
    "clip_views": {"type": "integer"},
    "products": {"type": "array", "items": _PRODUCT_FIGURES},
}
_REPORT = {
    "type": "object",
    "properties": {
        **_SUMMARY_FIELDS,
        "series": {"type": "array", "items": _BUCKET},
        "markers": {"type": "array", "items": _MARKER},
    },
}
_OVERVIEW = {
    "type": "object",
    "properties": {
        "shows": {"type": "array", "items": {"type": "object", "properties": _SUMMARY_FIELDS}},
        "products": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "product": {"type": "integer"},
                    "name": {"type": "string"},
                    "shows": {"type": "integer"},
                    "on_air_seconds": {"type": "number"},
                    "watchers": {"type": "integer"},
                    "clickers": {"type": "integer"},
                    "ctr": _NUMBER_OR_NULL,
                    "clicks_live": {"type": "integer"},
                    "clicks_replay": {"type": "integer"},
                },
            },
        },
    },
}
_SPAN = {"type": "object", "properties": {"start": {"type": "number"}, "end": {"type": "number"}}}
_CLIP_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "show": {"type": "string"},
        "product": {"type": ["integer", "null"]},
        "title": {"type": "string"},
        "kind": {"type": "string", "enum": ["plain", "vertical"]},
        "status": {"type": "string", "enum": ["working", "ready", "failed"]},
        "progress": {"type": "number", "minimum": 0, "maximum": 1},
        "error": {"type": ["string", "null"]},
        "chapter": _SPAN,
        "start": {"type": "number"},
        "end": {"type": "number"},
        "cut_start": _NUMBER_OR_NULL,
        "cut_end": _NUMBER_OR_NULL,
        "duration": _NUMBER_OR_NULL,
        "width": {"type": ["integer", "null"]},
        "height": {"type": ["integer", "null"]},
        "size": {"type": ["integer", "null"]},
        "version": {"type": "integer"},
        "created_at": {"type": "number"},
        "updated_at": {"type": "number"},
        "page_url": {"type": "string"},
        "video_url": {"type": ["string", "null"]},
        "poster_url": {"type": ["string", "null"]},
        "download_url": {"type": ["string", "null"]},
    },
}
_CLIPS = {
    "type": "object",
    "properties": {
        "chapters": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer"},
                    "product": {"type": "integer"},
                    "title": {"type": "string"},
                    "start": {"type": "number"},
                    "end": {"type": "number"},
                },
            },
        },
        "clips": {"type": "array", "items": _CLIP_SCHEMA},
        "unavailable": {"type": ["string", "null"]},
    },
}
_SECONDS = {"type": "number", "description": "seconds in the recording (program time)"}


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
    }
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _rows(values: list[str]) -> list[dict[str, Any]]:
    return [{"name": "rows", "in": "query", "schema": {"type": "string", "enum": values}}]


PATHS: dict[str, Any] = {
    "/api/shows/{show}/analytics": {
        "parameters": _SHOW,
        "get": _op(
            "A show's analytics: figures, series, markers, products", 200, _json(_REPORT), (404,)
        ),
    },
    "/api/shows/{show}/analytics.csv": {
        "parameters": _SHOW,
        "get": {
            **_op(
                "A show's analytics as CSV: per time bucket or per product", 200, _CSV, (400, 404)
            ),
            "parameters": _rows(["time", "products"]),
        },
    },
    "/api/analytics": {
        "get": _op("Every show's figures and the products across shows", 200, _json(_OVERVIEW)),
    },
    "/api/analytics.csv": {
        "get": {
            **_op("The overview as CSV: per show or per product", 200, _CSV, (400,)),
            "parameters": _rows(["shows", "products"]),
        },
    },
    "/api/shows/{show}/clips": {
        "parameters": _SHOW,
        "get": _op("The show's chapters and clips", 200, _json(_CLIPS), (404,)),
        "post": {
            **_op(
                "Make a clip of a chapter (409: no such chapter, no recording yet, or a span"
                " outside the recording; 422: a span shorter than 1 s or longer than the kind"
                " allows)",
                201,
                _json(_CLIP_SCHEMA),
                (400, 403, 404, 409, 413, 422),
            ),
            "requestBody": _body(
                {
                    "chapter": {"type": "integer", "minimum": 0},
                    "kind": {"type": "string", "enum": ["plain", "vertical"]},
                    "start": _SECONDS,
                    "end": _SECONDS,
                },
                ["chapter"],
            ),
        },
    },
    "/api/clips/{clip}": {
        "parameters": _CLIP,
        "get": _op("A clip (with its progress while it is made)", 200, _json(_CLIP_SCHEMA), (404,)),
        "patch": {
            **_op(
                "Trim a clip: cut it again (409: a span outside the recording; 422: too short"
                " or too long)",
                200,
                _json(_CLIP_SCHEMA),
                (400, 403, 404, 409, 413, 422),
            ),
            "requestBody": _body({"start": _SECONDS, "end": _SECONDS}, []),
        },
        "delete": _op("Delete a clip and its files", 204, None, (403, 404)),
    },
}
