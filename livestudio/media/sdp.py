"""Checking offers before aiortc sees them, so a bad one gets a clear 4xx instead of a 500."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from aiortc.exceptions import OperationError

MAX_SDP_BYTES = 64 * 1024
"Real offers are 2-10 kB; anything much larger is not an offer."


class OfferError(ValueError):
    """An offer we cannot read: malformed or inconsistent SDP."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OfferTooLarge(OfferError):
    """An offer far larger than any real one."""


class OfferUnsupported(OfferError):
    """A well-formed offer we will not answer (no codec or direction we can serve)."""


@dataclass
class MediaSection:
    """One m= line of an offer: its kind, direction and codec names (upper case)."""

    kind: str
    direction: str = "sendrecv"
    codecs: list[str] = field(default_factory=list)
    h264_packetization_modes: set[str] = field(default_factory=set)


@contextlib.contextmanager
def answering() -> Iterator[None]:
    """Around aiortc's negotiation: whatever it raises on an offer is the offer's fault.

    parse_offer catches the common mistakes with a clear message, but aiortc parses far
    more than it checks: a fuzzed offer (a bad c= line, an rtpmap without a clock rate, a
    BUNDLE group naming no section...) fails inside it with AssertionError, IndexError,
    AttributeError or RuntimeError, which would otherwise be a 500.
    """
    try:
        yield
    except (OfferError, TimeoutError):
        raise
    except OperationError as exc:  # e.g. no codec in common
        raise OfferUnsupported(f"the offer cannot be answered: {exc}") from exc
    except Exception as exc:
        detail = str(exc) or type(exc).__name__
        raise OfferError(f"the SDP offer is malformed or inconsistent ({detail})") from exc


_RTPMAP = re.compile(r"^a=rtpmap:(\d+) ([^/\s]+)/", re.IGNORECASE)
_FMTP = re.compile(r"^a=fmtp:(\d+) (.*)$", re.IGNORECASE)
_DIRECTIONS = {"sendrecv", "sendonly", "recvonly", "inactive"}


def parse_offer(text: str) -> list[MediaSection]:
    """Parse just enough of an SDP offer to decide whether we can answer it."""
    if len(text.encode()) > MAX_SDP_BYTES:
        raise OfferTooLarge("the SDP offer is too large")
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    if not lines or not lines[0].startswith("v=0"):
        raise OfferError("the body is not an SDP offer (it must start with v=0)")
    if not any(line.startswith("a=fingerprint:") for line in lines):
        raise OfferError("the SDP offer has no DTLS fingerprint (a=fingerprint)")
    sections: list[MediaSection] = []
    payload_names: dict[str, str] = {}
    for line in lines:
        if line.startswith("m="):
            parts = line[2:].split()
            if len(parts) < 3:
                raise OfferError(f"malformed media line: {line[:80]!r}")
            sections.append(MediaSection(kind=parts[0].lower()))
            payload_names = {}
        elif sections:
            current = sections[-1]
            if line[2:] in _DIRECTIONS and line.startswith("a="):
                current.direction = line[2:]
            elif m := _RTPMAP.match(line):
                name = m.group(2).upper()
                payload_names[m.group(1)] = name
                current.codecs.append(name)
            elif (m := _FMTP.match(line)) and payload_names.get(m.group(1)) == "H264":
                mode = re.search(r"packetization-mode=(\d)", m.group(2))
                current.h264_packetization_modes.add(mode.group(1) if mode else "0")
    if not sections:
        raise OfferError("the SDP offer has no media sections")
    return sections


def check_publish_offer(text: str) -> list[MediaSection]:
    """A WHIP offer: must send video in VP8 or H.264 (what aiortc decodes)."""
    sections = parse_offer(text)
    video = [s for s in sections if s.kind == "video" and s.direction in ("sendonly", "sendrecv")]
    if not video:
        raise OfferUnsupported("the offer sends no video: publish a camera track (sendonly)")
    codecs = set(video[0].codecs)
    if not codecs & {"VP8", "H264"}:
        offered = ", ".join(sorted(codecs - {"RTX", "RED", "ULPFEC"})) or "none"
        raise OfferUnsupported(
            f"this server ingests VP8 or H.264 video; the offer has only {offered}"
        )
    return sections


def check_play_offer(text: str) -> list[MediaSection]:
    """A WHEP offer: must receive video in H.264 with packetization-mode 1."""
    sections = parse_offer(text)
    video = [s for s in sections if s.kind == "video" and s.direction in ("recvonly", "sendrecv")]
    if not video:
        raise OfferUnsupported("the offer receives no video: add a recvonly video transceiver")
    if "H264" not in video[0].codecs or "1" not in video[0].h264_packetization_modes:
        raise OfferUnsupported(
            "this browser does not offer H.264 (packetization-mode 1), which the stream "
            "uses; try another browser or enable H.264 (OpenH264) in this one"
        )
    return sections
