"""ICE consent freshness (RFC 7675) that also counts the peer's own checks.

aioice keeps consent by sending a binding request on the selected pair every 4-6 s and
closes the connection after 6 unanswered in a row (~30 s). FFmpeg's `whip` muxer never
answers those requests, so aioice dropped it ~33 s into every show ("Consent to send
expired"). It does send its own binding requests, signed with our ICE password, every
5 s on that same pair. Consent exists to stop a peer from being flooded with traffic
it does not want; a peer that keeps sending authenticated checks to us on the pair
that carries its media plainly wants the session, so such a check counts as consent
for the round it arrived in. Nothing else changes: a peer that neither answers nor
checks (gone, or no longer willing) still loses consent after ~30 s.

`count_peer_checks(connection)` applies this to one aioice connection; it replaces two
methods on that instance only. tests/test_aiortc_contract.py pins what it relies on.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

import aioice.ice
from aioice import stun
from aiortc import RTCPeerConnection

log = logging.getLogger(__name__)


class PeerChecks:
    """When the peer last sent us an authenticated binding request, per pair."""

    def __init__(self) -> None:
        self._last: dict[tuple[Any, str, int], float] = {}

    def heard(self, protocol: Any, addr: tuple[Any, ...]) -> None:
        """An authenticated binding request arrived from `addr` on `protocol`."""
        self._last[(protocol, addr[0], addr[1])] = time.monotonic()

    def since(self, pair: aioice.ice.CandidatePair, moment: float) -> bool:
        """Whether the peer checked `pair` at or after `moment` (time.monotonic)."""
        host, port = pair.remote_addr
        return self._last.get((pair.protocol, host, port), -1.0) >= moment


async def _query_consent(connection: aioice.ice.Connection, checks: PeerChecks) -> None:
    """aioice's Connection.query_consent, where a peer's own check also keeps consent."""
    assert connection.remote_password is not None
    failures = 0
    while True:
        round_start = time.monotonic()
        # randomized between 0.8 and 1.2 times the interval, as RFC 7675 asks
        await asyncio.sleep(aioice.ice.CONSENT_INTERVAL * (0.8 + 0.4 * random.random()))
        for pair in list(connection._nominated.values()):
            request = connection.build_request(pair, nominate=False)
            try:
                await pair.protocol.request(
                    request,
                    pair.remote_addr,
                    integrity_key=connection.remote_password.encode("utf8"),
                    retransmissions=0,
                )
                failures = 0
            except stun.TransactionError:
                if checks.since(pair, round_start):
                    failures = 0
                else:
                    failures += 1
            if failures >= aioice.ice.CONSENT_FAILURES:
                log.info("ICE consent expired (no answer and no check from the peer)")
                connection._query_consent_task = None
                await connection.close()
                return


def count_peer_checks(connection: aioice.ice.Connection) -> PeerChecks:
    """Make `connection` treat the peer's authenticated checks as consent (before connect)."""
    checks = PeerChecks()
    check_incoming = connection.check_incoming

    def counted(message: stun.Message, addr: tuple[Any, ...], protocol: Any) -> None:
        # aioice calls check_incoming only for requests that passed USERNAME and
        # MESSAGE-INTEGRITY checks with our password.
        checks.heard(protocol, addr)
        check_incoming(message, addr, protocol)

    connection.check_incoming = counted  # type: ignore[method-assign]

    async def query_consent() -> None:
        await _query_consent(connection, checks)

    connection.query_consent = query_consent  # type: ignore[method-assign]
    return checks


def ice_connections(pc: RTCPeerConnection) -> list[aioice.ice.Connection]:
    """The aioice connections of `pc`'s transports (one with BUNDLE)."""
    seen: dict[int, aioice.ice.Connection] = {}
    for transceiver in pc.getTransceivers():
        dtls = transceiver.receiver.transport
        if dtls is not None:  # a rejected m-line has none
            connection = dtls.transport._connection
            seen[id(connection)] = connection
    return list(seen.values())


def peer_checks_keep_consent(pc: RTCPeerConnection) -> None:
    """Apply `count_peer_checks` to every ICE connection of `pc` (after the offer is set)."""
    for connection in ice_connections(pc):
        count_peer_checks(connection)
