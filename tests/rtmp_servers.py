"""Servers a restream test pushes to: Debian's nginx with the RTMP module, on a free port,
and a TLS terminator in front of it (RTMPS) with a certificate made for the test.

nginx must start: a machine without it fails the test (never skips); the README's test
line installs `nginx` and `libnginx-mod-rtmp`.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

from .certs import ec_key, self_signed, write_pair
from .server import free_port

RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
"Where Debian's libnginx-mod-rtmp puts the module."

CONFIG = """\
load_module {module};
daemon off;
master_process off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 64; }}
rtmp {{
    server {{
        listen 127.0.0.1:{port};
        application live {{
            live on;
            record all;
            record_path {recordings};
            record_unique on;
        }}
    }}
}}
"""


class NginxRtmp:
    """nginx-rtmp recording every stream it receives under `recordings` (one FLV each)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.recordings = tmp / "received"
        self.recordings.mkdir(parents=True, exist_ok=True)
        self.conf = tmp / "nginx.conf"
        self.conf.write_text(
            CONFIG.format(module=RTMP_MODULE, tmp=tmp, port=self.port, recordings=self.recordings)
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The RTMP URL of the `live` application (the stream name goes after it)."""
        return f"rtmp://127.0.0.1:{self.port}/live"

    def start(self) -> NginxRtmp:
        """Start nginx and wait until it listens; AssertionError (a failure) if it cannot."""
        nginx = shutil.which("nginx") or (
            "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
        )
        assert nginx, "nginx is not installed: apt-get install nginx libnginx-mod-rtmp"
        assert RTMP_MODULE.exists(), f"{RTMP_MODULE} missing: apt-get install libnginx-mod-rtmp"
        log = (self.tmp / "nginx.out").open("ab")
        self.proc = subprocess.Popen(
            [nginx, "-p", str(self.tmp), "-e", str(self.tmp / "error.log"), "-c", str(self.conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"nginx exited: {self.output()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return self
            time.sleep(0.05)
        raise AssertionError(f"nginx did not listen on {self.port}: {self.output()}")

    def kill(self) -> None:
        """Die at once (SIGKILL): connections are reset, as when a server crashes."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def output(self) -> str:
        logs = [self.tmp / "nginx.out", self.tmp / "error.log"]
        return "\n".join(p.read_text(errors="replace")[-2000:] for p in logs if p.exists())

    def files(self) -> list[Path]:
        """The FLV files received so far, oldest first."""
        return sorted(self.recordings.glob("*.flv"), key=lambda p: p.stat().st_mtime)


def self_signed_files(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate for `host` (an IP address) and its key: cert.pem, key.pem."""
    key = ec_key()
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    write_pair(self_signed(key, host, ip=host, ca=True), key, cert_path, key_path)
    return cert_path, key_path


class TlsTerminator:
    """An RTMPS front for a plain RTMP server (what the platforms' ingests look like)."""

    def __init__(self, cert: Path, key: Path, upstream_port: int) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.upstream_port = upstream_port
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> TlsTerminator:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"rtmps://127.0.0.1:{self.port}/live"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ssl.SSLError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()

        tasks = [
            asyncio.ensure_future(pipe(reader, up_writer)),
            asyncio.ensure_future(pipe(up_reader, writer)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        for w in (writer, up_writer):
            w.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
