"""The RTMP(S) push on its own: it never blocks the studio's event loop, and RTMPS checks
the server's certificate before the stream key goes anywhere."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from livestudio.media import restream
from livestudio.media.broadcast import Broadcast
from livestudio.media.restream import PushError, RtmpPush

from .rtmp_servers import TlsTerminator, self_signed_files

ASC = b"\x11\x90"
"AAC-LC, 48 kHz, stereo."


def keyframe() -> av.Packet:
    """One real H.264 keyframe (the muxer reads the picture size from it)."""
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 64, 64, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 90000)
    encoder.options = {"preset": "ultrafast", "tune": "zerolatency"}
    frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
    frame = frame.reformat(format="yuv420p")
    frame.pts = 0
    packets = list(encoder.encode(frame)) + list(encoder.encode(None))
    packet = packets[0]
    packet.time_base = fractions.Fraction(1, 90000)
    return packet


async def test_a_server_that_never_answers_costs_the_loop_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PyAV holds the GIL while FFmpeg connects and publishes: done in-process, a server
    that accepts TCP and says nothing froze every thread. The muxer is a child process."""
    monkeypatch.setattr(restream, "PUBLISH_TIMEOUT", 2.0)
    silent = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import socket, time\n"
        "s = socket.create_server(('127.0.0.1', 0))\n"
        "print(s.getsockname()[1], flush=True)\n"
        "c, _ = s.accept()\n"
        "time.sleep(4)\n",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert silent.stdout is not None
        port = int(await silent.stdout.readline())
        broadcast = Broadcast(request_keyframe=lambda: None)
        broadcast.publish_video(keyframe())  # the GOP cache starts the output's feed
        push = RtmpPush(
            f"rtmp://127.0.0.1:{port}/live",
            "key",
            broadcast.subscribe_output,
            broadcast.unsubscribe,
            ASC,
        )
        lag = 0.0

        async def ticker() -> None:
            nonlocal lag
            while True:
                before = time.monotonic()
                await asyncio.sleep(0.01)
                lag = max(lag, time.monotonic() - before - 0.01)

        ticking = asyncio.ensure_future(ticker())
        started = time.monotonic()
        with pytest.raises(PushError, match="did not accept the stream within 2 s"):
            await push.run(lambda: None)
        ticking.cancel()
        # A functional deadline: PUBLISH_TIMEOUT (2 s here) ends the push and its muxer
        # child; 8 s is 4x that, headroom for a loaded 2-core CI. The message matched above
        # says it was the timeout, not the silent server hanging up after 4 s.
        assert time.monotonic() - started < 8
        assert lag < 0.5, f"the event loop stood still for {lag:.2f} s"
        assert not broadcast.subscribers, "the push's feed is closed"
    finally:
        with contextlib.suppress(ProcessLookupError):
            silent.kill()
        await silent.wait()


async def test_rtmps_refuses_an_untrusted_certificate_before_sending_anything(
    tmp_path: Path,
) -> None:
    cert, key = self_signed_files(tmp_path)
    front = await TlsTerminator(cert, key, upstream_port=9).start()
    subscribed: list[str] = []
    push = RtmpPush(
        front.url,
        "secret-key",
        subscribe=lambda name: subscribed.append(name),  # type: ignore[arg-type,func-returns-value]
        unsubscribe=lambda feed: None,
        aac_config=ASC,
    )
    try:
        with pytest.raises(PushError, match="TLS certificate is not trusted") as caught:
            await push.run(lambda: None)
        assert "secret-key" not in caught.value.message
        assert not subscribed, "no muxer was started: the key went nowhere"
    finally:
        await front.close()
