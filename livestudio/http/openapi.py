"""The OpenAPI description of /api/, served at /api/openapi.json.

Kept honest by tests: every route is in it (tests/test_docs.py), and an API fuzzer
(schemathesis, tests/test_api_fuzz.py) finds no request it describes as valid that the
server refuses, no answer it does not describe, and follows its links from the shows and
products it creates to the operations that take their ids.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import __version__
from ..catalog.brand import BRAND_NAME_MAX, CORNERS
from ..catalog.money import active_currencies, locale_names, minor_units
from ..catalog.validation import DESCRIPTION_MAX, NAME_MAX, STOCK_MAX, URL_MAX
from ..live.chat import BLOCKED_MODES, MAX_NAME
from ..live.destinations import KEY_PATTERN, MAX_KEY, MAX_URL, URL_PATTERN
from ..store.shows import TITLE_MAX
from .ids import MAX_ID
from .openapi_analytics import PATHS as ANALYTICS_PATHS

_TEXT = {"text/plain": {"schema": {"type": "string"}}}
_ERRORS = {
    400: "the body is not what the operation reads (not JSON, not an object, malformed)",
    401: "no session cookie and no valid API token (Authorization: Bearer)",
    403: "a session cookie without the page's X-CSRF-Token",
    404: "no such show, product, message, ban or session",
    409: "not possible in the current state (e.g. the show is not live)",
    413: "the body is too large",
    415: "a content type the operation does not read",
    422: "a value that is not allowed; the message names the field",
}
_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
"Row ids: SQLite's INTEGER, positive."
_NO_CONTROL = r"[^\u0000-\u001f\u007f-\u009f\u2028\u2029]"
_LINE = rf"^{_NO_CONTROL}*[^\s\u0000-\u001f\u007f-\u009f\u2028\u2029]{_NO_CONTROL}*$"
"One line of text with something on it (the server strips it and refuses control characters)."
_URL = (
    r"^\s*(https?://[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*(:\d{1,4})?"
    r"(/[A-Za-z0-9._~/?=&%-]*)?)?\s*$"
)
"An http(s) URL (the server takes more: any it can parse), or blank (none)."


def _line(maximum: int) -> dict[str, Any]:
    """A one-line text field of 1..maximum characters."""
    # The server counts after stripping and NFC; a shorter raw string is always fine.
    return {"type": "string", "minLength": 1, "maxLength": maximum, "pattern": _LINE}


def _object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """An object with exactly these properties (the server refuses unknown ones)."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema


def _json_body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _op(
    operation_id: str,
    summary: str,
    ok: int,
    schema: dict[str, Any] | None = None,
    errors: tuple[int, ...] = (),
    links: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An operation: its success answer (JSON `schema`, or none), 401, and `errors`."""
    success: dict[str, Any] = {"description": "ok"}
    if schema is not None:
        success["content"] = {"application/json": {"schema": schema}}
    if links:
        success["links"] = links
    responses: dict[str, Any] = {str(ok): success}
    for status in sorted({401, *errors}):
        responses[str(status)] = {"description": _ERRORS[status], "content": _TEXT}
    return {"operationId": operation_id, "summary": summary, "responses": responses, **extra}


def _change(*errors: int) -> tuple[int, ...]:
    """The errors of a state-changing request (CSRF with the cookie) besides `errors`."""
    return (403, *errors)


def _with_body(*errors: int) -> tuple[int, ...]:
    """The errors of a request with a JSON body besides `errors`."""
    return (400, 403, 413, *errors)


def _link(operation_id: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": parameters}


# -- shows ----------------------------------------------------------------------------------

SHOW_STATES = ["scheduled", "live", "reconnecting", "ended", "published", "unpublished"]
_SHOW: dict[str, Any] = {
    "type": "object",
    "required": ["id", "title", "state", "created_at", "whip_url", "viewer_url"],
    "properties": {
        "id": {"type": "string"},
        "title": {"type": "string"},
        "starts_at": {"type": ["string", "null"], "format": "date-time"},
        "state": {"type": "string", "enum": SHOW_STATES},
        "viewers": {"type": "integer", "minimum": 0},
        "created_at": {"type": "number"},
        "went_live_at": {"type": ["number", "null"]},
        "ended_at": {"type": ["number", "null"]},
        "recording": {"type": "string", "enum": ["none", "recording", "ready", "failed"]},
        "recording_error": {"type": ["string", "null"]},
        "orientation": {"type": "string", "enum": ["landscape", "portrait"]},
        "whip_url": {"type": "string"},
        "viewer_url": {"type": "string"},
    },
}
_NEW_SHOW = {
    **_SHOW,
    "required": [*_SHOW["required"], "stream_key"],
    "properties": {
        **_SHOW["properties"],
        "stream_key": {"type": "string", "description": "shown only here (stored hashed)"},
    },
}
_ORIENTATION = {
    "type": "string",
    "enum": ["landscape", "portrait"],
    "description": "landscape: 16:9; portrait: 9:16 cropped from the camera, for phones",
}
_SHOW_PARAM = {
    "name": "show",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
}
_BLANK = {"type": "string", "pattern": r"^\s*$"}
"Empty or only spaces: the server reads it as not given."
_STARTS_AT = {
    "description": "when the show is announced for (RFC 3339; other ISO 8601 forms are read"
    " too, without a zone as UTC); empty or null: not announced",
    "anyOf": [{"type": "string", "format": "date-time"}, _BLANK, {"type": "null"}],
}
_ON_AIR_EVENT = {
    "type": "object",
    "required": ["kind", "pts", "wall"],
    "properties": {
        "kind": {"type": "string"},
        "pts": {"type": ["integer", "null"], "description": "program pts (1/90000 s)"},
        "wall": {"type": "number"},
        "product": {"type": ["integer", "null"]},
        "card": {"type": ["object", "null"]},
        "event_id": {"type": "integer"},
    },
}
_CHAT_SETTINGS = _object(
    {
        "slow_mode": {"type": "integer", "minimum": 0, "maximum": 3600},
        "blocked_words": {
            "type": "array",
            "maxItems": 200,
            "items": _line(MAX_NAME),
        },
        "blocked_mode": {"type": "string", "enum": list(BLOCKED_MODES)},
    }
)


# -- products -------------------------------------------------------------------------------

_CURRENCIES = sorted(active_currencies())
_BY_DECIMALS: dict[int, list[str]] = {}
for _code in _CURRENCIES:
    _BY_DECIMALS.setdefault(minor_units(_code), []).append(_code)


def _amount(decimals: int) -> dict[str, Any]:
    """A price with at most `decimals` decimal places, 0 to below 1,000,000,000: decimal
    text ("1299.00"), or a JSON number (read exactly, never as a float)."""
    fraction = rf"(\.\d{{1,{decimals}}})?" if decimals else ""
    return {
        "anyOf": [
            {"type": "string", "pattern": rf"^\d{{1,9}}{fraction}$"},
            {
                "type": "number",
                "minimum": 0,
                "exclusiveMaximum": 1_000_000_000,
                "multipleOf": 10**-decimals if decimals else 1,
            },
        ]
    }


_MOST_DECIMALS = max(_BY_DECIMALS)
_PRICE_NOTE = (
    "decimal text or a JSON number, with at most the currency's minor digits (EUR"
    ' "1299.00", JPY "1299", BHD "1.250"); without a currency, the brand\'s'
)
_PRICE = {**_amount(_MOST_DECIMALS), "description": _PRICE_NOTE}
_COMPARE_AT = {
    "anyOf": [*_PRICE["anyOf"], _BLANK, {"type": "null"}],
    "description": "the crossed-out price: greater than price (null: none)",
}


def _prices_by_currency() -> list[dict[str, Any]]:
    """The price rules JSON Schema can say: a given currency's minor digits. (Without a
    currency the brand's applies; and compare_at_price must exceed price.)"""
    rules = []
    for decimals, codes in sorted(_BY_DECIMALS.items()):
        amount = _amount(decimals)
        rules.append(
            {
                "if": {"required": ["currency"], "properties": {"currency": {"enum": codes}}},
                "then": {
                    "properties": {
                        "price": amount,
                        "compare_at_price": {"anyOf": [*amount["anyOf"], _BLANK, {"type": "null"}]},
                    }
                },
            }
        )
    return rules


_PRODUCT: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "price", "currency", "price_display"],
    "properties": {
        "id": _ID,
        "name": {"type": "string"},
        "description": {"type": "string"},
        "price": {"type": "string", "pattern": r"^\d+(\.\d+)?$", "examples": ["1299.00"]},
        "compare_at_price": {"type": ["string", "null"]},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "price_display": {"type": "string", "examples": ["1.299,00 €"]},
        "compare_at_price_display": {"type": ["string", "null"]},
        "url": {"type": ["string", "null"]},
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
_PRODUCT_FIELDS: dict[str, Any] = {
    "name": _line(NAME_MAX),
    "description": {
        "type": "string",
        "maxLength": DESCRIPTION_MAX,
        "pattern": r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]*$",
    },
    "price": _PRICE,
    "compare_at_price": _COMPARE_AT,
    "currency": {"type": "string", "enum": _CURRENCIES},
    "url": {
        "type": ["string", "null"],
        "maxLength": URL_MAX,
        "description": "http(s) only; empty or null: none",
        "pattern": _URL,
    },
    "stock": {
        "description": 'units in stock (a form\'s text too, e.g. "12"); null or empty: not tracked',
        "anyOf": [
            {"type": ["integer", "null"], "minimum": 0, "maximum": STOCK_MAX},
            {"type": "string", "pattern": r"^\s*\+?(0{0,3}\d{1,9}|0{0,2}1000000000)\s*$"},
            _BLANK,
        ],
    },
    "sku": {
        "type": ["string", "null"],
        "description": "unique among products; empty or null: none",
        "pattern": r"^\s*([A-Za-z0-9][A-Za-z0-9._/#-]{0,63})?\s*$",
    },
}
"What a client may send (checked against each other and, when changing, the product)."
_NEW_PRODUCT = {
    **_object(
        {
            **_PRODUCT_FIELDS,
            "currency": {"enum": [*_CURRENCIES, "", None], "description": "none: the brand's"},
            "description": {**_PRODUCT_FIELDS["description"], "type": ["string", "null"]},
        },
        required=("name", "price"),
    ),
    "allOf": _prices_by_currency(),
}
_PRODUCT_CHANGES = {
    **_object(
        {
            **_PRODUCT_FIELDS,
            "description": {**_PRODUCT_FIELDS["description"], "type": ["string", "null"]},
            "image": {"type": "null", "description": "null removes the image"},
        }
    ),
    "allOf": _prices_by_currency(),
}
_RUNNING_ORDER = {"type": "array", "items": _ID, "uniqueItems": True, "maxItems": 500}
_PRODUCTS = {"type": "object", "properties": {"products": {"type": "array", "items": _PRODUCT}}}
_PRODUCT_PARAM = {"name": "id", "in": "path", "required": True, "schema": _ID}
_BRAND = {
    "type": "object",
    "required": ["name", "accent", "corner", "locale", "currency"],
    "properties": {
        "name": {"type": "string"},
        "accent": {"type": "string", "pattern": "^#[0-9a-f]{6}$"},
        "corner": {"type": "string", "enum": list(CORNERS)},
        "locale": {"type": "string", "examples": ["de_DE"]},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "logo": {"type": ["string", "null"]},
        "logo_url": {"type": ["string", "null"]},
        "logo_thumbnail_url": {"type": ["string", "null"]},
        "embed_origins": {
            "type": "array",
            "maxItems": 20,
            "items": {"type": "string", "examples": ["https://shop.example", "*"]},
            "description": "sites that may frame the player (/embed/{show})",
        },
    },
}
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMBED_ORIGIN = {
    "type": "string",
    "maxLength": 300,
    "pattern": (
        rf"^(\*|https://(\*\.)?{_LABEL}(\.{_LABEL})*(:[0-9]{{1,4}})?/?"
        r"|http://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,4})?/?)$"
    ),
    "description": "https://host[:port], https://*.host, http://localhost[:port], or *"
    " (the server also takes IDN hosts and more loopback forms)",
}
_BRAND_CHANGES = _object(
    {
        "name": _line(BRAND_NAME_MAX),
        "accent": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"},
        "corner": {"type": "string", "enum": list(CORNERS)},
        "locale": {"type": "string", "enum": locale_names()},
        "currency": {"type": "string", "enum": _CURRENCIES},
        "logo": {"type": "null", "description": "null removes the logo"},
        "embed_origins": {"type": "array", "maxItems": 20, "items": _EMBED_ORIGIN},
    }
)
_IMAGES = ("image/jpeg", "image/png", "image/webp")


def _image_body(field: str) -> dict[str, Any]:
    """An image upload: a multipart file `field`, or the raw image."""
    file = {"type": "string", "format": "binary"}
    multipart = {
        "schema": _object({field: file}, required=(field,)),
        # Any of _IMAGES: one is named, so that the fuzzer sends real images.
        "encoding": {field: {"contentType": "image/png"}},
    }
    raw = {"schema": file}
    return {
        "required": True,
        "content": {"multipart/form-data": multipart, **{t: raw for t in _IMAGES}},
    }


_IMPORT_PROBLEMS = {
    "type": "object",
    "required": ["error", "errors", "total"],
    "properties": {
        "error": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "row": {"type": ["integer", "null"]},
                    "column": {"type": ["string", "null"]},
                    "message": {"type": "string"},
                },
            },
        },
        "total": {"type": "integer"},
    },
}

# -- the links the fuzzer (and a reader) follows from what POST creates ------------------------

# -- destinations (livestudio/http/destinations_api.py and live/destinations.py) -------------

_DESTINATION_URL = {
    "type": "string",
    "maxLength": MAX_URL,
    "pattern": URL_PATTERN,
    "examples": ["rtmps://a.rtmps.youtube.com:443/live2"],
}
_DESTINATION_KEY = {
    "type": ["string", "null"],
    "maxLength": MAX_KEY,
    "pattern": KEY_PATTERN,
    "writeOnly": True,
    "description": "the stream key or bearer token (none: null or empty): stored, never "
    "returned or logged",
}
_DESTINATION = {
    "type": "object",
    "required": ["id", "url", "kind", "has_key", "state"],
    "properties": {
        "id": {"type": "integer"},
        "url": {"type": "string"},
        "kind": {"type": "string", "enum": ["rtmp", "whip"]},
        "has_key": {"type": "boolean", "description": "the key itself is never returned"},
        "state": {"type": "string", "enum": ["idle", "connecting", "live", "retrying", "failed"]},
        "since": {"type": "number"},
        "error": {"type": ["string", "null"], "description": "the last error, if any"},
        "error_at": {"type": ["number", "null"]},
        "next_attempt_at": {"type": ["number", "null"]},
        "connections": {"type": "integer"},
        "created_at": {"type": "number"},
    },
}
_DESTINATION_LINKS = {
    "RemoveDestination": _link(
        "removeDestination", show="$request.path.show", destination="$response.body#/id"
    )
}

_SHOW_LINKS = {
    name: _link(operation, show="$response.body#/id")
    for name, operation in (
        ("GetShow", "getShow"),
        ("UpdateShow", "updateShow"),
        ("DeleteShow", "deleteShow"),
        ("EndShow", "endShow"),
        ("RotateStreamKey", "rotateStreamKey"),
        ("PublishReplay", "publishReplay"),
        ("UnpublishReplay", "unpublishReplay"),
        ("Pin", "pin"),
        ("Unpin", "unpin"),
        ("StartSale", "startSale"),
        ("EndSale", "endSale"),
        ("GetClicks", "getClicks"),
        ("GetChatSettings", "getChatSettings"),
        ("PutChatSettings", "putChatSettings"),
        ("GetHeldMessages", "getHeldMessages"),
        ("ApproveHeldMessage", "approveHeldMessage"),
        ("DeleteChatMessage", "deleteChatMessage"),
        ("BanAuthor", "banAuthor"),
        ("Highlight", "highlight"),
        ("DismissHighlight", "dismissHighlight"),
        ("GetRunningOrder", "getRunningOrder"),
        ("PutRunningOrder", "putRunningOrder"),
        ("ListDestinations", "listDestinations"),
        ("AddDestination", "addDestination"),
    )
}
_PRODUCT_LINKS = {
    name: _link(operation, id="$response.body#/id")
    for name, operation in (
        ("GetProduct", "getProduct"),
        ("PatchProduct", "patchProduct"),
        ("DeleteProduct", "deleteProduct"),
        ("UploadProductImage", "uploadProductImage"),
    )
}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "LiveStudio API", "version": __version__},
    "components": {
        "securitySchemes": {
            "token": {"type": "http", "scheme": "bearer"},
            "session": {"type": "apiKey", "in": "cookie", "name": "livestudio_session"},
        },
        "schemas": {"Show": _SHOW, "Product": _PRODUCT, "OnAirEvent": _ON_AIR_EVENT},
    },
    "security": [{"token": []}, {"session": []}],
    "paths": {
        "/api/shows": {
            "get": _op(
                "listShows",
                "List shows (newest first)",
                200,
                {"type": "object", "properties": {"shows": {"type": "array", "items": _SHOW}}},
            ),
            "post": _op(
                "createShow",
                "Create a show; the answer carries its stream key, shown only this once",
                201,
                _NEW_SHOW,
                _with_body(422),
                links=_SHOW_LINKS,
                requestBody=_json_body(
                    {
                        "type": "object",
                        "required": ["title"],
                        "properties": {
                            "title": _line(TITLE_MAX),
                            "starts_at": _STARTS_AT,
                            "orientation": _ORIENTATION,
                        },
                    }
                ),
            ),
        },
        "/api/shows/{show}": {
            "parameters": [_SHOW_PARAM],
            "get": _op("getShow", "One show", 200, _SHOW, (404,)),
            "patch": _op(
                "updateShow",
                "Change a show's settings: its orientation, until it goes live",
                200,
                _SHOW,
                _with_body(404, 409, 422),
                requestBody=_json_body(_object({"orientation": _ORIENTATION})),
            ),
            "delete": _op(
                "deleteShow",
                "Delete a show: its recording files and rows (a live show is refused)",
                204,
                errors=_change(404, 409),
            ),
        },
        "/api/shows/{show}/pin": {
            "parameters": [_SHOW_PARAM],
            "post": _op(
                "pin",
                "Pin a product: its card is burned into the video (the show must be live)",
                200,
                _ON_AIR_EVENT,
                _with_body(404, 409, 422),
                requestBody=_json_body(_object({"product": _ID}, required=("product",))),
            ),
            "delete": _op(
                "unpin",
                "Unpin: the card goes off air",
                200,
                _ON_AIR_EVENT,
                _change(404, 409),
            ),
        },
        "/api/shows/{show}/sale": {
            "parameters": [_SHOW_PARAM],
            "post": _op(
                "startSale",
                "Start a flash sale: the product at a sale price with a countdown",
                200,
                _ON_AIR_EVENT,
                _with_body(404, 409, 422),
                requestBody=_json_body(
                    {
                        "type": "object",
                        "required": ["product", "price", "seconds"],
                        "properties": {
                            "product": _ID,
                            "price": {**_PRICE, "description": "below the product's price"},
                            "seconds": {"type": "integer", "minimum": 1, "maximum": 86400},
                        },
                    }
                ),
            ),
            "delete": _op(
                "endSale",
                "End the running flash sale early: the card goes back to the product's price",
                200,
                _ON_AIR_EVENT,
                _change(404, 409),
            ),
        },
        "/api/shows/{show}/destinations": {
            "parameters": [_SHOW_PARAM],
            "get": _op(
                "listDestinations",
                "The show's destinations with their live state and last error",
                200,
                _object(
                    {"destinations": {"type": "array", "items": _DESTINATION}},
                    required=("destinations",),
                ),
                (404,),
            ),
            "post": _op(
                "addDestination",
                "Add a destination (RTMP/RTMPS server URL + stream key, or a WHIP endpoint +"
                " bearer token); it starts at once if the show is live",
                201,
                _DESTINATION,
                _with_body(404, 409, 422),
                _DESTINATION_LINKS,
                requestBody=_json_body(
                    _object({"url": _DESTINATION_URL, "key": _DESTINATION_KEY}, required=("url",))
                ),
            ),
        },
        "/api/shows/{show}/destinations/{destination}": {
            "parameters": [
                _SHOW_PARAM,
                {"name": "destination", "in": "path", "required": True, "schema": _ID},
            ],
            "delete": _op(
                "removeDestination", "Stop and remove a destination", 204, errors=_change(404)
            ),
        },
        "/api/shows/{show}/clicks": {
            "parameters": [_SHOW_PARAM],
            "get": _op(
                "getClicks",
                "Buy clicks per product, live and in the replay",
                200,
                {
                    "type": "object",
                    "properties": {
                        "clicks": {
                            "type": "object",
                            "additionalProperties": {
                                "type": "object",
                                "properties": {
                                    "live": {"type": "integer"},
                                    "replay": {"type": "integer"},
                                },
                            },
                        }
                    },
                },
                (404,),
            ),
        },
        "/api/shows/{show}/chat/settings": {
            "parameters": [_SHOW_PARAM],
            "get": _op(
                "getChatSettings",
                "Chat settings: slow mode, blocked words",
                200,
                _CHAT_SETTINGS,
                (404,),
            ),
            "put": _op(
                "putChatSettings",
                "Change the chat settings sent",
                200,
                _CHAT_SETTINGS,
                _with_body(404, 422),
                requestBody=_json_body(_CHAT_SETTINGS),
            ),
        },
        "/api/shows/{show}/chat/held": {
            "parameters": [_SHOW_PARAM],
            "get": _op(
                "getHeldMessages",
                "Messages held back by blocked words",
                200,
                {
                    "type": "object",
                    "properties": {
                        "held": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "id": {"type": "integer"},
                                    "name": {"type": "string"},
                                    "text": {"type": "string"},
                                },
                            },
                        }
                    },
                },
                (404,),
            ),
        },
        "/api/shows/{show}/chat/held/{held}/approve": {
            "parameters": [
                _SHOW_PARAM,
                {"name": "held", "in": "path", "required": True, "schema": _ID},
            ],
            "post": _op(
                "approveHeldMessage",
                "Show a held message",
                200,
                {"type": "object", "properties": {"id": {"type": "integer"}}},
                _change(404),
            ),
        },
        "/api/shows/{show}/chat/{message}": {
            "parameters": [
                _SHOW_PARAM,
                {"name": "message", "in": "path", "required": True, "schema": _ID},
            ],
            "delete": _op(
                "deleteChatMessage",
                "Delete a message for everyone, live and in the replay",
                204,
                errors=_change(404),
            ),
        },
        "/api/shows/{show}/chat/{message}/ban": {
            "parameters": [
                _SHOW_PARAM,
                {"name": "message", "in": "path", "required": True, "schema": _ID},
            ],
            "post": _op(
                "banAuthor",
                "Ban the author by viewer cookie (in every show); with address_minutes also"
                " their address (IPv6: its /64) in this show for that long",
                200,
                {
                    "type": "object",
                    "properties": {
                        "banned": {"type": "string"},
                        "address_until": {"type": ["number", "null"]},
                        "removed": {
                            "type": "integer",
                            "description": "how many of their messages were removed",
                        },
                        "question_dismissed": {
                            "type": "boolean",
                            "description": "their question was on air and went off",
                        },
                    },
                },
                _with_body(404, 422),
                requestBody=_json_body(
                    _object(
                        {
                            "address_minutes": {"type": "integer", "minimum": 1, "maximum": 10080},
                            "remove_messages": {
                                "type": "boolean",
                                "description": "also remove their messages (default true)",
                            },
                        }
                    ),
                    required=False,
                ),
            ),
        },
        "/api/chat/bans": {
            "get": _op(
                "listBans",
                "The bans in force, in every show (newest first)",
                200,
                {
                    "type": "object",
                    "properties": {
                        "bans": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "id": _ID,
                                    "name": {"type": "string"},
                                    "show": {"type": ["string", "null"]},
                                    "at": {"type": "number"},
                                    "address_until": {"type": ["number", "null"]},
                                },
                            },
                        }
                    },
                },
                links={"LiftBan": _link("liftBan", ban="$response.body#/bans/0/id")},
            ),
        },
        "/api/chat/bans/{ban}": {
            "parameters": [{"name": "ban", "in": "path", "required": True, "schema": _ID}],
            "delete": _op("liftBan", "Lift a ban", 204, errors=_change(404)),
        },
        "/api/shows/{show}/highlight": {
            "parameters": [_SHOW_PARAM],
            "post": _op(
                "highlight",
                "Burn a chat question into the video as a lower-third",
                200,
                _ON_AIR_EVENT,
                _with_body(404, 409, 422),
                requestBody=_json_body(_object({"message": _ID}, required=("message",))),
            ),
            "delete": _op(
                "dismissHighlight",
                "Dismiss the highlighted question",
                200,
                _ON_AIR_EVENT,
                _change(404, 409),
            ),
        },
        "/api/shows/{show}/publish": {
            "parameters": [_SHOW_PARAM],
            "post": _op(
                "publishReplay", "Publish the replay (again)", 200, _SHOW, _change(404, 409)
            ),
        },
        "/api/shows/{show}/unpublish": {
            "parameters": [_SHOW_PARAM],
            "post": _op(
                "unpublishReplay", "Hide the replay (files kept)", 200, _SHOW, _change(404, 409)
            ),
        },
        "/api/shows/{show}/stream-key": {
            "parameters": [_SHOW_PARAM],
            "post": _op(
                "rotateStreamKey",
                "A new stream key, shown only in this answer (the old one stops working)",
                200,
                {
                    "type": "object",
                    "required": ["stream_key"],
                    "properties": {"stream_key": {"type": "string"}},
                },
                _change(404),
            ),
        },
        "/api/shows/{show}/end": {
            "parameters": [_SHOW_PARAM],
            "post": _op("endShow", "End a live show (End show)", 200, _SHOW, _change(404, 409)),
        },
        "/api/products": {
            "get": _op(
                "listProducts",
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
                "createProduct",
                "Create a product (currency defaults to the brand's); a SKU in use is 409",
                201,
                _PRODUCT,
                _with_body(409, 422),
                links=_PRODUCT_LINKS,
                requestBody=_json_body(_NEW_PRODUCT),
            ),
        },
        "/api/products/{id}": {
            "parameters": [_PRODUCT_PARAM],
            "get": _op("getProduct", "One product (404 once deleted)", 200, _PRODUCT, (404,)),
            "patch": _op(
                "patchProduct",
                'Change the fields sent, e.g. {"stock": 3}; a SKU in use is 409',
                200,
                _PRODUCT,
                _with_body(404, 409, 422),
                requestBody=_json_body(_PRODUCT_CHANGES),
            ),
            "delete": _op(
                "deleteProduct",
                "Delete (hidden from the catalog, kept in past shows' history)",
                204,
                errors=_change(404),
            ),
        },
        "/api/products/{id}/image": {
            "parameters": [_PRODUCT_PARAM],
            "post": _op(
                "uploadProductImage",
                "Upload the product image (JPEG, PNG or WebP, at most 10 MB and 40 megapixels)",
                200,
                _PRODUCT,
                _change(400, 404, 413, 415),
                requestBody=_image_body("image"),
            ),
        },
        "/api/products.csv": {
            "get": {
                **_op("exportProducts", "The catalog as CSV (formula cells neutralized)", 200),
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    },
                    "401": {"description": _ERRORS[401], "content": _TEXT},
                },
            },
        },
        "/api/products/import": {
            "post": {
                **_op(
                    "importProducts",
                    "Import a CSV (ours, or a Shopify or WooCommerce product export), all rows"
                    " or none; 422 lists every bad row (as JSON)",
                    200,
                    {
                        "type": "object",
                        "required": ["created", "updated"],
                        "properties": {
                            "created": {"type": "integer"},
                            "updated": {"type": "integer"},
                            "format": {"type": "string", "enum": ["Shopify", "WooCommerce"]},
                            "notes": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                    _change(400, 409, 413, 415),
                    parameters=[
                        {
                            "name": "shop_url",
                            "in": "query",
                            "required": False,
                            "description": "The shop's address, to build product URLs a shop"
                            " export lacks (also a form field)",
                            "schema": {"type": "string", "pattern": _URL},
                        }
                    ],
                    requestBody={
                        "required": True,
                        "content": {
                            "text/csv": {"schema": {"type": "string"}},
                            "multipart/form-data": {
                                "schema": _object(
                                    {
                                        "file": {"type": "string", "contentMediaType": "text/csv"},
                                        "shop_url": {"type": "string", "pattern": _URL},
                                    },
                                    required=("file",),
                                ),
                                "encoding": {"file": {"contentType": "text/csv"}},
                            },
                        },
                    },
                ),
            },
        },
        "/api/shows/{show}/products": {
            "parameters": [_SHOW_PARAM],
            "get": _op("getRunningOrder", "The show's running order", 200, _PRODUCTS, (404,)),
            "put": _op(
                "putRunningOrder",
                "Replace the running order (404: a product not in the catalog; 409: a deleted"
                " product not already in it)",
                200,
                _PRODUCTS,
                _with_body(404, 409, 422),
                requestBody=_json_body(
                    {
                        "description": 'the product ids in order: {"products": [7, 3]} or'
                        " just the list",
                        "anyOf": [
                            _object({"products": _RUNNING_ORDER}, required=("products",)),
                            _RUNNING_ORDER,
                        ],
                    }
                ),
            ),
        },
        "/api/brand": {
            "get": _op("getBrand", "Brand settings", 200, _BRAND),
            "put": _op(
                "putBrand",
                "Change the brand settings sent (logo: null removes the logo)",
                200,
                _BRAND,
                _with_body(422),
                requestBody=_json_body(_BRAND_CHANGES),
            ),
        },
        "/api/brand/logo": {
            "post": _op(
                "uploadLogo",
                "Upload the logo (JPEG, PNG or WebP)",
                200,
                _BRAND,
                _change(400, 413, 415),
                requestBody=_image_body("logo"),
            ),
        },
        "/api/sessions": {
            "get": _op(
                "listSessions",
                "The browsers signed in to the studio, every admin's, most recently seen first",
                200,
                {
                    "type": "object",
                    "properties": {
                        "sessions": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "id": _ID,
                                    "user": {"type": "string"},
                                    "created_at": {"type": "number"},
                                    "last_seen_at": {"type": "number"},
                                    "user_agent": {"type": "string"},
                                    "address": {"type": "string"},
                                    "current": {"type": "boolean"},
                                },
                            },
                        }
                    },
                },
                links={"EndSession": _link("endSession", id="$response.body#/sessions/0/id")},
            ),
        },
        "/api/sessions/{id}": {
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": _ID}],
            "delete": _op(
                "endSession",
                "Log that browser out (its cookie stops working)",
                204,
                errors=_change(404),
            ),
        },
    },
}
# The import's 422 is JSON (every bad row), not a text message.
SPEC["paths"]["/api/products/import"]["post"]["responses"]["422"] = {
    "description": "rows that cannot be imported; nothing was",
    "content": {"application/json": {"schema": _IMPORT_PROBLEMS}},
}

# Public, no login (livestudio/http/embed.py, calendar.py): the player on other sites,
# oEmbed, calendars.
_OEMBED = {
    "type": "object",
    "required": ["version", "type", "title", "provider_name", "html", "width", "height"],
    "properties": {
        "version": {"const": "1.0"},
        "type": {"const": "video"},
        "title": {"type": "string"},
        "provider_name": {"type": "string"},
        "provider_url": {"type": "string"},
        "html": {"type": "string", "description": "the iframe of /embed/{show}"},
        "width": {"type": "integer", "minimum": 1},
        "height": {"type": "integer", "minimum": 1},
        "thumbnail_url": {"type": "string"},
        "thumbnail_width": {"type": "integer", "minimum": 1},
        "thumbnail_height": {"type": "integer", "minimum": 1},
    },
}
_PIXELS = {"type": "integer", "minimum": 1, "maximum": 100_000}


def _public(operation_id: str, summary: str, ok: dict[str, Any], **errors: str) -> Any:
    """A public operation (no login): its answer and its plain-text errors."""
    responses = {"200": ok}
    for status, why in errors.items():
        responses[status.removeprefix("e")] = {"description": why, "content": _TEXT}
    return {"operationId": operation_id, "summary": summary, "security": [], "responses": responses}


def _query(name: str, description: str, schema: dict[str, Any], required: bool = False) -> Any:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


_CALENDAR = {"description": "iCalendar (RFC 5545)", "content": {"text/calendar": {}}}
SPEC["paths"].update(
    {
        "/oembed": {
            "get": {
                **_public(
                    "getOembed",
                    "oEmbed of a show's link: the embeddable player",
                    {"description": "ok", "content": {"application/json": {"schema": _OEMBED}}},
                    e400="no url, or a size that is not a positive number",
                    e404="not a show link of this server",
                    e501="a format other than json",
                ),
                "parameters": [
                    _query(
                        "url",
                        "a /live/, /replay/ or /embed/ link of this server",
                        {"type": "string", "minLength": 1},
                        required=True,
                    ),
                    _query("maxwidth", "largest width in pixels", _PIXELS),
                    _query("maxheight", "largest height in pixels", _PIXELS),
                    _query("format", "json, the only one offered", {"enum": ["json"]}),
                ],
            }
        },
        "/embed/{show}": {
            "parameters": [_SHOW_PARAM],
            "get": {
                **_public(
                    "getEmbed",
                    "The player for another site's iframe (frame-ancestors: embed_origins)",
                    {"description": "the player", "content": {"text/html": {}}},
                ),
                "responses": {
                    "200": {"description": "the player", "content": {"text/html": {}}},
                    "404": {"description": "no such show", "content": {"text/html": {}}},
                },
                "parameters": [_query("chat", "1: with the chat", {"enum": ["0", "1"]})],
            },
        },
        "/live/{show}/calendar.ics": {
            "parameters": [_SHOW_PARAM],
            "get": _public(
                "getShowCalendar",
                "Add to calendar: the show as an iCalendar event (a stable UID)",
                _CALENDAR,
                e404="no such show, or it has no start time",
            ),
        },
        "/shows.ics": {
            "get": _public("getShowsCalendar", "The calendar of upcoming shows", _CALENDAR),
        },
    }
)


SPEC["paths"].update(ANALYTICS_PATHS)


async def openapi(request: web.Request) -> web.Response:
    """GET /api/openapi.json (public: it describes, it does not grant)."""
    return web.json_response(SPEC)
