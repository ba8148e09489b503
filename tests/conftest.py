"""Shared fixtures: an in-process server with a fresh data dir, and a show ready to go live."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from livestudio.app import create_app
from livestudio.config import Settings, load_settings
from livestudio.http.keys import ONAIR, STORE
from livestudio.live.onair import OnAir
from livestudio.store import Store


@dataclass
class Studio:
    """A running in-process server and a client session to it."""

    app: web.Application
    server: TestServer
    session: aiohttp.ClientSession
    settings: Settings

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    @property
    def store(self) -> Store:
        return self.app[STORE]

    @property
    def onair(self) -> OnAir:
        return self.app[ONAIR]

    async def create_show(self, title: str = "Spring collection") -> tuple[str, str]:
        show, key = await self.store.create_show(title, None)
        return show.id, key


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
