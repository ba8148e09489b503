"""A clip of a recording without re-encoding: its samples copied into a progressive MP4.

The recording is a fragmented MP4 (media/record.py): ftyp+moov, then moof+mdat pairs,
each keyframe opening a fragment. A clip of [start, end) (program pts) takes the video
samples from the keyframe at or before `start` up to `end`, and the audio samples in the
same span, exactly as they are: the bytes are copied, never decoded. The result is a
plain MP4 with its moov first (`faststart`), which every player, phone and upload form
takes; its timeline starts at 0 at that keyframe (audio, starting a fraction of an AAC
frame later, is placed by an empty edit).

Why not PyAV's demux/mux: copying ~4,700 packets of a 60 s chapter through Python costs
~80–165 ms (and FFmpeg walks every fragment of the file when it opens it); reading the
span's box headers (media/mp4samples.py) and copying byte ranges costs ~20 ms, about
half of it the copy of the chapter's 17 MB (docs/performance.md, "Clips").
"""

from __future__ import annotations

import contextlib
import math
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .mp4index import _boxes, _child
from .mp4samples import (
    AUDIO,
    VIDEO,
    ClipError,
    Init,
    Sample,
    Track,
    first_fragment,
    fragment_samples,
    keyframe_fragment,
    layout,
    read_moof,
    u32,
)

__all__ = ["ClipError", "CutResult", "cut", "extent"]


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
    init = layout(source, stat.st_size, stat.st_mtime_ns)
    video = next((t for t in init.tracks.values() if t.handler == VIDEO), None)
    if video is None or not init.fragments:
        raise ClipError("the recording has no video")
    with source.open("rb") as f:
        first = fragment_samples(
            read_moof(f, init.fragments[0]), init.fragments[0].offset, init.tracks
        )
        last = fragment_samples(
            read_moof(f, init.fragments[-1]), init.fragments[-1].offset, init.tracks
        )
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
    init = layout(source, stat.st_size, stat.st_mtime_ns)
    video = next((t for t in init.tracks.values() if t.handler == VIDEO), None)
    audio = next((t for t in init.tracks.values() if t.handler == AUDIO), None)
    if video is None or not init.fragments:
        raise ClipError("the recording has no video")
    start = start_pts * video.timescale // 90000
    end = math.ceil(end_pts * video.timescale / 90000)
    with source.open("rb") as f:
        first = keyframe_fragment(f, init, video, first_fragment(f, init, video, start))
        videos: list[Sample] = []
        audios: list[Sample] = []
        for fragment in init.fragments[first:]:
            samples = fragment_samples(read_moof(f, fragment), fragment.offset, init.tracks)
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
                count = u32(moov, s + 4)
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
    return u32(trak, at) >> 16, u32(trak, at + 4) >> 16
