"""Trickle ICE for WHIP/WHEP sessions (RFC 9725 section 4.3, RFC 8840 SDP fragments).

A client that POSTs its offer before it has gathered sends its candidates afterwards in
PATCH requests whose body is an `application/trickle-ice-sdpfrag`: `a=ice-ufrag` and
`a=ice-pwd` lines, then `m=`/`a=mid` lines with `a=candidate` lines, maybe
`a=end-of-candidates`. They are handed to aiortc (`RTCPeerConnection.addIceCandidate`).

An ICE restart (new ufrag/pwd) cannot be done: aiortc starts each ICE transport once,
with the credentials of the first offer and answer, and has no way to restart it. Such a
PATCH gets 422, as RFC 9725 asks of a session that trickles but does not restart; the
session goes on with its current ICE session, and a client that really lost its path
publishes again (a new POST replaces a publisher that went silent).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from aiortc import RTCPeerConnection
from aiortc.sdp import candidate_from_sdp

log = logging.getLogger(__name__)

MAX_FRAGMENT_BYTES = 16 * 1024
"A fragment carries a few candidates; anything much larger is not one."


class FragmentError(ValueError):
    """A body that is not a usable SDP fragment (400)."""


class IceRestartUnsupported(Exception):
    """The fragment asks for an ICE restart, which aiortc cannot do (422)."""


@dataclass
class SdpFragment:
    """What a trickle PATCH carries."""

    ufrag: str = ""
    pwd: str = ""
    candidates: list[tuple[str | None, int, str]] = field(default_factory=list)
    "(mid, m-line index, candidate attribute value without 'candidate:'), in order."
    end_of_candidates: bool = False


def parse_fragment(text: str) -> SdpFragment:
    """Parse an `application/trickle-ice-sdpfrag` body (RFC 8840)."""
    if len(text.encode()) > MAX_FRAGMENT_BYTES:
        raise FragmentError("the SDP fragment is too large")
    fragment = SdpFragment()
    mid: str | None = None
    index = -1
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            continue
        if len(line) < 2 or line[1] != "=":
            raise FragmentError(f"not an SDP line: {line[:60]!r}")
        if line.startswith("m="):
            index += 1
            mid = None
        elif line.startswith("a=mid:"):
            mid = line[6:].strip()
        elif line.startswith("a=ice-ufrag:"):
            fragment.ufrag = line[12:].strip()
        elif line.startswith("a=ice-pwd:"):
            fragment.pwd = line[10:].strip()
        elif line.startswith("a=candidate:"):
            value = line[12:].strip()
            if len(value.split()) < 8:
                raise FragmentError(f"malformed candidate: {line[:80]!r}")
            fragment.candidates.append((mid, max(index, 0), value))
        elif line == "a=end-of-candidates":
            fragment.end_of_candidates = True
    return fragment


def remote_ice_credentials(pc: RTCPeerConnection) -> tuple[str, str]:
    """The ufrag and pwd of the peer's current ICE session (from its offer)."""
    description = pc.remoteDescription
    ufrag = pwd = ""
    if description is not None:
        for line in description.sdp.splitlines():
            if line.startswith("a=ice-ufrag:") and not ufrag:
                ufrag = line[12:].strip()
            elif line.startswith("a=ice-pwd:") and not pwd:
                pwd = line[10:].strip()
    return ufrag, pwd


async def add_candidates(pc: RTCPeerConnection, fragment: SdpFragment) -> int:
    """Hand the fragment's candidates to `pc`; returns how many were taken.

    Raises IceRestartUnsupported if the fragment names other ICE credentials than the
    session's. Candidates aiortc cannot use (TCP, unresolvable names) are skipped, as
    RFC 9725 asks.
    """
    ufrag, pwd = remote_ice_credentials(pc)
    if (fragment.ufrag and fragment.ufrag != ufrag) or (fragment.pwd and fragment.pwd != pwd):
        raise IceRestartUnsupported
    # With BUNDLE every m-line shares the first one's transport: aiortc ignores a
    # candidate addressed to a bundled m-line, so such candidates go to the bundle's.
    own_mids = {t.mid: t for t in pc.getTransceivers() if t.mid is not None and not t._bundled}
    bundle_mid = next(iter(own_mids), None)
    taken = 0
    for mid, index, value in fragment.candidates:
        try:
            candidate = candidate_from_sdp(value)
        except (AssertionError, ValueError, IndexError):
            continue
        if candidate.protocol.lower() != "udp":
            continue  # aioice has no ICE-TCP
        if mid in own_mids:
            candidate.sdpMid = mid
        elif mid is None and bundle_mid is None:
            candidate.sdpMLineIndex = index
        else:
            candidate.sdpMid = bundle_mid
        try:
            await pc.addIceCandidate(candidate)
        except Exception as exc:  # an address aioice cannot parse, a closed transport
            log.debug("trickled candidate %r skipped: %s", value, exc)
            continue
        taken += 1
    if fragment.end_of_candidates:
        try:
            await pc.addIceCandidate(None)
        except Exception as exc:  # a transceiver without transport (a rejected m-line)
            log.debug("end-of-candidates not applied: %s", exc)
    return taken
