"""Reading JSON bodies exactly: numbers become Decimal, never float (19.99 stays 19.99)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from aiohttp import web

from .errors import error, read_limited

MAX_JSON = 64 * 1024


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


async def json_body(request: web.Request) -> Any:
    """The JSON body with numbers as Decimal; 400 if not JSON, 413 if over MAX_JSON."""
    body = await read_limited(request, MAX_JSON)
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError):
        raise error(400, "the body must be valid JSON") from None


async def json_object(request: web.Request) -> dict[str, Any]:
    """The JSON body, which must be an object (400 otherwise)."""
    data = await json_body(request)
    if not isinstance(data, dict):
        raise error(400, "the body must be a JSON object")
    return data


async def optional_json_object(request: web.Request) -> dict[str, Any]:
    """The JSON object body, or {} when there is no body at all."""
    if request.content_length == 0 or (
        request.content_length is None and not request.can_read_body
    ):
        return {}
    return await json_object(request)


def whole_number(value: object) -> int | None:
    """A JSON whole number as an int (3 and 3.0 alike, as JSON Schema counts them), or None
    for anything else (booleans, fractions, text)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return None
