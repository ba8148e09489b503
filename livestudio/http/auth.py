"""The host's login: encrypted session cookies, CSRF tokens, rate-limited login attempts.

Viewers need none of this; everything under /studio and /api/ does.
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from collections import deque
from pathlib import Path

from aiohttp import web
from aiohttp_session import get_session, new_session
from aiohttp_session import setup as setup_sessions
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from ..config import Settings
from .errors import error
from .keys import SETTINGS, STORE
from .net import client_address

COOKIE = "livestudio_session"
SESSION_DAYS = 14
LOGIN_ATTEMPTS = 5
"Failed logins per address within LOGIN_WINDOW before further attempts get 429."
LOGIN_WINDOW = 300.0
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


def _secret(data_dir: Path) -> bytes:
    """The cookie encryption key: 32 random bytes in data_dir/session.key, made once."""
    path = data_dir / "session.key"
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        key = path.read_bytes()
        if len(key) == 32:
            return key
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def https(settings: Settings) -> bool:
    """Whether pages are served over HTTPS (directly, or by the proxy of public_url)."""
    return bool(settings.tls_cert) or settings.public_url.startswith("https://")


def derived_key(settings: Settings, purpose: str) -> bytes:
    """A key of its own for `purpose` (e.g. signed links), derived from the cookie key:
    stable across restarts, and never the cookie key itself."""
    return hmac.new(_secret(settings.data_dir), purpose.encode(), "sha256").digest()


def setup(app: web.Application, settings: Settings) -> None:
    """Install the session middleware."""
    storage = EncryptedCookieStorage(
        _secret(settings.data_dir),
        cookie_name=COOKIE,
        max_age=SESSION_DAYS * 86400,
        httponly=True,
        samesite="Lax",
        secure=https(settings),
    )
    setup_sessions(app, storage)
    app[LOGIN_FAILURES] = {}


LOGIN_FAILURES = web.AppKey("login_failures", dict)


async def current_user(request: web.Request) -> str | None:
    """The logged-in admin's name, or None."""
    session = await get_session(request)
    user = session.get("user")
    return user if isinstance(user, str) else None


async def csrf_token(request: web.Request) -> str:
    """This session's CSRF token (created on first use)."""
    session = await get_session(request)
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        session["csrf"] = token
    return token


async def check_csrf(request: web.Request, submitted: str | None) -> None:
    """403 unless `submitted` is this session's CSRF token (forged cross-site posts fail)."""
    session = await get_session(request)
    expected = session.get("csrf")
    if (
        not isinstance(expected, str)
        or not submitted
        or not hmac.compare_digest(expected, submitted)
    ):
        raise error(403, "this form has expired or did not come from the studio; reload and retry")


async def require_login(request: web.Request) -> str:
    """The logged-in user, or a redirect to /login (for pages)."""
    user = await current_user(request)
    if user is None:
        raise web.HTTPSeeOther(f"/login?next={request.path_qs}")
    return user


def _recent_failures(request: web.Request) -> deque[float]:
    failures: dict[str, deque[float]] = request.app[LOGIN_FAILURES]
    address = client_address(request, request.app[SETTINGS].trusted_proxy)
    bucket = failures.setdefault(address, deque(maxlen=LOGIN_ATTEMPTS))
    while bucket and time.monotonic() - bucket[0] > LOGIN_WINDOW:
        bucket.popleft()
    return bucket


async def log_in(request: web.Request, username: str, password: str) -> bool:
    """Check credentials (rate-limited per address) and start a fresh session."""
    failures = _recent_failures(request)
    if len(failures) >= LOGIN_ATTEMPTS:
        wait = int(LOGIN_WINDOW - (time.monotonic() - failures[0])) + 1
        raise error(
            429, f"too many failed logins; try again in {wait} s", {"Retry-After": str(wait)}
        )
    if not await request.app[STORE].verify_password(username, password):
        failures.append(time.monotonic())
        return False
    # A new session on login: a session id planted before login is worthless after.
    session = await new_session(request)
    session["user"] = username.lower()
    session["csrf"] = secrets.token_urlsafe(24)
    return True


async def log_out(request: web.Request) -> None:
    """End the session."""
    session = await get_session(request)
    session.invalidate()
