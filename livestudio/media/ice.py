"""Which addresses the server offers as ICE candidates.

aioice offers every interface address except loopback and has no knob for it. A studio
needs three: an interface allow-list (keep docker bridges and VPNs out of answers), the
loopback address (a machine whose only interface is loopback, and tests), and a public IP
for a server behind 1:1 NAT (VPS). aioice's address lookup is replaced once, and reads the
policy of the negotiation in progress from a ContextVar, so each app keeps its own.
"""

from __future__ import annotations

import contextvars
import ipaddress
import re
from dataclasses import dataclass

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
