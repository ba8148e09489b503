"""The schema as a list of migrations; the database's `PRAGMA user_version` is how many ran."""

from __future__ import annotations

import contextlib
import sqlite3

import aiosqlite

SHOW_STATES = ("scheduled", "live", "reconnecting", "ended", "published", "unpublished", "deleted")
"""Every state a show can be in (DESIGN: scheduled → live ⇄ reconnecting → ended → ...)."""

# Append only: a migration that shipped is never edited, a new one is added at the end.
# Show states are checked in Python, not with CHECK, so adding one needs no table rebuild.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE shows (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        starts_at TEXT,
        state TEXT NOT NULL DEFAULT 'scheduled',
        stream_key_hash TEXT NOT NULL,
        created_at REAL NOT NULL,
        went_live_at REAL,
        ended_at REAL
    );
    CREATE INDEX shows_by_created_at ON shows (created_at);
    CREATE TABLE show_events (
        id INTEGER PRIMARY KEY,
        show_id TEXT NOT NULL REFERENCES shows (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        pts INTEGER,
        wall REAL NOT NULL,
        data TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX show_events_by_show ON show_events (show_id, id);
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE setup_tokens (
        token_hash TEXT PRIMARY KEY,
        expires_at REAL NOT NULL
    );
    CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL,
        last_used_at REAL
    );
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # The studio reveals a show's stream key to its logged-in host (like every streaming
    # service's dashboard), so it is kept; the hash stays what WHIP checks against.
    """
    ALTER TABLE shows ADD COLUMN stream_key TEXT;
    """,
    # The catalog. Prices are decimal TEXT with exactly the currency's minor digits
    # ("1299.00" EUR, "1299" JPY): exact, readable in the sqlite shell, never a float.
    # Products are never deleted, only marked (deleted_at), so past shows' running orders
    # and chapters still name them; rowids are therefore never reused either.
    """
    CREATE TABLE products (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        price TEXT NOT NULL,
        compare_at_price TEXT,
        currency TEXT NOT NULL,
        url TEXT,
        stock INTEGER,
        sku TEXT,
        image TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        deleted_at REAL
    );
    CREATE UNIQUE INDEX products_by_sku ON products (sku)
        WHERE sku IS NOT NULL AND deleted_at IS NULL;
    CREATE TABLE show_products (
        show_id TEXT NOT NULL REFERENCES shows (id) ON DELETE CASCADE,
        product_id INTEGER NOT NULL REFERENCES products (id),
        position INTEGER NOT NULL,
        PRIMARY KEY (show_id, product_id)
    );
    CREATE INDEX show_products_by_product ON show_products (product_id);
    CREATE TABLE brand (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        name TEXT NOT NULL,
        accent TEXT NOT NULL,
        corner TEXT NOT NULL,
        locale TEXT NOT NULL,
        currency TEXT NOT NULL,
        logo TEXT,
        updated_at REAL
    );
    """,
    # The recording of a show: 'none' until the first keyframe is written, then
    # 'recording', 'ready' (a replay can be published) or 'failed' (e.g. disk full; what
    # was written before stays playable). duration in seconds of recorded media.
    """
    ALTER TABLE shows ADD COLUMN recording TEXT NOT NULL DEFAULT 'none';
    ALTER TABLE shows ADD COLUMN duration REAL;
    ALTER TABLE shows ADD COLUMN recording_error TEXT;
    """,
    # Buy clicks through /go/, live and in the replay.
    """
    CREATE TABLE clicks (
        id INTEGER PRIMARY KEY,
        show_id TEXT NOT NULL REFERENCES shows (id) ON DELETE CASCADE,
        product_id INTEGER NOT NULL REFERENCES products (id),
        source TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX clicks_by_show ON clicks (show_id, product_id);
    """,
    # A click counts once per viewer (their page's cookie), product and source: reloads,
    # double taps and a viewer going back to compare are not more buyers. Rows from before
    # have no viewer (NULL is never equal in a UNIQUE index) and each still counts.
    """
    ALTER TABLE clicks ADD COLUMN viewer TEXT;
    CREATE UNIQUE INDEX clicks_once_per_viewer ON clicks (show_id, product_id, source, viewer);
    """,
    # Chat moderation that outlives a restart. A ban outlives its show (SET NULL): the
    # cookie part of it holds in every show.
    """
    CREATE TABLE chat_bans (
        id INTEGER PRIMARY KEY,
        show_id TEXT REFERENCES shows (id) ON DELETE SET NULL,
        viewer TEXT NOT NULL,
        address TEXT NOT NULL,
        name TEXT NOT NULL,
        at REAL NOT NULL,
        lifted_at REAL
    );
    CREATE TABLE chat_settings (
        show_id TEXT PRIMARY KEY REFERENCES shows (id) ON DELETE CASCADE,
        slow_mode INTEGER NOT NULL DEFAULT 0,
        blocked_words TEXT NOT NULL DEFAULT '[]',
        blocked_mode TEXT NOT NULL DEFAULT 'mask'
    );
    """,
    # Where a show is also sent while live: RTMP(S) ingests of the platforms, WHIP
    # endpoints of SFUs or other studios. The key is a secret kept to be sent, like the
    # show's stream key: never returned by the API, never logged.
    """
    CREATE TABLE destinations (
        id INTEGER PRIMARY KEY,
        show_id TEXT NOT NULL REFERENCES shows (id) ON DELETE CASCADE,
        url TEXT NOT NULL,
        key TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL
    );
    CREATE INDEX destinations_by_show ON destinations (show_id, id);
    """,
    # Hardening (issue #14).
    # - Logins are rows: the cookie carries a random id whose hash is here, so logging out,
    #   a password reset or deleting the user ends the session for good (a copied cookie
    #   stops working). user_agent and address say to the host which browser it is.
    # - A ban holds by viewer cookie; a ban by address is an explicit choice with an end
    #   (address_until), since one address is often a whole café or a carrier's NAT. Bans
    #   made before were by address too, without an end: theirs ends a day after they were
    #   made. address is '' for a ban by cookie only.
    # - Stream keys are kept only hashed (as the first migration meant): the plain keys
    #   that migration 2 kept for the studio page go (the studio shows a key once, when
    #   made or rotated). Store.open sets secure_delete, so they are overwritten on disk.
    """
    CREATE TABLE login_sessions (
        id INTEGER PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        created_at REAL NOT NULL,
        last_seen_at REAL NOT NULL,
        user_agent TEXT NOT NULL DEFAULT '',
        address TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX login_sessions_by_user ON login_sessions (user_id);
    ALTER TABLE chat_bans ADD COLUMN address_until REAL;
    UPDATE chat_bans SET address_until = at + 86400 WHERE address != '';
    UPDATE shows SET stream_key = NULL;
    ALTER TABLE shows DROP COLUMN stream_key;
    """,
    # The sites allowed to frame the embeddable player (/embed/{show}): a JSON list of
    # origins, as the embed's Content-Security-Policy frame-ancestors names them.
    """
    ALTER TABLE brand ADD COLUMN embed_origins TEXT NOT NULL DEFAULT '[]';
    """,
    # Analytics (live/analytics.py, docs/deploy.md "Privacy"): who watched when, by a keyed
    # hash of the viewer cookie (never the cookie itself, never an address). A session is
    # one player: a WHEP connection, or an HLS player seen fetching the live playlist.
    # left_at stays NULL while it watches (or if the server died: the show's end counts).
    # Page views count each viewer once per replay or clip page.
    """
    CREATE TABLE viewer_sessions (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        show_id TEXT NOT NULL REFERENCES shows (id) ON DELETE CASCADE,
        viewer TEXT NOT NULL,
        kind TEXT NOT NULL,
        joined_at REAL NOT NULL,
        left_at REAL
    );
    CREATE INDEX viewer_sessions_by_show ON viewer_sessions (show_id, joined_at);
    CREATE TABLE page_views (
        show_id TEXT NOT NULL REFERENCES shows (id) ON DELETE CASCADE,
        page TEXT NOT NULL,
        viewer TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (show_id, page, viewer)
    );
    """,
    # Per-product clips of a replay (live/clips.py): the chapter they come from, the span
    # asked for (trimmed), and the span the file holds (cut at a keyframe). Times are
    # program pts (1/90000 s), like show events. kind: plain (cut, no re-encode) or
    # vertical (9:16, re-encoded); status: working, ready or failed.
    """
    CREATE TABLE clips (
        id INTEGER PRIMARY KEY,
        show_id TEXT NOT NULL REFERENCES shows (id) ON DELETE CASCADE,
        product_id INTEGER REFERENCES products (id),
        title TEXT NOT NULL,
        kind TEXT NOT NULL,
        chapter_start INTEGER NOT NULL,
        chapter_end INTEGER NOT NULL,
        start_pts INTEGER NOT NULL,
        end_pts INTEGER NOT NULL,
        cut_start INTEGER,
        cut_end INTEGER,
        status TEXT NOT NULL,
        error TEXT,
        width INTEGER,
        height INTEGER,
        size INTEGER,
        version INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX clips_by_show ON clips (show_id, id);
    CREATE INDEX clips_by_created_at ON clips (created_at);
    """,
    # Migration 13: portrait programs (9:16, for shows meant for phones), a show's setting.
    """
    ALTER TABLE shows ADD COLUMN orientation TEXT NOT NULL DEFAULT 'landscape';
    """,
]


def split_statements(script: str) -> list[str]:
    """Split a migration script into single statements (one per line ending in `;`)."""
    # Not executescript(): it COMMITs any open transaction first, and a migration must run
    # inside the same BEGIN IMMEDIATE that re-read user_version.
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement in migration: {buffer.strip()[:60]!r}")
    return statements


async def user_version(db: aiosqlite.Connection) -> int:
    """The schema version recorded in the database file."""
    rows = list(await db.execute_fetchall("PRAGMA user_version"))
    return int(rows[0][0])


async def migrate(db: aiosqlite.Connection) -> int:
    """Bring the schema up to date; return the version. Safe with several processes at once."""
    target = len(MIGRATIONS)
    current = await user_version(db)
    if current > target:
        raise RuntimeError(
            f"the database schema is version {current}, newer than this LiveStudio ({target}):"
            " upgrade LiveStudio"
        )
    if current == target:
        return current
    await db.execute("BEGIN IMMEDIATE")
    try:
        # Re-read under the write lock: the server and the CLI may start on a new file
        # together, and the second must not run the first's migrations again.
        current = await user_version(db)
        for number in range(current + 1, target + 1):
            for statement in split_statements(MIGRATIONS[number - 1]):
                await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {number}")
        await db.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.OperationalError):
            await db.execute("ROLLBACK")
        raise
    return target
