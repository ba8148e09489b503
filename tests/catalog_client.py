"""A studio with the catalog routes and an API token, for the test_catalog_* HTTP tests."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from PIL import Image

from livestudio.app import create_app
from livestudio.http import products
from livestudio.http.images import IMAGES
from livestudio.http.keys import STORE
from livestudio.store import Store

from .conftest import make_settings


@dataclass
class Reply:
    status: int
    text: str
    headers: Any
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.text)


@dataclass
class Catalog:
    server: TestServer
    session: aiohttp.ClientSession
    token: str

    @property
    def store(self) -> Store:
        return self.server.app[STORE]

    @property
    def media(self) -> Path:
        return self.server.app[IMAGES].library.root

    def media_files(self) -> list[str]:
        return sorted(p.name for p in self.media.iterdir()) if self.media.exists() else []

    async def call(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> Reply:
        headers = dict(kwargs.pop("headers", {}))
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        async with self.session.request(
            method, self.server.make_url(path), headers=headers, **kwargs
        ) as r:
            body = await r.read()
            return Reply(r.status, body.decode("utf-8", "replace"), r.headers, body)

    async def create(self, **fields: Any) -> dict[str, Any]:
        data = {"name": "Lamp", "price": "10.00", "currency": "EUR", **fields}
        reply = await self.call("POST", "/api/products", json=data)
        assert reply.status == 201, reply.text
        product: dict[str, Any] = reply.json()
        return product


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (640, 480)) -> bytes:
    im = Image.new("RGB", size, (30, 120, 200))
    out = io.BytesIO()
    im.save(out, fmt)
    return out.getvalue()


@pytest.fixture
async def catalog(tmp_path: Path) -> AsyncIterator[Catalog]:
    app = create_app(make_settings(tmp_path))
    if not any(
        route.resource is not None and route.resource.canonical == "/api/products"
        for route in app.router.routes()
    ):
        products.setup(app)  # until app.py registers the catalog itself
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    session = aiohttp.ClientSession()
    try:
        token = await app[STORE].create_api_token("catalog tests")
        yield Catalog(server, session, token)
    finally:
        await session.close()
        await server.close()


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A black greyscale PNG of width x height that is tiny compressed (never held decoded)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    compressor = zlib.compressobj(9)
    row = bytes(1 + width)  # filter byte 0, then black pixels
    parts = [compressor.compress(row) for _ in range(height)]
    idat = b"".join(parts) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
