"""Live HLS: the packager cuts the program's own packets into fMP4 parts and segments, the
playlist and blocking reload follow RFC 8216bis, and a live show plays from the playlist
(frames decoded with PyAV, in order), then the same URL serves the replay."""

from __future__ import annotations

import asyncio
import fractions
import io
import itertools
from typing import Any

import aiohttp
import av
import numpy as np
import pytest

from livestudio.media.encode import AacEncoder, ProgramEncoder, VideoSettings
from livestudio.media.fmp4 import avcc
from livestudio.media.hls import MAX_WAITING, HlsBusy, HlsOptions, HlsStream, Part
from livestudio.media.hlspackager import PartCutter
from livestudio.media.mp4boxes import boxes as _boxes
from livestudio.media.mp4index import _video_traf

from .conftest import Studio
from .utils import read_stamp, until, whip_publish

OFFSET = 5 * 90000
"Program pts of the first synthetic frame: tfdt must carry it, not restart at 0."


def synthetic_show(
    seconds: float, options: HlsOptions, keyframe_every: int = 30
) -> tuple[bytes, list[tuple[Part, int]], list[tuple[int, bytes]]]:
    """Encode `seconds` of 30 fps video (a keyframe every `keyframe_every` frames) and AAC
    on the program clock, through a PartCutter: (init, parts, segments)."""
    encoder = ProgramEncoder(VideoSettings(160, 90, keyframe_interval=10.0, preset="ultrafast"))
    aac = AacEncoder()
    init: list[bytes] = []
    parts: list[tuple[Part, int]] = []
    segments: list[tuple[int, bytes]] = []
    cutter = PartCutter(
        options,
        aac.extradata,
        on_init=init.append,
        on_part=lambda part, start: parts.append((part, start)),
        on_segment=lambda msn, data: segments.append((msn, data)),
    )
    audio_pts = OFFSET * 48000 // 90000
    tone = (np.sin(np.arange(1920) / 5) * 4000).astype(np.int16).reshape(1, -1)
    for n in range(int(seconds * 30)):
        rgb = np.full((90, 160, 3), (n * 7) % 250, np.uint8)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = OFFSET + n * 3000, fractions.Fraction(1, 90000)
        for packet in encoder.encode(frame, keyframe=n % keyframe_every == 0):
            cutter.video(packet)
        while audio_pts / 48000 <= (OFFSET + (n + 1) * 3000) / 90000:
            for packet in aac.encode(tone, audio_pts):
                cutter.audio(packet)
            audio_pts += 960
    cutter.finish()
    return init[0], parts, segments


def test_segments_start_at_keyframes_and_parts_stay_within_the_target() -> None:
    init, parts, segments = synthetic_show(3.2, HlsOptions(segment_target=1.0, part_target=0.5))
    assert [msn for msn, _ in segments] == [0, 1, 2, 3]
    for part, start in parts:
        assert part.duration <= 0.5 + 1 / 60, part  # at most half a frame past the target
        assert part.independent == (part.index == 0)
        assert start == OFFSET + part.msn * 90000
    # four GOPs of 1 s: two parts of exactly 0.5 s each, then the 0.2 s tail
    assert [round(p.duration, 3) for p, _ in parts] == [0.5] * 6 + [0.2]
    # a segment is its parts, byte for byte
    for msn, data in segments:
        assert data == b"".join(p.data for p, _ in parts if p.msn == msn)
    # tfdt is the program pts (video 1/90000, audio 1/48000), not a muxer's restart at 0
    first = segments[1][1]
    moof = next(first[s:e] for kind, s, e in _boxes(first) if kind == "moof")
    video = _video_traf(moof, 1)
    audio = _video_traf(moof, 2)
    assert video is not None and audio is not None
    assert video[0] == OFFSET + 90000 and video[2] is True
    assert abs(audio[0] / 48000 - (OFFSET + 90000) / 90000) < 0.05
    # init + segments decode: every frame, in order, with the program's pts; audio too
    with av.open(io.BytesIO(init + b"".join(d for _, d in segments))) as media:
        pts = [f.pts for f in media.decode(video=0)]
    assert pts == [OFFSET + n * 3000 for n in range(96)]
    with av.open(io.BytesIO(init + b"".join(d for _, d in segments))) as media:
        assert sum(f.samples for f in media.decode(audio=0)) >= 3.1 * 48000


def test_without_parts_a_segment_is_one_fragment() -> None:
    _, parts, segments = synthetic_show(2.1, HlsOptions(segment_target=1.0, part_target=0))
    assert [(p.msn, p.index) for p, _ in parts] == [(0, 0), (1, 0), (2, 0)]
    assert len(segments) == 3


def test_a_forced_keyframe_cuts_a_segment_early() -> None:
    # Joiners force IDRs (≥ 0.5 s apart): each starts a segment, so none is ever longer
    # than the keyframe interval.
    _, parts, _ = synthetic_show(2.0, HlsOptions(segment_target=2.0), keyframe_every=20)
    durations = {}
    for part, _ in parts:
        durations[part.msn] = durations.get(part.msn, 0.0) + part.duration
    assert [round(d, 3) for d in durations.values()] == [0.667, 0.667, 0.667]


def test_avcc_replaces_start_codes_with_lengths() -> None:
    annexb = b"\x00\x00\x00\x01\x67\xaa\x00\x00\x01\x68\xbb\xcc\x00\x00\x01\x65\x01\x02\x00"
    assert avcc(annexb) == (
        b"\x00\x00\x00\x02\x67\xaa"
        + b"\x00\x00\x00\x03\x68\xbb\xcc"
        + b"\x00\x00\x00\x03\x65\x01\x02"
    )


# -- the window, the playlist and waiting (no media needed) ------------------------------------


def _part(msn: int, index: int, number: int, duration: float = 0.5) -> Part:
    data = f"{msn}.{index}".encode()
    return Part(msn, index, number, data, duration, independent=index == 0)


def _feed(stream: HlsStream, segments: int, parts_each: int = 4) -> None:
    for msn in range(segments):
        for index in range(parts_each):
            stream.add_part(_part(msn, index, msn * parts_each + index), msn * 180000)
        stream.complete_segment(msn, b"segment %d" % msn)


async def test_playlist_tags_window_and_end() -> None:
    stream = HlsStream(HlsOptions(segment_target=2.0, part_target=0.5), lambda: 1_700_000_000.0)
    stream.add_init(b"init")
    _feed(stream, 9)
    stream.add_part(_part(9, 0, 36), 9 * 180000)
    text = stream.playlist()
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U" and "#EXT-X-ENDLIST" not in text
    assert "#EXT-X-TARGETDURATION:2" in lines
    assert "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.500" in lines
    assert "#EXT-X-PART-INF:PART-TARGET=0.500" in lines
    # 12 s of complete segments listed: 3..8, then the parts of the one being cut
    assert "#EXT-X-MEDIA-SEQUENCE:3" in lines
    segments = [line for line in lines if line.endswith(".m4s") and not line.startswith("#")]
    assert segments == [f"live/{stream.run}/{n}.m4s" for n in range(3, 9)]
    # parts (named by their number in the stream) only near the live edge (three target
    # durations: from segment 6 on), the next one hinted
    part_lines = [line for line in lines if line.startswith("#EXT-X-PART:")]
    assert (
        part_lines[0]
        == f'#EXT-X-PART:DURATION=0.500,URI="live/{stream.run}/p24.m4s",INDEPENDENT=YES'
    )
    assert part_lines[-1].endswith('/p36.m4s",INDEPENDENT=YES')
    assert lines[-1] == f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="live/{stream.run}/p37.m4s"'
    # each segment dated: wall time of program pts 0 + its first pts
    assert "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:26.000Z" in lines  # msn 3: +6 s
    assert stream.playlist() is text  # rendered once per change
    stream.end()
    ended = stream.playlist()
    assert ended.endswith("#EXT-X-ENDLIST\n") and "PRELOAD-HINT" not in ended
    assert "p36.m4s" not in ended  # an unfinished segment is never listed


async def test_old_segments_are_dropped_after_the_keep_window() -> None:
    stream = HlsStream(HlsOptions(segment_target=2.0, part_target=0.5, keep=10.0), lambda: 0.0)
    _feed(stream, 12)
    # the newest 10 s (five 2 s segments) stay, with their parts
    assert [s.msn for s in stream.segments] == [7, 8, 9, 10, 11]
    assert stream.segment(6) is None and stream.part(6, 0) is None
    assert stream.part_numbered(6 * 4 + 3) is None
    assert stream.segment(7) is not None and stream.part(7, 3) is not None
    assert stream.part_numbered(7 * 4 + 3) is stream.part(7, 3)
    assert stream.segment(12) is None


async def test_blocking_reload_waits_for_the_part_and_is_bounded() -> None:
    stream = HlsStream(HlsOptions(segment_target=2.0, part_target=0.5), lambda: 0.0)
    stream.add_init(b"init")
    _feed(stream, 2)
    assert stream.has_playlist_for(1, 3) and not stream.has_playlist_for(2, 0)
    assert not stream.too_far(3, 0) and stream.too_far(4, 0)
    assert stream.too_far(1, 3 + 7) and not stream.too_far(1, 3 + 6)
    waiter = asyncio.ensure_future(stream.wait_for(lambda: stream.has_playlist_for(2, 1), 5))
    await asyncio.sleep(0.01)
    stream.add_part(_part(2, 0, 8), 360000)
    await asyncio.sleep(0.01)
    assert not waiter.done() and stream.waiting == 1
    stream.add_part(_part(2, 1, 9), 360000)
    assert await waiter is True and stream.waiting == 0
    assert await stream.wait_for(lambda: stream.has_playlist_for(3, 0), 0.05) is False
    # bounded: one more than MAX_WAITING is refused at once
    stream.waiting = MAX_WAITING
    with pytest.raises(HlsBusy):
        await stream.wait_for(lambda: False, 1)
    stream.waiting = 0
    # the end answers whoever waits
    late = asyncio.ensure_future(stream.wait_for(lambda: stream.has_playlist_for(9, 0), 5))
    await asyncio.sleep(0.01)
    stream.end()
    assert await late is True


# -- a live show, over HTTP ---------------------------------------------------------------------


async def _get(studio: Studio, path: str, **kw: Any) -> tuple[aiohttp.ClientResponse, bytes]:
    async with studio.session.get(studio.url(path), **kw) as r:
        return r, await r.read()


def _media_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


async def test_a_live_show_plays_from_its_playlist_then_the_url_serves_the_replay(
    studio_factory: Any,
) -> None:
    studio: Studio = await studio_factory(keyframe_interval=1.0)
    show_id, key = await studio.create_show("HLS")
    playlist = f"/media/{show_id}/index.m3u8"
    r, _ = await _get(studio, playlist)
    assert r.status == 404  # not live, no replay
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    live = studio.onair.get(show_id)
    assert live is not None and live.hls is not None
    hls = live.hls
    await until(lambda: len(hls.segments) >= 4, 20)

    r, body = await _get(studio, playlist)
    text = body.decode()
    assert r.status == 200 and r.headers["Content-Type"].startswith("application/vnd.apple.mpegurl")
    assert r.headers["Cache-Control"] == "public, max-age=1"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["ETag"] and r.headers["Last-Modified"]
    assert "#EXT-X-ENDLIST" not in text and "#EXT-X-PROGRAM-DATE-TIME:" in text
    assert "#EXT-X-PART:" in text and "#EXT-X-PRELOAD-HINT:" in text
    r2, _ = await _get(studio, playlist, headers={"If-None-Match": r.headers["ETag"]})
    assert r2.status in (200, 304)  # 304 unless a part came in between

    # blocking reload: asking for the part being cut returns once it exists (or the
    # first of the next segment, should a keyframe come first)
    msn, index = hls.next_part()
    hint = f"p{hls.next_part_number()}.m4s"
    r, body = await _get(studio, f"{playlist}?_HLS_msn={msn}&_HLS_part={index}")
    assert r.status == 200 and f"/{hint}" in body.decode()
    assert hls.last_part() >= (msn, index)
    assert r.headers["Cache-Control"] == "public, max-age=3"
    # the preload hint: the next part is answered when it is written
    hint = f"p{hls.next_part_number()}.m4s"
    r, data = await _get(studio, f"/media/{show_id}/live/{hls.run}/{hint}")
    assert r.status == 200 and data.startswith(b"\x00\x00") and b"moof" in data[:8]
    r, _ = await _get(studio, f"/media/{show_id}/live/{hls.run}/p{hls.next_part_number() + 1}.m4s")
    assert r.status == 404  # only the hinted one is waited for
    r, _ = await _get(studio, f"{playlist}?_HLS_msn={msn + 5}")
    assert r.status == 400
    r, _ = await _get(studio, f"{playlist}?_HLS_part=1")
    assert r.status == 400

    # the media: immutable, typed, cacheable by anyone
    init_uri = text.split('#EXT-X-MAP:URI="')[1].split('"')[0]
    r, init = await _get(studio, f"/media/{show_id}/{init_uri}")
    assert r.status == 200 and r.headers["Content-Type"] == "video/mp4"
    segments = _media_lines(text)
    assert len(segments) >= 4
    media = bytearray(init)
    for uri in segments:
        r, data = await _get(studio, f"/media/{show_id}/{uri}")
        assert r.status == 200, uri
        assert r.headers["Content-Type"] == "video/iso.segment"
        assert r.headers["Cache-Control"] == "public, max-age=3600, immutable"
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        media += data
    r, _ = await _get(
        studio, f"/media/{show_id}/{uri}", headers={"If-None-Match": r.headers["ETag"]}
    )
    assert r.status == 304
    r, _ = await _get(studio, f"/media/{show_id}/live/nosuchrun/0.m4s")
    assert r.status == 404 and r.headers["Cache-Control"] == "no-store"

    # what a player gets: the stamped frames, in order, with sound
    with av.open(io.BytesIO(bytes(media))) as container:
        assert {s.type for s in container.streams} == {"video", "audio"}
        stamps = [read_stamp(f) for f in container.decode(video=0)]
    assert len(stamps) >= 3 * 25
    steps = [b - a for a, b in itertools.pairwise(stamps)]
    assert all(s >= 0 for s in steps), "frames in order (a repeated frame may repeat a stamp)"
    assert sum(1 for s in steps if s == 1) >= 0.8 * len(steps)
    # an independent check of the playlist itself
    ffprobe = await asyncio.create_subprocess_exec(
        *("ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0"),
        studio.url(playlist),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(ffprobe.communicate(), 30)
    assert set(out.decode().split()) == {"aac", "h264"}, err.decode()

    # the end: the same URL becomes the replay's VOD playlist
    await pub.close(studio.session)
    await until(lambda: studio.onair.get(show_id) is None, 10)

    async def replay_ready() -> bool:
        r, body = await _get(studio, playlist)
        return r.status == 200 and b"recording.mp4" in body

    await until(replay_ready, 10)
    r, body = await _get(studio, playlist)
    assert b"#EXT-X-PLAYLIST-TYPE:VOD" in body and b"#EXT-X-ENDLIST" in body
    assert r.headers["Access-Control-Allow-Origin"] == "*" and r.headers["ETag"]
    # live media a player may still be fetching stays for a while, while the show is public
    r, _ = await _get(studio, f"/media/{show_id}/{segments[-1]}")
    assert r.status == 200
    await studio.store.set_show_state(show_id, "unpublished")
    r, _ = await _get(studio, f"/media/{show_id}/{segments[-1]}")
    assert r.status == 404
    r, _ = await _get(studio, playlist)
    assert r.status == 404


def test_settings_shape_the_hls_of_every_show(tmp_path: Any) -> None:
    from livestudio.live.onair import limits_from

    from .conftest import make_settings

    assert limits_from(make_settings(tmp_path, hls=False)).hls is None
    limits = limits_from(make_settings(tmp_path, hls_part_duration=0.0, keyframe_interval=1.5))
    assert limits.hls == HlsOptions(segment_target=1.5, part_target=0.0)
    assert limits.hls.target_duration == 2
