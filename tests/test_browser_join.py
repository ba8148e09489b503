"""A viewer whose connection takes long to come up still plays in Chromium.

What queued for it meanwhile (the joiner's keyframe and the frames after it) would, sent
as it is, arrive in one burst that Chromium plays at its own pace, starting that viewer
behind live; its audio is then held back to stay in sync (measured: ~0.6 s in the first
seconds with a 0.7 s backlog, ~6 s to catch up). The server fast-forwards the backlog.
How far behind live such a viewer plays (its audio jitter buffer's delay, which the A/V
sync stretches) is a figure for a benchmark, not an assertion here.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from livestudio.media import broadcast, leansend

from .browser import chromium, watch
from .conftest import Studio
from .utils import until, whip_publish

AUDIO_BUFFER_JS = """async () => {
  let out = null;
  (await window.livestudio.session.pc.getStats()).forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'audio')
      out = [r.jitterBufferDelay, r.jitterBufferEmittedCount];
  });
  return out;
}"""


async def test_a_slowly_connected_viewer_plays_at_live(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = broadcast.PacketTrack.recv

    async def late(self: broadcast.PacketTrack) -> Any:
        if not self._started:
            await asyncio.sleep(0.7)  # ICE and DTLS on a slow network
        return await original(self)

    monkeypatch.setattr(broadcast.PacketTrack, "recv", late)
    lean_original = leansend.StartTrack.recv

    async def lean_late(self: leansend.StartTrack) -> Any:
        if self._on_start is not None:
            await asyncio.sleep(0.7)  # the same, on the lean send path (the default)
        return await lean_original(self)

    monkeypatch.setattr(leansend.StartTrack, "recv", lean_late)
    show_id, key = await studio.create_show()
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    live = studio.onair.get(show_id)
    assert live is not None
    await until(lambda: live.on_air, 10)
    async with chromium() as browser:
        page, _log = await watch(browser, studio.url(f"/live/{show_id}"))
        before = await page.evaluate(AUDIO_BUFFER_JS)
        await asyncio.sleep(2.0)  # deliberately: two seconds of playback
        after = await page.evaluate(AUDIO_BUFFER_JS)
        emitted = after[1] - before[1]
        assert emitted > 1000, "audio played"
    await pub.close(studio.session)
