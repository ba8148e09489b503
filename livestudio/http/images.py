"""Image uploads (products, logo) and the public /media/products/ files they become."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from ..catalog.images import (
    MAX_BYTES,
    ImageError,
    ImageLibrary,
    PreparedImage,
    prepare_image,
)
from .errors import error, read_limited

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "application/octet-stream")
"""Raw-body content types accepted for an upload (decoding decides what it really is)."""
_MULTIPART_SLACK = 64 * 1024
"""Room for multipart headers and small fields around the file."""
_IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass
class ImageWork:
    """The media library and a bound on images decoded at once (each may take ~150 MB)."""

    library: ImageLibrary
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))

    async def prepare(self, data: bytes) -> PreparedImage:
        """Verify and normalize off the event loop; ImageError if unacceptable."""
        async with self.slots:
            return await asyncio.to_thread(prepare_image, data)

    async def save(self, image: PreparedImage) -> str:
        """Write the files (once per content) off the event loop; return the key."""
        return await asyncio.to_thread(self.library.save, image)


IMAGES = web.AppKey("catalog_images", ImageWork)


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} kB"


async def read_part(part: BodyPartReader, limit: int, what: str) -> bytes:
    """A multipart part's bytes, or 413 once it exceeds `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            chunk = await part.read_chunk(65536)
        except (ValueError, HttpProcessingError):
            raise error(400, "the multipart body is malformed") from None
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise error(413, f"{what} is larger than {_size(limit)}")
        chunks.append(chunk)


async def multipart_parts(request: web.Request, total_limit: int) -> MultipartReader:
    """The multipart reader, after checking the declared size against `total_limit`."""
    if request.content_length is not None and request.content_length > total_limit:
        raise error(413, f"request body too large (limit {_size(total_limit)})")
    try:
        return await request.multipart()
    except (AssertionError, ValueError, KeyError, HttpProcessingError):
        raise error(400, "the multipart body is malformed") from None


async def file_parts(reader: MultipartReader) -> AsyncIterator[BodyPartReader]:
    """The parts of a flat multipart body; 400 if it is malformed or nested."""
    while True:
        try:
            part = await reader.next()
        except (ValueError, HttpProcessingError):  # e.g. a part's header that is not one
            raise error(400, "the multipart body is malformed") from None
        if part is None:
            return
        if not isinstance(part, BodyPartReader):
            raise error(400, "nested multipart bodies are not accepted")
        yield part


async def read_upload(request: web.Request, field_names: tuple[str, ...]) -> bytes:
    """The uploaded image: a multipart file field (`field_names`) or a raw image body."""
    if request.content_type == "multipart/form-data":
        reader = await multipart_parts(request, MAX_BYTES + _MULTIPART_SLACK)
        seen = 0
        async for part in file_parts(reader):
            if part.name in field_names:
                return await read_part(part, MAX_BYTES, "the image")
            if part.filename:
                raise error(
                    400,
                    f"send the image as a multipart file field named {field_names[0]!r}"
                    f" (not {str(part.name)[:40]!r})",
                )
            seen += len(await read_part(part, _MULTIPART_SLACK, "a form field"))
            if seen > _MULTIPART_SLACK:
                raise error(413, "too much form data besides the image")
        raise error(400, f"send the image as a multipart file field named {field_names[0]!r}")
    if request.content_type not in IMAGE_TYPES:
        raise error(
            415,
            "send a JPEG, PNG or WebP image (Content-Type image/jpeg, image/png or"
            " image/webp) or multipart/form-data",
        )
    return await read_limited(request, MAX_BYTES)


async def store_upload(request: web.Request, field_names: tuple[str, ...]) -> str:
    """Read, verify, normalize and store the uploaded image; return its key (400/413/415)."""
    data = await read_upload(request, field_names)
    work = request.app[IMAGES]
    try:
        prepared = await work.prepare(data)
    except ImageError as exc:
        raise error(exc.status, str(exc)) from None
    return await work.save(prepared)


async def media_file(request: web.Request) -> web.StreamResponse:
    """GET /media/products/{file}: a stored image (public, cached for good: names are hashes)."""
    path = request.app[IMAGES].library.path(request.match_info["file"])
    if path is None:
        raise error(404, "no such image")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "image/webp",
            "Cache-Control": _IMMUTABLE,
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'",
        },
    )
