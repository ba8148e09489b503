"""The `livestudio` command, run as a real process against a data dir."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from livestudio.store import Store

ROOT = Path(__file__).resolve().parent.parent


def _env(**extra: str) -> dict[str, str]:
    # The developer's own LIVESTUDIO_* variables must not leak into the tests.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVESTUDIO_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run(*args: str, data_dir: Path | None, **env: str) -> subprocess.CompletedProcess[str]:
    flags = [] if data_dir is None else ["--data-dir", str(data_dir)]
    return subprocess.run(
        [sys.executable, "-m", "livestudio", *args, *flags],
        capture_output=True,
        text=True,
        env=_env(**env),
        cwd=ROOT,
        timeout=60,
    )


def fields(stdout: str) -> dict[str, str]:
    """'Name: value' lines → {name: value}."""
    return dict(line.split(": ", 1) for line in stdout.splitlines() if ": " in line)


async def test_show_create_prints_links_and_a_working_key(tmp_path: Path) -> None:
    done = run(
        "show", "create", "Spring sale", "--public-url", "https://shop.example/", data_dir=tmp_path
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(": ")[0] for line in lines] == [
        "Show",
        "WHIP URL",
        "Stream key",
        "Viewer link",
        "Studio",
    ]
    out = fields(done.stdout)
    show_id = out["Show"]
    assert out["WHIP URL"] == f"https://shop.example/whip/{show_id}"
    assert out["Viewer link"] == f"https://shop.example/live/{show_id}"
    async with await Store.open(tmp_path / "livestudio.sqlite3") as store:
        show = await store.get_show(show_id)
        assert show is not None and show.title == "Spring sale"
        assert await store.check_stream_key(show_id, out["Stream key"])

    listed = run("show", "list", data_dir=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert show_id in listed.stdout and "scheduled" in listed.stdout


def test_default_base_url_follows_host_and_port(tmp_path: Path) -> None:
    done = run("show", "create", "Sale", "--port", "9000", data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert fields(done.stdout)["WHIP URL"].startswith("http://127.0.0.1:9000/whip/")


def test_show_create_links_to_the_running_server(tmp_path: Path) -> None:
    """Without an address of its own, `show create` prints the address of the server
    running on the same data directory (its --port, --public-url...), as issue #16 asked."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "livestudio", "serve", "--data-dir", str(tmp_path)],
        env=_env(LIVESTUDIO_PORT=str(port), LIVESTUDIO_HOST="127.0.0.1"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "server.json").exists():
            assert time.monotonic() < deadline and server.poll() is None, "the server starts"
            time.sleep(0.1)
        done = run("show", "create", "Sale", data_dir=tmp_path)
        assert done.returncode == 0, done.stderr
        out = fields(done.stdout)
        assert out["Viewer link"] == f"http://127.0.0.1:{port}/live/{out['Show']}"
        assert out["Studio"] == f"http://127.0.0.1:{port}/studio/shows/{out['Show']}"
        # An address given to the command wins over the running server's.
        given = run(
            "show", "create", "Sale", "--public-url", "https://a.example", data_dir=tmp_path
        )
        assert fields(given.stdout)["WHIP URL"].startswith("https://a.example/whip/")
    finally:
        server.terminate()
        server.wait(timeout=30)
    # A stopped server's address is not used any more.
    after = run("show", "create", "Sale", data_dir=tmp_path)
    assert fields(after.stdout)["WHIP URL"].startswith("http://127.0.0.1:8080/whip/")
    log = server.stdout.read() if server.stdout else ""
    assert "aioice" not in log


def test_bad_input_exits_2_with_a_message(tmp_path: Path) -> None:
    bad_date = run("show", "create", "Sale", "--starts-at", "next friday", data_dir=tmp_path)
    assert bad_date.returncode == 2
    assert "starts_at" in bad_date.stderr and bad_date.stdout == ""
    empty = run("show", "create", "  ", data_dir=tmp_path)
    assert empty.returncode == 2 and "title" in empty.stderr
    bad_port = run("show", "list", "--port", "99999", data_dir=tmp_path)
    assert bad_port.returncode == 2 and "port" in bad_port.stderr


async def test_token_create_prints_a_working_token(tmp_path: Path) -> None:
    done = run("token", "create", "--name", "stream deck", data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    token = fields(done.stdout)["API token"]
    assert token.startswith("ls_")
    assert "once" in done.stdout
    async with await Store.open(tmp_path / "livestudio.sqlite3") as store:
        assert await store.verify_api_token(token)
        assert [t.name for t in await store.list_api_tokens()] == ["stream deck"]


async def test_admin_reset_password_prints_a_working_password(tmp_path: Path) -> None:
    done = run("admin", "reset-password", data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    out = fields(done.stdout)
    assert out["Username"] == "admin" and len(out["Password"]) >= 16
    again = fields(run("admin", "reset-password", data_dir=tmp_path).stdout)
    async with await Store.open(tmp_path / "livestudio.sqlite3") as store:
        assert await store.verify_password("admin", again["Password"])
        assert not await store.verify_password("admin", out["Password"])


async def test_admin_create_takes_the_password_from_the_environment(tmp_path: Path) -> None:
    done = run(
        "admin",
        "create",
        "--username",
        "alice",
        data_dir=tmp_path,
        LIVESTUDIO_ADMIN_PASSWORD="correct horse battery",
    )
    assert done.returncode == 0, done.stderr
    assert "correct horse battery" not in done.stdout
    async with await Store.open(tmp_path / "livestudio.sqlite3") as store:
        assert await store.verify_password("alice", "correct horse battery")
    taken = run("admin", "create", "--username", "alice", data_dir=tmp_path)
    assert taken.returncode == 2 and "exists" in taken.stderr


async def test_admin_reset_password_and_delete_log_the_admin_out(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "livestudio.sqlite3") as store:
        await store.create_admin("alice", "correct horse battery")
        await store.create_admin("bob", "another good password")
        alice = await store.start_session("alice", "Firefox")
        bob = await store.start_session("bob", "Safari")
    done = run("admin", "reset-password", "--username", "alice", data_dir=tmp_path)
    assert done.returncode == 0 and "logged out" in done.stdout, done.stderr
    deleted = run("admin", "delete", "--username", "bob", data_dir=tmp_path)
    assert deleted.returncode == 0 and "logged out" in deleted.stdout, deleted.stderr
    last = run("admin", "delete", "--username", "alice", data_dir=tmp_path)
    assert last.returncode == 2 and "only admin" in last.stderr
    async with await Store.open(tmp_path / "livestudio.sqlite3") as store:
        assert await store.session_user(alice) is None
        assert await store.session_user(bob) is None
        assert await store.list_usernames() == ["alice"]


def test_settings_lists_every_setting_with_its_variable() -> None:
    done = run("settings", data_dir=None)
    assert done.returncode == 0, done.stderr
    assert "--data-dir  LIVESTUDIO_DATA_DIR  default: data" in done.stdout
    assert "LIVESTUDIO_PORT" in done.stdout


async def test_show_create_while_the_server_holds_the_database(tmp_path: Path) -> None:
    path = tmp_path / "livestudio.sqlite3"
    # The server's Store, open in WAL mode for the whole test.
    async with await Store.open(path) as server_store:
        existing, _ = await server_store.create_show("Already here", None)
        # Another writer (a busy server) holds the write lock for a while; the CLI waits for
        # it (busy_timeout) instead of failing with "database is locked".
        writer = sqlite3.connect(path, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE shows SET title = 'Renamed' WHERE id = ?", (existing.id,))
        cli = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "livestudio",
            "show",
            "create",
            "While live",
            "--data-dir",
            str(tmp_path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=_env(),
            cwd=ROOT,
        )
        # Deliberately let time pass: a CLI that did not wait for the lock would have
        # failed and exited by now.
        await asyncio.sleep(1.5)
        assert cli.returncode is None  # still waiting for the lock, not failed
        writer.execute("COMMIT")
        writer.close()
        stdout, stderr = await asyncio.wait_for(cli.communicate(), timeout=30)
        assert cli.returncode == 0, stderr.decode()
        out = fields(stdout.decode())
        assert await server_store.check_stream_key(out["Show"], out["Stream key"])
        titles = {show.title for show in await server_store.list_shows()}
        assert titles == {"Renamed", "While live"}


def test_aioice_is_quiet_unless_asked() -> None:
    import logging

    from livestudio.app import setup_logging

    setup_logging({})
    assert logging.getLogger("aioice").getEffectiveLevel() == logging.WARNING
    setup_logging({"LIVESTUDIO_LOG_ICE": "1"})
    assert logging.getLogger("aioice").getEffectiveLevel() == logging.INFO
    logging.getLogger("aioice").setLevel(logging.NOTSET)
