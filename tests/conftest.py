"""The in-process harness: a server with a fresh data dir, and what tests do to it over HTTP
(log in, call the API, open a viewer page's events socket)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from livestudio.app import create_app
from livestudio.config import Settings, load_settings
from livestudio.http.images import IMAGES
from livestudio.http.keys import ONAIR, STORE
from livestudio.live.onair import OnAir
from livestudio.store import Store

ADMIN = "admin"
PASSWORD = "correct horse battery"
"The admin's password: `Studio.log_in` and the browser's `log_in` type it."

LAMP: dict[str, Any] = {"name": "Lamp", "price": "10.00", "currency": "EUR"}
"The least a product needs: what the catalog tests start from."
MUG: dict[str, Any] = {
    "name": "Kaffeetasse Café",
    "price": "24.90",
    "compare_at_price": "29.90",
    "currency": "EUR",
    "url": "https://shop.example/tasse?color=blue",
    "stock": 12,
}
"A product with everything a card shows (sale price, stock, Buy link): what on air pins."

Socket = aiohttp.ClientWebSocketResponse


def csrf_from(html: str) -> str:
    """The CSRF token of the form in a page."""
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "the form carries a CSRF token"
    return m.group(1)


@dataclass
class Reply:
    """A response, read: status, text, headers and raw body."""

    status: int
    text: str
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class Studio:
    """A running in-process server and a client session to it."""

    app: web.Application
    server: TestServer
    session: aiohttp.ClientSession
    settings: Settings
    token: str = ""
    "An API token once `api_token()` made one (the `catalog` fixture does)."

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    @property
    def base(self) -> str:
        """The server's origin, as a browser opens it (no trailing slash)."""
        return self.url("").rstrip("/")

    @property
    def store(self) -> Store:
        return self.app[STORE]

    @property
    def onair(self) -> OnAir:
        return self.app[ONAIR]

    @property
    def media(self) -> Path:
        """Where uploaded and imported product images are stored."""
        return self.app[IMAGES].library.root

    def media_files(self) -> list[str]:
        """Names of the stored product image files."""
        return sorted(p.name for p in self.media.iterdir()) if self.media.exists() else []

    async def create_show(self, title: str = "Spring collection") -> tuple[str, str]:
        show, key = await self.store.create_show(title, None)
        return show.id, key

    async def create_live_show(self, title: str = "Spring collection") -> tuple[str, str]:
        """A show on air with no media yet, as right after Go live (its chat is open)."""
        show_id, key = await self.create_show(title)
        self.onair.start(show_id)
        return show_id, key

    # -- the host ---------------------------------------------------------------------------

    async def ensure_admin(self) -> None:
        """The admin (ADMIN, PASSWORD) exists."""
        if ADMIN not in await self.store.list_usernames():
            await self.store.create_admin(ADMIN, PASSWORD)

    async def log_in(self, session: aiohttp.ClientSession | None = None) -> str:
        """Log in through the form as the admin (created if needed), with `session` or the
        studio's own; returns the studio page's CSRF token."""
        await self.ensure_admin()
        s = session or self.session
        async with s.get(self.url("/login")) as r:
            token = csrf_from(await r.text())
        form = {"username": ADMIN, "password": PASSWORD, "csrf_token": token, "next": "/studio"}
        async with s.post(self.url("/login"), data=form) as r:
            assert r.status == 200 and r.url.path == "/studio", await r.text()
            return csrf_from(await r.text())

    async def api_token(self) -> str:
        """The studio's API token (`token`), made on first use."""
        if not self.token:
            self.token = await self.store.create_api_token("tests")
        return self.token

    async def call(
        self, method: str, path: str, *, auth: bool = True, token: str = "", **kwargs: Any
    ) -> Reply:
        """A request with `token` (by default the studio's API token; none if not `auth`)."""
        headers = dict(kwargs.pop("headers", {}))
        if auth:
            headers["Authorization"] = f"Bearer {token or await self.api_token()}"
        url = self.server.make_url(path)
        async with self.session.request(method, url, headers=headers, **kwargs) as r:
            body = await r.read()
            return Reply(r.status, body.decode("utf-8", "replace"), r.headers, body)

    async def api(self, method: str, path: str, token: str, **kwargs: Any) -> tuple[int, Any]:
        """An API request with `token`: (status, the JSON body, or the text if not JSON)."""
        reply = await self.call(method, path, token=token, **kwargs)
        try:
            return reply.status, reply.json()
        except ValueError:
            return reply.status, reply.text

    async def create_product(
        self, token: str = "", like: Mapping[str, Any] = LAMP, **fields: Any
    ) -> dict[str, Any]:
        """POST /api/products: `like` (LAMP or MUG) with `fields` on top; must be 201."""
        reply = await self.call("POST", "/api/products", token=token, json={**like, **fields})
        assert reply.status == 201, reply.text
        product: dict[str, Any] = reply.json()
        return product

    # -- viewers ----------------------------------------------------------------------------

    async def viewer_page(
        self, show_id: str, headers: dict[str, str] | None = None
    ) -> tuple[aiohttp.ClientSession, Socket, dict[str, Any]]:
        """A viewer page's session (with its viewer cookie), its events socket, and the
        snapshot the socket opened with."""
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), headers=headers)
        async with session.get(self.url(f"/live/{show_id}")) as r:
            assert r.status == 200
        ws = await session.ws_connect(self.url(f"/live/{show_id}/events"))
        snapshot = await ws.receive_json(timeout=5)
        assert snapshot["type"] == "snapshot"
        return session, ws, snapshot


async def next_of(ws: Socket, *kinds: str, within: float = 5) -> dict[str, Any]:
    """The next event of one of `kinds` on an events socket (others are skipped)."""
    while True:
        event = await ws.receive_json(timeout=within)
        if event["type"] in kinds:
            return event  # type: ignore[no-any-return]


async def say(ws: Socket, text: str, name: str = "Ann") -> None:
    """Send a chat message from a viewer page's socket."""
    await ws.send_json({"type": "chat", "name": name, "text": text})


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "recordings_dir": str(tmp_path / "recordings"),
        "grace_period": 5.0,
        "x264_preset": "ultrafast",
    }
    values.update(overrides)
    return load_settings(values, environ={})


@pytest.fixture
async def studio_factory(tmp_path: Path) -> AsyncIterator[Any]:
    servers: list[tuple[TestServer, aiohttp.ClientSession]] = []

    async def make(**overrides: Any) -> Studio:
        settings = make_settings(tmp_path, **overrides)
        app = create_app(settings)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        servers.append((server, session))
        return Studio(app, server, session, settings)

    yield make
    for server, session in servers:
        await session.close()
        await server.close()


@pytest.fixture
async def studio(studio_factory: Any) -> Studio:
    return await studio_factory()


@pytest.fixture
async def catalog(studio: Studio) -> Studio:
    """A studio with its API token made: the catalog's HTTP tests call it with `call`."""
    await studio.api_token()
    return studio
