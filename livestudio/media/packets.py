"""Small facts about encoded packets shared by every consumer of the program."""

from __future__ import annotations

import av


def seconds(packet: av.Packet) -> float:
    """The packet's pts in seconds (0 without a pts or time base)."""
    if packet.pts is None or packet.time_base is None:
        return 0.0
    return float(packet.pts * packet.time_base)


def copy_packet(packet: av.Packet, pts: int | None = None) -> av.Packet:
    """A copy of `packet` (restamped to `pts` if given) that a consumer may change.

    Every subscriber holds the same packet objects, and muxing or restamping one changes
    it in place (its stream, its timestamps), so whoever needs to alter one alters a copy.
    """
    copy = av.Packet(bytes(packet))
    copy.pts = packet.pts if pts is None else pts
    copy.dts = (packet.dts if packet.dts is not None else packet.pts) if pts is None else pts
    copy.time_base = packet.time_base
    copy.is_keyframe = packet.is_keyframe
    return copy
