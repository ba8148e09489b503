"""ICE consent: a peer that never answers our checks but sends its own keeps consent.

Two real aioice connections on loopback, with the intervals shortened: the "client"
drops every binding request it gets (as FFmpeg's whip muxer does) while it keeps
sending its own consent checks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aioice
import aioice.ice
import aioice.stun
import pytest

from livestudio.media.consent import count_peer_checks

from .utils import until


@pytest.fixture
def fast_consent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.1)
    monkeypatch.setattr(aioice.ice, "CONSENT_FAILURES", 3)
    monkeypatch.setattr(aioice.stun, "RETRY_RTO", 0.05)


async def connect(counting: bool) -> tuple[aioice.Connection, aioice.Connection]:
    server = aioice.Connection(ice_controlling=False, use_ipv6=False)
    client = aioice.Connection(ice_controlling=True, use_ipv6=False)
    if counting:
        count_peer_checks(server)
    await asyncio.gather(server.gather_candidates(), client.gather_candidates())
    for a, b in ((server, client), (client, server)):
        a.remote_username, a.remote_password = b.local_username, b.local_password
        for candidate in b.local_candidates:
            await a.add_remote_candidate(candidate)
        await a.add_remote_candidate(None)
    await asyncio.gather(server.connect(), client.connect())
    return server, client


def ignore_requests(connection: aioice.Connection) -> None:
    """Never answer a binding request (FFmpeg's whip muxer ignores consent checks)."""

    def dropped(message: Any, addr: Any, protocol: Any) -> None:
        pass

    connection.request_received = dropped  # type: ignore[method-assign]


@pytest.fixture
async def pairs() -> AsyncIterator[list[aioice.Connection]]:
    made: list[aioice.Connection] = []
    yield made
    for connection in made:
        await connection.close()


async def test_the_peers_own_checks_keep_consent(fast_consent: None, pairs: list[Any]) -> None:
    server, client = await connect(counting=True)
    pairs += [server, client]
    ignore_requests(client)
    await asyncio.sleep(1.5)  # ~10 consent rounds, none answered
    assert not server._closing, "consent expired although the peer kept checking"

    # the peer stops checking too (gone, or unwilling): consent expires as before
    client._query_consent_task.cancel()
    await until(lambda: server._closing, 3)


async def test_without_the_peers_checks_counted_consent_expires(
    fast_consent: None, pairs: list[Any]
) -> None:
    server, client = await connect(counting=False)
    pairs += [server, client]
    ignore_requests(client)
    await until(lambda: server._closing, 3)
