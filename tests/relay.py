"""A bad network between an aiortc client and the server: a UDP relay on 127.0.0.1 that
drops and delays packets, with a seeded RNG.

The relay has two faces. The client's offer carries one candidate, the server face; the
server's answer is rewritten to one candidate, the client face. So each side talks to
one relay address, and every datagram between them passes the relay, which forwards it
from its other face. Only RTP and RTCP are impaired (ICE and DTLS get through, so the
setup is not what a test measures). A packet's delay is drawn on its own, uniform in
0..jitter: packets are reordered, as on a real jittery path.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
from dataclasses import dataclass, field

Address = tuple[str, int]

_CANDIDATE = re.compile(r"^a=candidate:\S+ 1 udp \d+ (\S+) (\d+) typ host", re.IGNORECASE)
_RTX = re.compile(r"^a=fmtp:(\d+) apt=(\d+)", re.MULTILINE)
RTX_BLACKOUT = 2.0
"Seconds every retransmission is dropped after `lose_for_good`: the packet never comes."


@dataclass
class Impairment:
    """What one direction of the relay does to RTP/RTCP."""

    loss: float = 0.0
    "Share of datagrams dropped (0.03: 3 %)."
    jitter: float = 0.0
    "Each datagram is delayed by a random 0..jitter seconds."
    seed: int = 1
    passed: int = 0
    dropped: int = 0
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def fate(self, data: bytes) -> float | None:
        """The delay of this datagram, or None if it is dropped."""
        if not data or not 128 <= data[0] <= 191:  # STUN, DTLS: through, at once
            return 0.0
        if self._rng.random() < self.loss:
            self.dropped += 1
            return None
        self.passed += 1
        return self._rng.uniform(0.0, self.jitter) if self.jitter else 0.0


class _Face(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: object) -> None:
        self.on_datagram = on_datagram
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.on_datagram(data, addr)  # type: ignore[operator]


class LossyRelay:
    """Client ⇄ relay ⇄ server, `up` impairing client→server, `down` server→client."""

    def __init__(self, up: Impairment | None = None, down: Impairment | None = None) -> None:
        self.up = up or Impairment()
        self.down = down or Impairment()
        self.server: Address | None = None
        "The server candidate the answer named (set by `answer`)."
        self.client: Address | None = None
        "The first client socket that reached the client face; others are ignored."
        self._client_face = _Face(self._from_client)
        self._server_face = _Face(self._from_server)
        self._loop = asyncio.get_event_loop()
        self._media_types: set[int] = set()
        "RTP payload types that have RTX (video), from the answer."
        self._rtx_types: set[int] = set()
        self._lose_next = False
        self._rtx_blackout_until = 0.0
        self.lost_for_good: list[int] = []
        "Sequence numbers of the packets lost for good."

    async def start(self) -> LossyRelay:
        """Open both faces on 127.0.0.1."""
        for face in (self._client_face, self._server_face):
            await self._loop.create_datagram_endpoint(lambda f=face: f, local_addr=("127.0.0.1", 0))  # type: ignore[misc]
        return self

    def _port(self, face: _Face) -> int:
        assert face.transport is not None
        return int(face.transport.get_extra_info("sockname")[1])

    def offer(self, sdp: str) -> str:
        """The client's offer with its candidates replaced by the server face."""
        return _one_candidate(sdp, self._port(self._server_face))

    def answer(self, sdp: str) -> str:
        """The server's answer: remember its loopback candidate, name the client face."""
        found = [(m[1], int(m[2])) for line in sdp.splitlines() if (m := _CANDIDATE.match(line))]
        assert found, "the answer has a UDP host candidate"
        loopback = [a for a in found if a[0] == "127.0.0.1"]
        self.server = (loopback or found)[0]
        for rtx, apt in _RTX.findall(sdp):
            self._rtx_types.add(int(rtx))
            self._media_types.add(int(apt))
        return _one_candidate(sdp, self._port(self._client_face))

    def lose_for_good(self) -> None:
        """Drop the client's next video packet and, for RTX_BLACKOUT, every retransmission."""
        self._lose_next = True

    def _from_client(self, data: bytes, addr: Address) -> None:
        if self.client is None:
            self.client = addr
        if addr != self.client or self.server is None:
            return
        if self._lost_for_good(data):
            return
        self._forward(self.up, self._server_face, data, self.server)

    def _lost_for_good(self, data: bytes) -> bool:
        if len(data) < 12 or not 128 <= data[0] <= 191 or 192 <= data[1] <= 223:
            return False  # not RTP (RTCP types are 192-223 in the second byte)
        payload_type = data[1] & 0x7F
        if payload_type in self._rtx_types and self._loop.time() < self._rtx_blackout_until:
            return True
        if self._lose_next and payload_type in self._media_types:
            self._lose_next = False
            self._rtx_blackout_until = self._loop.time() + RTX_BLACKOUT
            self.lost_for_good.append(int.from_bytes(data[2:4], "big"))
            return True
        return False

    def _from_server(self, data: bytes, addr: Address) -> None:
        if addr != self.server or self.client is None:
            return
        self._forward(self.down, self._client_face, data, self.client)

    def _forward(self, how: Impairment, face: _Face, data: bytes, to: Address) -> None:
        delay = how.fate(data)
        if delay is None or face.transport is None:
            return
        if delay == 0.0:
            face.transport.sendto(data, to)
        else:
            self._loop.call_later(delay, self._send_later, face, data, to)

    @staticmethod
    def _send_later(face: _Face, data: bytes, to: Address) -> None:
        if face.transport is not None and not face.transport.is_closing():
            face.transport.sendto(data, to)

    def close(self) -> None:
        """Close both faces."""
        for face in (self._client_face, self._server_face):
            if face.transport is not None:
                face.transport.close()


def _one_candidate(sdp: str, port: int) -> str:
    """`sdp` with every candidate line replaced by one host candidate at 127.0.0.1:port."""
    out: list[str] = []
    for line in sdp.split("\r\n"):
        if line.startswith("a=candidate:"):
            if not out or not out[-1].startswith("a=candidate:"):
                out.append(f"a=candidate:1 1 udp 2130706431 127.0.0.1 {port} typ host")
            continue
        out.append(line)
    return "\r\n".join(out)


FREEZE = 0.2
"A picture held this long (s of media time) counts as a freeze (30 fps: 6 intervals)."


@dataclass(frozen=True)
class Smoothness:
    """How a viewer's picture moved, measured on media time (pts), not the wall clock."""

    seconds: float
    "Media time covered."
    fps: float
    "Distinct pictures (stamps) per second of media time."
    longest_freeze: float
    "Longest media time (s) one picture stayed on screen."
    freezes: int
    "Pictures held FREEZE or longer."

    @property
    def freezes_per_minute(self) -> float:
        return self.freezes * 60 / self.seconds if self.seconds else 0.0


def smoothness(stamps: list[int], pts: list[int], rate: int = 90000) -> Smoothness:
    """From a viewer's decoded frames (their stamps and pts, in arrival order)."""
    changes: list[int] = []
    last = None
    for stamp, at in zip(stamps, pts, strict=False):
        if stamp != last:
            changes.append(at)
            last = stamp
    if len(changes) < 2:
        return Smoothness(0.0, 0.0, float("inf"), 0)
    seconds = (changes[-1] - changes[0]) / rate
    held = [(b - a) / rate for a, b in itertools.pairwise(changes)]
    return Smoothness(
        seconds=seconds,
        fps=(len(changes) - 1) / seconds if seconds > 0 else 0.0,
        longest_freeze=max(held),
        freezes=sum(1 for h in held if h >= FREEZE),
    )
