"""A full disk stops the recording with a clear error; the live show goes on."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import av

from livestudio.media.record import RECORDING

from .server import ServerProcess
from .test_recording_crash import ffprobe_errors, new_show
from .utils import until, whep_play, whip_publish


async def test_full_disk_keeps_the_show_and_a_clean_file(tmp_path: Path) -> None:
    # Files the server writes may not exceed 250 kB: the recording hits it in seconds.
    server = ServerProcess(tmp_path, file_size_limit=250_000).start()
    show_id, key = new_show(server)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{server.base}/live/{show_id}/events") as ws:
                pub = await whip_publish(session, f"{server.base}/whip/{show_id}", key)
                viewer = await whep_play(session, f"{server.base}/whep/{show_id}")
                error = None
                while error is None:
                    event = await ws.receive_json(timeout=30)
                    if event["type"] == "recording":
                        error = event["error"]
                assert "disk is full" in error
            # The show goes on: the viewer keeps decoding new frames.
            seen = len(viewer.stamps)
            await until(lambda: len(viewer.stamps) > seen + 30, 15)
            assert viewer.pc.connectionState == "connected"
            await viewer.close(session)
            await pub.close(session)
            await until(lambda: "published" in server.cli("show", "list").stdout, 15)
        assert "disk is full" in server.output()
        assert "Traceback" not in server.output()
    finally:
        server.stop()
    recording = tmp_path / "recordings" / show_id / RECORDING
    assert recording.stat().st_size <= 250_000
    assert ffprobe_errors(recording) == "", "no corrupt file"
    with av.open(str(recording)) as f:
        assert sum(1 for p in f.demux(video=0) if p.size) > 10
