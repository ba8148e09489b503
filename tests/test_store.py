"""The Store: schema migrations, shows, events, admins, setup links, API tokens, secrets."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from livestudio.store import MIGRATIONS, NotFoundError, Store, ValidationError
from livestudio.store.auth import PASSWORD_CHECKS_AT_ONCE, SESSION_TTL
from livestudio.store.base import sha256_hex
from livestudio.store.schema import split_statements


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "db" / "livestudio.sqlite3")
    yield store
    await store.close()


def _pragma(path: Path, name: str) -> object:
    with sqlite3.connect(path) as db:
        return db.execute(f"PRAGMA {name}").fetchone()[0]


async def test_open_creates_folder_wal_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "livestudio.sqlite3"
    async with await Store.open(path):
        pass
    assert _pragma(path, "journal_mode") == "wal"
    assert _pragma(path, "user_version") == len(MIGRATIONS)


async def test_reopen_keeps_data_and_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "livestudio.sqlite3"
    async with await Store.open(path) as store:
        show, _ = await store.create_show("Spring sale", None)
    async with await Store.open(path) as store:
        assert await store.get_show(show.id) == show
    assert _pragma(path, "user_version") == len(MIGRATIONS)


async def test_two_processes_migrating_a_new_file_at_once(tmp_path: Path) -> None:
    path = tmp_path / "livestudio.sqlite3"
    first, second = await asyncio.gather(Store.open(path), Store.open(path))
    await first.close()
    await second.close()
    assert _pragma(path, "user_version") == len(MIGRATIONS)


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "livestudio.sqlite3"
    async with await Store.open(path):
        pass
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(RuntimeError, match="newer"):
        await Store.open(path)


def test_migrations_split_into_single_statements() -> None:
    for script in MIGRATIONS:
        for statement in split_statements(script):
            assert sqlite3.complete_statement(statement)
            assert statement.count(";") == 1


async def test_create_show(store: Store) -> None:
    show, key = await store.create_show("  Spring sale  ", "2025-06-01T18:00:00+02:00")
    assert len(show.id) == 12
    assert show.title == "Spring sale"
    assert show.starts_at == "2025-06-01T16:00:00+00:00"
    assert show.state == "scheduled"
    assert show.went_live_at is None and show.ended_at is None
    assert len(key) >= 43
    assert await store.get_show(show.id) == show
    assert await store.get_show("nope") is None


async def test_naive_starts_at_is_utc_and_empty_is_none(store: Store) -> None:
    naive, _ = await store.create_show("Naive", "2025-06-01 18:00")
    assert naive.starts_at == "2025-06-01T18:00:00+00:00"
    zulu, _ = await store.create_show("Zulu", "2025-06-01T18:00:00Z")
    assert zulu.starts_at == "2025-06-01T18:00:00+00:00"
    empty, _ = await store.create_show("Empty", "  ")
    assert empty.starts_at is None


@pytest.mark.parametrize("title", ["", "   ", "x" * 201, "two\nlines", "tab\there"])
async def test_bad_title(store: Store, title: str) -> None:
    with pytest.raises(ValidationError, match="title"):
        await store.create_show(title, None)
    assert await store.list_shows() == []


async def test_title_of_200_characters_is_fine(store: Store) -> None:
    show, _ = await store.create_show("x" * 200, None)
    assert show.title == "x" * 200


@pytest.mark.parametrize("starts_at", ["tomorrow", "2025-13-01T10:00", "18:00"])
async def test_bad_starts_at(store: Store, starts_at: str) -> None:
    with pytest.raises(ValidationError, match="starts_at"):
        await store.create_show("Spring sale", starts_at)


async def test_list_newest_first_without_deleted(store: Store) -> None:
    first, _ = await store.create_show("First", None)
    second, _ = await store.create_show("Second", None)
    third, _ = await store.create_show("Third", None)
    await store.set_show_state(second.id, "deleted")
    assert [show.id for show in await store.list_shows()] == [third.id, first.id]
    assert (await store.get_show(second.id)) is not None


async def test_state_transitions_stamp_first_live_and_end(store: Store) -> None:
    show, _ = await store.create_show("Spring sale", None)
    live = await store.set_show_state(show.id, "live", at=100.0)
    assert (live.state, live.went_live_at, live.ended_at) == ("live", 100.0, None)
    await store.set_show_state(show.id, "reconnecting", at=110.0)
    back = await store.set_show_state(show.id, "live", at=120.0)
    assert back.went_live_at == 100.0
    ended = await store.set_show_state(show.id, "ended", at=130.0)
    assert (ended.state, ended.went_live_at, ended.ended_at) == ("ended", 100.0, 130.0)
    published = await store.set_show_state(show.id, "published", at=140.0)
    assert published.ended_at == 130.0
    assert await store.get_show(show.id) == published


async def test_unknown_state_or_show(store: Store) -> None:
    show, _ = await store.create_show("Spring sale", None)
    with pytest.raises(ValidationError):
        await store.set_show_state(show.id, "paused")
    with pytest.raises(NotFoundError):
        await store.set_show_state("nope", "live")


async def test_stream_key_check_and_rotate(store: Store) -> None:
    show, key = await store.create_show("Spring sale", None)
    other, other_key = await store.create_show("Other", None)
    assert await store.check_stream_key(show.id, key)
    assert not await store.check_stream_key(show.id, key + "x")
    assert not await store.check_stream_key(show.id, other_key)
    assert not await store.check_stream_key("nope", key)
    new_key = await store.rotate_stream_key(show.id)
    assert new_key != key
    assert await store.check_stream_key(show.id, new_key)
    assert not await store.check_stream_key(show.id, key)
    assert await store.check_stream_key(other.id, other_key)
    with pytest.raises(NotFoundError):
        await store.rotate_stream_key("nope")


async def test_secrets_are_stored_hashed(store: Store, tmp_path: Path) -> None:
    await store.create_admin("ann", "correct horse battery")
    token = await store.create_api_token()
    setup = await store.create_setup_token()
    _, stream_key = await store.create_show("Spring sale", None)
    other, _ = await store.create_show("Other", None)
    rotated = await store.rotate_stream_key(other.id)
    login = await store.start_session("ann", "Firefox", "203.0.113.7")
    # The database file and its write-ahead log, where fresh rows live until a checkpoint.
    raw = b"".join(path.read_bytes() for path in (tmp_path / "db").iterdir())
    for secret in (token, setup, stream_key, rotated, login):
        assert secret.encode() not in raw


async def test_deleted_show_refuses_its_key(store: Store) -> None:
    show, key = await store.create_show("Spring sale", None)
    await store.set_show_state(show.id, "deleted")
    assert not await store.check_stream_key(show.id, key)


async def test_concurrent_writes_are_serialized(store: Store) -> None:
    created = await asyncio.gather(*(store.create_show(f"Show {n}", None) for n in range(20)))
    assert len({show.id for show, _ in created}) == 20
    assert len(await store.list_shows()) == 20


async def test_events_in_id_order_and_resumable(store: Store) -> None:
    show, _ = await store.create_show("Spring sale", None)
    other, _ = await store.create_show("Other", None)
    first = await store.add_event(show.id, "pin", {"product": "p1"}, 9000, wall=10.0)
    await store.add_event(other.id, "chat", {"text": "hi"}, None)
    # A later event may carry an earlier pts (e.g. chat): order is by id, not pts.
    second = await store.add_event(show.id, "chat", {"text": "héllo"}, 4500, wall=11.0)
    third = await store.add_event(show.id, "unpin", {}, None)
    assert first < second < third
    events = await store.list_events(show.id)
    assert [event.id for event in events] == [first, second, third]
    assert events[0].kind == "pin" and events[0].pts == 9000 and events[0].wall == 10.0
    assert events[0].data == {"product": "p1"}
    assert events[1].data == {"text": "héllo"}
    assert events[2].pts is None and events[2].wall > 0
    assert [event.id for event in await store.list_events(show.id, after_id=first)] == [
        second,
        third,
    ]
    assert await store.list_events(show.id, after_id=third) == []


async def test_featured_products_are_the_pinned_and_the_put_on_sale(store: Store) -> None:
    show, _ = await store.create_show("Spring sale", None)
    for kind, name in (("pin", "Mug"), ("sale", "Chair"), ("pin", "Mug"), ("stock", "Lamp")):
        await store.add_event(show.id, kind, {"name": name}, 9000)
    assert await store.featured([show.id]) == {show.id: ["Mug", "Chair"]}


async def test_event_for_unknown_show(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.add_event("nope", "pin", {}, None)


async def test_admin_password_is_hashed_with_argon2(store: Store, tmp_path: Path) -> None:
    assert not await store.has_admin()
    await store.create_admin("alice", "correct horse battery")
    assert await store.has_admin()
    assert await store.list_usernames() == ["alice"]
    assert await store.verify_password("alice", "correct horse battery")
    assert not await store.verify_password("alice", "wrong password")
    assert not await store.verify_password("bob", "correct horse battery")
    with sqlite3.connect(tmp_path / "db" / "livestudio.sqlite3") as db:
        (stored,) = db.execute("SELECT password_hash FROM users").fetchone()
    assert stored.startswith("$argon2id$")
    assert "correct horse battery" not in stored


async def test_set_password_and_duplicates(store: Store) -> None:
    await store.create_admin("alice", "first password")
    with pytest.raises(ValidationError, match="exists"):
        await store.create_admin("alice", "another password")
    await store.set_password("alice", "second password")
    assert await store.verify_password("alice", "second password")
    assert not await store.verify_password("alice", "first password")
    with pytest.raises(NotFoundError):
        await store.set_password("bob", "some password")


@pytest.mark.parametrize(
    ("username", "password"), [("", "long enough"), ("a b", "long enough"), ("alice", "short")]
)
async def test_bad_admin_input(store: Store, username: str, password: str) -> None:
    with pytest.raises(ValidationError):
        await store.create_admin(username, password)
    assert not await store.has_admin()


async def test_outdated_hash_is_upgraded_on_login(store: Store, tmp_path: Path) -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("old password")
    await store.create_admin("alice", "placeholder password")
    with sqlite3.connect(tmp_path / "db" / "livestudio.sqlite3") as db:
        db.execute("UPDATE users SET password_hash = ?", (weak,))
    assert await store.verify_password("alice", "old password")
    with sqlite3.connect(tmp_path / "db" / "livestudio.sqlite3") as db:
        (stored,) = db.execute("SELECT password_hash FROM users").fetchone()
    assert stored != weak
    assert await store.verify_password("alice", "old password")


async def test_reset_admin_password(store: Store) -> None:
    username, password = await store.reset_admin_password()
    assert username == "admin"
    assert await store.verify_password("admin", password)
    _, new_password = await store.reset_admin_password()
    assert new_password != password
    assert await store.verify_password("admin", new_password)
    with pytest.raises(ValidationError, match="no admin"):
        await store.reset_admin_password("bob")


async def test_setup_token_is_single_use(store: Store) -> None:
    token = await store.create_setup_token()
    assert not await store.consume_setup_token("wrong")
    assert await store.check_setup_token(token)
    assert await store.consume_setup_token(token)
    assert not await store.consume_setup_token(token)
    assert not await store.check_setup_token(token)


async def test_setup_token_expires_is_replaced_and_dies_with_an_admin(store: Store) -> None:
    expired = await store.create_setup_token(ttl=-1)
    assert not await store.consume_setup_token(expired)
    first = await store.create_setup_token()
    second = await store.create_setup_token()
    assert not await store.check_setup_token(first)
    await store.create_admin("alice", "correct horse battery")
    assert not await store.check_setup_token(second)
    assert not await store.consume_setup_token(second)


async def test_api_tokens(store: Store) -> None:
    token = await store.create_api_token("stream deck")
    other = await store.create_api_token()
    assert token.startswith("ls_") and len(token) > 40
    assert await store.verify_api_token(token)
    assert not await store.verify_api_token(token + "x")
    assert not await store.verify_api_token("nope")
    listed = await store.list_api_tokens()
    assert [(t.name, t.last_used_at is not None) for t in listed] == [
        ("stream deck", True),
        ("cli", False),
    ]
    assert await store.revoke_api_token(listed[0].id)
    assert not await store.revoke_api_token(listed[0].id)
    assert not await store.verify_api_token(token)
    assert await store.verify_api_token(other)


async def test_meta_and_session_secret(tmp_path: Path) -> None:
    path = tmp_path / "livestudio.sqlite3"
    async with await Store.open(path) as store:
        assert await store.get_meta("theme") is None
        await store.set_meta("theme", "dark")
        await store.set_meta("theme", "light")
        assert await store.get_meta("theme") == "light"
        secret = await store.session_secret()
        assert len(secret) == 32
        assert await store.session_secret() == secret
    async with await Store.open(path) as store:
        assert await store.session_secret() == secret


async def _database_at(path: Path, version: int) -> None:
    """A database file as LiveStudio left it at schema `version` (its migrations run)."""
    with sqlite3.connect(path) as db:
        for script in MIGRATIONS[:version]:
            for statement in split_statements(script):
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {version}")


async def test_upgrading_forgets_plain_stream_keys_and_bounds_old_address_bans(
    tmp_path: Path,
) -> None:
    path = tmp_path / "livestudio.sqlite3"
    await _database_at(path, 7)  # the studio page revealed stored keys up to here
    key = "plain-stream-key-" + "x" * 30
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO shows (id, title, state, stream_key_hash, stream_key, created_at)"
            " VALUES ('s1', 'Old', 'scheduled', ?, ?, 0)",
            (sha256_hex(key), key),
        )
        db.execute(
            "INSERT INTO chat_bans (show_id, viewer, address, name, at)"
            " VALUES ('s1', 'troll', '203.0.113.5', 'Troll', 1000)"
        )
    async with await Store.open(path) as store:
        assert await store.check_stream_key("s1", key), "the key still publishes"
        (ban,) = await store.bans()
        assert ban.viewer == "troll" and ban.address_until == 1000 + 86400
    with sqlite3.connect(path) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(shows)")]
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert "stream_key" not in columns
    raw = b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")))
    assert key.encode() not in raw, "gone from the file"


async def test_database_folder_and_files_are_private(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    path = folder / "livestudio.sqlite3"
    async with await Store.open(path) as store:
        await store.create_show("Private", None)
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        for file in folder.iterdir():  # the database, its -wal and -shm
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name
    # An existing folder and file that others may read are tightened.
    folder.chmod(0o755)
    path.chmod(0o644)
    async with await Store.open(path):
        pass
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_login_sessions_end_with_logout_password_reset_and_user(store: Store) -> None:
    await store.create_admin("ann", "correct horse battery")
    await store.create_admin("bob", "another good password")
    ann_laptop = await store.start_session("ann", "Firefox on Linux", "203.0.113.7")
    ann_phone = await store.start_session("ANN", "Safari on iPhone", "2001:db8::1")
    bob = await store.start_session("bob")
    laptop = await store.session_user(ann_laptop)
    assert laptop is not None and laptop[1] == "ann"
    listed = await store.list_sessions()
    assert sorted((s.username, s.user_agent) for s in listed) == [
        ("ann", "Firefox on Linux"),
        ("ann", "Safari on iPhone"),
        ("bob", ""),
    ]
    assert await store.session_user("made-up") is None
    with pytest.raises(NotFoundError):
        await store.start_session("nobody")

    assert await store.end_session(laptop[0])  # log out
    assert await store.session_user(ann_laptop) is None
    assert not await store.end_session(laptop[0])
    assert await store.session_user(ann_phone) is not None

    await store.reset_admin_password("ann")  # ends all of ann's, not bob's
    assert await store.session_user(ann_phone) is None
    assert await store.session_user(bob) is not None

    ann_again = await store.start_session("ann")
    await store.delete_admin("ann")
    assert await store.session_user(ann_again) is None
    assert await store.list_usernames() == ["bob"]
    with pytest.raises(ValidationError, match="only admin"):
        await store.delete_admin("bob")
    with pytest.raises(NotFoundError):
        await store.delete_admin("ann")


async def test_login_sessions_expire(store: Store) -> None:
    await store.create_admin("ann", "correct horse battery")
    old = await store.start_session("ann")
    async with store._write() as db:  # as if made SESSION_TTL ago
        await db.execute("UPDATE login_sessions SET created_at = created_at - ?", (SESSION_TTL,))
    assert await store.session_user(old) is None
    assert await store.list_sessions() == []
    await store.start_session("ann")  # clears expired rows on the way
    assert len(await store._fetchall("SELECT id FROM login_sessions")) == 1


async def test_password_checks_run_two_at_a_time(store: Store) -> None:
    """Each argon2 check takes 64 MiB: a burst waits its turn instead of taking memory."""
    await store.create_admin("ann", "correct horse battery")
    running = 0
    most = 0
    lock = threading.Lock()
    check = store._matches

    def counted(stored: str, password: str) -> bool:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            return check(stored, password)
        finally:
            with lock:
                running -= 1

    store._matches = counted  # type: ignore[method-assign]
    results = await asyncio.gather(
        *(store.verify_password("ann", f"wrong password {n}") for n in range(8))
    )
    assert results == [False] * 8
    assert most == PASSWORD_CHECKS_AT_ONCE == 2
