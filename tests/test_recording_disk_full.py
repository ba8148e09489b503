"""A full disk stops the recording with a clear error; the live show goes on, and what was
recorded is published as the replay (issue 6).

The disk really fills: the server runs in a mount namespace of its own (`unshare`) whose
recordings dir is a 256 kB tmpfs, so recording.mp4, the playlist, the poster and the
download remux all meet the kernel's ENOSPC, as on a real full disk, while the data dir
(the database) stays on the normal disk. Plain root in CI can mount; elsewhere a user
namespace does it without privileges. Whether the small playlist still fits at the end
depends on how much cutting the torn last fragment frees, so this test does not insist
on it failing: tests/test_replay_full_disk.py makes those side-file writes fail every
time.

Where neither is allowed (a container without CAP_SYS_ADMIN and with user namespaces
blocked), the test does not skip: it runs the closest emulation instead, RLIMIT_FSIZE
for recording.mp4 (EFBIG, the same "disk is full" path) and /dev/full under the side
files' temp names (a real ENOSPC for those writes, see tests/test_replay_full_disk.py),
and says so in its output. Both give the same outcome, asserted the same way.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import aiohttp
import av

from livestudio.media.record import DOWNLOAD, PLAYLIST, RECORDING

from .server import ServerProcess
from .utils import (
    check_playlist,
    ffprobe_errors,
    refuse_side_files,
    until,
    whep_play,
    whip_publish,
)

DISK = 256 * 1024
"Bytes of the recordings filesystem: the recording fills it in a few seconds."
MOUNT = 'mount -t tmpfs -o size="$1" tmpfs "$2" && shift 2 && exec "$@"'


def tmpfs_prefix(mountpoint: Path) -> list[str] | None:
    """A command prefix that runs a command with `mountpoint` on a private DISK-byte tmpfs,
    or None where this machine allows no mount namespace."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    mountpoint.mkdir(parents=True, exist_ok=True)
    for flags in (["--mount"], ["--user", "--map-root-user", "--mount"]):
        prefix = [unshare, *flags, "sh", "-c", MOUNT, "sh", str(DISK), str(mountpoint)]
        if subprocess.run([*prefix, "true"], capture_output=True, check=False).returncode == 0:
            return prefix
    return None


class TmpfsServer(ServerProcess):
    """The server with its recordings dir on a tmpfs in a mount namespace of its own.

    The tmpfs lives as long as the server: the test reads it over HTTP (and through
    /proc/<pid>/root) before stopping it.
    """

    def __init__(self, tmp: Path, prefix: list[str]) -> None:
        super().__init__(tmp)
        self.prefix = prefix

    def command(self) -> list[str]:
        # The server's command with the prefix (unshare + mount) in front of it.
        return [*self.prefix, *super().command()]

    def disk(self) -> os.statvfs_result:
        """The recordings filesystem as the server sees it."""
        assert self.proc is not None
        return os.statvfs(f"/proc/{self.proc.pid}/root{self.recordings_dir}")


async def test_full_disk_keeps_the_show_and_publishes_what_was_recorded(
    tmp_path: Path,
) -> None:
    prefix = tmpfs_prefix(tmp_path / "recordings")
    server: ServerProcess
    if prefix is not None:
        server = TmpfsServer(tmp_path, prefix).start()
    else:
        print("no mount namespace here: RLIMIT_FSIZE and /dev/full emulate the full disk")
        server = ServerProcess(tmp_path, file_size_limit=DISK).start()
    show_id, key = server.create_show()
    if prefix is None:
        refuse_side_files(server.recordings_dir / show_id)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{server.base}/live/{show_id}/events") as ws:
                pub = await whip_publish(session, f"{server.base}/whip/{show_id}", key)
                viewer = await whep_play(session, f"{server.base}/whep/{show_id}")
                error = None
                while error is None:
                    event = await ws.receive_json(timeout=30)
                    if event["type"] == "recording":
                        error = event["error"]
                assert "disk is full" in error, "a clear error in the studio"
            # The show goes on: the viewer keeps decoding new frames.
            seen = len(viewer.stamps)
            await until(lambda: len(viewer.stamps) > seen + 30, 15)
            assert viewer.pc.connectionState == "connected"
            await viewer.close(session)
            await pub.close(session)
            await until(lambda: "published" in server.cli("show", "list").stdout, 15)
            await until(lambda: "no download MP4" in server.output(), 15)

            if isinstance(server, TmpfsServer):
                disk = server.disk()
                assert disk.f_blocks * disk.f_frsize == DISK, "the recordings dir is the tmpfs"
                assert disk.f_bavail * disk.f_frsize < DISK // 2, "and it is full"
            recording = await fetch(session, f"{server.base}/media/{show_id}/{RECORDING}")
            playlist = await fetch(session, f"{server.base}/media/{show_id}/{PLAYLIST}")
            download = await fetch(session, f"{server.base}/replay/{show_id}/download")
            async with session.get(f"{server.base}/media/{show_id}/{DOWNLOAD}") as r:
                assert r.status == 404, "no room for the remux"
        output = server.output()
        assert "disk is full" in output, "a clear error in the log"
        assert "Traceback" not in output
    finally:
        server.stop()

    assert len(recording) <= DISK
    seconds = check_playlist(playlist.decode(), recording)
    assert seconds > 1.0 and re.search(r"#EXTINF:", playlist.decode())
    assert download == recording, "the download is the recording itself"
    path = tmp_path / "recording.mp4"
    path.write_bytes(recording)
    assert ffprobe_errors(path) == "", "no corrupt file"
    with av.open(str(path)) as f:
        assert sum(1 for p in f.demux(video=0) if p.size) > 10


async def fetch(session: aiohttp.ClientSession, url: str) -> bytes:
    async with session.get(url) as r:
        assert r.status == 200, url
        return await r.read()
