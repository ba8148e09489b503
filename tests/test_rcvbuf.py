"""Asking the kernel for the host's receive buffer (livestudio/media/rcvbuf.py)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from livestudio.media import rcvbuf


def udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def test_root_gets_the_whole_buffer_past_rmem_max() -> None:
    assert os.geteuid() == 0, "CI runs as root (SO_RCVBUFFORCE needs CAP_NET_ADMIN)"
    rmem_max = int(Path("/proc/sys/net/core/rmem_max").read_text())
    size = 2 * rmem_max  # more than an unprivileged request may get
    with udp() as sock:
        granted = rcvbuf.enlarge(sock, size)
    assert granted == 2 * size and not rcvbuf.short(granted, size)


def test_without_the_privilege_the_cap_applies_and_is_noticed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An option number the kernel does not know fails like SO_RCVBUFFORCE without
    # CAP_NET_ADMIN does: the plain request follows, capped at net.core.rmem_max.
    monkeypatch.setattr(rcvbuf, "SO_RCVBUFFORCE", 0x7FFF)
    rmem_max = int(Path("/proc/sys/net/core/rmem_max").read_text())
    size = 2 * rmem_max
    with udp() as sock:
        granted = rcvbuf.enlarge(sock, size)
    assert granted == 2 * rmem_max
    assert rcvbuf.short(granted, size)
