"""Running the real server as a subprocess (`livestudio serve`) on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """`python -m livestudio serve` with its own data and recordings dirs."""

    def __init__(self, tmp: Path, file_size_limit: int | None = None, **env: str) -> None:
        self.port = free_port()
        self.data_dir = tmp / "data"
        self.recordings_dir = tmp / "recordings"
        self.env = {
            **os.environ,
            "LIVESTUDIO_X264_PRESET": "ultrafast",
            **{f"LIVESTUDIO_{k.upper()}": v for k, v in env.items()},
        }
        self.log = tmp / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.file_size_limit = file_size_limit
        "RLIMIT_FSIZE for the server: a full disk, without filling one."

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a `livestudio` CLI command against this server's data dir."""
        return subprocess.run(
            [sys.executable, "-m", "livestudio", *args, "--data-dir", str(self.data_dir)],
            env={**self.env, "LIVESTUDIO_PORT": str(self.port)},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def command(self) -> list[str]:
        """The command that runs the server."""
        return [
            sys.executable,
            "-m",
            "livestudio",
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--recordings-dir",
            str(self.recordings_dir),
        ]

    def start(self) -> ServerProcess:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            self.command(),
            env=self.env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=self._limits if self.file_size_limit else None,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.output()}")
            try:
                with urllib.request.urlopen(self.base + "/metrics", timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)  # not listening yet (a blocking poll: the loop is not needed)
        raise RuntimeError(f"server did not start: {self.output()}")

    def create_show(self, title: str = "Crash test") -> tuple[str, str]:
        """`livestudio show create`: (show id, stream key)."""
        out = self.cli("show", "create", title)
        assert out.returncode == 0, out.stderr
        lines = dict(line.split(": ", 1) for line in out.stdout.strip().splitlines())
        return lines["Show"], lines["Stream key"]

    def _limits(self) -> None:
        import resource

        assert self.file_size_limit is not None
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.file_size_limit, self.file_size_limit))

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")
