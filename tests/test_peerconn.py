"""media/peerconn.py: every peer connection of ours ends quietly when closed mid-connect."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiortc import RTCPeerConnection
from aiortc.exceptions import InvalidStateError

from livestudio.media.peerconn import peer_connection, quiet_connect_after_close

PACKAGE = Path(__file__).resolve().parent.parent / "livestudio"


def _failing_connect(pc: RTCPeerConnection) -> None:
    """aiortc's connect task as it fails when the connection closed under it (the
    ICE transport of the next transceiver refuses to start)."""

    async def connect() -> None:
        raise InvalidStateError("RTCIceTransport is closed")

    pc._RTCPeerConnection__connect = connect  # type: ignore[attr-defined]


async def test_connect_task_of_a_closed_connection_ends_quietly() -> None:
    pc = RTCPeerConnection()
    _failing_connect(pc)
    quiet_connect_after_close(pc)
    await pc.close()
    await pc._RTCPeerConnection__connect()  # type: ignore[attr-defined]


async def test_connect_task_of_an_open_connection_still_fails() -> None:
    # Only the close is expected; the same error on an open connection is a real one.
    pc = RTCPeerConnection()
    _failing_connect(pc)
    quiet_connect_after_close(pc)
    with pytest.raises(InvalidStateError):
        await pc._RTCPeerConnection__connect()  # type: ignore[attr-defined]
    await pc.close()


async def test_peer_connection_has_the_hook() -> None:
    pc = peer_connection()
    assert pc._RTCPeerConnection__connect.__name__ == "connect_until_closed"  # type: ignore[attr-defined]
    await pc.close()


def test_every_peer_connection_is_made_by_peer_connection() -> None:
    # Publishers, viewers and WHIP pushes: one place makes them, so none misses the hook
    # (or the RSA suites of media/dtls.py).
    makers = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if re.search(r"\bRTCPeerConnection\(", path.read_text())
    ]
    assert makers == ["media/peerconn.py"]
