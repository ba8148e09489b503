"""SRTP protect for the lean send path: libsrtp called with fewer Python steps.

`pylibsrtp.Session.protect` checks its argument, allocates a length cell with cffi and
goes through two Python frames for every packet: about half of its ~3 µs per 1300-byte
packet here. `fast_protect` calls the same `srtp_protect` on the same session (aiortc's
`RTCDtlsTransport._tx_srtp`, so the keys, the rollover counter and the replay window are
the ones aiortc's own RTCP protect uses), in the session's own buffer, with one length
cell allocated once. Only on the event loop: the buffer is shared with the session's
other calls, each of which copies its result out before returning, as this does.
tests/test_aiortc_contract.py pins the pylibsrtp internals used here.
"""

from __future__ import annotations

from collections.abc import Callable

import pylibsrtp
from pylibsrtp._binding import ffi, lib  # type: ignore[import-not-found]

MAX_PACKET = 1400
"Longer packets (never ours: ≤ ~1340 bytes) go through Session.protect."


def fast_protect(session: pylibsrtp.Session) -> Callable[[bytes], bytes]:
    """A protect function for RTP packets on `session`, same result as its protect()."""
    srtp = session._srtp[0]
    cdata = session._cdata
    buffer = session._buffer
    length = ffi.new("int *")
    protect = lib.srtp_protect
    slow = session.protect

    def run(packet: bytes) -> bytes:
        size = len(packet)
        if size > MAX_PACKET:
            return slow(packet)
        buffer[0:size] = packet
        length[0] = size
        if protect(srtp, cdata, length):
            return slow(packet)  # raises pylibsrtp.Error with libsrtp's reason
        out: bytes = buffer[0 : length[0]]
        return out

    return run
