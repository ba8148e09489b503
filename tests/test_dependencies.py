"""pyproject.toml declares what the code imports: no more, no less."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = {"livestudio", "bench", "tests"}


def canonical(name: str) -> str:
    """A distribution name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(requirements: list[str]) -> set[str]:
    """The distribution names of requirement strings, extras and versions left off."""
    names = set()
    for requirement in requirements:
        match = re.match(r"[A-Za-z0-9._-]+", requirement)
        assert match, requirement
        names.add(canonical(match.group()))
    return names


def third_party_imports(folder: str) -> dict[str, str]:
    """Top-level modules imported under `folder` that are neither stdlib nor ours, each
    with a file that imports it."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top not in OURS and top != "__future__":
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def distributions(imports: dict[str, str]) -> dict[str, str]:
    """The installed distribution of each imported module (canonical name → importing file)."""
    installed = packages_distributions()
    out = {}
    for module, where in imports.items():
        assert module in installed, f"{where} imports {module}, which no installed package provides"
        for dist in installed[module]:
            out[canonical(dist)] = where
    return out


PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUNTIME = requirement_names(PROJECT["dependencies"])
TEST = requirement_names(PROJECT["optional-dependencies"]["test"])


def test_server_imports_are_runtime_dependencies() -> None:
    used = distributions(third_party_imports("livestudio"))
    missing = {dist: where for dist, where in used.items() if dist not in RUNTIME}
    assert not missing, f"imported but not in [project] dependencies: {missing}"


def test_every_runtime_dependency_is_imported_by_the_server() -> None:
    used = distributions(third_party_imports("livestudio"))
    unused = sorted(RUNTIME - set(used))
    assert not unused, f"in [project] dependencies but never imported by livestudio/: {unused}"


def test_bench_and_test_imports_are_declared() -> None:
    for folder in ("bench", "tests"):
        used = distributions(third_party_imports(folder))
        missing = {dist: where for dist, where in used.items() if dist not in RUNTIME | TEST}
        assert not missing, f"{folder}/ imports undeclared packages: {missing}"


SECURITY_FLOORS: dict[str, tuple[str, str]] = {
    "aiohttp": (
        "3.14.3",
        "GHSA-cq5v-8q36-5273 (3.14.3: out-of-bounds read in the C HTTP parser), "
        "GHSA-mfx4-hv73-q22v (3.14.2: request smuggling via WebSocket upgrade), "
        "GHSA-4fvr-rgm6-gqmc (3.14.1: pipelined requests queue without limit), "
        "GHSA-63hf-3vf5-4wqf (3.13.4: control characters in headers), and older ones",
    ),
    "pillow": (
        "12.3",
        "the out-of-bounds writes and decompression-bomb DoS advisories fixed in 12.3.0, "
        "GHSA-cfh3-3jmp-rvhc (12.1.1: out-of-bounds write loading a PSD), and older ones",
    ),
}
"Distributions with advisories below a version: the least version pyproject may allow."


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def test_dependency_floors_are_past_known_advisories() -> None:
    from importlib.metadata import version

    floors = {}
    for requirement in PROJECT["dependencies"]:
        match = re.match(r"([A-Za-z0-9._-]+)(?:\[[^]]*\])?>=([0-9.]+)", requirement)
        if match:
            floors[canonical(match.group(1))] = match.group(2)
    for name, (safe, advisories) in SECURITY_FLOORS.items():
        assert name in floors, f"{name}: give it a floor of at least {safe}"
        assert _version(floors[name]) >= _version(safe), (
            f"{name}>={floors[name]} allows releases with known advisories: {advisories}"
        )
        assert _version(version(name)) >= _version(safe), f"the installed {name} is older"
