"""Which addresses the server offers as ICE candidates, and in which order.

aioice offers every interface address except loopback and has no knob for it. A studio
needs three: an interface allow-list (keep docker bridges and VPNs out of answers), the
loopback address (a machine whose only interface is loopback, and tests), and a public IP
for a server behind 1:1 NAT (VPS). aioice's address lookup is replaced once, and reads the
policy of the negotiation in progress from a ContextVar, so each app keeps its own.

Each answer is also fitted to its client (`IcePolicy.for_client`): a client that is not
on this machine never gets 127.0.0.1 (FFmpeg's whip muxer tries only the first candidate
of an answer, and that was it), and the address the client reached over HTTP is listed
first, as the one most likely to reach us over UDP too.
"""

from __future__ import annotations

import contextvars
import ipaddress
import re
from dataclasses import dataclass, replace

import aioice.ice
import ifaddr


@dataclass(frozen=True)
class IcePolicy:
    """Candidate rules for one server."""

    loopback: bool = True
    "Offer 127.0.0.1 as well."
    interfaces: tuple[str, ...] = ()
    "Interface names whose addresses are offered; empty means all."
    public_ip: str = ""
    "Announce this address instead of the host addresses (1:1 NAT)."
    first_address: str = ""
    "List candidates on this address first in answers (the one the client reached)."

    def for_client(self, client: str, reached: str = "") -> IcePolicy:
        """This policy for one negotiation: `client` is the peer's address as the HTTP
        request saw it ("" if unknown), `reached` the server address it connected to
        ("" if unknown or through a proxy)."""
        loopback = self.loopback and (not client or is_loopback(client))
        first = _address(reached)
        return replace(self, loopback=loopback, first_address=str(first) if first else "")


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """`text` as an address, an IPv4-mapped IPv6 one (a dual-stack socket's) as IPv4."""
    try:
        ip = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def is_loopback(address: str) -> bool:
    """127.0.0.0/8 or ::1, also written as an IPv4-mapped IPv6 address."""
    ip = _address(address)
    return ip is not None and ip.is_loopback


_policy: contextvars.ContextVar[IcePolicy] = contextvars.ContextVar(
    "livestudio_ice_policy",
    default=IcePolicy(),  # noqa: B039 (frozen, so sharing the default is safe)
)


def host_addresses(policy: IcePolicy, use_ipv4: bool, use_ipv6: bool) -> list[str]:
    """The local addresses to gather candidates on, under `policy`."""
    addresses: list[str] = []
    for adapter in ifaddr.get_adapters():
        name = adapter.nice_name or adapter.name
        is_loopback_adapter = name == "lo" or name.startswith("Loopback")
        if policy.interfaces and name not in policy.interfaces and not is_loopback_adapter:
            continue
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                if not use_ipv4:
                    continue
                address = ip.ip
            else:
                if not use_ipv6 or ip.ip[2] != 0:  # skip link-local (scoped) addresses
                    continue
                address = ip.ip[0]
            if ipaddress.ip_address(address).is_loopback:
                # IPv6 loopback is never useful to a browser; IPv4 loopback on request.
                if not (policy.loopback and address == "127.0.0.1"):
                    continue
            addresses.append(address)
    return addresses


def _get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return host_addresses(_policy.get(), use_ipv4, use_ipv6)


def install(policy: IcePolicy) -> None:
    """Apply `policy` to negotiations started from the current context."""
    aioice.ice.get_host_addresses = _get_host_addresses
    _policy.set(policy)


_CANDIDATE = re.compile(r"^(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( \d+ typ host.*)$")


def announce_public_ip(sdp: str, public_ip: str) -> str:
    """Rewrite host candidates of an answer to `public_ip` (dropping duplicates).

    Behind 1:1 NAT, the browser sends to the public address and the NAT delivers it to
    the same port on the private one, where aioice is listening.
    """
    if not public_ip:
        return sdp
    family = ipaddress.ip_address(public_ip).version
    out: list[str] = []
    seen: set[str] = set()
    for line in sdp.split("\r\n"):
        m = _CANDIDATE.match(line)
        if m:
            address = m.group(2)
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:  # an mDNS name: not ours to announce
                continue
            if ip.version != family or ip.is_loopback:
                continue
            rewritten = m.group(1) + public_ip + m.group(3)
            key = rewritten.split(" ", 1)[1]
            if key in seen:
                continue
            seen.add(key)
            line = rewritten
        out.append(line)
    return "\r\n".join(out)


def first_on(sdp: str, address: str) -> str:
    """Move the candidates on `address` ahead of the others, in each media section.

    Full ICE clients order candidates by priority anyway; clients that take the first
    candidate only (FFmpeg's whip muxer) then try the address they already reached.
    """
    if not address:
        return sdp
    lines = sdp.split("\r\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith("a=candidate:"):
            out.append(lines[i])
            i += 1
            continue
        run: list[str] = []
        while i < len(lines) and lines[i].startswith("a=candidate:"):
            run.append(lines[i])
            i += 1
        mine = [c for c in run if _candidate_address(c) == address]
        out += mine + [c for c in run if _candidate_address(c) != address]
    return "\r\n".join(out)


def _candidate_address(line: str) -> str:
    parts = line.split()
    return parts[4] if len(parts) > 4 else ""


def fit_answer(sdp: str, policy: IcePolicy) -> str:
    """The answer's candidates as this negotiation's client should see them."""
    return announce_public_ip(first_on(sdp, policy.first_address), policy.public_ip)
