"""The benchmarks run and write sane JSON (no timing assertions: numbers depend on the box)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_bench(tmp_path: Path, *args: str, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench", *args, "--results-dir", str(tmp_path)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{' '.join(cmd)}\n{out.stdout}\n{out.stderr}"
    path = tmp_path / f"{args[0]}.json"
    assert path.exists(), out.stdout
    data: dict[str, Any] = json.loads(path.read_text())
    assert data["benchmark"] == args[0]
    assert data["machine"]["nproc"] >= 1
    return data


def test_encode_benchmark(tmp_path: Path) -> None:
    data = run_bench(
        tmp_path,
        "encode",
        "--frames",
        "15",
        "--presets",
        "ultrafast",
        "--sizes",
        "720p",
        timeout=60,
    )
    (result,) = data["results"]
    assert result["size"] == "720p" and result["preset"] == "ultrafast"
    assert result["frames"] == 15
    assert result["wall_ms_median"] > 0
    assert result["wall_ms_p95"] >= result["wall_ms_median"]
    assert result["kbps"] > 0


@pytest.mark.timeout(120)
def test_fanout_benchmark_two_viewers(tmp_path: Path) -> None:
    data = run_bench(
        tmp_path,
        "fanout",
        "--viewers",
        "2",
        "--seconds",
        "3",
        "--warmup",
        "0.5",
        "--sender",
        "lean",
        "--no-naive",
        "--join-probes",
        "0",
        timeout=110,
    )
    (step,) = data["designs"]["lean"]["steps"]
    # Viewer 0 decodes, viewer 1 counts SRTP datagrams (bench/counting.py "srtp").
    assert step["n"] == 2 and step["joined"] == 2, step["errors"]
    assert step["server_cpu"] > 0
    assert step["fps_min"] > 0, "a viewer received no video"
    assert step["latency_samples"] > 0, "the decoding viewer read no stamps"
    assert step["stamp_errors"] == 0


def test_compose_benchmark(tmp_path: Path) -> None:
    data = run_bench(tmp_path, "compose", "--sizes", "720p", "--frames", "20", timeout=90)
    (size,) = data["results"]
    assert size["size"] == "720p"
    methods = size["methods"]
    for name in ("livestudio", "naive bgr", "ffmpeg overlay"):
        assert methods[name]["median_ms"] > 0
        assert methods[name]["p99_ms"] >= methods[name]["median_ms"]
    assert [f["source"] for f in data["fit"]] == ["640x480", "1920x1080"]
    for fit in data["fit"]:
        assert fit["outputs"]["before_identical"], "to_program changed its pictures"
        assert fit["outputs"]["cv2_bars_black"]
        for name in ("livestudio", "cv2.resize", "livestudio @30fps"):
            assert fit["methods"][name]["median_ms"] > 0
            assert fit["methods"][name]["cpu_ms_mean"] >= 0


@pytest.mark.timeout(120)
def test_replay_benchmark(tmp_path: Path) -> None:
    data = run_bench(tmp_path, "replay", "--quick", timeout=100)
    assert len(data["show_end_to_replay_ms"]) == 2
    assert all(ms > 0 for ms in data["show_end_to_replay_ms"])
    assert [p["minutes"] for p in data["publish"]] == [1, 5]
    assert data["publish"][1]["duration_s"] > 290


@pytest.mark.timeout(120)
def test_chat_benchmark(tmp_path: Path) -> None:
    data = run_bench(tmp_path, "chat", "--clients", "20", "--seconds", "3", timeout=100)
    assert data["clients"] == 20 and data["connected"] == 20, data["connect_errors"]
    chat, taps = data["windows"]
    assert [chat["name"], taps["name"]] == ["chat", "chat + taps"]
    for window in (chat, taps):
        assert window["messages_sent"] > 0
        assert window["deliveries_expected"] == window["messages_sent"] * 20
        assert 0 < window["deliveries_received"] <= window["deliveries_expected"]
        assert window["latency_ms_median"] > 0
        assert window["latency_ms_p95"] >= window["latency_ms_median"]
        assert window["server_cpu"] >= 0
        assert "rate_limited" not in window["errors"], "the bench sent over the server's limit"
        assert window["sockets_closed"] == []
    assert taps["taps_sent"] > 0
    assert taps["reaction_events_per_client_median"] >= 1
    assert 0 < taps["reaction_taps_counted_median"] <= taps["taps_sent"]


@pytest.mark.timeout(120)
def test_clips_benchmark(tmp_path: Path) -> None:
    data = run_bench(tmp_path, "clips", "--quick", timeout=100)
    (plain,) = data["plain"]
    assert plain["recording_minutes"] == 2 and 15 < plain["clip_mb"] < 20
    assert len(plain["warm_ms"]) == 7 and plain["first_ms"] > 0 and plain["pyav_ms"] > 0
    vertical = data["vertical"]
    assert vertical["chapter_s"] == 5.0 and vertical["frames"] == round(vertical["clip_s"] * 30)
    assert vertical["seconds"] > 0


@pytest.mark.timeout(90)
def test_loss_benchmark_one_level_both_modes(tmp_path: Path) -> None:
    data = run_bench(tmp_path, "loss", "--loss", "3", "--seconds", "3", timeout=80)
    rows = {row["mode"]: row for row in data["rows"]}
    assert set(rows) == {"off", "on"}
    for row in rows.values():
        assert row["loss"] == 0.03 and row["dropped"] > 0, "the relay dropped packets"
        assert row["fps"] > 0 and row["media_seconds"] > 1, "the viewer decoded stamps"
        assert row["longest_freeze"] >= 0 and row["freezes_per_minute"] >= 0
    assert rows["off"]["recovery"] is None or rows["off"]["recovery"]["nacked"] == 0
    assert rows["on"]["recovery"] is not None


@pytest.mark.timeout(120)
def test_soak_benchmark(tmp_path: Path) -> None:
    # 18 s of a live show: viewers come and go, pages chat, products are pinned; then the
    # show ends and its recording is checked. No memory or CPU verdict at this length.
    data = run_bench(
        tmp_path, "soak", "--minutes", "0.3", "--viewers", "3", "--pages", "4", timeout=110
    )
    assert data["ok"], data
    assert len(data["samples"]) >= 3
    for sample in data["samples"]:
        assert sample["rss_mb"] > 0 and sample["cpu_pct"] > 0 and sample["fds"] > 0
    totals = data["totals"]
    assert totals["joins"] >= 3 and totals["join_errors"] == 0
    assert totals["viewers_without_video"] == 0
    assert totals["chat_sent"] > 0 and totals["chat_received"] > 0
    assert totals["pins"] > 0 and totals["pin_errors"] == []
    recording = data["recording"]
    assert recording["ok"] and recording["playlist_ended"], recording
    assert data["error_lines"] == 0, data["error_examples"]


def test_every_help_text_prints() -> None:
    """`--help` formats each help string with %: a stray % broke the top-level help."""
    from bench.__main__ import parser

    top = parser()
    assert "fanout" in top.format_help()
    subparsers = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        assert sub.format_help(), name
