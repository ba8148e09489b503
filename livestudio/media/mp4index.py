"""Reading the layout of a fragmented MP4, and the HLS VOD playlist over it.

A recording is one fragmented MP4 (ftyp+moov, then moof+mdat pairs of at most 1 s). The
replay's HLS playlist addresses those fragments by byte range, so publishing costs a walk
over the box headers (a few bytes per second of show), never a remux. The same walk
recovers a recording after a crash: a torn last fragment is simply left out.

The server serves the playlist from here (`cached_playlist`), not from a file: a replay
must not depend on a write that a full disk may refuse.
"""

from __future__ import annotations

import functools
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .mp4boxes import boxes, child, tracks


@dataclass(frozen=True)
class Fragment:
    """One moof+mdat pair."""

    offset: int
    size: int
    start: float
    "Decode time of its first video sample, in seconds from the start of the track."
    duration: float
    keyframe: bool
    "Whether it starts with a video sync sample (a segment may start here)."


@dataclass
class Mp4Index:
    """Init section and complete fragments of a fragmented MP4."""

    init_size: int = 0
    fragments: list[Fragment] = field(default_factory=list)
    video_track: int = 1
    timescale: int = 90000
    torn_at: int | None = None
    "Offset of an incomplete box at the end (a crash or a full disk mid-write), if any."

    @property
    def duration(self) -> float:
        """Seconds of media in complete fragments."""
        if not self.fragments:
            return 0.0
        last = self.fragments[-1]
        return last.start + last.duration - self.fragments[0].start

    @property
    def playable(self) -> bool:
        """True when there is at least one fragment starting on a keyframe."""
        return any(f.keyframe for f in self.fragments)

    @property
    def end(self) -> int:
        """Byte offset just after the last complete fragment."""
        if not self.fragments:
            return self.init_size
        last = self.fragments[-1]
        return last.offset + last.size


def _moov_video(moov: bytes) -> tuple[int, int]:
    """(track id, timescale) of the first video track in a moov payload."""
    for track in tracks(moov):
        if track.handler == "vide":
            return track.track_id, track.timescale
    return 1, 90000


def _video_traf(moof: bytes, track_id: int) -> tuple[int, float, bool] | None:
    """(decode time, duration in timescale units, starts with sync sample) of the video traf."""
    for kind, s, e in boxes(moof):
        if kind != "traf":
            continue
        tfhd = child(moof, s, e, "tfhd")
        if tfhd is None:
            continue
        flags = struct.unpack(">I", moof[tfhd[0] : tfhd[0] + 4])[0] & 0xFFFFFF
        if struct.unpack(">I", moof[tfhd[0] + 4 : tfhd[0] + 8])[0] != track_id:
            continue
        pos = tfhd[0] + 8
        if flags & 0x1:
            pos += 8  # base data offset
        if flags & 0x2:
            pos += 4  # sample description index
        default_duration = default_flags = 0
        if flags & 0x8:
            default_duration = struct.unpack(">I", moof[pos : pos + 4])[0]
            pos += 4
        if flags & 0x10:
            pos += 4  # default size
        if flags & 0x20:
            default_flags = struct.unpack(">I", moof[pos : pos + 4])[0]
        decode_time = 0
        tfdt = child(moof, s, e, "tfdt")
        if tfdt is not None:
            version = moof[tfdt[0]]
            if version == 1:
                decode_time = struct.unpack(">Q", moof[tfdt[0] + 4 : tfdt[0] + 12])[0]
            else:
                decode_time = struct.unpack(">I", moof[tfdt[0] + 4 : tfdt[0] + 8])[0]
        duration = 0
        first_flags: int | None = None
        for k, ts, _te in boxes(moof, s, e):
            if k != "trun":
                continue
            tflags = struct.unpack(">I", moof[ts : ts + 4])[0] & 0xFFFFFF
            count = struct.unpack(">I", moof[ts + 4 : ts + 8])[0]
            pos = ts + 8
            if tflags & 0x1:
                pos += 4
            if tflags & 0x4:
                if first_flags is None:
                    first_flags = struct.unpack(">I", moof[pos : pos + 4])[0]
                pos += 4
            per_sample = sum(4 for bit in (0x100, 0x200, 0x400, 0x800) if tflags & bit)
            for i in range(count):
                p = pos + i * per_sample
                d = default_duration
                if tflags & 0x100:
                    d = struct.unpack(">I", moof[p : p + 4])[0]
                    p += 4
                if tflags & 0x200:
                    p += 4
                if tflags & 0x400:
                    if first_flags is None and i == 0:
                        first_flags = struct.unpack(">I", moof[p : p + 4])[0]
                duration += d
        if first_flags is None:
            first_flags = default_flags
        keyframe = not (first_flags & 0x10000)  # sample_is_non_sync_sample
        return decode_time, float(duration), keyframe
    return None


def scan(path: Path) -> Mp4Index:
    """Index the complete boxes of a (possibly torn) fragmented MP4."""
    index = Mp4Index()
    with path.open("rb") as f:
        return _scan(f, index)


def _scan(f: BinaryIO, index: Mp4Index) -> Mp4Index:
    f.seek(0, 2)
    size = f.tell()
    pos = 0
    pending_moof: tuple[int, bytes] | None = None
    while pos + 8 <= size:
        f.seek(pos)
        header = f.read(16)
        box_size, kind_raw = struct.unpack(">I4s", header[:8])
        kind = kind_raw.decode("latin-1")
        if box_size == 1:
            if len(header) < 16:
                index.torn_at = pos
                break
            box_size = struct.unpack(">Q", header[8:16])[0]
        elif box_size == 0:
            box_size = size - pos
        if box_size < 8 or pos + box_size > size:
            index.torn_at = pos  # torn at the end: a crash or a full disk mid-write
            break
        if kind == "moov":
            f.seek(pos + 8)
            index.video_track, index.timescale = _moov_video(f.read(box_size - 8))
            index.init_size = pos + box_size
        elif kind == "moof":
            f.seek(pos + 8)
            pending_moof = (pos, f.read(box_size - 8))
        elif kind == "mdat" and pending_moof is not None:
            moof_pos, moof = pending_moof
            traf = _video_traf(moof, index.video_track)
            if traf is not None:
                decode_time, duration, keyframe = traf
                index.fragments.append(
                    Fragment(
                        offset=moof_pos,
                        size=pos + box_size - moof_pos,
                        start=decode_time / index.timescale,
                        duration=duration / index.timescale,
                        keyframe=keyframe,
                    )
                )
            pending_moof = None
        pos += box_size
    if index.torn_at is None and (pos < size or pending_moof is not None):
        # A few stray bytes, or a moof whose mdat never came: torn all the same.
        index.torn_at = pending_moof[0] if pending_moof is not None else pos
    return index


def hls_playlist(index: Mp4Index, uri: str) -> str:
    """An HLS VOD playlist: one segment per keyframe-led run of fragments, by byte range."""
    segments: list[list[Fragment]] = []
    for fragment in index.fragments:
        if fragment.keyframe or not segments:
            if not fragment.keyframe and not segments:
                continue  # nothing before the first keyframe can be decoded
            segments.append([fragment])
        else:
            segments[-1].append(fragment)
    durations = [sum(f.duration for f in seg) for seg in segments]
    target = max(1, math.ceil(max(durations, default=1.0)))
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f'#EXT-X-MAP:URI="{uri}",BYTERANGE="{index.init_size}@0"',
    ]
    for seg, duration in zip(segments, durations, strict=True):
        start = seg[0].offset
        length = seg[-1].offset + seg[-1].size - start
        lines += [f"#EXTINF:{duration:.3f},", f"#EXT-X-BYTERANGE:{length}@{start}", uri]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


PLAYLIST_CACHE = 32
"Playlists kept in memory (a 2-hour show's is ~200 kB): the replays being watched now."


def cached_playlist(path: Path, uri: str) -> str | None:
    """The HLS playlist over the recording at `path`, None if nothing in it plays.

    Computed once per version of the file (its size and mtime are the key), so a replay
    watched by many costs one walk over the box headers, not one per request. Blocking.
    """
    stat = path.stat()
    return _playlist_of(path, stat.st_size, stat.st_mtime_ns, uri)


@functools.lru_cache(maxsize=PLAYLIST_CACHE)
def _playlist_of(path: Path, size: int, mtime_ns: int, uri: str) -> str | None:
    # size and mtime_ns are unused but part of the cache key: a changed file is rescanned.
    index = scan(path)
    return hls_playlist(index, uri) if index.playable else None
