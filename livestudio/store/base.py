"""The connection under the Store: pragmas, migrations and one serialized writer."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite

from livestudio.store.schema import migrate

BUSY_TIMEOUT_MS = 5000
"""How long a write waits for another process's write (the CLI while the server runs)."""
DIR_MODE = 0o700
FILE_MODE = 0o600
"""The database holds password and token hashes, login sessions and viewers' addresses:
only the user running LiveStudio may read it (and its -wal and -shm files, which SQLite
makes with the database file's mode)."""

log = logging.getLogger(__name__)


class ValidationError(ValueError):
    """Input a user got wrong; the message says what and is safe to show them."""


class ConflictError(ValidationError):
    """Input that is fine in itself but conflicts with what is stored (a SKU another
    product uses, a deleted product)."""


class NotFoundError(LookupError):
    """The show, user or token asked for does not exist."""


def sha256_hex(secret: str) -> str:
    """Hash of a high-entropy secret (stream key, token): enough, since they are not guessable."""
    return hashlib.sha256(secret.encode()).hexdigest()


class StoreBase:
    """One aiosqlite connection; every statement runs under one lock."""

    def __init__(self, db: aiosqlite.Connection, folder: Path | None = None) -> None:
        self._db = db
        self._folder = folder
        "The database's folder, where store/keyfile.py keeps the key that seals secrets."
        # Reads take the lock too: on a shared connection, a read awaited between another
        # task's BEGIN and COMMIT would see (and act on) rows that may yet be rolled back.
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> Self:
        """Open (creating it and its folder if needed) and migrate the database at `path`."""
        _private_files(path)
        # isolation_level=None: we issue BEGIN ourselves, so writes take the lock up front
        # (BEGIN IMMEDIATE) and busy_timeout applies, instead of failing on lock upgrade.
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            db.row_factory = aiosqlite.Row
            # busy_timeout first, so switching to WAL waits for a busy writer too.
            await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await _set_wal(db)
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.execute("PRAGMA foreign_keys = ON")
            # Deleted rows (ended sessions, revoked tokens, old stream keys) are overwritten,
            # not left readable in the file's free pages.
            await db.execute("PRAGMA secure_delete = ON")
            await migrate(db)
        except BaseException:
            await db.close()
            raise
        store = cls(db, path.parent)
        try:
            await store._after_open()
        except BaseException:
            await db.close()
            raise
        return store

    async def _after_open(self) -> None:
        """Work a store does once the database is open and migrated (mixins extend it)."""

    async def close(self) -> None:
        """Close the connection once statements in flight are done."""
        async with self._lock:
            await self._db.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        async with self._lock:
            return list(await self._db.execute_fetchall(sql, params))

    async def _fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        rows = await self._fetchall(sql, params)
        return rows[0] if rows else None

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction: the connection, committed on exit, rolled back on error."""
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                # On some errors SQLite has already rolled back; that is fine.
                with contextlib.suppress(sqlite3.OperationalError):
                    await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")


def _private_files(path: Path) -> None:
    """Make the database's folder (0700) and file (0600) private to this user, creating
    them if needed; an existing looser folder or file is tightened (and logged)."""
    folder = path.parent
    folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    tighten(folder, DIR_MODE)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            tighten(file, FILE_MODE)


def tighten(path: Path, mode: int) -> None:
    """Take away any permission of `path` beyond `mode` (a warning if it cannot be done)."""
    current = path.stat().st_mode & 0o777
    if not current & ~mode:
        return
    try:
        os.chmod(path, current & mode)
    except OSError as exc:  # not ours (a shared folder): say so, and run anyway
        log.warning("%s is open to others (mode %o) and cannot be changed: %s", path, current, exc)
    else:
        log.info("%s: mode %o -> %o (it holds secrets)", path, current, current & mode)


async def _set_wal(db: aiosqlite.Connection) -> None:
    """Switch to WAL, retrying: the switch needs an exclusive lock that busy_timeout does
    not always wait for (two processes creating a new file at once)."""
    delay = 0.01
    for _ in range(40):
        try:
            await db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)
    await db.execute("PRAGMA journal_mode = WAL")
