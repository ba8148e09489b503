"""Room in the kernel for the host's packets while the event loop is busy elsewhere.

The server's one event loop also serves every viewer. A crowd joining at once (DTLS
handshakes, a GOP replayed to each joiner) or a keyframe sent to hundreds of viewers keeps
it from reading the host's socket for tens to hundreds of milliseconds. Linux's default
UDP receive buffer (`net.core.rmem_default`, 208 KiB of kernel memory, ~100 datagrams
on loopback) holds ~0.3 s of a 2.5 Mbit/s camera, less during the host's own keyframe
burst: measured with 300 viewers joining (`python -m bench fanout --viewers 300`), the
host's socket dropped ~1,500 datagrams, NACKs could not recover most of them, and the
show flapped to "reconnecting". Only publishers get the large buffer: a viewer's socket
receives RTCP alone.
"""

from __future__ import annotations

import logging
import socket
import sys
from typing import Any

import aioice.ice
from aiortc import RTCPeerConnection

from .consent import ice_connections

log = logging.getLogger(__name__)

INGEST_RECEIVE_BUFFER = 4 << 20
"Bytes asked for (~6 s of a 4 Mbit/s camera). The kernel doubles it for bookkeeping."

SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
"Linux: exceeds net.core.rmem_max, allowed with CAP_NET_ADMIN (a server run as root)."


KERNEL_FACTOR = 2 if sys.platform.startswith("linux") else 1
"Linux reports twice the size it was asked for (its own bookkeeping on top)."


def short(granted: int, size: int) -> bool:
    """Whether a buffer reported as `granted` is less than the `size` asked for."""
    return granted < size * KERNEL_FACTOR


def enlarge(sock: socket.socket, size: int = INGEST_RECEIVE_BUFFER) -> int:
    """Ask for a `size`-byte receive buffer on `sock`; returns what the kernel granted.

    Without privileges the kernel caps the plain request at net.core.rmem_max (208 KiB on
    a stock kernel; docs/deploy.md says how to raise it).
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except OSError:  # not root (EPERM) or not Linux
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        except OSError as exc:
            log.debug("could not enlarge the receive buffer: %s", exc)
    return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))


_warned = False


def enlarge_ingest_buffers(pc: RTCPeerConnection, size: int = INGEST_RECEIVE_BUFFER) -> list[int]:
    """Enlarge the receive buffer of every UDP socket `pc` gathered (after
    setLocalDescription); returns the sizes granted. TURN-relayed sockets are left alone.

    Warns once per process when the kernel granted less than asked."""
    global _warned
    granted: list[int] = []
    for connection in ice_connections(pc):
        for protocol in connection._protocols:
            if type(protocol) is not aioice.ice.StunProtocol or protocol.transport is None:
                continue
            sock: Any = protocol.transport.get_extra_info("socket")
            if sock is not None:
                granted.append(enlarge(sock, size))
    if granted and short(min(granted), size) and not _warned:
        _warned = True
        log.warning(
            "the host's UDP receive buffer is %d bytes, not the %d asked for: a busy "
            "server may drop the host's packets. Raise net.core.rmem_max "
            "(docs/deploy.md) or run with CAP_NET_ADMIN.",
            min(granted) // KERNEL_FACTOR,
            size,
        )
    return granted
