"""The RTMP muxer process: packets on stdin → FLV → an RTMP server (restream.py runs it).

It is a process, not a thread, because PyAV holds the GIL while FFmpeg opens an output
(`start_encoding`: connect, RTMP handshake, publish): a server that accepts the TCP
connection and then says nothing would freeze every thread of the studio, the show
included. Here it freezes only this process, which the studio kills.

Protocol. stdin: one JSON line `{"url": ..., "asc": <AAC AudioSpecificConfig, hex>}`
(never on the command line, where `ps` shows it to every user), then packets, each a
`FRAME` header and its bytes, starting with a video keyframe. stdout: `publishing` once
the server accepted the stream, `error <reason>` if it failed; FFmpeg's own error lines
too. Exit status 0 when stdin ends (the show ended; the stream is unpublished cleanly).
"""

from __future__ import annotations

import json
import struct
import sys
from fractions import Fraction
from typing import IO, TextIO

import av

FRAME = struct.Struct("!cBqIII")
"kind (b'v' or b'a'), keyframe flag, pts, time base numerator and denominator, size."


def write_packet(out: IO[bytes], kind: str, packet: av.Packet) -> None:
    """Send one packet to the muxer process."""
    base = packet.time_base or Fraction(1, 90000)
    data = bytes(packet)
    out.write(
        FRAME.pack(
            kind[0].encode(),
            1 if packet.is_keyframe else 0,
            packet.pts or 0,
            base.numerator,
            base.denominator,
            len(data),
        )
    )
    out.write(data)


def read_packet(source: IO[bytes]) -> tuple[str, av.Packet] | None:
    """The next packet from stdin, or None at its end."""
    header = source.read(FRAME.size)
    if len(header) < FRAME.size:
        return None
    kind, key, pts, num, den, size = FRAME.unpack(header)
    data = source.read(size)
    if len(data) < size:
        return None
    packet = av.Packet(data)
    packet.pts = packet.dts = pts
    packet.time_base = Fraction(num, den)
    packet.is_keyframe = bool(key)
    return ("video" if kind == b"v" else "audio"), packet


def _parameter_sets(annexb: bytes) -> bytes:
    """SPS and PPS NAL units (start codes included) of an Annex-B keyframe."""
    out = bytearray()
    for nal in annexb.replace(b"\x00\x00\x00\x01", b"\x00\x00\x01").split(b"\x00\x00\x01"):
        if nal and nal[0] & 0x1F in (7, 8):
            out += b"\x00\x00\x00\x01" + nal.rstrip(b"\x00")
    return bytes(out)


def _size(annexb: bytes) -> tuple[int, int]:
    decoder = av.CodecContext.create("h264", "r")
    frames = list(decoder.decode(av.Packet(annexb)))
    frames += decoder.decode(None)
    if not frames:
        raise ValueError("the first keyframe could not be decoded")
    return frames[0].width, frames[0].height


def _open(
    url: str, asc: bytes, keyframe: av.Packet
) -> tuple[av.container.OutputContainer, av.VideoStream, av.AudioStream]:
    # no_duration_filesize: a live stream cannot seek back to patch the header.
    out = av.open(url, "w", format="flv", options={"flvflags": "no_duration_filesize"})
    video = out.add_stream("h264")
    video.width, video.height = _size(bytes(keyframe))
    video.time_base = Fraction(1, 90000)
    # Annex-B extradata: FFmpeg's FLV muxer writes the avcC sequence header from it and
    # turns each Annex-B packet into length-prefixed NAL units (checked with ffprobe).
    video.codec_context.extradata = _parameter_sets(bytes(keyframe))
    audio = out.add_stream("aac", rate=48000)
    audio.layout = "stereo"
    audio.time_base = Fraction(1, 48000)
    audio.codec_context.extradata = asc
    out.start_encoding()  # connect, handshake, publish: the part that holds the GIL
    return out, video, audio


def run(source: IO[bytes], status: TextIO) -> int:
    """Mux what arrives on `source` until it ends; returns the exit status."""
    config = json.loads(source.readline())
    url, asc = config["url"], bytes.fromhex(config["asc"])
    out = None
    origin = 0.0
    try:
        while (item := read_packet(source)) is not None:
            kind, packet = item
            if out is None:
                if kind != "video" or not packet.is_keyframe:
                    continue
                out, video, audio = _open(url, asc, packet)
                origin = float((packet.pts or 0) * packet.time_base)
                print("publishing", file=status, flush=True)
            # The platform's clock starts at 0 on this connection, not at minute N.
            pts = (packet.pts or 0) - round(origin / packet.time_base)
            packet.pts = packet.dts = max(0, pts)
            packet.stream = video if kind == "video" else audio
            out.mux(packet)
    except Exception as exc:  # the network, FFmpeg: this connection is over
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        # FFmpeg names the URL in its errors, and the URL carries the key: never print it.
        print(f"error {reason.replace(url, 'the server')}", file=status, flush=True)
        return 1
    finally:
        if out is not None:
            try:
                out.close()  # FCUnpublish/deleteStream: the platform ends the stream now
            except Exception:
                pass
    return 0


if __name__ == "__main__":
    av.logging.set_level(av.logging.ERROR)  # FFmpeg's reasons, on stderr (the parent reads)
    sys.exit(run(sys.stdin.buffer, sys.stdout))
