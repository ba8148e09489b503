"""Which addresses answers carry: public IP, interface allow-list, loopback."""

from __future__ import annotations

import re

import ifaddr

from livestudio.media.ice import IcePolicy, announce_public_ip, host_addresses

from .conftest import Studio
from .utils import SDP, offer


def candidate_addresses(sdp: str) -> set[str]:
    return set(re.findall(r"a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ", sdp))


def other_addresses() -> set[str]:
    return {
        ip.ip
        for a in ifaddr.get_adapters()
        for ip in a.ips
        if isinstance(ip.ip, str) and not ip.ip.startswith("127.")
    }


async def whep_answer(studio: Studio) -> str:
    show_id, _ = await studio.create_show()
    studio.onair.start(show_id)  # on air, no publisher needed to answer a viewer
    async with studio.session.post(
        studio.url(f"/whep/{show_id}"), data=await offer("play"), headers=SDP
    ) as r:
        assert r.status == 201, await r.text()
        answer = await r.text()
    await studio.onair.end(show_id)
    return answer


async def test_public_ip_replaces_host_candidates(studio_factory) -> None:  # type: ignore[no-untyped-def]
    studio: Studio = await studio_factory(public_ip="203.0.113.7")
    addresses = candidate_addresses(await whep_answer(studio))
    assert addresses == {"203.0.113.7"}


async def test_interface_allow_list_excludes_other_interfaces(studio_factory) -> None:  # type: ignore[no-untyped-def]
    studio: Studio = await studio_factory(ice_interfaces="nosuch0")
    addresses = candidate_addresses(await whep_answer(studio))
    assert addresses == {"127.0.0.1"}
    assert not addresses & other_addresses()


async def test_default_offers_loopback_and_interfaces(studio: Studio) -> None:
    addresses = candidate_addresses(await whep_answer(studio))
    assert "127.0.0.1" in addresses
    assert other_addresses() <= addresses


def test_policy_units() -> None:
    assert "127.0.0.1" not in host_addresses(IcePolicy(loopback=False), True, False)
    sdp = (
        "a=candidate:1 1 udp 2130706431 10.0.0.5 40000 typ host\r\n"
        "a=candidate:2 1 udp 2130706431 127.0.0.1 40001 typ host\r\n"
        "a=candidate:3 1 udp 2130706431 10.0.0.6 40000 typ host\r\n"
    )
    out = announce_public_ip(sdp, "198.51.100.1")
    assert candidate_addresses(out) == {"198.51.100.1"}
    assert out.count("a=candidate") == 1, "same port twice collapses into one"


def test_answers_fit_their_client() -> None:
    from livestudio.media.ice import first_on, is_loopback

    policy = IcePolicy()
    assert policy.for_client("127.0.0.1").loopback
    assert policy.for_client("").loopback, "unknown client: as before"
    assert not policy.for_client("198.51.100.4").loopback
    assert not IcePolicy(loopback=False).for_client("127.0.0.1").loopback
    assert policy.for_client("198.51.100.4", "10.0.0.6").first_address == "10.0.0.6"
    assert policy.for_client("198.51.100.4", "::ffff:10.0.0.6").first_address == "10.0.0.6"
    assert policy.for_client("198.51.100.4", "").first_address == ""
    assert is_loopback("::1") and is_loopback("::ffff:127.0.0.1") and is_loopback("127.0.0.9")
    assert not is_loopback("10.0.0.1") and not is_loopback("host.example")
    sdp = (
        "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"
        "a=candidate:1 1 udp 2130706431 10.0.0.5 40000 typ host\r\n"
        "a=candidate:3 1 udp 2130706431 10.0.0.6 40002 typ host\r\n"
        "a=end-of-candidates\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
        "a=candidate:1 1 udp 2130706431 10.0.0.5 40000 typ host\r\n"
        "a=candidate:3 1 udp 2130706431 10.0.0.6 40002 typ host\r\n"
    )
    reordered = first_on(sdp, "10.0.0.6")
    assert re.findall(r"udp \d+ (\S+)", reordered) == ["10.0.0.6", "10.0.0.5"] * 2
    assert sorted(reordered.split("\r\n")) == sorted(sdp.split("\r\n"))
    assert first_on(sdp, "") == sdp


async def test_no_loopback_candidates_for_a_client_elsewhere(studio_factory) -> None:  # type: ignore[no-untyped-def]
    # Behind a trusted proxy on this machine, the client is who X-Forwarded-For says.
    studio: Studio = await studio_factory(trusted_proxy="127.0.0.1")
    show_id, _ = await studio.create_show()
    studio.onair.start(show_id)
    elsewhere = {**SDP, "X-Forwarded-For": "198.51.100.23"}
    async with studio.session.post(
        studio.url(f"/whep/{show_id}"), data=await offer("play"), headers=elsewhere
    ) as r:
        assert r.status == 201, await r.text()
        assert "127.0.0.1" not in candidate_addresses(await r.text())
    async with studio.session.post(
        studio.url(f"/whep/{show_id}"), data=await offer("play"), headers=SDP
    ) as r:
        assert "127.0.0.1" in candidate_addresses(await r.text()), "the proxy's own is local"
    await studio.onair.end(show_id)
