"""A recording error reaches viewers in words fit for them; the host gets the details."""

from __future__ import annotations

from .conftest import Studio, next_of
from .utils import until


async def test_viewers_learn_that_the_recording_stopped_the_host_learns_why(
    studio: Studio,
) -> None:
    show_id, _ = await studio.create_show()
    token = await studio.store.create_api_token("t")
    session, ws, _ = await studio.viewer_page(show_id)
    detail = "recording failed: [Errno 5] Input/output error: '/srv/secret/recordings/x.mp4'"
    # What a show's recorder reports through (no public way to fail a recording in
    # process; tests/test_recording_disk_full.py fills a real disk).
    studio.onair._recording_failed(show_id, detail)
    event = await next_of(ws, "recording")
    assert event["error"] == "the recording stopped" and "/srv" not in str(event)

    async def stored() -> bool:  # the store write is spawned
        show = await studio.store.get_show(show_id)
        return show is not None and show.recording == "failed"

    await until(stored, 5)
    status, show = await studio.api("GET", f"/api/shows/{show_id}", token)
    assert status == 200 and show["recording"] == "failed"
    assert show["recording_error"] == detail
    # A full disk is no secret, and it is what viewers would ask about.
    studio.onair._recording_failed(show_id, "the disk is full: recording stopped")
    assert "disk is full" in (await next_of(ws, "recording"))["error"]
    await session.close()
