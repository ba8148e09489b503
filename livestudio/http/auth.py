"""The host's login: sessions the server can end, CSRF tokens, rate-limited login attempts.

The (encrypted) session cookie carries a random login id; the store keeps its hash with
the user, so logging out, a password reset or deleting the user ends the login even for
a copy of the cookie. Viewers need none of this; everything under /studio and /api/ does.
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp_session import get_session, new_session
from aiohttp_session import setup as setup_sessions
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from ..config import Settings
from .errors import error
from .keys import SETTINGS, STORE
from .net import client_address, client_group

COOKIE = "livestudio_session"
SESSION_DAYS = 14
LOGIN_ATTEMPTS = 5
"Failed logins per address (IPv6: its /64) within LOGIN_WINDOW before further ones get 429."
LOGIN_WINDOW = 300.0
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
LOGIN_KEY = "login"
"The session cookie's key holding the login session's secret."


def _secret(data_dir: Path) -> bytes:
    """The cookie encryption key: 32 random bytes in data_dir/session.key, made once."""
    path = data_dir / "session.key"
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
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
    app[LOGIN_LIMITER] = LoginLimiter()


class TooManyLogins(Exception):
    """The address failed too often lately; `wait` seconds until it may try again."""

    def __init__(self, wait: float) -> None:
        super().__init__(wait)
        self.wait = wait


class LoginLimiter:
    """Failed logins per address group within a sliding window.

    An attempt counts from the moment it starts, before its password is checked (a check
    takes a while, and attempts sent together must not all pass), and is taken back only
    if it succeeds. Addresses quiet for a whole window are forgotten.
    """

    def __init__(
        self,
        attempts: int = LOGIN_ATTEMPTS,
        window: float = LOGIN_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.attempts = attempts
        self.window = window
        self._clock = clock
        self._recent: dict[str, deque[float]] = {}
        self._swept = clock()

    def begin(self, group: str) -> float:
        """Count an attempt from `group` (its stamp, for `succeeded`); TooManyLogins if
        the address has used up its attempts."""
        now = self._clock()
        if now - self._swept >= self.window:
            self.sweep()
        bucket = self._recent.setdefault(group, deque(maxlen=self.attempts))
        while bucket and now - bucket[0] > self.window:
            bucket.popleft()
        if len(bucket) >= self.attempts:
            raise TooManyLogins(self.window - (now - bucket[0]))
        bucket.append(now)
        return now

    def succeeded(self, group: str, stamp: float) -> None:
        """The attempt counted at `stamp` was right: it is not a failure."""
        bucket = self._recent.get(group)
        if bucket is not None and stamp in bucket:
            bucket.remove(stamp)
            if not bucket:
                del self._recent[group]

    def sweep(self) -> None:
        """Forget the addresses whose attempts are all older than the window."""
        now = self._swept = self._clock()
        for group in [g for g, b in self._recent.items() if not b or now - b[-1] > self.window]:
            del self._recent[group]

    def __len__(self) -> int:
        """Addresses remembered."""
        return len(self._recent)


LOGIN_LIMITER = web.AppKey("login_limiter", LoginLimiter)


@dataclass(frozen=True)
class Login:
    """Who is logged in on this request, and which of their login sessions it is."""

    session_id: int
    username: str


_LOGIN = web.RequestKey("login", object)
"The request's Login (or _NOBODY), looked up once per request."
_NOBODY = object()


async def current_login(request: web.Request) -> Login | None:
    """The request's login session in force, or None (a cookie whose login was ended is
    worth nothing, and is cleared)."""
    cached = request.get(_LOGIN)
    if cached is not None:
        return cached if isinstance(cached, Login) else None
    login: Login | None = None
    session = await get_session(request)
    secret = session.get(LOGIN_KEY)
    if isinstance(secret, str):
        found = await request.app[STORE].session_user(secret)
        if found is None:
            del session[LOGIN_KEY]
        else:
            login = Login(*found)
    request[_LOGIN] = login if login is not None else _NOBODY
    return login


async def current_user(request: web.Request) -> str | None:
    """The logged-in admin's name, or None."""
    login = await current_login(request)
    return login.username if login is not None else None


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


async def log_in(request: web.Request, username: str, password: str) -> bool:
    """Check credentials (rate-limited per address) and start a fresh session."""
    settings = request.app[SETTINGS]
    limiter = request.app[LOGIN_LIMITER]
    group = client_group(request, settings.trusted_proxy)
    try:
        stamp = limiter.begin(group)
    except TooManyLogins as exc:
        wait = int(exc.wait) + 1
        raise error(
            429, f"too many failed logins; try again in {wait} s", {"Retry-After": str(wait)}
        ) from None
    store = request.app[STORE]
    if not await store.verify_password(username, password):
        return False
    limiter.succeeded(group, stamp)
    secret = await store.start_session(
        username,
        user_agent=request.headers.get("User-Agent", ""),
        address=client_address(request, settings.trusted_proxy),
    )
    # A new cookie session on login: a session planted before login is worthless after.
    session = await new_session(request)
    session[LOGIN_KEY] = secret
    session["csrf"] = secrets.token_urlsafe(24)
    request.pop(_LOGIN, None)  # looked up again if this request asks
    return True


async def log_out(request: web.Request) -> None:
    """End the login session (on the server: a copy of the cookie is worthless too)."""
    login = await current_login(request)
    if login is not None:
        await request.app[STORE].end_session(login.session_id)
    session = await get_session(request)
    session.invalidate()
