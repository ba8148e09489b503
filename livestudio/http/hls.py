"""Live HLS over HTTP: the playlist (with blocking reload), the init segment, segments and
LL-HLS parts of a show on air, ready for a CDN.

- Media (`/media/{show}/live/{run}/…`) is immutable: the `run` makes every URL unique to
  one stream, so `Cache-Control: public, max-age=3600, immutable` is safe. A part the
  playlist hints at (EXT-X-PRELOAD-HINT) or a segment being cut is held until it exists.
- The playlist (`/media/{show}/index.m3u8`) is short-lived (`max-age=1`); a blocking
  reload (`?_HLS_msn=N&_HLS_part=M`) is held until that part exists (at most three target
  durations, then 503) and may be cached a little longer: its URL names what it waits for.
- ETag and Last-Modified on everything, 304 on If-None-Match; CORS open on /media/.

A live show's HLS is as public as its WHEP playback (anyone with the show's link): the
show is on air. Once it ends the playlist URL serves the replay (published, or to its
host), and the live media stays fetchable ENDED_HLS_KEPT seconds while the show is
ended or published (not once unpublished or deleted), then 404.
"""

from __future__ import annotations

import re
import time
from email.utils import formatdate

from aiohttp import web
from aiohttp.typedefs import Handler

from ..media.hls import HlsBusy, HlsStream
from .audience import hls_player_seen
from .errors import error
from .keys import ONAIR, STORE

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/iso.segment"
"The IANA media type of an ISO BMFF segment (init segments are plain video/mp4)."
MEDIA_CACHE = "public, max-age=3600, immutable"
"""Live media never changes under its URL; an hour covers any player and any CDN edge
(nobody fetches a live part later), and unpublished shows' live media leaves shared
caches within it."""
PLAYLIST_CACHE = "public, max-age=1"
BLOCKING_CACHE_TARGETS = 3
"A blocking reload's answer may be cached this many target durations."
NO_STORE = {"Cache-Control": "no-store"}
"For errors on live paths: a 404 for the next part must not stick in a CDN."
LIVE_NAME = re.compile(r"^(?:init\.mp4|(\d{1,9})\.m4s|p(\d{1,9})\.m4s)$")
"init.mp4, a segment (`<msn>.m4s`) or a part (`p<number in the stream>.m4s`)."


@web.middleware
async def media_cors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every /media/ answer, errors included, readable by a player on another origin."""
    if not request.path.startswith("/media/"):
        return await handler(request)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers["Access-Control-Allow-Origin"] = "*"
        raise
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _http_date(unix: float) -> str:
    return formatdate(unix, usegmt=True)


def _not_modified(request: web.Request, etag: str) -> bool:
    tags = request.headers.get("If-None-Match", "")
    return etag in (t.strip().removeprefix("W/") for t in tags.split(",")) or tags.strip() == "*"


def _respond(
    request: web.Request,
    body: bytes | str,
    content_type: str,
    etag: str,
    modified: float,
    cache: str,
) -> web.Response:
    headers = {"ETag": etag, "Last-Modified": _http_date(modified), "Cache-Control": cache}
    if _not_modified(request, etag):
        return web.Response(status=304, headers=headers)
    if isinstance(body, str):
        return web.Response(text=body, content_type=content_type, headers=headers)
    return web.Response(body=body, content_type=content_type, headers=headers)


def _blocking_query(request: web.Request) -> tuple[int | None, int | None]:
    """(_HLS_msn, _HLS_part) of a blocking playlist reload; 400 if malformed."""
    msn_text = request.query.get("_HLS_msn")
    part_text = request.query.get("_HLS_part")
    if msn_text is None:
        if part_text is not None:
            raise error(400, "_HLS_part needs _HLS_msn", NO_STORE)
        return None, None
    try:
        msn = int(msn_text)
        part = int(part_text) if part_text is not None else None
    except ValueError:
        raise error(400, "_HLS_msn and _HLS_part are whole numbers", NO_STORE) from None
    if msn < 0 or (part is not None and part < 0):
        raise error(400, "_HLS_msn and _HLS_part are not negative", NO_STORE)
    return msn, part


async def live_playlist(request: web.Request, stream: HlsStream) -> web.Response:
    """The live playlist of a show on air (index.m3u8 while it is live)."""
    msn, part = _blocking_query(request)
    if not stream.ended:
        await hls_player_seen(request, request.match_info["show"])  # analytics
    target = stream.options.target_duration
    cache = PLAYLIST_CACHE
    try:
        if msn is not None:
            if stream.too_far(msn, part):
                raise error(400, "that part is too far ahead of the live edge", NO_STORE)
            if not await stream.wait_for(lambda: stream.has_playlist_for(msn, part), 3 * target):
                raise error(503, "the stream did not reach that part in time", _retry())
            cache = f"public, max-age={BLOCKING_CACHE_TARGETS * target}"
        elif not stream.playable:
            # A player asking at the very start waits for the first segment, not a 404.
            await stream.wait_for(lambda: stream.playable, 2 * target + 1)
    except HlsBusy:
        raise error(503, "too many players are waiting for this stream", _retry()) from None
    if not stream.playable:
        raise error(404, "this show has no live HLS yet; retry in a moment", _retry())
    stream.served["playlist"] += 1
    text = stream.playlist()
    if stream.ended:
        cache = PLAYLIST_CACHE
    return _respond(
        request,
        text,
        PLAYLIST_TYPE,
        f'"{stream.run}-{stream.version}"',
        stream.updated_at,
        cache,
    )


def _retry() -> dict[str, str]:
    return {**NO_STORE, "Retry-After": "1"}


async def live_media(request: web.Request) -> web.Response:
    """GET /media/{show}/live/{run}/{name}: the init segment, a segment or a part."""
    show_id = request.match_info["show"]
    stream = request.app[ONAIR].hls(show_id)
    if stream is None or stream.run != request.match_info["run"]:
        raise error(404, "no such live stream (the show has ended?)", NO_STORE)
    if stream.ended:
        # Kept a little for players finishing it, while the show is still public.
        show = await request.app[STORE].get_show(show_id)
        if show is None or show.state not in ("ended", "published"):
            raise error(404, "no such live stream", NO_STORE)
    match = LIVE_NAME.match(request.match_info["name"])
    if match is None:
        raise error(404, "no such file", NO_STORE)
    if match.group(1) is None and match.group(2) is None:
        if stream.init is None:
            raise error(404, "no init segment yet", NO_STORE)
        stream.served["init"] += 1
        etag = f'"{stream.run}-init"'
        return _respond(request, stream.init, "video/mp4", etag, time.time(), MEDIA_CACHE)
    try:
        if match.group(1) is not None:
            return await _segment(request, stream, int(match.group(1)))
        return await _part(request, stream, int(match.group(2)))
    except HlsBusy:
        raise error(503, "too many players are waiting for this stream", _retry()) from None


async def _segment(request: web.Request, stream: HlsStream, msn: int) -> web.Response:
    segment = stream.segment(msn)
    if segment is None and not stream.ended and stream.last_msn() < msn <= stream.last_msn() + 1:
        # The segment being cut: a client that asks early gets it when it is complete.
        target = stream.options.target_duration
        await stream.wait_for(lambda: stream.segment(msn) is not None, 3 * target)
        segment = stream.segment(msn)
    if segment is None:
        raise error(404, "no such segment (not yet, or no longer kept)", NO_STORE)
    stream.served["segment"] += 1
    etag = f'"{stream.run}-{msn}"'
    return _respond(request, segment.data, SEGMENT_TYPE, etag, segment.completed_at, MEDIA_CACHE)


async def _part(request: web.Request, stream: HlsStream, number: int) -> web.Response:
    part = stream.part_numbered(number)
    if part is None and not stream.ended and number == stream.next_part_number():
        # EXT-X-PRELOAD-HINT: the player asks for the part being cut; it gets it when done.
        await stream.wait_for(
            lambda: stream.part_numbered(number) is not None,
            3 * stream.options.target_duration,
        )
        part = stream.part_numbered(number)
    if part is None:
        raise error(404, "no such part (not yet, or no longer kept)", NO_STORE)
    stream.served["part"] += 1
    etag = f'"{stream.run}-p{number}"'
    return _respond(request, part.data, SEGMENT_TYPE, etag, part.made_at, MEDIA_CACHE)


def setup(app: web.Application) -> None:
    """Register the live HLS media route (the playlist shares /media/{show}/index.m3u8 with
    the replay: http/replay.py hands it here while the show is live)."""
    app.router.add_get("/media/{show}/live/{run}/{name}", live_media)
