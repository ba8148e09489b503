"""A second host for tests: a network namespace joined to this one by a veth pair.

Made with iproute2 (needs root, as CI runs), on addresses of its own from 198.18.0.0/15
(the block set aside for network tests), and removed afterwards. The namespace has no
default route: from inside it only the host end of the veth answers, as a machine on
another network would reach only the server's public address. Failing to create it
fails the test (never skips).
"""

from __future__ import annotations

import ipaddress
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

NETWORK = ipaddress.ip_network("198.18.0.0/15")


@dataclass(frozen=True)
class Namespace:
    """A namespace `name` at `guest_address`, reaching this host at `host_address`."""

    name: str
    host_address: str
    guest_address: str

    def command(self, *argv: str) -> list[str]:
        """`argv` to run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")


def _free_subnet() -> ipaddress.IPv4Network:
    """A /30 of NETWORK no interface here uses (tests in other worktrees may run too)."""
    used = subprocess.run(
        ["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True
    ).stdout
    for _ in range(64):
        base = int(NETWORK.network_address) + 4 * secrets.randbelow(NETWORK.num_addresses // 4)
        subnet = ipaddress.ip_network(f"{ipaddress.ip_address(base)}/30")
        if not any(f" {host}/" in used for host in subnet.hosts()):
            return subnet  # type: ignore[return-value]
    raise RuntimeError("no free /30 in 198.18.0.0/15")


@contextmanager
def namespace() -> Iterator[Namespace]:
    """Create the namespace and its veth pair; remove both on exit, whatever happened."""
    tag = secrets.token_hex(3)
    name, host_if, guest_if = f"ls-{tag}", f"lsh{tag}", f"lsg{tag}"
    subnet = _free_subnet()
    host, guest = (str(a) for a in subnet.hosts())
    _ip("netns", "add", name)
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", guest_if)
        try:
            _ip("link", "set", guest_if, "netns", name)
            _ip("addr", "add", f"{host}/30", "dev", host_if)
            _ip("link", "set", host_if, "up")
            _ip("-n", name, "addr", "add", f"{guest}/30", "dev", guest_if)
            _ip("-n", name, "link", "set", guest_if, "up")
            _ip("-n", name, "link", "set", "lo", "up")
            yield Namespace(name, host, guest)
        finally:
            subprocess.run(["ip", "link", "del", host_if], capture_output=True, check=False)
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
