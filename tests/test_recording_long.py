"""Publishing costs the same for a long show as for a short one (no remux, no re-read)."""

from __future__ import annotations

import time
from pathlib import Path

from bench.replay import synthetic_recording
from livestudio.media.mp4index import scan
from livestudio.media.record import PLAYLIST, finalize


def test_publishing_a_20_minute_recording_is_as_quick_as_a_short_one(tmp_path: Path) -> None:
    # The same synthetic recording the replay benchmark publishes (a GOP reused with new
    # timestamps, written without real time).
    synthetic_recording(tmp_path / "long", 20)
    synthetic_recording(tmp_path / "short", 0.2)
    timings = {}
    for name in ("long", "short"):
        started = time.perf_counter()
        result = finalize(tmp_path / name)
        timings[name] = time.perf_counter() - started
        assert result.playable
    assert timings["long"] < 2.0, timings  # the contract: published within 2 s
    long = scan(tmp_path / "long" / "recording.mp4")
    assert 1195 <= long.duration <= 1205
    playlist = (tmp_path / "long" / PLAYLIST).read_text()
    assert playlist.count("#EXTINF:") == 600, "one segment per 2 s GOP"
    assert "#EXT-X-ENDLIST" in playlist
