"""/metrics in Prometheus text format."""

from __future__ import annotations

import re

from .conftest import Studio
from .utils import until, whep_play, whip_publish


async def test_metrics_report_viewers_frames_and_loop_lag(studio: Studio) -> None:
    show_id, key = await studio.create_show()
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    viewer = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
    await until(lambda: len(viewer.stamps) > 10, 15)
    async with studio.session.get(studio.url("/metrics")) as r:
        assert r.status == 200
        assert r.content_type == "text/plain"
        text = await r.text()
    assert f'livestudio_viewers{{show="{show_id}"}} 1' in text
    frames = re.search(rf'livestudio_program_frames_total{{show="{show_id}"}} (\d+)', text)
    assert frames and int(frames.group(1)) > 10
    assert re.search(r"^livestudio_event_loop_lag_seconds \d", text, re.M)
    assert "livestudio_subscriber_video_drops_total{" in text
    assert "livestudio_encode_seconds_total{" in text
    # The host's side. Over loopback nothing goes missing (a loaded machine may still
    # bunch frames, so skipped and held ones are only reported, not asserted to be 0).
    for counter in (
        "livestudio_ingest_packets_missing_total",
        "livestudio_ingest_packets_lost_total",
    ):
        assert f'{counter}{{show="{show_id}"}} 0' in text, counter
    for counter in (
        "livestudio_ingest_frames_held_total",
        "livestudio_source_frames_skipped_total",
    ):
        assert re.search(rf'^{counter}{{show="{show_id}"}} \d+$', text, re.M), counter
    # What the process holds, for spotting leaks (tests/test_churn.py reads these).
    for gauge in (
        "livestudio_asyncio_tasks",
        "livestudio_threads",
        "process_open_fds",
        "process_resident_memory_bytes",
    ):
        found = re.search(rf"^{gauge} (\d+)$", text, re.M)
        assert found and int(found.group(1)) > 0, gauge
    await viewer.close(studio.session)
    await pub.close(studio.session)
