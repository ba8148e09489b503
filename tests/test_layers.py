"""Imports point one way: http → live → media / store / catalog, never back (DESIGN
"Layout"). Only http/ (and the app factory) may touch aiohttp.web."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "livestudio"

MAY_IMPORT: dict[str, set[str]] = {
    "media": {"media"},
    "catalog": {"catalog"},
    "store": {"store", "catalog"},
    "live": {"live", "media", "store", "catalog", "config"},
    "http": {"http", "live", "media", "store", "catalog", "config"},
    "config": set(),
}
"Package → the livestudio packages its modules may import."
NO_WEB = {"media", "live", "store", "catalog", "config"}
"Packages that must not import aiohttp.web (or aiohttp_session, which is made of it)."


def imports(path: Path) -> list[str]:
    """Absolute names of every module `path` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(), str(path))
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = parts[:-1]  # a module's package; an __init__'s parts end in "__init__"
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.append(module)
            names += [f"{module}.{alias.name}" for alias in node.names]
    return names


def layer_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_package_has_rules() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages <= set(MAY_IMPORT), f"add rules for {packages - set(MAY_IMPORT)}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_one_way(path: Path) -> None:
    layer = layer_of(path)
    if layer not in MAY_IMPORT:
        return  # app.py, __main__.py: they put the layers together
    wrong = sorted(
        {
            name
            for name in imports(path)
            if name.startswith("livestudio.")
            and name.split(".")[1] in MAY_IMPORT
            and name.split(".")[1] not in MAY_IMPORT[layer]
        }
    )
    assert not wrong, f"{layer}/ may not import {wrong}"


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if layer_of(p) in NO_WEB],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_only_http_touches_aiohttp_web(path: Path) -> None:
    web = sorted(
        name
        for name in imports(path)
        if name in ("aiohttp.web", "aiohttp.web_request", "aiohttp.web_response")
        or name.startswith(("aiohttp.web.", "aiohttp_session"))
    )
    assert not web, f"{path.relative_to(PACKAGE)} imports {web}: only http/ may"


def test_the_checker_sees_relative_imports() -> None:
    # The rules are only as good as the parser: a known import must be found.
    found = imports(PACKAGE / "live" / "onair_products.py")
    assert "livestudio.media.show.LiveShow" in found
    assert "livestudio.live.events.EventHub" in found
