"""Debian's nginx as the cache of docs/deploy.md in front of a real `livestudio serve`: many
HLS players (plain and LL-HLS) cost the origin about one request per segment and part.

The test starts every server it needs and fails (never skips) when nginx cannot start.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from bench.hlsclients import PlayerStats, ll_player, standard_player
from bench.nginx import NginxCache, NginxError

from .server import ServerProcess
from .utils import parse_metrics, until, whip_publish

PLAYERS = 20
LL_PLAYERS = 4
SEGMENTS = 4
PARTS = 6


async def origin_counts(session: aiohttp.ClientSession, server: ServerProcess) -> dict[str, float]:
    async with session.get(f"{server.base}/metrics") as r:
        samples = parse_metrics(await r.text())
    return {name: value for name, _, value in samples if name.startswith("livestudio_hls_")}


@pytest.mark.timeout(120)
async def test_many_players_through_nginx_cost_one_origin_request_per_segment(
    tmp_path: Path,
) -> None:
    server = ServerProcess(tmp_path, keyframe_interval="1").start()
    cache = NginxCache(tmp_path / "nginx", server.port)
    try:
        try:
            cache.start()
        except NginxError as exc:
            pytest.fail(f"the HLS cache test needs nginx: {exc}", pytrace=False)
        created = server.cli("show", "create", "Viral")
        assert created.returncode == 0, created.stderr
        lines = dict(line.split(": ", 1) for line in created.stdout.strip().splitlines())
        show_id, key = lines["Show"], lines["Stream key"]
        async with aiohttp.ClientSession() as session:
            pub = await whip_publish(session, lines["WHIP URL"], key)
            playlist = f"{cache.base}/media/{show_id}/index.m3u8"

            async def playlist_out() -> bool:
                async with session.get(f"{server.base}/media/{show_id}/index.m3u8") as r:
                    return r.status == 200

            await until(playlist_out, 20)  # the first segment is out before the crowd comes
            before = await origin_counts(session, server)
            plain = [PlayerStats() for _ in range(PLAYERS)]
            low = [PlayerStats() for _ in range(LL_PLAYERS)]
            await asyncio.wait_for(
                asyncio.gather(
                    *(
                        standard_player(session, playlist, SEGMENTS, s, reload_every=0.5)
                        for s in plain
                    ),
                    *(ll_player(session, playlist, PARTS, s) for s in low),
                ),
                60,
            )
            after = await origin_counts(session, server)
            await pub.close(session)
    finally:
        cache.stop()
        server.stop()

    def served(kind: str) -> float:
        name = f"livestudio_hls_{kind}_responses_total"
        return after.get(name, 0) - before.get(name, 0)

    for stats in plain + low:
        assert not stats.errors, stats.errors
    segments = set().union(*(s.segments for s in plain))
    parts = set().union(*(s.parts for s in low))
    requests = {
        "segments": sum(len(s.segments) for s in plain),
        "parts": sum(len(s.parts) for s in low),
        "playlists": sum(s.playlists for s in plain + low),
    }
    report = (
        f"players fetched {requests}; distinct segments {len(segments)}, parts {len(parts)}; "
        f"origin served segments {served('segment')}, parts {served('part')}, "
        f"playlists {served('playlist')}, init {served('init')}; nginx {cache.cache_statuses()}"
    )
    print(report)
    assert requests["segments"] == PLAYERS * SEGMENTS, report
    # The origin saw each segment and part once, however many players fetched it.
    assert len(segments) <= served("segment") <= len(segments) + 1, report
    assert len(parts) <= served("part") <= len(parts) + 1, report
    assert served("init") <= 2, report
    # Playlists: one origin request per refresh (max-age=1) or blocking URL, not per player.
    assert served("playlist") <= requests["playlists"] / 4, report
