"""Images named by URL in a CSV import, fetched without letting a CSV reach inside the network.

A CSV comes from whoever has a studio login or an API token; the server, not that person,
makes the requests. So every address the server would connect to is checked first (SSRF):
loopback, private, link-local (cloud metadata), multicast, reserved and unspecified
addresses are refused unless the studio allows private hosts, and the check is made on the
very addresses the connection then uses (a resolver, so DNS cannot answer differently
between the check and the connect).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from livestudio.catalog.images import MAX_BYTES, ImageError, PreparedImage, too_large

TIMEOUT = 10.0
"""Seconds for one image, redirects and DNS included."""
PARALLEL = 4
"""Images fetched (and decoded) at once: each holds up to MAX_BYTES in memory."""
MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_USER_AGENT = "LiveStudio catalog import"
_PRIVATE = tuple(
    ipaddress.ip_network(net)
    for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
"""RFC 1918, carrier-grade NAT and unique-local: what "private hosts" allows, with loopback."""
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class FetchPolicy:
    """Where and how long the server may fetch from."""

    allow_private: bool = False
    "Loopback and private networks too (link-local, multicast and the like never)."
    timeout: float = TIMEOUT
    max_bytes: int = MAX_BYTES


class AddressNotAllowed(OSError):
    """The host is (or resolves only to) an address the policy refuses."""


def _embedded_ipv4(ip: IPAddress) -> IPAddress:
    # An IPv6 address can carry an IPv4 one that the kernel or a gateway then talks to:
    # ::ffff:127.0.0.1 is loopback, 64:ff9b::a00:1 (NAT64) is 10.0.0.1, 2002:a00:1:: (6to4).
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip.sixtofour is not None:
            return ip.sixtofour
    return ip


def address_problem(address: str, allow_private: bool) -> str | None:
    """Why the server must not connect to `address` (e.g. "127.0.0.1 is loopback"), or None."""
    try:
        ip = _embedded_ipv4(ipaddress.ip_address(address))
    except ValueError:
        return f"{address} is not an IP address"
    # The order matters: Python's is_private and is_reserved overlap with the others.
    for kind, refused in (
        ("unspecified", ip.is_unspecified),
        ("multicast", ip.is_multicast),
        ("link-local", ip.is_link_local),
    ):
        if refused:
            return f"{address} is {kind}"
    if ip.is_loopback or any(ip in net for net in _PRIVATE):
        if allow_private:
            return None
        kind = "loopback" if ip.is_loopback else "a private network address"
        return f"{address} is {kind}; LIVESTUDIO_IMPORT_ALLOW_PRIVATE_HOSTS=true allows it"
    if ip.is_reserved or not ip.is_global:
        return f"{address} is reserved"
    return None


class PolicyResolver(AbstractResolver):
    """DNS that answers only with addresses the policy allows (the connector uses nothing else)."""

    def __init__(self, allow_private: bool, inner: AbstractResolver | None = None) -> None:
        self.allow_private = allow_private
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        problems = [address_problem(r["host"], self.allow_private) for r in results]
        # A name with both a public and a private address is fetched from the public one.
        allowed = [r for r, problem in zip(results, problems, strict=True) if problem is None]
        if not allowed:
            why = problems[0] if problems else "no address"
            raise AddressNotAllowed(f"address not allowed ({host}: {why})")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def _check_url(url: URL, policy: FetchPolicy) -> None:
    """ImageError unless `url` is http(s) and, if its host is an address, an allowed one."""
    if url.scheme not in ("http", "https") or not url.raw_host:
        raise ImageError("only http:// and https:// image URLs are fetched")
    host = url.raw_host
    # aiohttp connects to what it takes for an address (a colon, or only digits and dots)
    # without asking the resolver: such a host must be an address this check can read.
    looks_numeric = ":" in host or host.replace(".", "").isdigit()
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if looks_numeric:
            raise ImageError(f"address not allowed ({host} is not a plain IP address)") from None
        return  # a name: PolicyResolver checks what it resolves to
    problem = address_problem(host, policy.allow_private)
    if problem is not None:
        raise ImageError(f"address not allowed ({problem})")


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, reading at most limit + 1 bytes (a lying or missing Content-Length too)."""
    if response.content_length is not None and response.content_length > limit:
        raise too_large()
    body = bytearray()
    while chunk := await response.content.read(min(_CHUNK, limit + 1 - len(body))):
        body += chunk
        if len(body) > limit:
            raise too_large()
    return bytes(body)


def _redirect_target(url: URL, response: aiohttp.ClientResponse) -> URL:
    location = response.headers.get("Location")
    if not location:
        raise ImageError(f"HTTP {response.status} without a Location")
    try:
        return url.join(URL(location))
    except ValueError:
        raise ImageError(f"HTTP {response.status} to an invalid URL") from None


async def _follow(session: aiohttp.ClientSession, url: URL, policy: FetchPolicy) -> bytes:
    """GET `url`, following a few redirects, each target checked like the first URL."""
    for _ in range(MAX_REDIRECTS + 1):
        _check_url(url, policy)
        async with session.get(url, allow_redirects=False) as response:
            if response.status in _REDIRECTS:
                url = _redirect_target(url, response)
                continue
            if response.status != 200:
                raise ImageError(f"HTTP {response.status}")
            return await _read_capped(response, policy.max_bytes)
    raise ImageError(f"more than {MAX_REDIRECTS} redirects")


async def fetch_bytes(session: aiohttp.ClientSession, url: str, policy: FetchPolicy) -> bytes:
    """The body of an image URL, or ImageError saying why not (short enough for a row error)."""
    try:
        target = URL(url)
    except ValueError:
        raise ImageError("not a valid URL") from None
    try:
        async with asyncio.timeout(policy.timeout):
            return await _follow(session, target, policy)
    except ImageError:
        raise
    except TimeoutError:
        raise ImageError(f"no answer within {policy.timeout:g} s") from None
    except aiohttp.ClientConnectorDNSError as exc:
        if isinstance(exc.os_error, AddressNotAllowed):
            raise ImageError(str(exc.os_error)) from None
        raise ImageError(f"cannot resolve {exc.host}") from None
    except aiohttp.ClientConnectorCertificateError:
        raise ImageError("the server's TLS certificate is not valid") from None
    except aiohttp.ClientConnectorError as exc:
        raise ImageError(f"cannot connect to {exc.host}:{exc.port}") from None
    except aiohttp.ClientError as exc:
        # A broken response, a dropped connection, a URL aiohttp cannot request.
        raise ImageError(f"the download failed ({type(exc).__name__})") from None


def _session(resolver: AbstractResolver, policy: FetchPolicy) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(resolver=resolver, limit=PARALLEL),
        timeout=aiohttp.ClientTimeout(total=policy.timeout),
        # Proxies from the environment would connect for us, past the address check.
        trust_env=False,
        # Images are compressed already; a gzip body could inflate past the size cap
        # inside aiohttp before a byte of it is counted.
        auto_decompress=False,
        headers={"User-Agent": _USER_AGENT, "Accept": "image/*", "Accept-Encoding": "identity"},
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def fetch_images(
    urls: Iterable[str],
    prepare: Callable[[bytes], Awaitable[PreparedImage]],
    policy: FetchPolicy,
) -> dict[str, PreparedImage | ImageError]:
    """Fetch each URL once and `prepare` (verify, normalize) it; URL → image or why not."""
    slots = asyncio.Semaphore(PARALLEL)

    async def one(session: aiohttp.ClientSession, url: str) -> PreparedImage | ImageError:
        # Decoding inside the slot keeps at most PARALLEL raw bodies in memory.
        async with slots:
            try:
                return await prepare(await fetch_bytes(session, url, policy))
            except ImageError as exc:
                return exc

    unique = list(dict.fromkeys(urls))
    if not unique:
        return {}
    resolver = PolicyResolver(policy.allow_private)
    try:
        async with _session(resolver, policy) as session:
            results = await asyncio.gather(*(one(session, url) for url in unique))
    finally:
        await resolver.close()  # the connector closes only a resolver it made itself
    return dict(zip(unique, results, strict=True))
