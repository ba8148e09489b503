"""Regressions from a code review: each test pins one fixed bug."""

from __future__ import annotations

from pathlib import Path

import pytest

from livestudio.media import show as show_module
from livestudio.media.mp4index import scan
from livestudio.media.record import RECORDING, finalize

from .conftest import Studio
from .test_chat import next_of, say, viewer
from .test_onair import api
from .test_recording_long import synthetic_recording
from .utils import until, whep_play, whip_publish


async def test_a_show_whose_recording_cannot_be_finalized_still_ends(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(folder: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(show_module, "finalize", full_disk)
    show_id, key = await studio.create_show()
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    player = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
    await until(lambda: len(player.stamps) > 10, 15)
    async with studio.session.delete(pub.location) as r:
        assert r.status == 200, "the DELETE returns, it does not hang"
    await until(lambda: studio.onair.get(show_id) is None, 10)
    show = await studio.store.get_show(show_id)
    assert show is not None and show.state == "ended" and show.recording == "none"
    assert "not finalized" in (show.recording_error or "")
    await player.close()
    await pub.pc.close()


async def test_a_page_resuming_from_another_process_gets_a_snapshot(studio: Studio) -> None:
    show_id, _ = await studio.create_show()
    url = studio.url(f"/live/{show_id}/events?last_event_id=9999")
    async with studio.session.ws_connect(url) as ws:
        first = await ws.receive_json(timeout=5)
    assert first["type"] == "snapshot", "a restarted server's ids begin again at 1"


async def test_chat_limits_survive_a_reconnect(studio: Studio) -> None:
    show_id, _ = await studio.create_show()
    token = await studio.store.create_api_token("t")
    await api(studio, "PUT", f"/api/shows/{show_id}/chat/settings", token, json={"slow_mode": 60})
    session, ws, _ = await viewer(studio, show_id)
    await say(ws, "first")
    await next_of(ws, "chat")
    await ws.close()
    ws = await session.ws_connect(studio.url(f"/live/{show_id}/events"))
    await say(ws, "second, from a fresh socket")
    assert (await next_of(ws, "error", "chat"))["code"] == "slow_mode"
    await session.close()


async def test_highlight_marks_clear_and_deleting_the_question_dismisses_it(
    studio: Studio,
) -> None:
    token = await studio.store.create_api_token("t")
    show_id, key = await studio.create_show()
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    live = studio.onair.get(show_id)
    assert live is not None
    await until(lambda: live.program.running and live.program.stats.frames > 5, 10)
    session, ws, _ = await viewer(studio, show_id)
    await say(ws, "question one", name="A")
    one = await next_of(ws, "chat")
    await say(ws, "question two", name="B")
    two = await next_of(ws, "chat")
    for message in (one, two):
        status, _ = await api(
            studio,
            "POST",
            f"/api/shows/{show_id}/highlight",
            token,
            json={"message": message["id"]},
        )
        assert status == 200
    _, _, snap = await viewer(studio, show_id)
    marked = [m["text"] for m in snap["chat"] if m["highlighted"]]
    assert marked == ["question two"], "only the current question is marked"
    status, _ = await api(studio, "DELETE", f"/api/shows/{show_id}/chat/{two['id']}", token)
    assert status == 204
    stage = studio.onair.products(show_id)
    assert stage is not None and stage.state.question is None, "no deleted text on air"
    await session.close()
    await pub.close(studio.session)


def test_stray_bytes_after_the_last_fragment_are_cut(tmp_path: Path) -> None:
    synthetic_recording(tmp_path, 0.2)
    path = tmp_path / RECORDING
    clean = scan(path)
    with path.open("ab") as f:
        f.write(b"\x00\x01\x02")  # a crash after a few bytes of the next box
    assert scan(path).torn_at is not None
    result = finalize(tmp_path)
    assert result.playable and path.stat().st_size == clean.end


async def test_event_sockets_are_capped_per_address(studio_factory) -> None:  # type: ignore[no-untyped-def]
    studio: Studio = await studio_factory(max_event_sockets_per_ip=2)
    show_id, _ = await studio.create_show()
    url = studio.url(f"/live/{show_id}/events")
    a = await studio.session.ws_connect(url)
    b = await studio.session.ws_connect(url)
    async with studio.session.get(url) as r:
        assert r.status == 429
    await a.close()
    await b.close()
    await until(lambda: studio.onair.hub.watchers(show_id) == 0, 5)
    c = await studio.session.ws_connect(url)  # the slots came back
    assert (await c.receive_json(timeout=5))["type"] == "snapshot"
    await c.close()
