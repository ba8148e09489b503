"""Publishing costs the same for a long show as for a short one (no remux, no re-read)."""

from __future__ import annotations

from pathlib import Path

from bench.replay import synthetic_recording
from livestudio.media.mp4index import scan
from livestudio.media.record import DOWNLOAD, PLAYLIST, finalize


def test_publishing_a_20_minute_recording_remuxes_nothing(tmp_path: Path) -> None:
    # The same synthetic recording the replay benchmark publishes (a GOP reused with new
    # timestamps, written without real time). How long publishing takes by show length
    # is `python -m bench replay`'s table.
    synthetic_recording(tmp_path / "long", 20)
    synthetic_recording(tmp_path / "short", 0.2)
    for name in ("long", "short"):
        result = finalize(tmp_path / name)
        assert result.playable
        assert not (tmp_path / name / DOWNLOAD).exists(), "the download is remuxed later"
    long = scan(tmp_path / "long" / "recording.mp4")
    assert 1195 <= long.duration <= 1205
    playlist = (tmp_path / "long" / PLAYLIST).read_text()
    assert playlist.count("#EXTINF:") == 600, "one segment per 2 s GOP"
    assert "#EXT-X-ENDLIST" in playlist
