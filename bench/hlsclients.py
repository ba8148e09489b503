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
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from yarl import URL

HINT = re.compile(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"')
MAP = re.compile(r'#EXT-X-MAP:URI="([^"]+)"')
NUMBERS = re.compile(r"/(\d+)(?:\.(\d+))?\.m4s$")

OnMedia = Callable[[str, bytes, float], None]
"Called with (uri, bytes, time.time() when they arrived)."


@dataclass
class PlayerStats:
    """What one player did."""

    playlists: int = 0
    segments: set[int] = field(default_factory=set)
    parts: set[tuple[int, int]] = field(default_factory=set)
    bytes: int = 0
    errors: list[str] = field(default_factory=list)
    cache: Counter[str] = field(default_factory=Counter)
    "X-Cache of each response (HIT, MISS, ...; '-' without a cache)."


def media_uris(playlist: str) -> list[str]:
    """The segment URIs a playlist lists, in order."""
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def numbers(uri: str) -> tuple[int, int | None]:
    """(msn, part index or None) of a live media URI."""
    match = NUMBERS.search(uri)
    if match is None:
        raise ValueError(f"not a live media URI: {uri}")
    return int(match.group(1)), int(match.group(2)) if match.group(2) is not None else None


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
            msn, _ = numbers(uri)
            if start is None:
                start = numbers(media_uris(text)[-1])[0]  # join at the live edge
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
    while len(stats.parts) < parts:
        msn, index = numbers(uri)
        assert index is not None
        status, data, at = await _get(session, base.join(URL(uri)), stats)
        if status != 200:
            stats.errors.append(f"part {msn}.{index}: {status}")
        else:
            stats.parts.add((msn, index))
            if on_media:
                on_media(uri, data, at)
        blocking = base.with_query({"_HLS_msn": str(msn), "_HLS_part": str(index)})
        status, body, _ = await _get(session, blocking, stats)
        stats.playlists += 1
        hint = HINT.search(body.decode()) if status == 200 else None
        if hint is None:
            stats.errors.append(f"blocking reload {status}")
            return
        uri = hint.group(1)
