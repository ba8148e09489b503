"""Turning user-caused problems into clear HTTP errors with a text message."""

from __future__ import annotations

from aiohttp import web

from ..live.destinations import InvalidDestination, TooManyDestinations, UnknownDestination
from ..live.errors import NothingToUndo, NotOnAir, ShowActionError, UnknownMessage, UnknownProduct
from ..media.sdp import OfferError, OfferTooLarge, OfferUnsupported

_BY_STATUS: dict[int, type[web.HTTPException]] = {
    cls.status_code: cls
    for cls in (
        web.HTTPBadRequest,
        web.HTTPUnauthorized,
        web.HTTPForbidden,
        web.HTTPNotFound,
        web.HTTPConflict,
        web.HTTPGone,
        web.HTTPPreconditionFailed,
        web.HTTPUnsupportedMediaType,
        web.HTTPUnprocessableEntity,
        web.HTTPTooManyRequests,
        web.HTTPServiceUnavailable,
        web.HTTPRequestRangeNotSatisfiable,
    )
}


class HTTPPayloadTooLarge(web.HTTPClientError):
    """413 without aiohttp's max_size bookkeeping."""

    status_code = 413


_BY_STATUS[413] = HTTPPayloadTooLarge


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.HTTPException:
    """An HTTP error whose body is `message` as plain text, which every client can show."""
    return _BY_STATUS[status](text=message + "\n", headers=headers)


def method_not_allowed(request: web.Request, allowed: list[str], message: str) -> web.HTTPException:
    """405 with the Allow header."""
    return web.HTTPMethodNotAllowed(request.method, allowed, text=message + "\n")


async def read_limited(request: web.Request, limit: int) -> bytes:
    """The request body, or 413 if it is larger than `limit` bytes (checked while reading)."""
    if request.content_length is not None and request.content_length > limit:
        raise error(413, f"request body too large (limit {limit} bytes)")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(16384):
        size += len(chunk)
        if size > limit:
            raise error(413, f"request body too large (limit {limit} bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


_DOMAIN_STATUS: list[tuple[type[Exception], int]] = [
    (OfferTooLarge, 413),
    (OfferUnsupported, 422),
    (OfferError, 400),
    (UnknownProduct, 404),
    (UnknownMessage, 404),
    (UnknownDestination, 404),
    (InvalidDestination, 422),
    (TooManyDestinations, 409),
    (NotOnAir, 409),
    (NothingToUndo, 409),
    (ShowActionError, 409),
]
"Domain errors → status, most specific first."


def domain_error(exc: OfferError | ShowActionError) -> web.HTTPException:
    """The HTTP error for what the domain refused, with its message."""
    status = next(code for kind, code in _DOMAIN_STATUS if isinstance(exc, kind))
    return error(status, exc.message)
