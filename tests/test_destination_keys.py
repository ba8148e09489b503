"""Destination keys at rest: sealed with the data folder's key, never readable from a copy
of the database alone; rows stored plain before sealing are sealed when the store opens;
a key that cannot be unsealed fails its destination with a message, nothing else."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from livestudio.live.destinations import KEY_LOST
from livestudio.store import Store

from .conftest import Studio
from .utils import until, whip_publish

SECRET = "live_9f2c-youtube-SECRET"


def raw_keys(database: Path) -> list[str]:
    with sqlite3.connect(database) as db:
        return [row[0] for row in db.execute("SELECT key FROM destinations ORDER BY id")]


async def test_keys_are_sealed_at_rest_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "data" / "livestudio.sqlite3"
    async with await Store.open(path) as store:
        show, _ = await store.create_show("Launch")
        await store.add_destination(show.id, "rtmp://a.example/live", SECRET)
        await store.add_destination(show.id, "https://sfu.example/whip", "")
        read = await store.destinations(show.id)
    assert [r.key for r in read] == [SECRET, ""]
    assert [r.has_key for r in read] == [True, False]
    stored = raw_keys(path)
    assert SECRET not in stored[0] and stored[0].startswith("fernet:")
    assert stored[1] == ""
    assert SECRET.encode() not in path.read_bytes()

    # A copy of the database without the key file: the key is lost, not leaked.
    elsewhere = tmp_path / "copy" / "livestudio.sqlite3"
    elsewhere.parent.mkdir()
    shutil.copy(path, elsewhere)
    async with await Store.open(elsewhere) as store:
        (copied, _) = await store.destinations(show.id)
    assert copied.key == "" and copied.key_lost and copied.has_key


async def test_plain_keys_from_before_are_sealed_on_open(tmp_path: Path) -> None:
    path = tmp_path / "livestudio.sqlite3"
    async with await Store.open(path) as store:
        show, _ = await store.create_show("Launch")
        await store.add_destination(show.id, "rtmp://a.example/live", "x")
    with sqlite3.connect(path) as db:  # as a server before sealing stored it
        db.execute("UPDATE destinations SET key = ?", (SECRET,))
    async with await Store.open(path) as store:
        assert [r.key for r in await store.destinations(show.id)] == [SECRET]
    assert raw_keys(path)[0].startswith("fernet:") and SECRET not in raw_keys(path)[0]


async def test_a_lost_key_fails_its_destination_with_a_message(studio: Studio) -> None:
    token = await studio.store.create_api_token("t")
    show_id, stream_key = await studio.create_show()
    status, _ = await studio.api(
        "POST",
        f"/api/shows/{show_id}/destinations",
        token,
        json={"url": "rtmp://127.0.0.1:9/live", "key": SECRET},
    )
    assert status == 201
    # The key file is replaced (restored from another machine, say): the seal won't open.
    with sqlite3.connect(studio.settings.database_path) as db:
        db.execute("UPDATE destinations SET key = 'fernet:' || 'gAAAAnot-a-token'")
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), stream_key)
    try:
        path = f"/api/shows/{show_id}/destinations"

        async def failed() -> bool:
            _, listed = await studio.api("GET", path, token)
            return listed["destinations"][0]["state"] == "failed"

        await until(failed, 20)
        _, listed = await studio.api("GET", path, token)
        (destination,) = listed["destinations"]
        assert destination["error"] == KEY_LOST and destination["has_key"]
        live = studio.onair.get(show_id)
        assert live is not None and live.on_air and not live.ended, "the show goes on"
    finally:
        await pub.close(studio.session)
