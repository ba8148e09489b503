"""ISO BMFF boxes: walking them and writing them, for the readers and writers of MP4 here
(the recording's index, live HLS fragments, clips).

Only what those need: box headers (32- and 64-bit sizes), a track's id, handler and
timescale from its `trak`, and the two header forms a writer emits.
"""

from __future__ import annotations

import struct
from typing import NamedTuple


def u32(data: bytes, at: int) -> int:
    return int(struct.unpack_from(">I", data, at)[0])


def u64(data: bytes, at: int) -> int:
    return int(struct.unpack_from(">Q", data, at)[0])


def boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[str, int, int]]:
    """(type, payload offset, payload end) of the boxes in data[start:end]; a truncated last
    box (a recording cut by a crash) ends the list."""
    end = len(data) if end is None else end
    out = []
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            if pos + 16 > end:
                break
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            break
        out.append((kind.decode("latin-1"), pos + header, pos + size))
        pos += size
    return out


def child(data: bytes, start: int, end: int, kind: str) -> tuple[int, int] | None:
    """(payload offset, payload end) of the first `kind` box in data[start:end]."""
    for k, s, e in boxes(data, start, end):
        if k == kind:
            return s, e
    return None


class TrackBox(NamedTuple):
    """A `trak` of a moov: what identifies it, and where it is."""

    track_id: int
    handler: str
    "'vide', 'soun', …"
    timescale: int
    "Units per second of the track's media times (mdhd)."
    start: int
    "Payload offset of the trak box."
    end: int


def _version_offset(data: bytes, at: int) -> int:
    """Where a tkhd/mdhd's id or timescale is: after 64-bit times in version 1, 32-bit in 0."""
    return at + (20 if data[at] == 1 else 12)


def tracks(moov: bytes, start: int = 0, end: int | None = None) -> list[TrackBox]:
    """The complete tracks of the moov payload in moov[start:end], in order."""
    out = []
    for kind, s, e in boxes(moov, start, end):
        if kind != "trak":
            continue
        tkhd = child(moov, s, e, "tkhd")
        mdia = child(moov, s, e, "mdia")
        if tkhd is None or mdia is None:
            continue
        hdlr = child(moov, mdia[0], mdia[1], "hdlr")
        mdhd = child(moov, mdia[0], mdia[1], "mdhd")
        if hdlr is None or mdhd is None:
            continue
        track_id = u32(moov, _version_offset(moov, tkhd[0]))
        timescale = u32(moov, _version_offset(moov, mdhd[0]))
        handler = moov[hdlr[0] + 8 : hdlr[0] + 12].decode("latin-1")
        out.append(TrackBox(track_id, handler, timescale, s, e))
    return out


def box(kind: bytes, *payload: bytes) -> bytes:
    """A box with a 32-bit size."""
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    """A full box: version and flags before the payload."""
    return box(kind, struct.pack(">I", (version << 24) | flags), *payload)
