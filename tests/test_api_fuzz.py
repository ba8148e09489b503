"""The JSON API against a fuzzer: schemathesis, with every check, reads /api/openapi.json
of a running server and sends what it describes (and what it does not), following its
links from created shows and products (the stateful phase). Zero failures: no 500, no
status code, content type or body the description leaves out, no request it calls valid
refused, no invalid one taken.

tests/fuzz_hooks.py teaches it what a valid image and CSV are, and the two price rules
JSON Schema cannot state; tests/schemathesis.toml keeps its stateful links to the
schema's own and Location headers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from livestudio.store import Store

from .server import ROOT, ServerProcess

EXAMPLES = 25
"Test cases per operation and phase: under a minute on two cores."
SEED = "14"
"A fixed seed: the same requests every run (other seeds pass too; try one with --seed)."


async def _moderation_to_undo(data_dir: Path) -> None:
    """A ban and a signed-in browser, so that lifting and ending them is reached too."""
    async with await Store.open(data_dir / "livestudio.sqlite3") as store:
        await store.create_admin("admin", "correct horse battery")
        show, _ = await store.create_show("Last week", None)
        await store.add_ban(show.id, "troll-cookie", "", "Troll")
        await store.start_session("admin", "Firefox", "203.0.113.7")


def test_the_api_survives_a_fuzzer(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path)
    asyncio.run(_moderation_to_undo(server.data_dir))
    server.start()
    try:
        made = server.cli("token", "create", "--name", "fuzzer")
        assert made.returncode == 0, made.stderr
        token = made.stdout.split("API token: ", 1)[1].split()[0]
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "--config-file",
                str(ROOT / "tests" / "schemathesis.toml"),
                "run",
                f"{server.base}/api/openapi.json",
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                "all",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--max-examples",
                str(EXAMPLES),
                "--seed",
                SEED,
                "--workers",
                "1",
                "--no-color",
                "--generation-database",
                "none",
            ],
            cwd=tmp_path,  # its reports and caches stay out of the repository
            env={**os.environ, "PYTHONPATH": str(ROOT), "SCHEMATHESIS_HOOKS": "tests.fuzz_hooks"},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        server.stop()
    (tmp_path / "schemathesis.out").write_text(run.stdout + run.stderr)
    report = run.stdout[-12000:] + run.stderr[-3000:]
    assert run.returncode == 0, report
    assert "✅ Stateful" in run.stdout, report
