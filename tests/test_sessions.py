"""Logins the server can end: logout, password reset, deleted admins, the studio's list of
signed-in browsers; and the login limit that holds under parallel guesses."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from livestudio.http.auth import LoginLimiter, TooManyLogins

from .conftest import ADMIN, PASSWORD, Studio, csrf_from

COOKIE = "livestudio_session"


def stolen(session: aiohttp.ClientSession) -> aiohttp.ClientSession:
    """Another client holding a copy of `session`'s cookie (as an attacker would)."""
    value = {c.key: c.value for c in session.cookie_jar}[COOKIE]
    return aiohttp.ClientSession(headers={"Cookie": f"{COOKIE}={value}"})


async def as_host(studio: Studio, client: aiohttp.ClientSession, csrf: str) -> list[int]:
    """What the host may do with this client: the studio, the API, creating a show."""
    statuses = []
    for method, path, extra in (
        ("GET", "/studio", {}),
        ("GET", "/api/shows", {}),
        ("POST", "/api/shows", {"json": {"title": "Sneaky"}, "headers": {"X-CSRF-Token": csrf}}),
    ):
        kwargs: dict[str, Any] = {"allow_redirects": False, **extra}
        async with client.request(method, studio.url(path), **kwargs) as r:
            statuses.append(r.status)
    return statuses


async def new_browser(studio: Studio, agent: str) -> tuple[aiohttp.ClientSession, str]:
    browser = aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True), headers={"User-Agent": agent}
    )
    return browser, await studio.log_in(browser)


async def test_logout_ends_the_session_for_a_copy_of_the_cookie(studio: Studio) -> None:
    csrf = await studio.log_in()
    copy = stolen(studio.session)
    assert await as_host(studio, copy, csrf) == [200, 200, 201], "a copy works while logged in"
    async with studio.session.post(studio.url("/logout"), data={"csrf_token": csrf}) as r:
        assert r.url.path == "/login"
    assert await as_host(studio, copy, csrf) == [303, 401, 401]
    assert [s.title for s in await studio.store.list_shows()] == ["Sneaky"]
    await copy.close()


async def test_a_password_reset_or_deleting_the_admin_ends_their_sessions(
    studio: Studio,
) -> None:
    csrf = await studio.log_in()
    copy = stolen(studio.session)
    await studio.store.reset_admin_password(ADMIN)  # `livestudio admin reset-password`
    assert await as_host(studio, studio.session, csrf) == [303, 401, 401]
    assert await as_host(studio, copy, csrf) == [303, 401, 401]
    await copy.close()

    await studio.store.set_password(ADMIN, PASSWORD)
    await studio.store.create_admin("bob", "another good password")
    csrf = await studio.log_in()
    await studio.store.delete_admin(ADMIN)  # `livestudio admin delete`
    assert await as_host(studio, studio.session, csrf) == [303, 401, 401]
    assert await studio.store.list_shows() == []


async def test_the_studio_lists_signed_in_browsers_and_ends_them(studio: Studio) -> None:
    laptop, laptop_csrf = await new_browser(studio, "Firefox on a laptop")
    phone, phone_csrf = await new_browser(studio, "Safari on a phone")
    async with laptop.get(studio.url("/api/sessions")) as r:
        listed = (await r.json())["sessions"]
    assert sorted((s["user"], s["user_agent"], s["current"]) for s in listed) == [
        (ADMIN, "Firefox on a laptop", True),
        (ADMIN, "Safari on a phone", False),
    ]
    assert all(s["address"] == "127.0.0.1" for s in listed)
    assert not any(COOKIE in str(s) or len(str(s.get("id"))) > 10 for s in listed)
    async with laptop.get(studio.url("/studio/sessions")) as r:
        page = await r.text()
        assert r.status == 200
    assert "Safari on a phone" in page and "this browser" in page

    phone_id = next(s["id"] for s in listed if not s["current"])
    async with laptop.delete(
        studio.url(f"/api/sessions/{phone_id}"), headers={"X-CSRF-Token": laptop_csrf}
    ) as r:
        assert r.status == 204
    assert await as_host(studio, phone, phone_csrf) == [303, 401, 401]
    for missing in (phone_id, 9999, 2**63, 10**30):
        async with laptop.delete(
            studio.url(f"/api/sessions/{missing}"), headers={"X-CSRF-Token": laptop_csrf}
        ) as r:
            assert r.status == 404, missing
    async with laptop.delete(studio.url(f"/api/sessions/{phone_id}")) as r:
        assert r.status == 403, "the cookie alone (a forged request) cannot end sessions"
    token = await studio.api_token()
    status, body = await studio.api("GET", "/api/sessions", token)
    assert status == 200 and [s["user_agent"] for s in body["sessions"]] == ["Firefox on a laptop"]
    await laptop.close()
    await phone.close()


async def test_parallel_wrong_passwords_cannot_race_the_limit(studio: Studio) -> None:
    await studio.ensure_admin()
    async with studio.session.get(studio.url("/login")) as r:
        token = csrf_from(await r.text())

    async def guess(n: int) -> int:
        form = {"username": ADMIN, "password": f"guess number {n}", "csrf_token": token}
        async with studio.session.post(studio.url("/login"), data=form) as r:
            return r.status

    statuses = await asyncio.gather(*(guess(n) for n in range(12)))
    assert sorted(statuses) == [401] * 5 + [429] * 7


async def test_the_login_limit_groups_ipv6_by_64(studio_factory) -> None:  # type: ignore[no-untyped-def]
    studio: Studio = await studio_factory(trusted_proxy="127.0.0.1")
    await studio.ensure_admin()
    async with studio.session.get(studio.url("/login")) as r:
        token = csrf_from(await r.text())
    statuses = []
    for n in range(7):  # a new address of the same /64 for every guess
        form = {"username": ADMIN, "password": "wrong password!", "csrf_token": token}
        headers = {"X-Forwarded-For": f"2001:db8:9:9::{n + 1:x}"}
        async with studio.session.post(studio.url("/login"), data=form, headers=headers) as r:
            statuses.append(r.status)
    assert statuses == [401] * 5 + [429] * 2


def test_the_login_limiter_forgets_quiet_addresses() -> None:
    now = [1000.0]
    limiter = LoginLimiter(attempts=2, window=60.0, clock=lambda: now[0])
    limiter.begin("a")
    stamp = limiter.begin("a")
    with pytest.raises(TooManyLogins) as refused:
        limiter.begin("a")
    assert refused.value.wait == 60.0
    limiter.succeeded("a", stamp)  # a right password is no failure
    limiter.begin("a")
    for n in range(500):  # one guess each from many addresses
        limiter.begin(f"10.0.{n // 250}.{n % 250}")
    assert len(limiter) == 501
    now[0] += 61
    limiter.begin("b")  # the next attempt after a window sweeps the old ones out
    assert len(limiter) == 1
    limiter.begin("a")
