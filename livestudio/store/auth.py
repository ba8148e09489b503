"""Who may run the studio: admin users and their login sessions, the one-time setup link,
API tokens."""

from __future__ import annotations

import asyncio
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import aiosqlite
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from livestudio.store.base import NotFoundError, StoreBase, ValidationError, sha256_hex

API_TOKEN_PREFIX = "ls_"
"""Marks LiveStudio API tokens, so secret scanners and people recognize a leaked one."""
PASSWORD_MIN = 8
PASSWORD_MAX = 1024
SETUP_TOKEN_TTL = 24 * 3600.0
_USERNAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
# Updating last_used_at on every API call would make each request a write.
_LAST_USED_RESOLUTION = 60.0
SESSION_TTL = 14 * 86400.0
"A login lasts this long (as its cookie does), however active."
PASSWORD_CHECKS_AT_ONCE = 2
"""argon2 hashes and checks running at once: each takes 64 MiB and a core for tens of ms,
so a burst of logins waits its turn instead of taking the machine's memory."""
USER_AGENT_MAX = 200


@dataclass(frozen=True)
class LoginSessionRecord:
    """A signed-in browser, as the studio lists it (its secret is never stored)."""

    id: int
    username: str
    created_at: float
    last_seen_at: float
    "Updated at most once a minute."
    user_agent: str
    address: str


@dataclass(frozen=True)
class ApiTokenRecord:
    """An API token as listed (the token itself is never stored)."""

    id: int
    name: str
    created_at: float
    last_used_at: float | None


def validate_username(username: object) -> str:
    """The username stripped, or ValidationError."""
    if not isinstance(username, str) or not _USERNAME.fullmatch(username.strip()):
        raise ValidationError("username: 1 to 64 letters, digits or . _ @ -")
    return username.strip()


def validate_password(password: object) -> str:
    """The password as given (never stripped), or ValidationError."""
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise ValidationError(f"password: {PASSWORD_MIN} to {PASSWORD_MAX} characters")
    return password


def generate_password() -> str:
    """A strong random password (96 bits) that is easy to copy."""
    return secrets.token_urlsafe(12)


class AuthStore(StoreBase):
    """User, setup-link and API-token methods of the Store."""

    def __init__(self, db: aiosqlite.Connection, folder: Path | None = None) -> None:
        super().__init__(db, folder)
        self._hasher = PasswordHasher()
        self._dummy_hash: str | None = None
        self._password_checks = asyncio.Semaphore(PASSWORD_CHECKS_AT_ONCE)

    async def _hash(self, password: str) -> str:
        # argon2 costs tens of ms of CPU and 64 MiB by design: keep it off the event loop.
        async with self._password_checks:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def _check(self, stored: str, password: str) -> bool:
        async with self._password_checks:
            return await asyncio.to_thread(self._matches, stored, password)

    async def has_admin(self) -> bool:
        """Whether any admin user exists (if not, the studio offers the setup link)."""
        return await self._fetchone("SELECT 1 FROM users LIMIT 1") is not None

    async def list_usernames(self) -> list[str]:
        """Every admin's username, oldest first."""
        return [row[0] for row in await self._fetchall("SELECT username FROM users ORDER BY id")]

    async def create_admin(self, username: str, password: str) -> None:
        """Add an admin user; ValidationError if the name is taken or input is bad."""
        username = validate_username(username)
        password_hash = await self._hash(validate_password(password))
        try:
            async with self._write() as db:
                await db.execute(
                    "INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?)",
                    (username, password_hash, time.time()),
                )
        except sqlite3.IntegrityError:
            raise ValidationError(f"user {username!r} already exists") from None

    async def set_password(self, username: str, password: str) -> None:
        """Replace an admin's password and end all their sessions (whoever knew the old
        password is logged out); NotFoundError if there is no such user."""
        password_hash = await self._hash(validate_password(password))
        async with self._write() as db:
            cursor = await db.execute(
                "UPDATE users SET password_hash = ? WHERE username = ?", (password_hash, username)
            )
            if cursor.rowcount != 1:
                raise NotFoundError(f"no user {username!r}")
            await db.execute(
                "DELETE FROM login_sessions WHERE user_id ="
                " (SELECT id FROM users WHERE username = ?)",
                (username,),
            )

    async def delete_admin(self, username: str) -> None:
        """Remove an admin and their sessions; NotFoundError if unknown, ValidationError for
        the last admin (nobody could log in any more)."""
        async with self._write() as db:
            rows = list(await db.execute_fetchall("SELECT username FROM users"))
            names = [row[0] for row in rows]
            if username.lower() not in [n.lower() for n in names]:
                raise NotFoundError(f"no admin {username!r}; admins are: {', '.join(names)}")
            if len(names) == 1:
                raise ValidationError(f"{username!r} is the only admin; create another one first")
            # The sessions go with the row (ON DELETE CASCADE).
            await db.execute("DELETE FROM users WHERE username = ?", (username,))

    async def verify_password(self, username: str, password: str) -> bool:
        """Whether this is the user's password; upgrades the stored hash if parameters changed."""
        row = await self._fetchone(
            "SELECT username, password_hash FROM users WHERE username = ?", (username,)
        )
        if row is None:
            # Hash anyway, so a wrong username takes as long as a wrong password.
            if self._dummy_hash is None:
                self._dummy_hash = await self._hash(secrets.token_urlsafe(16))
            await self._check(self._dummy_hash, password)
            return False
        stored: str = row["password_hash"]
        if not await self._check(stored, password):
            return False
        if self._hasher.check_needs_rehash(stored):
            rehashed = await self._hash(password)
            async with self._write() as db:
                # Only if unchanged meanwhile: never undo a concurrent set_password.
                await db.execute(
                    "UPDATE users SET password_hash = ? WHERE username = ? AND password_hash = ?",
                    (rehashed, row["username"], stored),
                )
        return True

    def _matches(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    async def reset_admin_password(self, username: str | None = None) -> tuple[str, str]:
        """Give an admin a new random password; return (username, password).

        With no admin yet, creates one (`username`, default "admin"). Without `username`,
        picks the only admin, or "admin" among several.
        """
        existing = await self.list_usernames()
        if not existing:
            name = validate_username(username or "admin")
            password = generate_password()
            await self.create_admin(name, password)
            return name, password
        if username is None:
            if len(existing) == 1:
                username = existing[0]
            elif "admin" in existing:
                username = "admin"
            else:
                raise ValidationError(f"several admins, choose one: {', '.join(existing)}")
        password = generate_password()
        try:
            await self.set_password(username, password)
        except NotFoundError:
            raise ValidationError(
                f"no admin {username!r}; admins are: {', '.join(existing)}"
            ) from None
        return username, password

    # -- login sessions ---------------------------------------------------------------------

    async def start_session(self, username: str, user_agent: str = "", address: str = "") -> str:
        """A new login session of `username`: its secret, for the cookie (only its hash is
        kept). Expired sessions are cleared out on the way."""
        token = secrets.token_urlsafe(32)
        now = time.time()
        async with self._write() as db:
            await db.execute(
                "DELETE FROM login_sessions WHERE created_at <= ?", (now - SESSION_TTL,)
            )
            cursor = await db.execute(
                "INSERT INTO login_sessions"
                " (token_hash, user_id, created_at, last_seen_at, user_agent, address)"
                " SELECT ?, id, ?, ?, ?, ? FROM users WHERE username = ?",
                (sha256_hex(token), now, now, user_agent[:USER_AGENT_MAX], address, username),
            )
            if cursor.rowcount != 1:
                raise NotFoundError(f"no user {username!r}")
        return token

    async def session_user(self, token: str) -> tuple[int, str] | None:
        """(session id, username) of a login session in force, or None (ended, expired,
        its user deleted or their password reset)."""
        row = await self._fetchone(
            "SELECT s.id, s.last_seen_at, u.username FROM login_sessions s"
            " JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.created_at > ?",
            (sha256_hex(token), time.time() - SESSION_TTL),
        )
        if row is None:
            return None
        now = time.time()
        if now - row["last_seen_at"] >= _LAST_USED_RESOLUTION:
            async with self._write() as db:
                await db.execute(
                    "UPDATE login_sessions SET last_seen_at = ? WHERE id = ?", (now, row["id"])
                )
        return row["id"], row["username"]

    async def end_session(self, session_id: int) -> bool:
        """End a login session (log out); false if there was none with this id."""
        async with self._write() as db:
            cursor = await db.execute("DELETE FROM login_sessions WHERE id = ?", (session_id,))
            return cursor.rowcount == 1

    async def list_sessions(self) -> list[LoginSessionRecord]:
        """Every login session in force, of every admin, most recently seen first."""
        rows = await self._fetchall(
            "SELECT s.id, u.username, s.created_at, s.last_seen_at, s.user_agent, s.address"
            " FROM login_sessions s JOIN users u ON u.id = s.user_id WHERE s.created_at > ?"
            " ORDER BY s.last_seen_at DESC, s.id DESC",
            (time.time() - SESSION_TTL,),
        )
        return [LoginSessionRecord(**dict(row)) for row in rows]

    # -- the setup link -----------------------------------------------------------------------

    async def create_setup_token(self, ttl: float = SETUP_TOKEN_TTL) -> str:
        """A one-time secret for the setup link; earlier setup tokens stop working."""
        token = secrets.token_urlsafe(32)
        async with self._write() as db:
            await db.execute("DELETE FROM setup_tokens")
            await db.execute(
                "INSERT INTO setup_tokens (token_hash, expires_at) VALUES (?, ?)",
                (sha256_hex(token), time.time() + ttl),
            )
        return token

    async def check_setup_token(self, token: str) -> bool:
        """Whether the setup link is valid, without using it up (to show the setup form)."""
        row = await self._fetchone(
            "SELECT 1 FROM setup_tokens WHERE token_hash = ? AND expires_at > ?"
            " AND NOT EXISTS (SELECT 1 FROM users)",
            (sha256_hex(token), time.time()),
        )
        return row is not None

    async def consume_setup_token(self, token: str) -> bool:
        """Use up the setup token: true once, and only while no admin exists."""
        async with self._write() as db:
            if list(await db.execute_fetchall("SELECT 1 FROM users LIMIT 1")):
                # Once an admin exists the setup link is dead, whoever holds it.
                await db.execute("DELETE FROM setup_tokens")
                return False
            cursor = await db.execute(
                "DELETE FROM setup_tokens WHERE token_hash = ? AND expires_at > ?",
                (sha256_hex(token), time.time()),
            )
            return cursor.rowcount == 1

    # -- API tokens ---------------------------------------------------------------------------

    async def create_api_token(self, name: str = "cli") -> str:
        """A new API token for `Authorization: Bearer`; only its hash is kept."""
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise ValidationError("token name: 1 to 100 characters")
        token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        async with self._write() as db:
            await db.execute(
                "INSERT INTO api_tokens (name, token_hash, created_at) VALUES (?, ?, ?)",
                (name, sha256_hex(token), time.time()),
            )
        return token

    async def verify_api_token(self, token: str) -> bool:
        """Whether the token is a live API token (and note that it was used)."""
        if not token.startswith(API_TOKEN_PREFIX):
            return False
        # A lookup by the SHA-256 of a 256-bit secret leaks nothing useful through timing.
        token_hash = sha256_hex(token)
        row = await self._fetchone(
            "SELECT id, last_used_at FROM api_tokens WHERE token_hash = ?", (token_hash,)
        )
        if row is None:
            return False
        now = time.time()
        if row["last_used_at"] is None or now - row["last_used_at"] >= _LAST_USED_RESOLUTION:
            async with self._write() as db:
                await db.execute(
                    "UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (now, row["id"])
                )
        return True

    async def list_api_tokens(self) -> list[ApiTokenRecord]:
        """Every API token (without the secret), oldest first."""
        rows = await self._fetchall(
            "SELECT id, name, created_at, last_used_at FROM api_tokens ORDER BY id"
        )
        return [
            ApiTokenRecord(
                id=row["id"],
                name=row["name"],
                created_at=row["created_at"],
                last_used_at=row["last_used_at"],
            )
            for row in rows
        ]

    async def revoke_api_token(self, token_id: int) -> bool:
        """Delete an API token; false if there was none with this id."""
        async with self._write() as db:
            cursor = await db.execute("DELETE FROM api_tokens WHERE id = ?", (token_id,))
            return cursor.rowcount == 1
