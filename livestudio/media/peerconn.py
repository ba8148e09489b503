"""What every peer connection of ours needs from aiortc beyond its defaults."""

from __future__ import annotations

from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.exceptions import InvalidStateError

from .dtls import accept_rsa_peers


def peer_connection() -> RTCPeerConnection:
    """A peer connection with no STUN/TURN servers (ours are host candidates only), whose
    DTLS also accepts RSA-certificate peers, and whose connect task ends quietly when the
    connection is closed under it."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    accept_rsa_peers(pc)
    quiet_connect_after_close(pc)
    return pc


def quiet_connect_after_close(pc: RTCPeerConnection) -> None:
    """aiortc starts a task per description (`__connect`) nobody awaits; when the peer
    connection is closed while it runs (a viewer leaving or a host giving up as its DTLS
    completes), its next `RTCIceTransport.start()` raises InvalidStateError, logged at
    ERROR as "Task exception was never retrieved". That is the close working: this
    instance's task ends quietly then (tests/test_aiortc_contract.py pins the name and the
    error)."""
    connect = pc._RTCPeerConnection__connect  # type: ignore[attr-defined]

    async def connect_until_closed() -> None:
        try:
            await connect()
        except InvalidStateError:
            if pc.connectionState != "closed":
                raise

    pc._RTCPeerConnection__connect = connect_until_closed  # type: ignore[attr-defined]
