"""FFmpeg's `whip` muxer publishing from another host, past the ICE consent timeout.

FFmpeg (the FFmpeg 8 libraries in PyAV's wheel, tests/ffmpeg_whip.py) runs in a network
namespace of its own, as a publisher on another machine would: it tries only the first
candidate of the answer, never answers the server's consent checks, and DELETEs its
session when its handshake fails. A WHEP viewer decodes the program throughout and the
recording must hold the whole show.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

import aiohttp
import av
from aiohttp.test_utils import TestServer

from livestudio.app import create_app
from livestudio.http.keys import ONAIR, STORE

from .certs import ec_key, self_signed, write_pair
from .conftest import make_settings
from .ffmpeg_whip import FPS
from .netns import Namespace, namespace
from .server import ROOT
from .utils import until, whep_play

SECONDS = 45.0
"Longer than aioice's consent timeout (6 unanswered checks 4-6 s apart, ~30-36 s)."


async def run_ffmpeg(ns: Namespace, *args: str) -> dict[str, Any]:
    """tests/ffmpeg_whip.py inside the namespace; its JSON result."""
    proc = await asyncio.create_subprocess_exec(
        *ns.command(sys.executable, "-m", "tests.ffmpeg_whip", *args),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), SECONDS + 40)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    lines = out.decode().strip().splitlines()
    assert lines, f"ffmpeg_whip printed nothing (exit {proc.returncode}): {err.decode()[-2000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    result["stderr"] = err.decode(errors="replace")[-3000:]
    return result


def candidate_addresses(sdp: str) -> list[str]:
    return re.findall(r"a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ", sdp)


def count_video_frames(path: Path) -> tuple[int, float]:
    """Video packets in a recording and their span in seconds (demuxed, not decoded)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pts = [p.pts for p in container.demux(stream) if p.pts is not None]
        assert stream.time_base is not None
        return len(pts), float((max(pts) - min(pts)) * stream.time_base)


async def test_ffmpeg_publishes_from_another_host_past_the_consent_timeout(
    tmp_path: Path,
) -> None:
    # P-256 is what OpenSSL (so aiortc) accepts; FFmpeg's GnuTLS build makes a P-224 one.
    good_cert, good_key = str(tmp_path / "p256.pem"), str(tmp_path / "p256.key")
    bad_cert, bad_key = str(tmp_path / "p224.pem"), str(tmp_path / "p224.key")
    for (cert, key), curve in (
        ((good_cert, good_key), "secp256r1"),
        ((bad_cert, bad_key), "secp224r1"),
    ):
        private = ec_key(curve)
        write_pair(self_signed(private, "ffmpeg-whip", days=30), private, Path(cert), Path(key))
    with namespace() as ns:
        app = create_app(make_settings(tmp_path))
        server = TestServer(app, host=ns.host_address)
        await server.start_server()
        session = aiohttp.ClientSession()
        try:
            show, key = await app[STORE].create_show("From FFmpeg", None)
            base = f"http://{ns.host_address}:{server.port}"
            whip = f"{base}/whip/{show.id}"
            onair = app[ONAIR]

            # A certificate OpenSSL refuses (P-224, what FFmpeg's GnuTLS build makes by
            # itself): the handshake fails and FFmpeg DELETEs its session at once. The
            # show aired nothing, so it is back where it was, and a retry goes live.
            failed = await run_ffmpeg(ns, whip, key, "3", bad_cert, bad_key)
            assert failed["error"], failed
            await until(lambda: onair.get(show.id) is None, 10)
            record = await app[STORE].get_show(show.id)
            assert record is not None and record.state == "scheduled"

            publishing = asyncio.ensure_future(
                run_ffmpeg(ns, whip, key, str(SECONDS), good_cert, good_key)
            )
            await until(
                lambda: (
                    (live := onair.get(show.id)) is not None
                    and live.publisher is not None
                    and live.publisher.video_frames > 0
                ),
                20,
            )
            live = onair.get(show.id)
            assert live is not None and live.publisher is not None
            # FFmpeg uses the first candidate only: no loopback for a client on another
            # host, and the address it reached over HTTP comes first.
            addresses = candidate_addresses(live.publisher.answer_sdp)
            assert "127.0.0.1" not in addresses
            assert addresses[0] == ns.host_address, addresses

            await until(lambda: live.on_air, 10)
            player = await whep_play(session, f"{base}/whep/{show.id}")
            result = await publishing
            assert result["error"] is None, result
            assert result["frames"] >= SECONDS * FPS * 0.9, result

            # The viewer decoded FFmpeg's frames well past the consent timeout: the stamp
            # is FFmpeg's frame number.
            assert player.stamps, "the viewer decoded nothing"
            assert max(player.stamps) >= 40 * FPS, max(player.stamps)
            assert max(player.audio_rms, default=0) > 1000, "the tone did not come through"
            await player.close()

            # FFmpeg's DELETE ended the show; the recording holds all of it.
            await until(lambda: onair.get(show.id) is None, 20)
            record = await app[STORE].get_show(show.id)
            assert record is not None and record.state == "published", record
            frames, span = count_video_frames(tmp_path / "recordings" / show.id / "recording.mp4")
            assert span >= SECONDS - 3, span
            assert frames >= (SECONDS - 3) * FPS * 0.9, frames
        finally:
            await session.close()
            await server.close()


def test_docs_give_the_options_the_test_runs() -> None:
    from .ffmpeg_whip import VIDEO_OPTIONS

    docs = (ROOT / "docs" / "obs.md").read_text()
    flags = {"profile": "-profile:v", "tune": "-tune", "preset": "-preset", "g": "-g", "bf": "-bf"}
    for option, value in VIDEO_OPTIONS.items():
        assert f"{flags[option]} {value}" in docs, option
    for needed in (
        "-c:a libopus -ar 48000 -ac 2",
        "-f whip -authorization",
        "-cert_file",
        "-key_file",
    ):
        assert needed in docs, needed
