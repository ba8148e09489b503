"""RTMP(S) restream: the program's own H.264 + AAC packets → FLV → a platform's ingest.

YouTube, Facebook, Twitch, TikTok and every RTMP server take the *same* packets the
viewers and the recorder get: FFmpeg's FLV muxer (through PyAV) only re-wraps them, no
second encode. The feed is an `OutputSubscriber` (bounded: a slow or stalled server loses
what queued and resumes at the next keyframe; the show never waits for it).

The muxer runs in a child process (media/flvpush.py), because PyAV holds the GIL while
FFmpeg connects and publishes: a server that accepts TCP and then says nothing froze
every thread of the process (measured). A thread here feeds the child through a pipe;
the child is killed when the server does not accept the stream in time or stops taking
data, and when the push is stopped.

RTMPS goes through a relay on 127.0.0.1 that owns the TLS connection: FFmpeg's
`tls_verify` is off by default and PyAV opens outputs without options, so FFmpeg alone
would hand the stream key to whoever answers. The relay verifies the certificate with
Python's `ssl` (the system's CAs) and says why a connection failed. The RTMP `tcUrl` then
names the relay, as with the stunnel setups long used for Facebook's RTMPS ingest:
servers route by app and stream name. Plain RTMP goes straight from the child.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from .flvpush import write_packet
from .subscribers import OutputSubscriber

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
"Seconds to open the TCP and TLS connection to an RTMPS server."
PUBLISH_TIMEOUT = 15.0
"Seconds from starting to the server accepting the stream (connect, handshake, publish)."
STALL_TIMEOUT = 10.0
"Seconds the server may take no data before the connection is given up."
TCP_USER_TIMEOUT_MS = 20_000
"Unacknowledged data older than this closes an RTMPS connection (a dead path, no RST)."
SEND_BUFFER = 512 * 1024
"Kernel send buffer of an RTMPS connection: ~2 s of a 2 Mbit/s program."
STOP_GRACE = 3.0
"Seconds the muxer gets to unpublish cleanly when the show ends."
WATCH = 0.25
"How often a running push checks on its muxer."
DEFAULT_PORTS = {"rtmp": 1935, "rtmps": 443}


class PushError(Exception):
    """A push could not start or broke off; `message` is safe to show (no key in it)."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        "Retrying cannot help (a wrong key, an unknown stream): the host must fix it."


class RtmpPush:
    """One connection of the program to an RTMP(S) server; `run` it, cancel it to stop."""

    def __init__(
        self,
        url: str,
        key: str,
        subscribe: Callable[[str], OutputSubscriber],
        unsubscribe: Callable[[OutputSubscriber], None],
        aac_config: bytes,
        name: str = "restream",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise PushError("not an rtmp:// or rtmps:// URL", permanent=True)
        self._url = url
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port or DEFAULT_PORTS[parts.scheme]
        self._path = parts.path.rstrip("/")
        self._query = parts.query
        self._key = key
        self._subscribe = subscribe
        self._unsubscribe = unsubscribe
        self._aac_config = aac_config
        self.name = name
        self._tls = tls
        self.packets_sent = 0

    @property
    def where(self) -> str:
        """The server, as messages name it."""
        return f"{self._host}:{self._port}"

    async def run(self, on_live: Callable[[], None]) -> None:
        """Connect, publish, and send until the program ends (returns) or the connection
        fails (PushError). Cancelling it closes the connection."""
        if not self._aac_config:
            raise PushError("this program has no AAC audio to restream", permanent=True)
        relay: _Relay | None = None
        server: asyncio.Server | None = None
        try:
            target = self._target(self._host, self._port)
            if self._scheme == "rtmps":
                relay = _Relay(*await self._connect(), self.where)
                server = await asyncio.start_server(relay.accept, "127.0.0.1", 0)
                target = self._target("127.0.0.1", server.sockets[0].getsockname()[1])
            await self._send(target, relay, on_live)
        finally:
            if server is not None:
                server.close()
            if relay is not None:
                await relay.close()

    async def _send(self, target: str, relay: _Relay | None, on_live: Callable[[], None]) -> None:
        # Started here, not on a worker thread: a cancelled await must not orphan a child.
        muxer = _Muxer(target, self._aac_config, self.name, self._scrub, self.where)
        feed = self._subscribe(self.name)
        muxer.start(feed)
        grace = STOP_GRACE
        try:
            await self._watch(muxer, relay, on_live)
        except PushError:
            grace = 0.0  # timed out or stalled: nothing to unpublish through
            raise
        finally:
            self._unsubscribe(feed)  # the feeder closes the pipe: the child unpublishes
            await asyncio.to_thread(muxer.stop, grace)
            self.packets_sent = muxer.packets

    async def _watch(
        self, muxer: _Muxer, relay: _Relay | None, on_live: Callable[[], None]
    ) -> None:
        started = time.monotonic()
        live = False
        while True:
            await asyncio.sleep(WATCH)
            if muxer.publishing and not live:
                live = True
                on_live()
            if muxer.exited:
                break
            if relay is not None and relay.reason:
                raise PushError(relay.reason)  # the server's side ended first
            if not live and time.monotonic() - started > PUBLISH_TIMEOUT:
                raise PushError(
                    f"{self.where} did not accept the stream within {PUBLISH_TIMEOUT:.0f} s"
                )
            if live and muxer.stalled_for() > STALL_TIMEOUT:
                raise PushError(f"{self.where} stopped taking data for {STALL_TIMEOUT:.0f} s")
        reason = (relay.reason if relay is not None else "") or muxer.reason
        if reason:
            raise PushError(reason)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        tls = self._tls or ssl.create_default_context()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    self._host, self._port, ssl=tls, server_hostname=self._host
                ),
                CONNECT_TIMEOUT,
            )
        except TimeoutError:
            raise PushError(f"no answer from {self.where} within {CONNECT_TIMEOUT:.0f} s") from None
        except ssl.SSLCertVerificationError as exc:
            raise PushError(
                f"{self.where}: its TLS certificate is not trusted ({exc.verify_message})"
            ) from None
        except ssl.SSLError as exc:
            raise PushError(f"{self.where}: TLS failed ({exc.reason or exc})") from None
        except OSError as exc:
            raise PushError(f"cannot connect to {self.where}: {_os_reason(exc)}") from None
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                if hasattr(socket, "TCP_USER_TIMEOUT"):  # Linux
                    timeout = TCP_USER_TIMEOUT_MS
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, timeout)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        return reader, writer

    def _target(self, host: str, port: int) -> str:
        # app (and instance) from the server URL, the key as the stream name: how the
        # platforms hand them out, and how FFmpeg splits rtmp://host/app/stream.
        stream = f"/{self._key}" if self._key else ""
        query = f"?{self._query}" if self._query else ""
        return f"rtmp://{host}:{port}{self._path}{stream}{query}"

    def _scrub(self, message: str) -> str:
        """An error as it may be shown and logged: never the key (FFmpeg names the URL)."""
        if self._key:
            message = message.replace(self._key, "…")
        return message


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return "the server name does not resolve"
    return exc.strerror or str(exc) or type(exc).__name__


class _Relay:
    """Carries FFmpeg's RTMP bytes to the server: one local connection, timeouts, TLS."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, where: str
    ) -> None:
        self._up_reader = reader
        self._up_writer = writer
        self._where = where
        self._local: asyncio.StreamWriter | None = None
        self._pumps: list[asyncio.Task[None]] = []
        self.closed = asyncio.Event()
        self.reason = ""
        "Why the server side ended, in words ('' when FFmpeg closed it: the normal end)."

    async def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The muxer connects (once; anyone else is turned away)."""
        if self._local is not None or self.closed.is_set():
            writer.close()
            return
        self._local = writer
        self._pumps = [
            asyncio.ensure_future(self._to_server(reader)),
            asyncio.ensure_future(self._from_server(writer)),
        ]
        await asyncio.wait(self._pumps, return_when=asyncio.FIRST_COMPLETED)
        await self.close()

    async def _to_server(self, local: asyncio.StreamReader) -> None:
        try:
            while data := await local.read(65536):
                self._up_writer.write(data)
                try:
                    await asyncio.wait_for(self._up_writer.drain(), STALL_TIMEOUT)
                except TimeoutError:
                    self.reason = f"{self._where} stopped taking data for {STALL_TIMEOUT:.0f} s"
                    return
        except (OSError, ssl.SSLError) as exc:
            self.reason = f"connection to {self._where} lost: {_os_reason(exc)}"

    async def _from_server(self, local: asyncio.StreamWriter) -> None:
        try:
            while data := await self._up_reader.read(65536):
                local.write(data)
                await local.drain()
            self.reason = self.reason or f"{self._where} closed the connection"
        except (OSError, ssl.SSLError) as exc:
            self.reason = self.reason or f"connection to {self._where} lost: {_os_reason(exc)}"

    async def close(self) -> None:
        """Close both sides (idempotent): a muxer blocked on the socket fails at once."""
        if self.closed.is_set():
            return
        self.closed.set()
        current = asyncio.current_task()
        for pump in self._pumps:
            if pump is not current:
                pump.cancel()
        for writer in (self._local, self._up_writer):
            if writer is None:
                continue
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 2.0)


class _Muxer:
    """The child process muxing FLV, and the thread feeding it through its stdin."""

    def __init__(
        self, url: str, aac_config: bytes, name: str, scrub: Callable[[str], str], where: str
    ) -> None:
        self.name = name
        self.where = where
        self._scrub = scrub
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "livestudio.media.flvpush"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._config = json.dumps({"url": url, "asc": aac_config.hex()}).encode() + b"\n"
        self.publishing = False
        self.error = ""
        "Why the child stopped, as it said (an errno's words), if it failed."
        self.detail = ""
        "FFmpeg's last error line (e.g. the server's own words), if any."
        self.packets = 0
        self._writing_since: float | None = None
        self._threads: list[threading.Thread] = []

    @property
    def exited(self) -> bool:
        """The child has ended (its status read to the end)."""
        return self._proc.poll() is not None and not self._threads[1].is_alive()

    def stalled_for(self) -> float:
        """Seconds the current write to the child has been blocked (0: none blocked)."""
        since = self._writing_since
        return 0.0 if since is None else time.monotonic() - since

    @property
    def reason(self) -> str:
        """Why it failed, in words fit for the studio ('' if it ended normally)."""
        code = self._proc.returncode
        if not self.error and code not in (0, None):
            # It died without saying why (killed, out of memory, a crash): its last words.
            return f"{self.where}: the muxer stopped (exit status {code}) {self.detail}".strip()
        if not self.error:
            return ""
        # FFmpeg's "Cannot open connection tcp://…" adds nothing to "Connection refused".
        if self.detail and "tcp://" not in self.detail:
            return f"{self.where}: {self.error} ({self.detail})"
        return f"{self.where}: {self.error}"

    def start(self, feed: OutputSubscriber) -> None:
        """Start feeding the child and reading what it says."""
        self._threads = [
            threading.Thread(target=self._feed, args=(feed,), name=self.name, daemon=True),
            threading.Thread(target=self._status, name=f"{self.name} status", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, grace: float) -> None:
        """Wait (blocking) up to `grace` s for the child to end on its own, then kill it."""
        try:
            self._proc.wait(timeout=max(grace, 0.001))
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        for thread in self._threads:
            thread.join(timeout=5)

    def _feed(self, feed: OutputSubscriber) -> None:
        pipe = self._proc.stdin
        assert pipe is not None
        try:
            pipe.write(self._config)
            while (item := feed.get()) is not None:
                kind, packet = item
                self._writing_since = time.monotonic()
                write_packet(pipe, kind, packet)
                pipe.flush()
                self._writing_since = None
                self.packets += 1
        except (OSError, ValueError):
            pass  # the child is gone: it says why on stdout
        finally:
            self._writing_since = None
            with contextlib.suppress(OSError, ValueError):
                pipe.close()

    def _status(self) -> None:
        out = self._proc.stdout
        assert out is not None
        for raw in out:
            line = self._scrub(raw.decode(errors="replace").strip())
            if line == "publishing":
                self.publishing = True
            elif line.startswith("error "):
                self.error = line[6:]
            elif line:
                # FFmpeg's own words ("Server error: ...") often say more than its errno.
                self.detail = line[:200]
                log.info("%s: %s", self.name, line)


__all__ = ["PushError", "RtmpPush"]
