"""Fan-out worker processes: viewers spread over the machine's cores.

With `fanout_workers` = N > 0 a show starts N processes. Each one runs its own event
loop with aiortc: the ICE, DTLS, RTCP and lean RTP sending of the viewers placed on it,
and its own `Broadcast` (GOP cache, join logic, keyframe requests) fed with the program's
encoded packets by the main process. Signalling stays in the main process: a WHEP POST is
forwarded to the worker with the fewest viewers, which negotiates and answers; PATCH and
DELETE follow the viewer there. The program is still encoded once, in the main process.

Transport: one AF_UNIX SOCK_SEQPACKET socket pair per worker (message boundaries kept,
no framing). Packets are one message each (a 20-byte header and the bytes); the main
process never waits on a worker: a message that does not fit (the worker is behind) is
dropped and that worker's video resumes at the next keyframe, as for any subscriber
(DESIGN 5). Control messages are pickled tuples.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import pickle
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av

from .broadcast import Broadcast
from .ice import IcePolicy
from .subscribers import Subscriber, ViewerSubscriber
from .trickle import SdpFragment
from .viewer import Viewer

log = logging.getLogger(__name__)

_PACKET = struct.Struct("!cqqIIB")
"kind (V video, A Opus), pts, dts, time base numerator, denominator, keyframe flag."
_NO_TS = -(2**63)
MESSAGE_MAX = 1 << 20
"Largest message a worker reads (a 1080p keyframe is well under)."
START_TIMEOUT = 30.0


def pack_packet(kind: bytes, packet: av.Packet) -> bytes:
    """One program packet as a message."""
    tb = packet.time_base or Fraction(1, 90000)
    pts = _NO_TS if packet.pts is None else packet.pts
    dts = _NO_TS if packet.dts is None else packet.dts
    head = _PACKET.pack(kind, pts, dts, tb.numerator, tb.denominator, packet.is_keyframe)
    return head + bytes(packet)


def unpack_packet(message: bytes) -> tuple[bytes, av.Packet]:
    """The kind and packet of a message made by `pack_packet`."""
    kind, pts, dts, num, den, key = _PACKET.unpack_from(message)
    packet = av.Packet(message[_PACKET.size :])
    packet.pts = None if pts == _NO_TS else pts
    packet.dts = None if dts == _NO_TS else dts
    packet.time_base = Fraction(num, den)
    packet.is_keyframe = bool(key)
    return kind, packet


def _control(message: tuple[Any, ...]) -> bytes:
    return b"C" + pickle.dumps(message)


# -- the main process's side --------------------------------------------------------------


@dataclass(eq=False)
class WorkerFeed(Subscriber):
    """The main broadcast's subscriber for one worker: every packet, sent at once."""

    sock: socket.socket | None = None
    sent: int = 0
    send_seconds: float = 0.0
    "CPU time spent sending to this worker (the transport's cost in the main process)."

    def offer_audio(self, packet: av.Packet) -> None:
        """Opus audio, always (a dropped one is a 20 ms gap)."""
        if not self.closed:
            self._send(pack_packet(b"A", packet), video=False)

    def _put(self, kind: str, packet: av.Packet) -> None:
        self._send(pack_packet(b"V", packet), video=True)

    def _send(self, message: bytes, video: bool) -> None:
        assert self.sock is not None
        start = time.thread_time()
        try:
            self.sock.send(message)
            self.sent += 1
        except (BlockingIOError, OSError):
            if video:
                # The worker is behind: its viewers resume at the next keyframe.
                self.video_drops += 1
                self.waiting_for_keyframe = True
                self.request_keyframe()
            else:
                self.audio_drops += 1
        self.send_seconds += time.thread_time() - start

    def _video_full(self) -> bool:
        return False

    def _drop_all(self) -> None:
        pass

    def _end(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.send(_control(("end",)))


class RemoteViewer(Viewer):
    """A WHEP viewer served by a worker process.

    It is what signalling uses of a `Viewer` (id, answer, ICE tag, subscription, RTP
    origin, trickle, close) and nothing more: its peer connection lives in the worker, so
    `Viewer.__init__` (which makes one) is not called.
    """

    def __init__(self, worker: Worker, address: str) -> None:
        self.id = ""
        self.address = address
        self.created_at = time.monotonic()
        self.ice_tag = ""
        self.answer_sdp = ""
        self.sender_kind = "worker"
        self.remote_origin: int | None = None
        "Known from the answer: the lean path picks it before the first packet."
        self.subscriber = ViewerSubscriber(name="remote viewer")
        "Never fed here (the worker's broadcast feeds the real one): its on_close matters."
        self.worker = worker
        self._closed = False
        self.on_gone: Callable[[Viewer], None] = lambda viewer: None

    @property
    def rtp_origin(self) -> int | None:
        """RTP timestamp of program pts 0 in this viewer's video."""
        return self.remote_origin

    async def trickle(self, fragment: SdpFragment) -> int:
        """Candidates trickled in a PATCH, added in the worker."""
        taken: int = await self.worker.request("trickle", self.id, fragment)
        return taken

    async def close(self) -> None:
        """Close it in the worker (idempotent)."""
        self.gone()
        with contextlib.suppress(Exception):
            await self.worker.request("close", self.id)

    def gone(self) -> None:
        """It left (closed here, or in the worker on its own)."""
        if self._closed:
            return
        self._closed = True
        self.worker.viewers.pop(self.id, None)
        self.on_gone(self)
        if self.subscriber is not None:
            self.subscriber.close()


class Worker:
    """One worker process, seen from the main process."""

    def __init__(self, index: int, on_keyframe: Callable[[], None]) -> None:
        self.index = index
        self._on_keyframe = on_keyframe
        ctx = multiprocessing.get_context("spawn")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # Room for a few keyframes: a worker may lag a frame or two without losing one.
        with contextlib.suppress(OSError):
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        ours.setblocking(False)
        self.sock = ours
        # The socket travels to the spawned child pickled (multiprocessing dups its fd).
        self.process = ctx.Process(
            target=worker_main, args=(theirs,), name=f"fanout-{index}", daemon=True
        )
        self._theirs = theirs
        self.viewers: dict[str, RemoteViewer] = {}
        self._requests: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self.ready = asyncio.get_running_loop().create_future()
        self.feed: WorkerFeed | None = None

    def start(self) -> None:
        """Start the process and listen to it."""
        self.process.start()
        self._theirs.close()  # the child has its copy
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self._readable)

    async def request(self, name: str, *args: Any) -> Any:
        """Ask the worker; its answer (or its exception, raised here)."""
        await asyncio.wait_for(asyncio.shield(self.ready), START_TIMEOUT)
        number = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._requests[number] = future
        try:
            self.sock.send(_control(("request", number, name, *args)))
            return await future
        finally:
            self._requests.pop(number, None)

    def _readable(self) -> None:
        while True:
            try:
                message = self.sock.recv(MESSAGE_MAX)
            except BlockingIOError:
                return
            except OSError:
                message = b""
            if not message:  # the process is gone
                self._lost()
                return
            self._handle(message)

    def _handle(self, message: bytes) -> None:
        if message == b"K":
            self._on_keyframe()
            return
        reply = pickle.loads(message[1:])
        if reply[0] == "ready":
            if not self.ready.done():
                self.ready.set_result(None)
        elif reply[0] in ("result", "error"):
            future = self._requests.get(reply[1])
            if future is not None and not future.done():
                if reply[0] == "result":
                    future.set_result(reply[2])
                else:
                    future.set_exception(reply[2])
        elif reply[0] == "gone":
            viewer = self.viewers.get(reply[1])
            if viewer is not None:
                viewer.gone()

    def _lost(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
        for future in self._requests.values():
            if not future.done():
                future.set_exception(ConnectionError("the fan-out worker is gone"))
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("the fan-out worker did not start"))
        for viewer in list(self.viewers.values()):
            viewer.gone()

    def stop(self) -> None:
        """Wait for the process to end (after the show ended it); blocking."""
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)
        self.sock.close()


class FanoutWorkers:
    """The worker processes of one show."""

    def __init__(self, count: int, broadcast: Broadcast, on_keyframe: Callable[[], None]):
        self.workers = [Worker(i, on_keyframe) for i in range(count)]
        for worker in self.workers:
            worker.start()
            feed = WorkerFeed(name=f"fanout worker {worker.index}", request_keyframe=on_keyframe)
            feed.sock = worker.sock
            worker.feed = feed
            broadcast.attach(feed)

    async def play(
        self, offer_sdp: str, ice: IcePolicy, address: str, profile_level_id: str, sender: str
    ) -> RemoteViewer:
        """Place a viewer on the worker with the fewest; negotiate there."""
        worker = min(self.workers, key=lambda w: len(w.viewers))
        viewer = RemoteViewer(worker, address)
        answer = await worker.request("play", offer_sdp, ice, address, profile_level_id, sender)
        viewer.id, viewer.answer_sdp, viewer.ice_tag, viewer.remote_origin = answer
        worker.viewers[viewer.id] = viewer
        return viewer

    def stats(self) -> list[dict[str, float]]:
        """Per worker: viewers, messages sent, main-process CPU seconds spent sending."""
        return [
            {
                "viewers": len(w.viewers),
                "messages": w.feed.sent if w.feed else 0,
                "send_seconds": w.feed.send_seconds if w.feed else 0.0,
                "video_drops": w.feed.video_drops if w.feed else 0,
            }
            for w in self.workers
        ]

    def stop(self) -> None:
        """Wait for every process (blocking; the broadcast's end told them to finish)."""
        for worker in self.workers:
            worker.stop()


# -- the worker process -------------------------------------------------------------------


def worker_main(sock: socket.socket) -> None:
    """Process entry point."""
    logging.basicConfig(level=logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_WorkerLoop(sock).run())


@dataclass(eq=False)
class _WorkerLoop:
    sock: socket.socket
    viewers: dict[str, Any] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    answering: set[asyncio.Future[None]] = field(default_factory=set)

    async def run(self) -> None:
        self.sock.setblocking(False)
        self.broadcast = Broadcast(request_keyframe=self._request_keyframe)
        loop = asyncio.get_running_loop()
        loop.add_reader(self.sock.fileno(), self._readable)
        self._send(_control(("ready",)))
        await self.done.wait()
        loop.remove_reader(self.sock.fileno())
        self.broadcast.end()
        await asyncio.gather(
            *(v.close() for v in list(self.viewers.values())), return_exceptions=True
        )

    def _request_keyframe(self) -> None:
        self._send(b"K")

    def _send(self, message: bytes) -> None:
        try:
            self.sock.send(message)
        except BlockingIOError:
            # Control replies are small and rare: wait for room rather than lose one.
            self.sock.setblocking(True)
            try:
                self.sock.send(message)
            finally:
                self.sock.setblocking(False)
        except OSError:
            self.done.set()

    def _readable(self) -> None:
        for _ in range(256):
            try:
                message = self.sock.recv(MESSAGE_MAX)
            except BlockingIOError:
                return
            except OSError:
                message = b""
            if not message:
                self.done.set()
                return
            first = message[:1]
            if first == b"V":
                self.broadcast.publish_video(unpack_packet(message)[1])
            elif first == b"A":
                self.broadcast.publish_audio(unpack_packet(message)[1])
            else:
                self._control(pickle.loads(message[1:]))

    def _control(self, message: tuple[Any, ...]) -> None:
        if message[0] == "end":
            self.done.set()
        elif message[0] == "request":
            _, number, name, *args = message
            task = asyncio.ensure_future(self._answer(number, name, args))
            self.answering.add(task)
            task.add_done_callback(self.answering.discard)

    async def _answer(self, number: int, name: str, args: list[Any]) -> None:
        try:
            result = await getattr(self, "_" + name)(*args)
            reply: tuple[Any, ...] = ("result", number, result)
        except Exception as exc:
            reply = ("error", number, exc)
        try:
            message = _control(reply)
        except Exception:  # an exception that does not pickle
            message = _control(("error", number, RuntimeError(str(reply[2]))))
        self._send(message)

    async def _play(
        self, offer: str, ice: IcePolicy, address: str, profile_level_id: str, sender: str
    ) -> tuple[str, str, str, int | None]:
        viewer = Viewer(
            self.broadcast,
            self._request_keyframe,
            ice,
            on_gone=self._gone,
            address=address,
            profile_level_id=profile_level_id,
            sender=sender,
        )
        self.viewers[viewer.id] = viewer
        try:
            await viewer.answer(offer)
        except BaseException:
            await viewer.close()
            raise
        return viewer.id, viewer.answer_sdp, viewer.ice_tag, viewer.rtp_origin

    async def _trickle(self, viewer_id: str, fragment: SdpFragment) -> int:
        viewer = self.viewers.get(viewer_id)
        if viewer is None:
            return 0
        taken: int = await viewer.trickle(fragment)
        return taken

    async def _close(self, viewer_id: str) -> None:
        viewer = self.viewers.get(viewer_id)
        if viewer is not None:
            await viewer.close()

    def _gone(self, viewer: Any) -> None:
        self.viewers.pop(viewer.id, None)
        self._send(_control(("gone", viewer.id)))
