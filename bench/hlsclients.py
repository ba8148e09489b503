"""HLS players without a browser: what a player requests, to count and time it.

`standard_player` reloads the playlist once per target duration and fetches each new
segment (what hls.js does with lowLatencyMode off); `ll_player` follows the live edge
part by part, as LL-HLS players do: the hinted part (held by the server until written),
then the playlist's blocking reload for the part after it. Both can hand every media
resource to `on_media` (to decode its frames) and record what the cache said.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import aiohttp
from yarl import URL

HINT = re.compile(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"')
MAP = re.compile(r'#EXT-X-MAP:URI="([^"]+)"')
SEGMENT = re.compile(r"/(\d+)\.m4s$")
PART = re.compile(r"/p(\d+)\.m4s$")

OnMedia = Callable[[str, bytes, float], None]
"Called with (uri, bytes, time.time() when they arrived)."


@dataclass
class PlayerStats:
    """What one player did."""

    playlists: int = 0
    segments: set[int] = field(default_factory=set)
    parts: set[int] = field(default_factory=set)
    "Numbers (in the stream) of the parts it fetched."
    bytes: int = 0
    errors: list[str] = field(default_factory=list)
    cache: Counter[str] = field(default_factory=Counter)
    "X-Cache of each response (HIT, MISS, ...; '-' without a cache)."


def media_uris(playlist: str) -> list[str]:
    """The segment URIs a playlist lists, in order."""
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def segment_number(uri: str) -> int:
    """The media sequence number of a segment URI (`…/41.m4s`)."""
    match = SEGMENT.search(uri)
    if match is None:
        raise ValueError(f"not a segment URI: {uri}")
    return int(match.group(1))


def part_number(uri: str) -> int:
    """The number in the stream of a part URI (`…/p163.m4s`)."""
    match = PART.search(uri)
    if match is None:
        raise ValueError(f"not a part URI: {uri}")
    return int(match.group(1))


def live_edge(playlist: str) -> tuple[int, int]:
    """(_HLS_msn, _HLS_part) of the part after the newest one listed, as LL-HLS players
    compute their blocking reload: the segment being cut and its next part index."""
    sequence = 0
    complete = 0
    open_parts = 0
    for line in playlist.splitlines():
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            sequence = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-PART:"):
            open_parts += 1
        elif line.startswith("#EXTINF:"):
            complete += 1
            open_parts = 0
    return sequence + complete, open_parts


async def _get(
    session: aiohttp.ClientSession, url: URL, stats: PlayerStats
) -> tuple[int, bytes, float]:
    async with session.get(url) as r:
        body = await r.read()
        stats.cache[r.headers.get("X-Cache", "-")] += 1
        stats.bytes += len(body)
        return r.status, body, time.time()


async def standard_player(
    session: aiohttp.ClientSession,
    playlist_url: str,
    segments: int,
    stats: PlayerStats,
    on_media: OnMedia | None = None,
    reload_every: float = 1.0,
) -> None:
    """Play `segments` new segments from the live edge on."""
    base = URL(playlist_url)
    start: int | None = None
    fetched_init = False
    while len(stats.segments) < segments:
        status, body, _ = await _get(session, base, stats)
        stats.playlists += 1
        if status != 200:
            stats.errors.append(f"playlist {status}")
            await asyncio.sleep(reload_every)
            continue
        text = body.decode()
        if not fetched_init and (found := MAP.search(text)):
            status, data, at = await _get(session, base.join(URL(found.group(1))), stats)
            fetched_init = status == 200
            if on_media and fetched_init:
                on_media("init", data, at)
        for uri in media_uris(text):
            msn = segment_number(uri)
            if start is None:
                start = segment_number(media_uris(text)[-1])  # join at the live edge
            if msn < start or msn in stats.segments:
                continue
            status, data, at = await _get(session, base.join(URL(uri)), stats)
            if status != 200:
                stats.errors.append(f"segment {msn}: {status}")
                continue
            stats.segments.add(msn)
            if on_media:
                on_media(uri, data, at)
            if len(stats.segments) >= segments:
                return
        await asyncio.sleep(reload_every)


async def ll_player(
    session: aiohttp.ClientSession,
    playlist_url: str,
    parts: int,
    stats: PlayerStats,
    on_media: OnMedia | None = None,
) -> None:
    """Play `parts` parts from the live edge on, each as soon as the server has it."""
    base = URL(playlist_url)
    status, body, _ = await _get(session, base, stats)
    stats.playlists += 1
    text = body.decode()
    if status != 200 or not (hint := HINT.search(text)) or not (init := MAP.search(text)):
        stats.errors.append(f"no LL-HLS playlist ({status})")
        return
    status, data, at = await _get(session, base.join(URL(init.group(1))), stats)
    if on_media and status == 200:
        on_media("init", data, at)
    uri = hint.group(1)
    msn, index = live_edge(text)  # what the hinted part will be (or the next segment's 0)
    while len(stats.parts) < parts:
        number = part_number(uri)
        status, data, at = await _get(session, base.join(URL(uri)), stats)
        if status != 200:
            stats.errors.append(f"part p{number}: {status}")
        else:
            stats.parts.add(number)
            if on_media:
                on_media(uri, data, at)
        blocking = base.with_query({"_HLS_msn": str(msn), "_HLS_part": str(index)})
        status, body, _ = await _get(session, blocking, stats)
        stats.playlists += 1
        text = body.decode()
        hint = HINT.search(text) if status == 200 else None
        if hint is None:
            stats.errors.append(f"blocking reload {status}")
            return
        uri = hint.group(1)
        msn, index = live_edge(text)


async def run_players(
    run: Callable[[aiohttp.ClientSession], Sequence[Awaitable[None]]], seconds: float
) -> None:
    """Run the players' coroutines for `seconds` (they are cancelled then)."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.ensure_future(c) for c in run(session)]
        done, pending = await asyncio.wait(tasks, timeout=seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
