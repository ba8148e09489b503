"""Start the server under test as a subprocess pinned to its CPU: LiveStudio or the naive relay."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running server under test."""

    design: str
    proc: subprocess.Popen[bytes]
    base: str
    whip_url: str
    whep_url: str
    key: str = ""
    metrics_url: str = ""
    log_path: Path = field(default_factory=Path)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's log, for error messages."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def metrics(self) -> dict[str, float]:
        """LiveStudio's /metrics summed over labels; {} for the naive server."""
        if not self.metrics_url:
            return {}
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=5) as resp:
                text = resp.read().decode()
        except (OSError, urllib.error.URLError):
            return {}
        out: dict[str, float] = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            name_part, _, value = line.rpartition(" ")
            name = name_part.split("{", 1)[0]
            with contextlib.suppress(ValueError):
                out[name] = out.get(name, 0.0) + float(value)
        return out

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not go within 10 s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _spawn(
    cmd: list[str], env: dict[str, str], cpus: set[int] | None, log_path: Path
) -> subprocess.Popen[bytes]:
    def pin_child() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)

    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("wb")
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=pin_child
    )


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}):\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not ready after {timeout}s:\n{log_path.read_text()}")


def create_show(data_dir: Path, env: dict[str, str]) -> tuple[str, str]:
    """A new show and its stream key, with the CLI (or the Store, if the CLI fails)."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "livestudio",
            "show",
            "create",
            "Bench",
            "--data-dir",
            str(data_dir),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    show = re.search(r"^Show: (\S+)", out.stdout, re.M)
    key = re.search(r"^Stream key: (\S+)", out.stdout, re.M)
    if out.returncode == 0 and show and key:
        return show.group(1), key.group(1)
    data_dir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_create_with_store(data_dir))


async def _create_with_store(data_dir: Path) -> tuple[str, str]:
    from livestudio.store import Store

    async with await Store.open(data_dir / "livestudio.sqlite3") as store:
        record, key = await store.create_show("Bench", None)
    return str(record.id), str(key)


def start_livestudio(
    workdir: Path,
    preset: str,
    cpus: set[int] | None,
    profile: Path | None = None,
    settings: dict[str, str] | None = None,
    sender: str = "lean",
    workers: int = 0,
) -> Server:
    """`python -m livestudio serve` with caps lifted so they never refuse bench viewers,
    sending viewers' RTP the `sender` way (the fanout_sender setting: lean or aiortc).

    With `profile`, the server runs under pyinstrument (event-loop thread only), which
    writes a text report there when the server exits. `settings` adds LIVESTUDIO_*
    variables (by setting name, e.g. {"hls_part_duration": "0"}).
    """
    port = free_port()
    data_dir, recordings = workdir / "data", workdir / "recordings"
    env = {
        **os.environ,
        "LIVESTUDIO_MAX_VIEWERS": "1000",
        "LIVESTUDIO_MAX_SESSIONS_PER_IP": "1000",
        "LIVESTUDIO_MAX_EVENT_SOCKETS_PER_IP": "5000",
        "LIVESTUDIO_CHAT_MESSAGES_PER_IP": "100000",
        "LIVESTUDIO_MAX_NEGOTIATIONS": "64",
        "LIVESTUDIO_X264_PRESET": preset,
        "LIVESTUDIO_VIDEO_WIDTH": "1280",
        "LIVESTUDIO_VIDEO_HEIGHT": "720",
        "LIVESTUDIO_VIDEO_FPS": "30",
        "LIVESTUDIO_FANOUT_SENDER": sender,
        "LIVESTUDIO_FANOUT_WORKERS": str(workers),
        **{f"LIVESTUDIO_{name.upper()}": value for name, value in (settings or {}).items()},
    }
    show, key = create_show(data_dir, env)
    log_path = workdir / f"livestudio-{sender}.log"
    wrapper = []
    if profile:
        wrapper = ["-m", "pyinstrument", "-r", "text", "--show-all", "-o", str(profile)]
    cmd = [
        sys.executable,
        *wrapper,
        "-m",
        "livestudio",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--recordings-dir",
        str(recordings),
    ]
    proc = _spawn(cmd, env, cpus, log_path)
    base = f"http://127.0.0.1:{port}"
    _wait_ready(proc, f"{base}/metrics", log_path, 30)
    return Server(
        design=sender,
        proc=proc,
        base=base,
        whip_url=f"{base}/whip/{show}",
        whep_url=f"{base}/whep/{show}",
        key=key,
        metrics_url=f"{base}/metrics",
        log_path=log_path,
    )


def start_naive(workdir: Path, codec: str, cpus: set[int] | None) -> Server:
    """bench/naive_server.py: MediaRelay, one encoder per viewer."""
    port = free_port()
    log_path = workdir / "naive.log"
    cmd = [sys.executable, "-m", "bench.naive_server", "--port", str(port), "--codec", codec]
    proc = _spawn(cmd, dict(os.environ), cpus, log_path)
    base = f"http://127.0.0.1:{port}"
    _wait_ready(proc, f"{base}/health", log_path, 30)
    return Server(
        design="naive",
        proc=proc,
        base=base,
        whip_url=f"{base}/whip",
        whep_url=f"{base}/whep",
        log_path=log_path,
    )
