"""Who is asking: the client address, believing X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import ipaddress

from aiohttp import web


def _trusted(address: str, proxies: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in proxies:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def client_address(request: web.Request, trusted_proxies: tuple[str, ...]) -> str:
    """The address of the client; a proxy never gets everyone lumped under its own address.

    X-Forwarded-For is walked from the right, skipping trusted proxies, so a client cannot
    forge its address by sending the header itself.
    """
    peer = request.remote or ""
    if not trusted_proxies or not _trusted(peer, trusted_proxies):
        return peer
    forwarded = request.headers.get("X-Forwarded-For", "")
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted_proxies):
            return hop
    return hops[0] if hops else peer


def server_address(request: web.Request, trusted_proxies: tuple[str, ...]) -> str:
    """The address of ours the client connected to ("" behind a trusted proxy: the
    client reached the proxy, not this socket)."""
    if trusted_proxies and _trusted(request.remote or "", trusted_proxies):
        return ""
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if isinstance(sockname, tuple) and sockname and isinstance(sockname[0], str):
        return sockname[0].split("%")[0]
    return ""
