"""The real `livestudio serve` process: first-run login, CLI while running, publish, shutdown."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp

from .server import ServerProcess
from .utils import until, whep_play, whip_publish


async def test_show_create_while_server_runs_then_publish(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path).start()
    try:
        out = server.output()
        assert f"http://127.0.0.1:{server.port}/studio" in out
        password = re.search(r"Password: (\S+)", out)
        assert password, "the first run prints a generated admin password"
        assert "admin" in out

        created = server.cli("show", "create", "Live while running")
        assert created.returncode == 0, created.stderr
        lines = dict(line.split(": ", 1) for line in created.stdout.strip().splitlines())
        show_id, key = lines["Show"], lines["Stream key"]
        assert lines["WHIP URL"] == f"{server.base}/whip/{show_id}"
        assert lines["Viewer link"] == f"{server.base}/live/{show_id}"

        async with aiohttp.ClientSession() as session:
            pub = await whip_publish(session, lines["WHIP URL"], key)
            viewer = await whep_play(session, f"{server.base}/whep/{show_id}")
            await until(lambda: len(viewer.stamps) > 15, 20)
            async with session.get(f"{server.base}/metrics") as r:
                text = await r.text()
            assert f'livestudio_viewers{{show="{show_id}"}} 1' in text
            await viewer.close(session)
            await pub.close(session)

        listed = server.cli("show", "list")
        assert show_id in listed.stdout and "published" in listed.stdout
    finally:
        server.stop()
    second = ServerProcess(tmp_path)
    second.port = server.port
    second.start()
    try:
        assert "Password:" not in second.output().split("LiveStudio studio:")[-1], (
            "the password is printed once, never again"
        )
    finally:
        second.stop()
