"""The samples of a fragmented MP4 recording, read from its box headers: where each
sample's bytes are, when it plays, whether it is a keyframe (ISO 14496-12 8.8: moof,
traf, tfhd, tfdt, trun, and the moov's trex defaults).

Only box headers and the moofs asked for are read: the fragments of a span are found by
a binary search over their first video decode times, and a file's layout is walked once
per version (size, mtime) and cached. media/mp4clip.py cuts clips with it.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple

from .mp4index import _boxes, _child

VIDEO, AUDIO = "vide", "soun"


class ClipError(Exception):
    """The recording has nothing to cut in that span (or cannot be read)."""


@dataclass(frozen=True)
class FragmentAt:
    """Where one moof+mdat pair lies in the file."""

    offset: int
    moof_size: int
    end: int
    "Offset just after its mdat."


@dataclass
class Track:
    """One track of the recording's moov."""

    track_id: int
    handler: str
    timescale: int
    trak: bytes
    "The trak box's payload."
    default_duration: int = 0
    default_size: int = 0
    default_flags: int = 0
    "trex defaults."


class Sample(NamedTuple):
    """One sample: where its bytes are and when it plays (a tuple: there are thousands)."""

    dts: int
    duration: int
    size: int
    offset: int
    sync: bool
    cts: int


@dataclass
class Init:
    """The recording's moov, read once per file version."""

    movie_timescale: int
    mvhd: bytes
    tracks: dict[int, Track]
    fragments: list[FragmentAt]
    starts: dict[int, int] = field(default_factory=dict)
    "Fragment index → video decode time (filled as the search reads them)."


# -- reading the recording -----------------------------------------------------------------------


def u32(data: bytes, at: int) -> int:
    return int(struct.unpack_from(">I", data, at)[0])


def u64(data: bytes, at: int) -> int:
    return int(struct.unpack_from(">Q", data, at)[0])


def _walk(f: BinaryIO) -> tuple[bytes, list[FragmentAt]]:
    """The moov payload and where each complete fragment is: box headers only."""
    f.seek(0, 2)
    size = f.tell()
    pos = 0
    moov = b""
    fragments: list[FragmentAt] = []
    moof: tuple[int, int] | None = None
    while pos + 8 <= size:
        f.seek(pos)
        header = f.read(16)
        box_size, kind = struct.unpack(">I4s", header[:8])
        if box_size == 1 and len(header) == 16:
            box_size = struct.unpack(">Q", header[8:16])[0]
        elif box_size == 0:
            box_size = size - pos
        if box_size < 8 or pos + box_size > size:
            break  # a torn tail (a crash, a full disk): what came before is complete
        if kind == b"moov":
            f.seek(pos + 8)
            moov = f.read(box_size - 8)
        elif kind == b"moof":
            moof = (pos, box_size)
        elif kind == b"mdat" and moof is not None:
            fragments.append(FragmentAt(moof[0], moof[1], pos + box_size))
            moof = None
        pos += box_size
    return moov, fragments


def _tracks(moov: bytes) -> tuple[int, bytes, dict[int, Track]]:
    mvhd = _child(moov, 0, len(moov), "mvhd")
    if mvhd is None:
        raise ClipError("the recording has no movie header")
    version = moov[mvhd[0]]
    movie_timescale = u32(moov, mvhd[0] + (20 if version == 1 else 12))
    tracks: dict[int, Track] = {}
    for kind, s, e in _boxes(moov):
        if kind != "trak":
            continue
        tkhd = _child(moov, s, e, "tkhd")
        mdia = _child(moov, s, e, "mdia")
        if tkhd is None or mdia is None:
            continue
        hdlr = _child(moov, mdia[0], mdia[1], "hdlr")
        mdhd = _child(moov, mdia[0], mdia[1], "mdhd")
        if hdlr is None or mdhd is None:
            continue
        track_id = u32(moov, tkhd[0] + (20 if moov[tkhd[0]] == 1 else 12))
        timescale = u32(moov, mdhd[0] + (20 if moov[mdhd[0]] == 1 else 12))
        handler = moov[hdlr[0] + 8 : hdlr[0] + 12].decode("latin-1")
        tracks[track_id] = Track(track_id, handler, timescale, moov[s:e])
    mvex = _child(moov, 0, len(moov), "mvex")
    if mvex is not None:
        for kind, s, _e in _boxes(moov, *mvex):
            if kind == "trex" and (track := tracks.get(u32(moov, s + 4))) is not None:
                track.default_duration = u32(moov, s + 12)
                track.default_size = u32(moov, s + 16)
                track.default_flags = u32(moov, s + 20)
    return movie_timescale, moov[mvhd[0] - 8 : mvhd[1]], tracks


@functools.lru_cache(maxsize=16)
def layout(path: Path, size: int, mtime_ns: int) -> Init:
    # size and mtime_ns are the cache key: a changed file is walked again.
    with path.open("rb") as f:
        moov, fragments = _walk(f)
    if not moov:
        raise ClipError("the recording has no header (moov)")
    movie_timescale, mvhd, tracks = _tracks(moov)
    return Init(movie_timescale, mvhd, tracks, fragments)


def fragment_samples(
    moof: bytes, moof_offset: int, tracks: dict[int, Track]
) -> dict[int, list[Sample]]:
    """Every sample of a moof (ISO 14496-12 8.8: tfhd, tfdt, trun), by track id."""
    out: dict[int, list[Sample]] = {}
    data_end = moof_offset  # a traf without a base continues where the previous one ended
    for kind, s, e in _boxes(moof):
        if kind != "traf":
            continue
        tfhd = _child(moof, s, e, "tfhd")
        if tfhd is None:
            continue
        flags = u32(moof, tfhd[0]) & 0xFFFFFF
        track = tracks.get(u32(moof, tfhd[0] + 4))
        if track is None:
            continue
        pos = tfhd[0] + 8
        base = moof_offset if flags & 0x20000 else data_end
        if flags & 0x1:
            base, pos = u64(moof, pos), pos + 8
        if flags & 0x2:
            pos += 4
        duration, size, sample_flags = (
            track.default_duration,
            track.default_size,
            track.default_flags,
        )
        if flags & 0x8:
            duration, pos = u32(moof, pos), pos + 4
        if flags & 0x10:
            size, pos = u32(moof, pos), pos + 4
        if flags & 0x20:
            sample_flags = u32(moof, pos)
        dts = 0
        tfdt = _child(moof, s, e, "tfdt")
        if tfdt is not None:
            dts = u64(moof, tfdt[0] + 4) if moof[tfdt[0]] == 1 else u32(moof, tfdt[0] + 4)
        samples = out.setdefault(track.track_id, [])
        offset = base
        for k, ts, _te in _boxes(moof, s, e):
            if k != "trun":
                continue
            tflags = u32(moof, ts) & 0xFFFFFF
            count = u32(moof, ts + 4)
            p = ts + 8
            if tflags & 0x1:
                offset = base + struct.unpack_from(">i", moof, p)[0]
                p += 4
            first_flags = None
            if tflags & 0x4:
                first_flags, p = u32(moof, p), p + 4
            fields = [bit for bit in (0x100, 0x200, 0x400, 0x800) if tflags & bit]
            width = len(fields)
            # All entries at once, one column per field present; a field left out takes
            # the track fragment's default.
            flat = struct.unpack_from(f">{count * width}I", moof, p) if width else ()
            columns = {bit: flat[i::width] for i, bit in enumerate(fields)}
            durations = columns.get(0x100) or (duration,) * count
            sizes = columns.get(0x200) or (size,) * count
            flags_of = list(columns.get(0x400) or (sample_flags,) * count)
            if first_flags is not None and count:
                flags_of[0] = first_flags
            cts: tuple[int, ...] | list[int] = columns.get(0x800) or (0,) * count
            if 0x800 in columns and moof[ts] == 1:  # signed offsets
                cts = [c - (1 << 32) if c & 0x80000000 else c for c in cts]
            for d, z, fl, c in zip(durations, sizes, flags_of, cts, strict=True):
                samples.append(Sample(dts, d, z, offset, not fl & 0x10000, c))
                dts += d
                offset += z
        data_end = offset
    return out


def read_moof(f: BinaryIO, fragment: FragmentAt) -> bytes:
    f.seek(fragment.offset + 8)
    return f.read(fragment.moof_size - 8)


def _video_start(f: BinaryIO, init: Init, index: int, video: Track) -> int:
    """Decode time of fragment `index`'s first video sample (cached in `init`)."""
    if index not in init.starts:
        moof = read_moof(f, init.fragments[index])
        samples = fragment_samples(moof, init.fragments[index].offset, init.tracks).get(
            video.track_id
        )
        init.starts[index] = samples[0].dts if samples else -1
    return init.starts[index]


def keyframe_fragment(f: BinaryIO, init: Init, video: Track, index: int) -> int:
    """Fragment `index`, or the nearest before it that starts with a keyframe."""
    while index > 0:
        fragment = init.fragments[index]
        samples = fragment_samples(read_moof(f, fragment), fragment.offset, init.tracks)
        vs = samples.get(video.track_id, [])
        if vs and vs[0].sync:
            return index
        index -= 1
    return index


def first_fragment(f: BinaryIO, init: Init, video: Track, start: int) -> int:
    """The last fragment whose video starts at or before `start` (binary search)."""
    low, high = 0, len(init.fragments) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if _video_start(f, init, middle, video) <= start:
            low = middle
        else:
            high = middle - 1
    return low
