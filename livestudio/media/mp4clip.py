"""A clip of a recording without re-encoding: its samples copied into a progressive MP4.

The recording is a fragmented MP4 (media/record.py): ftyp+moov, then moof+mdat pairs,
each keyframe opening a fragment. A clip of [start, end) (program pts) takes the video
samples from the keyframe at or before `start` up to `end`, and the audio samples in the
same span, exactly as they are: the bytes are copied, never decoded. The result is a
plain MP4 with its moov first (`faststart`), which every player, phone and upload form
takes; its timeline starts at 0 at that keyframe (audio, starting a fraction of an AAC
frame later, is placed by an empty edit).

Why not PyAV's demux/mux: copying ~4,600 packets of a 60 s chapter through Python costs
~150–200 ms (FFmpeg also walks every fragment of the file when it opens it); reading
the few box headers involved and copying byte ranges costs a few milliseconds
(docs/performance.md, "Clips").
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

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


@dataclass(frozen=True)
class CutResult:
    """What a clip file holds (video times in the recording's pts, 1/90000 s at 90 kHz)."""

    start_pts: int
    "Program pts of the clip's first frame: the keyframe at or before the start asked."
    end_pts: int
    "Program pts just after its last frame."
    width: int
    height: int
    size: int
    "Bytes written."
    video_samples: int
    audio_samples: int

    @property
    def duration(self) -> float:
        """Seconds of video."""
        return (self.end_pts - self.start_pts) / 90000


# -- reading the recording -----------------------------------------------------------------------


def _u32(data: bytes, at: int) -> int:
    return int(struct.unpack_from(">I", data, at)[0])


def _u64(data: bytes, at: int) -> int:
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
    movie_timescale = _u32(moov, mvhd[0] + (20 if version == 1 else 12))
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
        track_id = _u32(moov, tkhd[0] + (20 if moov[tkhd[0]] == 1 else 12))
        timescale = _u32(moov, mdhd[0] + (20 if moov[mdhd[0]] == 1 else 12))
        handler = moov[hdlr[0] + 8 : hdlr[0] + 12].decode("latin-1")
        tracks[track_id] = Track(track_id, handler, timescale, moov[s:e])
    mvex = _child(moov, 0, len(moov), "mvex")
    if mvex is not None:
        for kind, s, _e in _boxes(moov, *mvex):
            if kind == "trex" and (track := tracks.get(_u32(moov, s + 4))) is not None:
                track.default_duration = _u32(moov, s + 12)
                track.default_size = _u32(moov, s + 16)
                track.default_flags = _u32(moov, s + 20)
    return movie_timescale, moov[mvhd[0] - 8 : mvhd[1]], tracks


@functools.lru_cache(maxsize=16)
def _init(path: Path, size: int, mtime_ns: int) -> Init:
    # size and mtime_ns are the cache key: a changed file is walked again.
    with path.open("rb") as f:
        moov, fragments = _walk(f)
    if not moov:
        raise ClipError("the recording has no header (moov)")
    movie_timescale, mvhd, tracks = _tracks(moov)
    return Init(movie_timescale, mvhd, tracks, fragments)


def _samples(moof: bytes, moof_offset: int, tracks: dict[int, Track]) -> dict[int, list[Sample]]:
    """Every sample of a moof (ISO 14496-12 8.8: tfhd, tfdt, trun), by track id."""
    out: dict[int, list[Sample]] = {}
    data_end = moof_offset  # a traf without a base continues where the previous one ended
    for kind, s, e in _boxes(moof):
        if kind != "traf":
            continue
        tfhd = _child(moof, s, e, "tfhd")
        if tfhd is None:
            continue
        flags = _u32(moof, tfhd[0]) & 0xFFFFFF
        track = tracks.get(_u32(moof, tfhd[0] + 4))
        if track is None:
            continue
        pos = tfhd[0] + 8
        base = moof_offset if flags & 0x20000 else data_end
        if flags & 0x1:
            base, pos = _u64(moof, pos), pos + 8
        if flags & 0x2:
            pos += 4
        duration, size, sample_flags = (
            track.default_duration,
            track.default_size,
            track.default_flags,
        )
        if flags & 0x8:
            duration, pos = _u32(moof, pos), pos + 4
        if flags & 0x10:
            size, pos = _u32(moof, pos), pos + 4
        if flags & 0x20:
            sample_flags = _u32(moof, pos)
        dts = 0
        tfdt = _child(moof, s, e, "tfdt")
        if tfdt is not None:
            dts = _u64(moof, tfdt[0] + 4) if moof[tfdt[0]] == 1 else _u32(moof, tfdt[0] + 4)
        samples = out.setdefault(track.track_id, [])
        offset = base
        for k, ts, _te in _boxes(moof, s, e):
            if k != "trun":
                continue
            tflags = _u32(moof, ts) & 0xFFFFFF
            count = _u32(moof, ts + 4)
            p = ts + 8
            if tflags & 0x1:
                offset = base + struct.unpack_from(">i", moof, p)[0]
                p += 4
            first_flags = None
            if tflags & 0x4:
                first_flags, p = _u32(moof, p), p + 4
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


def _read_moof(f: BinaryIO, fragment: FragmentAt) -> bytes:
    f.seek(fragment.offset + 8)
    return f.read(fragment.moof_size - 8)


def _video_start(f: BinaryIO, init: Init, index: int, video: Track) -> int:
    """Decode time of fragment `index`'s first video sample (cached in `init`)."""
    if index not in init.starts:
        moof = _read_moof(f, init.fragments[index])
        samples = _samples(moof, init.fragments[index].offset, init.tracks).get(video.track_id)
        init.starts[index] = samples[0].dts if samples else -1
    return init.starts[index]


def _keyframe_fragment(f: BinaryIO, init: Init, video: Track, index: int) -> int:
    """Fragment `index`, or the nearest before it that starts with a keyframe."""
    while index > 0:
        fragment = init.fragments[index]
        samples = _samples(_read_moof(f, fragment), fragment.offset, init.tracks)
        vs = samples.get(video.track_id, [])
        if vs and vs[0].sync:
            return index
        index -= 1
    return index


def _first_fragment(f: BinaryIO, init: Init, video: Track, start: int) -> int:
    """The last fragment whose video starts at or before `start` (binary search)."""
    low, high = 0, len(init.fragments) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if _video_start(f, init, middle, video) <= start:
            low = middle
        else:
            high = middle - 1
    return low


# -- writing the clip ----------------------------------------------------------------------------


def _box(kind: str, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind.encode("latin-1")) + body


def _full(kind: str, version: int, flags: int, *payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *payload)


def _runs(values: list[int]) -> list[tuple[int, int]]:
    """Run-length encoding: (count, value)."""
    out: list[tuple[int, int]] = []
    for v in values:
        if out and out[-1][1] == v:
            out[-1] = (out[-1][0] + 1, v)
        else:
            out.append((1, v))
    return out


def _set_duration(box: bytes, at_v0: int, at_v1: int, duration: int) -> bytes:
    """A copy of a full box payload-with-header with its duration field set."""
    out = bytearray(box)
    if out[8] == 1:
        struct.pack_into(">Q", out, 8 + at_v1, duration)
    else:
        struct.pack_into(">I", out, 8 + at_v0, min(duration, 0xFFFFFFFF))
    return bytes(out)


@dataclass
class _Chunk:
    """A run of one track's samples contiguous in the recording: one chunk of the clip."""

    track_id: int
    offset: int
    size: int
    samples: int


def _chunks(kept: list[tuple[int, Sample]]) -> list[_Chunk]:
    chunks: list[_Chunk] = []
    for track_id, sample in kept:
        last = chunks[-1] if chunks else None
        if last and last.track_id == track_id and last.offset + last.size == sample.offset:
            last.size += sample.size
            last.samples += 1
        else:
            chunks.append(_Chunk(track_id, sample.offset, sample.size, 1))
    return chunks


def _table(kind: str, entries: list[bytes], version: int = 0, head: bytes = b"") -> bytes:
    """A sample table: full box, optional fields, entry count, entries."""
    return _full(kind, version, 0, head, struct.pack(">I", len(entries)), *entries)


def _trak(
    track: Track,
    samples: list[Sample],
    chunk_offsets: list[int],
    per_chunk: list[int],
    movie_timescale: int,
    delay: int,
    wide: bool,
) -> bytes:
    """The clip's trak: the recording's, with its own sample tables, durations and edit
    (`wide`: 64-bit chunk offsets)."""
    t = track.trak
    media_duration = sum(s.duration for s in samples)
    movie_duration = round((media_duration + delay) * movie_timescale / track.timescale)
    tkhd = _child(t, 0, len(t), "tkhd")
    mdia = _child(t, 0, len(t), "mdia")
    minf = _child(t, *mdia, "minf") if mdia else None
    stbl = _child(t, *minf, "stbl") if minf else None
    stsd = _child(t, *stbl, "stsd") if stbl else None
    if tkhd is None or mdia is None or minf is None or stsd is None:
        raise ClipError(f"track {track.track_id} of the recording is incomplete")
    tables = [
        t[stsd[0] - 8 : stsd[1]],
        _table("stts", [struct.pack(">II", n, v) for n, v in _runs([s.duration for s in samples])]),
    ]
    if any(s.cts for s in samples):
        runs = _runs([s.cts for s in samples])
        tables.append(_table("ctts", [struct.pack(">Ii", n, v) for n, v in runs], version=1))
    if not all(s.sync for s in samples):
        tables.append(_table("stss", [_u32be(i + 1) for i, s in enumerate(samples) if s.sync]))
    stsc: list[tuple[int, int]] = []
    for index, count in enumerate(per_chunk, 1):
        if not stsc or stsc[-1][1] != count:
            stsc.append((index, count))
    tables.append(_table("stsc", [struct.pack(">III", first, n, 1) for first, n in stsc]))
    sizes = [_u32be(s.size) for s in samples]
    tables.append(_full("stsz", 0, 0, struct.pack(">II", 0, len(samples)), *sizes))
    if wide:
        tables.append(_table("co64", [struct.pack(">Q", o) for o in chunk_offsets]))
    else:
        tables.append(_table("stco", [_u32be(o) for o in chunk_offsets]))
    minf_children = [t[s - 8 : e] for k, s, e in _boxes(t, *minf) if k != "stbl"]
    mdia_children = []
    for k, s, e in _boxes(t, *mdia):
        if k == "mdhd":
            mdia_children.append(_set_duration(t[s - 8 : e], 16, 24, media_duration))
        elif k == "minf":
            mdia_children.append(_box("minf", *minf_children, _box("stbl", *tables)))
        else:
            mdia_children.append(t[s - 8 : e])
    children = [_set_duration(t[tkhd[0] - 8 : tkhd[1]], 20, 28, movie_duration)]
    if delay:
        # An empty edit first: this track starts `delay` after the video's first frame.
        empty = round(delay * movie_timescale / track.timescale)
        edits = [struct.pack(">IiI", empty, -1, 0x10000)]
        edits.append(struct.pack(">IiI", movie_duration - empty, 0, 0x10000))
        children.append(_box("edts", _table("elst", edits)))
    children.append(_box("mdia", *mdia_children))
    return _box("trak", *children)


def _u32be(value: int) -> bytes:
    return struct.pack(">I", value)


FTYP = _box("ftyp", b"isom", struct.pack(">I", 0x200), b"isom", b"iso2", b"avc1", b"mp41")


def extent(source: Path) -> tuple[int, int]:
    """(first, end) program pts of the recording's video: where a clip can be cut."""
    stat = source.stat()
    init = _init(source, stat.st_size, stat.st_mtime_ns)
    video = next((t for t in init.tracks.values() if t.handler == VIDEO), None)
    if video is None or not init.fragments:
        raise ClipError("the recording has no video")
    with source.open("rb") as f:
        first = _samples(_read_moof(f, init.fragments[0]), init.fragments[0].offset, init.tracks)
        last = _samples(_read_moof(f, init.fragments[-1]), init.fragments[-1].offset, init.tracks)
    head, tail = first.get(video.track_id), last.get(video.track_id)
    if not head or not tail:
        raise ClipError("the recording has no video")
    scale = 90000 / video.timescale
    return round(head[0].dts * scale), round((tail[-1].dts + tail[-1].duration) * scale)


def cut(source: Path, target: Path, start_pts: int, end_pts: int) -> CutResult:
    """Write the clip [start_pts, end_pts) of `source` to `target` (blocking: a thread).

    Starts at the keyframe at or before start_pts (the recording's first keyframe if the
    span starts before it) and ends before end_pts (or at the recording's end); written to
    a temporary file, then renamed: a reader never sees half a clip.
    """
    if end_pts <= start_pts:
        raise ClipError("a clip must end after it starts")
    try:
        stat = source.stat()
    except OSError as exc:
        raise ClipError(f"the recording cannot be read: {exc}") from None
    init = _init(source, stat.st_size, stat.st_mtime_ns)
    video = next((t for t in init.tracks.values() if t.handler == VIDEO), None)
    audio = next((t for t in init.tracks.values() if t.handler == AUDIO), None)
    if video is None or not init.fragments:
        raise ClipError("the recording has no video")
    start = start_pts * video.timescale // 90000
    end = math.ceil(end_pts * video.timescale / 90000)
    with source.open("rb") as f:
        first = _keyframe_fragment(f, init, video, _first_fragment(f, init, video, start))
        videos: list[Sample] = []
        audios: list[Sample] = []
        for fragment in init.fragments[first:]:
            samples = _samples(_read_moof(f, fragment), fragment.offset, init.tracks)
            vs = samples.get(video.track_id, [])
            if vs and vs[0].dts + vs[0].cts >= end and videos:
                break
            videos += vs
            audios += samples.get(audio.track_id, []) if audio is not None else []
        syncs = [i for i, s in enumerate(videos) if s.sync]
        if not syncs:
            raise ClipError("the recording has no keyframe in that span")
        at_or_before = [i for i in syncs if videos[i].dts + videos[i].cts <= start]
        begin = at_or_before[-1] if at_or_before else syncs[0]
        first_video = videos[begin]
        kf = first_video.dts + first_video.cts
        kept_video = [s for s in videos[begin:] if s.dts + s.cts < max(end, kf + 1)]
        kept_audio: list[Sample] = []
        if audio is not None:
            audio_from = math.ceil(kf * audio.timescale / video.timescale)
            audio_to = math.ceil(end * audio.timescale / video.timescale)
            kept_audio = [s for s in audios if audio_from <= s.dts < audio_to]
        order = [(video.track_id, s) for s in kept_video]
        order += [(audio.track_id, s) for s in kept_audio] if audio is not None else []
        order.sort(key=lambda item: item[1].offset)
        chunks = _chunks(order)
        tracks = [(video, kept_video, 0)]
        if audio is not None and kept_audio:
            delay = kept_audio[0].dts - audio_from
            tracks.append((audio, kept_audio, max(0, delay)))
        data = sum(c.size for c in chunks)
        wide = data + (1 << 24) > 0xFFFFFFFF  # the moov of even hours of clip is far smaller
        moov = _moov(init, tracks, chunks, wide)
        header = 16 if len(FTYP) + len(moov) + 8 + data > 0xFFFFFFFF else 8
        moov = _shift_chunks(moov, len(FTYP) + len(moov) + header)
        tmp = target.with_name(target.name + ".tmp")
        try:
            with tmp.open("wb", buffering=0) as out:
                out.write(FTYP + moov)
                if header == 16:
                    out.write(struct.pack(">I4sQ", 1, b"mdat", 16 + data))
                else:
                    out.write(struct.pack(">I4s", 8 + data, b"mdat"))
                _copy(f, out, chunks)
            tmp.replace(target)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
    width, height = _tkhd_size(video.trak)
    last = kept_video[-1]
    scale = 90000 / video.timescale
    return CutResult(
        start_pts=round(kf * scale),
        end_pts=round((last.dts + last.cts + last.duration) * scale),
        width=width,
        height=height,
        size=len(FTYP) + len(moov) + header + data,
        video_samples=len(kept_video),
        audio_samples=len(kept_audio),
    )


def _moov(
    init: Init, tracks: list[tuple[Track, list[Sample], int]], chunks: list[_Chunk], wide: bool
) -> bytes:
    """The clip's moov, its chunk offsets counted from the mdat's first byte."""
    traks = []
    longest = 0
    for track, samples, delay in tracks:
        offsets, per_chunk = [], []
        position = 0
        for chunk in chunks:
            if chunk.track_id == track.track_id:
                offsets.append(position)
                per_chunk.append(chunk.samples)
            position += chunk.size
        duration = sum(s.duration for s in samples) + delay
        longest = max(longest, round(duration * init.movie_timescale / track.timescale))
        traks.append(_trak(track, samples, offsets, per_chunk, init.movie_timescale, delay, wide))
    mvhd = _set_duration(init.mvhd, 16, 24, longest)
    return _box("moov", mvhd, *traks)


def _shift_chunks(moov: bytes, by: int) -> bytes:
    """The moov with every chunk offset (stco, co64) moved `by` bytes: the tables were
    built from offset 0, before the moov's own size was known."""
    out = bytearray(moov)
    todo = [(0, len(moov))]
    while todo:
        start, end = todo.pop()
        for kind, s, e in _boxes(moov, start, end):
            if kind in ("moov", "trak", "mdia", "minf", "stbl"):
                todo.append((s, e))
            elif kind in ("stco", "co64"):
                dtype = ">u4" if kind == "stco" else ">u8"
                count = _u32(moov, s + 4)
                entries = np.frombuffer(moov, dtype, count, s + 8).astype(np.uint64) + by
                if kind == "stco" and count and int(entries.max()) > 0xFFFFFFFF:
                    raise ClipError("the clip is too large for 32-bit chunk offsets")
                out[s + 8 : e] = entries.astype(dtype).tobytes()
    return bytes(out)


def _copy(source: BinaryIO, out: BinaryIO, chunks: list[_Chunk]) -> None:
    """The chunks' bytes, in order: in the kernel (copy_file_range) where it can."""
    src, dst = source.fileno(), out.fileno()
    in_kernel = True
    for offset, size in _merged(chunks):
        while size:
            n = 0
            if in_kernel:
                try:
                    n = os.copy_file_range(src, dst, size, offset)
                except OSError:
                    in_kernel = False  # not on this file system: through user space
            if n <= 0:
                source.seek(offset)
                data = source.read(min(size, 1 << 22))
                if not data:
                    raise ClipError("the recording ended early")
                out.write(data)
                n = len(data)
            offset += n
            size -= n


def _merged(chunks: list[_Chunk]) -> Iterator[tuple[int, int]]:
    """(offset, size) of runs of chunks that are contiguous in the recording."""
    run: list[int] | None = None
    for c in chunks:
        if run is not None and run[0] + run[1] == c.offset:
            run[1] += c.size
        else:
            if run is not None:
                yield run[0], run[1]
            run = [c.offset, c.size]
    if run is not None:
        yield run[0], run[1]


def _tkhd_size(trak: bytes) -> tuple[int, int]:
    tkhd = _child(trak, 0, len(trak), "tkhd")
    if tkhd is None:
        return 0, 0
    at = tkhd[1] - 8
    return _u32(trak, at) >> 16, _u32(trak, at + 4) >> 16
