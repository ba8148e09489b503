"""GStreamer's webrtcbin (Debian's gstreamer1.0-plugins-bad) publishing and playing.

docs/clients/gst_webrtc.py does the HTTP exchange, as the meetecho simple-whip/whep clients do:
it POSTs before gathering and trickles candidates in PATCH requests. webrtcbin's DTLS
certificate is RSA-2048, which the server's DTLS must accept (media/dtls.py). The
script runs on Debian's Python (/usr/bin/python3), where the GStreamer bindings are.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

from .conftest import Studio
from .server import ROOT
from .utils import until

SCRIPT = ROOT / "docs" / "clients" / "gst_webrtc.py"
SYSTEM_PYTHON = "/usr/bin/python3"


def check_tools() -> None:
    """Fail (never skip) when what the README's test line installs is missing."""
    assert Path(SYSTEM_PYTHON).exists(), "Debian's python3 is needed for GStreamer's bindings"
    assert shutil.which("gst-inspect-1.0"), "GStreamer is missing: see the README's test line"


async def spawn(*args: str) -> asyncio.subprocess.Process:
    """Start docs/clients/gst_webrtc.py with `args`."""
    check_tools()
    return await asyncio.create_subprocess_exec(
        SYSTEM_PYTHON,
        str(SCRIPT),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def gst(*args: str, within: float = 60) -> dict[str, Any]:
    """Run docs/clients/gst_webrtc.py; its JSON result (stderr kept for the failure message)."""
    return await result_of(await spawn(*args), within)


async def result_of(proc: asyncio.subprocess.Process, within: float = 60) -> dict[str, Any]:
    """The JSON line a gst_webrtc.py run printed when it ended."""
    try:
        out, err = await asyncio.wait_for(proc.communicate(), within)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    lines = out.decode().strip().splitlines()
    assert lines, f"gst_webrtc.py printed nothing (exit {proc.returncode}): {err.decode()[-3000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    result["stderr"] = err.decode(errors="replace")[-3000:]
    return result


async def test_webrtcbin_publishes_over_whip_and_plays_over_whep(studio: Studio) -> None:
    show_id, key = await studio.create_show()
    # Until told to stop (SIGTERM, as a user's Ctrl-C), at most a minute.
    publisher = await spawn(
        "publish", studio.url(f"/whip/{show_id}"), "--token", key, "--seconds", "60"
    )
    publishing = asyncio.ensure_future(result_of(publisher, within=90))
    try:
        await until(
            lambda: (live := studio.onair.get(show_id)) is not None and live.on_air,
            20,
        )
    except AssertionError:
        publisher.terminate()  # what webrtcbin saw, for the failure message
        raise AssertionError(f"not on air in 20 s; the publisher: {await publishing}") from None
    # The viewer gathers before it POSTs (no trickle), the publisher trickles: both ways.
    # It plays until it decoded 100 video frames and 100 audio packets (30 s at most).
    playing = await gst(
        "play", studio.url(f"/whep/{show_id}"), "--frames", "100", "--seconds", "30", "--no-trickle"
    )
    live = studio.onair.get(show_id)
    assert live is not None and live.publisher is not None
    host_video, host_audio = live.publisher.video_frames, live.publisher.audio_frames
    publisher.terminate()
    published = await publishing

    assert published["error"] is None, published
    assert published["post"] == 201 and published["connection"] == "connected", published
    assert published["patch"] and set(published["patch"]) == {204}, published
    assert published["delete"] == 200, published
    # what webrtcbin sent reached the program: H.264 decoded, and Opus
    assert host_video >= 100 and host_audio >= 150, (host_video, host_audio)

    assert playing["error"] is None, playing
    assert playing["post"] == 201 and playing["connection"] == "connected", playing
    assert playing["delete"] == 200, playing
    assert playing["frames"]["video"] >= 90, playing
    assert playing["frames"]["audio"] >= 100, playing

    # the publisher's DELETE ended the show
    await until(lambda: studio.onair.get(show_id) is None, 20)


def script_constants() -> dict[str, Any]:
    """The literal constants of docs/clients/gst_webrtc.py (it imports gi: not importable here)."""
    import ast

    constants: dict[str, Any] = {}
    for node in ast.parse(SCRIPT.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                constants[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return constants


def test_docs_quote_the_pipelines_the_test_runs() -> None:
    def flat(text: str) -> str:
        return " ".join(text.split())

    docs = flat((ROOT / "docs" / "obs.md").read_text())
    constants = script_constants()
    quoted = [constants["VIDEO_ENCODE"], constants["AUDIO_ENCODE"], constants["PLAY_PIPELINE"]]
    quoted += list(constants["PLAY_CAPS"].values())
    quoted += [d.replace("fakesink name=sink", "<sink>") for d in constants["DECODERS"].values()]
    for text in quoted:
        assert flat(text) in docs, f"docs/obs.md does not quote: {text}"
    for command in ("publish", "play"):
        assert f"docs/clients/gst_webrtc.py {command}" in docs
