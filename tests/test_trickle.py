"""Trickle ICE over PATCH (RFC 9725 section 4.3) on WHIP and WHEP sessions."""

from __future__ import annotations

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from livestudio.media.trickle import FragmentError, parse_fragment

from .conftest import Studio
from .utils import SDP, StampedVideoTrack, ToneAudioTrack, bearer, until

TRICKLE = {"Content-Type": "application/trickle-ice-sdpfrag"}


def test_parse_fragment() -> None:
    fragment = parse_fragment(
        "a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n"
        "a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0\r\n"
        "a=candidate:473322822 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:1\r\n"
        "a=candidate:2 1 udp 2122194687 198.51.100.1 61765 typ host\r\n"
        "a=end-of-candidates\r\n"
    )
    assert (fragment.ufrag, fragment.pwd) == ("EsAw", "P2uYro0UCOQ4zxjKXaWCBui1")
    assert [(mid, index) for mid, index, _ in fragment.candidates] == [
        ("0", 0),
        ("0", 0),
        ("1", 1),
    ]
    assert fragment.candidates[0][2].startswith("1387637174 1 udp")
    assert fragment.end_of_candidates
    # session-level candidates (no m= line) belong to the first m-line
    assert parse_fragment("a=candidate:1 1 udp 1 10.0.0.1 1 typ host").candidates == [
        (None, 0, "1 1 udp 1 10.0.0.1 1 typ host")
    ]
    for bad in ("hello", "a=candidate:1 1 udp", "x" * 20000):
        with pytest.raises(FragmentError):
            parse_fragment(bad)


class TricklingPublisher:
    """An aiortc publisher that POSTs its offer without candidates and PATCHes them."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection()
        self.pc.addTransceiver(StampedVideoTrack(), direction="sendonly")
        self.pc.addTransceiver(ToneAudioTrack(), direction="sendonly")
        self.offer = ""
        self.ufrag = self.pwd = ""
        self.candidates: list[str] = []

    async def gather(self) -> str:
        """The offer as a trickling client POSTs it: no candidates yet."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        full = self.pc.localDescription.sdp
        for line in full.splitlines():
            if line.startswith("a=candidate:") and line not in self.candidates:
                self.candidates.append(line)
            elif line.startswith("a=ice-ufrag:"):
                self.ufrag = line[12:]
            elif line.startswith("a=ice-pwd:"):
                self.pwd = line[10:]
        self.offer = "\r\n".join(
            line
            for line in full.split("\r\n")
            if not line.startswith(("a=candidate:", "a=end-of-candidates"))
        )
        return self.offer

    def fragment(self, ufrag: str | None = None) -> str:
        """RFC 8840 fragment with every gathered candidate, for the first m-line."""
        return (
            "\r\n".join(
                [
                    f"a=ice-ufrag:{ufrag or self.ufrag}",
                    f"a=ice-pwd:{self.pwd}",
                    "m=video 9 UDP/TLS/RTP/SAVPF 96",
                    "a=mid:0",
                    *self.candidates,
                    "a=end-of-candidates",
                ]
            )
            + "\r\n"
        )


def remote_candidates(pc: RTCPeerConnection) -> list[tuple[str, int, str]]:
    transport = pc.getTransceivers()[0].receiver.transport.transport
    return [(c.ip, c.port, c.type) for c in transport.getRemoteCandidates()]


async def test_whip_patch_trickles_candidates(studio: Studio) -> None:
    show_id, key = await studio.create_show()
    client = TricklingPublisher()
    s = studio.session
    try:
        offer = await client.gather()
        assert "a=candidate" not in offer
        async with s.post(studio.url(f"/whip/{show_id}"), data=offer, headers=bearer(key)) as r:
            assert r.status == 201, await r.text()
            answer = await r.text()
            location = studio.url(r.headers["Location"])
            etag = r.headers["ETag"]
            assert r.headers["Accept-Patch"] == "application/trickle-ice-sdpfrag"
        async with s.options(location) as r:
            assert r.headers["Accept-Patch"] == "application/trickle-ice-sdpfrag"

        # what RFC 9725 refuses, and keeps the session for
        async with s.patch(location, data=client.fragment(), headers=SDP) as r:
            assert r.status == 415
        async with s.patch(
            location, data=client.fragment(), headers={**TRICKLE, "If-Match": '"another"'}
        ) as r:
            assert r.status == 412
        async with s.patch(
            location, data=client.fragment(), headers={**TRICKLE, "If-Match": "*"}
        ) as r:
            assert r.status == 422  # ICE restart: aiortc cannot
        async with s.patch(location, data=client.fragment(ufrag="zzzz"), headers=TRICKLE) as r:
            assert r.status == 422 and "restart" in await r.text()
        async with s.patch(location, data="hello", headers=TRICKLE) as r:
            assert r.status == 400
        async with s.patch(location + "x", data=client.fragment(), headers=TRICKLE) as r:
            assert r.status == 404

        async with s.patch(
            location, data=client.fragment(), headers={**TRICKLE, "If-Match": etag}
        ) as r:
            assert r.status == 204, await r.text()
            assert r.headers["ETag"] == etag
        live = studio.onair.get(show_id)
        assert live is not None and live.publisher is not None
        # the server knows the client's candidates from the PATCH, before any check
        trickled = remote_candidates(live.publisher.pc)
        sent = {(line.split()[4], int(line.split()[5])) for line in client.candidates}
        assert sent <= {(ip, port) for ip, port, kind in trickled if kind == "host"}

        await client.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        publisher = live.publisher
        await until(lambda: publisher.video_frames > 10, 15)
    finally:
        await client.pc.close()


async def test_whep_patch_trickles_candidates(studio: Studio) -> None:
    show_id, _ = await studio.create_show()
    studio.onair.start(show_id)  # a viewer can be answered before the host is live
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        lines = pc.localDescription.sdp.split("\r\n")
        candidates = [line for line in lines if line.startswith("a=candidate:")]
        offer = "\r\n".join(
            line for line in lines if not line.startswith(("a=candidate:", "a=end-of-candidates"))
        )
        ufrag = next(line for line in lines if line.startswith("a=ice-ufrag:"))
        pwd = next(line for line in lines if line.startswith("a=ice-pwd:"))
        async with studio.session.post(
            studio.url(f"/whep/{show_id}"), data=offer, headers=SDP
        ) as r:
            assert r.status == 201, await r.text()
            location = studio.url(r.headers["Location"])
        fragment = "\r\n".join(
            [ufrag, pwd, "m=video 9 UDP/TLS/RTP/SAVPF 96", "a=mid:0", *candidates]
        )
        async with studio.session.patch(location, data=fragment, headers=TRICKLE) as r:
            assert r.status == 204, await r.text()
        live = studio.onair.get(show_id)
        assert live is not None
        (viewer,) = live.viewers.values()
        assert len(remote_candidates(viewer.pc)) >= len(candidates)
    finally:
        await pc.close()
        await studio.onair.end(show_id)
