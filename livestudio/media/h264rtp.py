"""H.264 Annex-B access units → RTP payloads (RFC 6184, packetization-mode 1), once per
program packet and shared by every viewer (media/rtpsend.py).

Small NAL units in a row (SPS, PPS, SEI) go out together in a STAP-A, a NAL unit that
fits alone as it is, a larger one in FU-A fragments. Unlike aiortc's packetizer (which
spreads the remainder over the first fragments, ±1 byte), every fragment of a NAL unit
but its last has the same size: the SRTP datagrams of a frame then have equal sizes, so a
viewer's frame can leave in one `sendmsg` with UDP segmentation offload (rtpsend.py).
"""

from __future__ import annotations

import struct

PAYLOAD_MAX = 1300
"Largest payload, as aiortc's: with the RTP header, extensions and SRTP tag ~1340 bytes."

NAL_TYPE_STAP_A = 24
NAL_TYPE_FU_A = 28
_LENGTH = struct.Struct("!H")


def split_annexb(data: bytes) -> list[bytes]:
    """The NAL units of an Annex-B buffer (3- or 4-byte start codes), without them."""
    units: list[bytes] = []
    start = data.find(b"\x00\x00\x01")
    while start != -1:
        start += 3
        end = data.find(b"\x00\x00\x01", start)
        if end == -1:
            unit = data[start:]
        else:
            # A 4-byte start code leaves its first zero at the end of this unit.
            unit = data[start : end - 1] if data[end - 1] == 0 else data[start:end]
        if unit:
            units.append(unit)
        start = end
    return units


def packetize(data: bytes, payload_max: int = PAYLOAD_MAX) -> list[bytes]:
    """RTP payloads of one Annex-B access unit, in order; the last one takes the marker."""
    payloads: list[bytes] = []
    aggregate: list[bytes] = []
    aggregate_size = 1  # the STAP-A NAL header
    for unit in split_annexb(data):
        if len(unit) > payload_max:
            _flush(aggregate, payloads)
            aggregate, aggregate_size = [], 1
            payloads.extend(fragment(unit, payload_max))
            continue
        if aggregate and aggregate_size + 2 + len(unit) > payload_max:
            _flush(aggregate, payloads)
            aggregate, aggregate_size = [], 1
        aggregate.append(unit)
        aggregate_size += 2 + len(unit)
    _flush(aggregate, payloads)
    return payloads


def fragment(unit: bytes, payload_max: int = PAYLOAD_MAX) -> list[bytes]:
    """FU-A fragments of one NAL unit: all of one size but the last (≤ that size)."""
    room = payload_max - 2
    body = len(unit) - 1
    count = -(-body // room)
    size = -(-body // count)  # the smallest equal size that takes `count` fragments
    indicator = (unit[0] & 0xE0) | NAL_TYPE_FU_A
    nal_type = unit[0] & 0x1F
    middle = bytes([indicator, nal_type])
    fragments = []
    for offset in range(1, len(unit), size):
        header = middle
        if offset == 1:
            header = bytes([indicator, nal_type | 0x80])
        if offset + size >= len(unit):
            header = bytes([indicator, header[1] | 0x40])
        fragments.append(header + unit[offset : offset + size])
    return fragments


def _flush(aggregate: list[bytes], payloads: list[bytes]) -> None:
    if len(aggregate) == 1:
        payloads.append(aggregate[0])
    elif aggregate:
        # F is the OR of the units' F bits, NRI their highest (RFC 6184 5.7.1).
        f_nri = 0
        for unit in aggregate:
            f_nri = (f_nri | (unit[0] & 0x80)) & 0x80 | max(f_nri & 0x60, unit[0] & 0x60)
        parts = [bytes([f_nri | NAL_TYPE_STAP_A])]
        for unit in aggregate:
            parts.append(_LENGTH.pack(len(unit)))
            parts.append(unit)
        payloads.append(b"".join(parts))
