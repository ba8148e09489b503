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


def address_group(address: str) -> str:
    """The unit per-address limits and address bans count by: an IPv4 address as is, an
    IPv6 address by its /64 (one subscriber's whole prefix: a client can hop through it at
    will), an IPv4-mapped IPv6 address as the IPv4 address it maps."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def client_group(request: web.Request, trusted_proxies: tuple[str, ...]) -> str:
    """`address_group` of the client's address."""
    return address_group(client_address(request, trusted_proxies))


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
