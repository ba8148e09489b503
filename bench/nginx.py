"""Debian's nginx as the HLS cache of docs/deploy.md, in front of a LiveStudio server.

The cache configuration is read from docs/deploy.md itself (the block after the
"tested" marker), so the documented configuration is the one the test and the bench run.
Everything else (pid, logs, temp and cache paths, the port) goes under a private folder.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
MARK = "<!-- tested: tests/test_hls_cdn.py reads this block -->"


class NginxError(RuntimeError):
    """nginx is missing or did not start (the message says why, with its log)."""


def nginx_binary() -> str:
    """The nginx executable (Debian puts it in /usr/sbin, not always on PATH)."""
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else ""
    )
    if not found:
        raise NginxError("nginx is not installed (Debian: `apt-get install -y nginx`)")
    return found


def documented_cache() -> tuple[str, str]:
    """(the http-level lines, the server-level location) of docs/deploy.md's cache block."""
    text = DEPLOY_DOC.read_text()
    if MARK not in text:
        raise NginxError(f"no tested nginx block in {DEPLOY_DOC}")
    block = text.split(MARK, 1)[1].split("```nginx\n", 1)[1].split("```", 1)[0]
    http_part, server_part = block.split("# in the server { }", 1)
    return http_part, server_part.split("\n", 1)[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NginxCache:
    """nginx on 127.0.0.1:<port>, caching HLS from the origin at 127.0.0.1:<origin_port>."""

    def __init__(self, folder: Path, origin_port: int) -> None:
        self.folder = folder
        self.origin_port = origin_port
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        """A whole nginx.conf around the documented cache block."""
        http_part, location = documented_cache()
        d = self.folder
        http_part = http_part.replace("/var/cache/nginx/livestudio", str(d / "cache"))
        location = location.replace("127.0.0.1:8080", f"127.0.0.1:{self.origin_port}")
        # Workers of a root master run as `nobody`, who cannot enter a private tmp folder.
        user = "user root;\n" if os.geteuid() == 0 else ""
        temp = "\n".join(
            f"  {kind}_temp_path {d / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        return f"""daemon off;
{user}worker_processes 1;
pid {d / "nginx.pid"};
error_log {d / "error.log"} warn;
events {{ worker_connections 4096; }}
http {{
  log_format cache '$request_uri $status $upstream_cache_status';
  access_log {d / "access.log"} cache;
{temp}
{http_part}
  server {{
    listen 127.0.0.1:{self.port};
    location = /nginx-ready {{ return 200 "ok\\n"; }}
{location}
    location / {{
      proxy_pass http://127.0.0.1:{self.origin_port};
      proxy_http_version 1.1;
    }}
  }}
}}
"""

    def start(self, timeout: float = 15.0) -> NginxCache:
        """Start nginx and wait until it answers; NginxError (with its log) otherwise."""
        binary = nginx_binary()
        self.folder.mkdir(parents=True, exist_ok=True)
        conf = self.folder / "nginx.conf"
        conf.write_text(self.config())
        log = (self.folder / "stderr.log").open("wb")
        self.proc = subprocess.Popen(
            [binary, "-p", str(self.folder), "-c", str(conf), "-e", str(self.folder / "error.log")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise NginxError(f"nginx exited ({self.proc.returncode}):\n{self.logs()}")
            try:
                with urllib.request.urlopen(f"{self.base}/nginx-ready", timeout=1) as r:
                    if r.status == 200:
                        return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        self.stop()
        raise NginxError(f"nginx did not answer within {timeout}s:\n{self.logs()}")

    def logs(self) -> str:
        """Its stderr and error log, for failure messages."""
        out = []
        for name in ("stderr.log", "error.log"):
            path = self.folder / name
            if path.exists():
                out.append(f"--- {name}\n{path.read_text(errors='replace')}")
        return "\n".join(out)

    def cache_statuses(self) -> dict[str, int]:
        """How many requests nginx answered per $upstream_cache_status (HIT, MISS, ...)."""
        counts: dict[str, int] = {}
        path = self.folder / "access.log"
        if path.exists():
            for line in path.read_text().splitlines():
                status = line.rsplit(" ", 1)[-1]
                counts[status] = counts.get(status, 0) + 1
        return counts

    def stop(self) -> None:
        """Stop nginx (SIGTERM: fast shutdown) and wait for it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
