"""Docs that a test keeps honest: settings, commands and API routes are all documented."""

from __future__ import annotations

from pathlib import Path

from livestudio.config import settings_help
from livestudio.http.openapi import SPEC

from .conftest import Studio

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "cli.md").read_text()
    for name, _, _ in settings_help():
        assert f"`{name}`" in text, f"setting {name} missing from docs/cli.md"
        assert f"LIVESTUDIO_{name.upper()}" in text


def test_every_command_is_documented() -> None:
    text = (DOCS / "cli.md").read_text()
    for command in (
        "serve",
        "show create",
        "show list",
        "token create",
        "admin reset-password",
        "admin delete",
    ):
        assert f"livestudio {command}" in text


async def test_every_api_route_is_in_openapi_and_api_md(studio: Studio) -> None:
    text = (DOCS / "api.md").read_text()
    routes = {
        (route.method, route.resource.canonical)
        for route in studio.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/")
        and route.method not in ("HEAD", "OPTIONS")
        and route.resource.canonical != "/api/openapi.json"
    }
    assert routes
    for method, path in routes:
        assert method.lower() in SPEC["paths"].get(path, {}), f"{method} {path} not in openapi"
        assert f"{method} {path}" in text, f"{method} {path} not in docs/api.md"
    async with studio.session.get(studio.url("/api/openapi.json")) as r:
        assert r.status == 200 and (await r.json())["openapi"].startswith("3.")


async def test_api_requires_token(studio: Studio) -> None:
    async with studio.session.get(studio.url("/api/shows")) as r:
        assert r.status == 401
    async with studio.session.get(
        studio.url("/api/shows"), headers={"Authorization": "Bearer ls_wrong"}
    ) as r:
        assert r.status == 401
    token = await studio.store.create_api_token("test")
    auth = {"Authorization": f"Bearer {token}"}
    async with studio.session.post(studio.url("/api/shows"), json={"title": ""}, headers=auth) as r:
        assert r.status == 422
    async with studio.session.post(studio.url("/api/shows"), data="not json", headers=auth) as r:
        assert r.status == 400
    async with studio.session.post(
        studio.url("/api/shows"), json={"title": "API show"}, headers=auth
    ) as r:
        assert r.status == 201
        show = await r.json()
        assert show["stream_key"] and show["state"] == "scheduled"
    async with studio.session.get(studio.url("/api/shows"), headers=auth) as r:
        shows = (await r.json())["shows"]
        assert [s["id"] for s in shows] == [show["id"]]
        assert "stream_key" not in shows[0]
    async with studio.session.post(studio.url(f"/api/shows/{show['id']}/end"), headers=auth) as r:
        assert r.status == 409


def test_a_regular_install_ships_templates_static_files_and_fonts(tmp_path: Path) -> None:
    """A non-editable install must carry web/ and the fonts (pyproject package data)."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    import zipfile

    (wheel,) = tmp_path.glob("livestudio-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "livestudio/web/templates/base.html",
        "livestudio/web/templates/_chat.html",
        "livestudio/web/static/js/live.js",
        "livestudio/web/static/css/app.css",
        "livestudio/web/static/vendor/hls.js/hls.light.min.js",
        "livestudio/web/static/img/og.png",
        "livestudio/media/fonts/DroidSansFallback.ttf",
    ):
        assert needed in names, needed


def test_ci_runs_exactly_the_readme_test_line() -> None:
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    readme = (ROOT / "README.md").read_text()
    assert f"\n{ci}\n" in readme, ".ci/run's command must be the README's test line, verbatim"
