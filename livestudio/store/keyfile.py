"""The server's own key: 32 random bytes in the data folder (`session.key`, 0600), made on
first use, outside the database.

It encrypts the login cookies (http/auth.py), signs links (derived keys) and seals the
secrets the database must keep readable (destination keys): a copy of the database alone,
a backup say, does not give them away.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

FILENAME = "session.key"


def data_key(folder: Path) -> bytes:
    """The key in `folder`/session.key, made (0600, in a 0700 folder) if missing or damaged."""
    path = folder / FILENAME
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
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


def derived_key(folder: Path, purpose: str) -> bytes:
    """A key of its own for `purpose`: stable across restarts, never the key itself."""
    return hmac.new(data_key(folder), purpose.encode(), "sha256").digest()
