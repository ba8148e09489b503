"""Fragmented MP4 for live HLS: an init segment, then moof+mdat fragments cut exactly where
the packager says.

The init segment (ftyp+moov, H.264 and AAC sample entries) comes from FFmpeg's own mp4
muxer, given the SPS/PPS and the AudioSpecificConfig before any packet (the empty_moov
trap of DESIGN 9). The fragments are written here, from the program's packets as they
are: FFmpeg's muxer rebases every track to start at 0, writes a fragment only once a
later packet of *each* stream has arrived (its interleaving queue), and decides the cut
itself; an LL-HLS part must end on a chosen frame, be written the moment that frame's
successor exists, and its `tfdt` is more useful as the program pts itself (a player or a
tool maps media time to the program clock with no side channel). A moof is ~40 lines of
struct packing.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import av

from .clock import AUDIO_TIME_BASE, VIDEO_TIME_BASE
from .mp4boxes import box, child, full_box, tracks

SYNC_SAMPLE = 0x02000000
"sample_depends_on = 2: decodable alone (a keyframe, every AAC frame)."
NON_SYNC_SAMPLE = 0x01010000
"sample_depends_on = 1 and sample_is_non_sync_sample."
DEFAULT_BASE_IS_MOOF = 0x020000


@dataclass
class Sample:
    """One access unit of a track, ready for a trun."""

    data: bytes
    "Video: length-prefixed NAL units (AVCC); audio: one raw AAC frame."
    dts: int
    "In the track's timescale (the program's: 1/90000 video, 1/48000 audio)."
    duration: int = 0
    cts_offset: int = 0
    sync: bool = True


@dataclass(frozen=True)
class InitSegment:
    """The init segment and the track ids its moov gave each kind."""

    data: bytes
    video_track: int
    audio_track: int


class _Sink:
    """A write-only file for FFmpeg's muxer that keeps the bytes."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> int:
        self.data += data
        return len(data)

    def flush(self) -> None:
        """Nothing to flush: the bytes are in memory."""


def init_segment(parameter_sets: bytes, width: int, height: int, aac_config: bytes) -> InitSegment:
    """ftyp+moov for one H.264 track (SPS/PPS Annex-B) and one AAC-LC 48 kHz stereo track."""
    sink = _Sink()
    out = av.open(sink, "w", format="mp4", options={"movflags": "empty_moov+default_base_moof"})
    try:
        video = out.add_stream("h264")
        video.width, video.height = width, height
        video.time_base = VIDEO_TIME_BASE
        video.codec_context.extradata = parameter_sets
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "stereo"
        audio.time_base = AUDIO_TIME_BASE
        audio.codec_context.extradata = aac_config or b"\x11\x90"  # AAC-LC, 48 kHz, stereo
        out.start_encoding()
        data = bytes(sink.data)
    finally:
        out.close()
    ids = track_ids(data)
    return InitSegment(data, ids.get("vide", 1), ids.get("soun", 2))


def track_ids(init: bytes) -> dict[str, int]:
    """Handler type ('vide', 'soun') → track id, from an init segment's moov."""
    moov = child(init, 0, len(init), "moov")
    return {t.handler: t.track_id for t in tracks(init, *moov)} if moov else {}


def avcc(annexb: bytes) -> bytes:
    """Annex-B NAL units (start codes) → length-prefixed ones, as MP4 samples carry them."""
    out = bytearray()
    start = annexb.find(b"\x00\x00\x01")
    while start >= 0:
        begin = start + 3
        nxt = annexb.find(b"\x00\x00\x01", begin)
        end = len(annexb) if nxt < 0 else nxt
        nal = annexb[begin:end].rstrip(b"\x00")  # a 4-byte start code's leading zero
        if nal:
            out += struct.pack(">I", len(nal)) + nal
        start = nxt
    return bytes(out)


def _traf(track_id: int, samples: list[Sample], data_offset: int) -> bytes:
    with_cts = any(s.cts_offset for s in samples)
    # data offset, then per sample: duration, size, flags (and composition offset)
    flags = 0x1 | 0x100 | 0x200 | 0x400 | (0x800 if with_cts else 0)
    rows = []
    for s in samples:
        sample_flags = SYNC_SAMPLE if s.sync else NON_SYNC_SAMPLE
        row = struct.pack(">III", s.duration, len(s.data), sample_flags)
        rows.append(row + struct.pack(">i", s.cts_offset) if with_cts else row)
    return box(
        b"traf",
        full_box(b"tfhd", 0, DEFAULT_BASE_IS_MOOF, struct.pack(">I", track_id)),
        full_box(b"tfdt", 1, 0, struct.pack(">Q", samples[0].dts)),
        full_box(
            b"trun",
            1 if with_cts else 0,
            flags,
            struct.pack(">Ii", len(samples), data_offset),
            *rows,
        ),
    )


def fragment(sequence: int, tracks: list[tuple[int, list[Sample]]]) -> bytes:
    """One moof+mdat holding each (track id, samples) given; empty tracks are left out."""
    present = [(track, samples) for track, samples in tracks if samples]
    if not present:
        raise ValueError("a fragment needs at least one sample")

    def moof(offsets: list[int]) -> bytes:
        trafs = [_traf(t, s, o) for (t, s), o in zip(present, offsets, strict=True)]
        return box(b"moof", full_box(b"mfhd", 0, 0, struct.pack(">I", sequence)), *trafs)

    # Offsets are from the moof's first byte (default-base-is-moof); their width is fixed,
    # so the moof built with zeros has its final size.
    size = len(moof([0] * len(present)))
    offsets = []
    position = size + 8  # the mdat header
    for _, samples in present:
        offsets.append(position)
        position += sum(len(s.data) for s in samples)
    mdat = box(b"mdat", *(s.data for _, samples in present for s in samples))
    return moof(offsets) + mdat


__all__ = ["InitSegment", "Sample", "avcc", "fragment", "init_segment", "track_ids"]
