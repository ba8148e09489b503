"""Settings: CLI flags and LIVESTUDIO_* environment variables, with defaults that just work."""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_type_hints


@dataclass(frozen=True)
class Settings:
    """Everything `livestudio serve` can be told; each field is also LIVESTUDIO_<NAME>."""

    host: str = "127.0.0.1"
    "Address the HTTP server binds to."
    port: int = 8080
    "TCP port of the HTTP server."
    data_dir: Path = Path("data")
    "Where the SQLite database and secrets live."
    recordings_dir: Path = Path("recordings")
    "Where show recordings are written, one folder per show."
    public_url: str = ""
    "Base URL printed in links (WHIP URL, viewer link); defaults to http(s)://host:port."
    tls_cert: Path | None = None
    "PEM certificate: serve HTTPS directly (browsers open the camera only on HTTPS or localhost)."
    tls_key: Path | None = None
    "PEM private key for tls_cert."
    public_ip: str = ""
    "Address announced in ICE candidates instead of the interface's own (1:1 NAT, VPS)."
    ice_servers: tuple[str, ...] = ()
    "STUN/TURN URLs given to browsers (comma-separated in the environment)."
    turn_secret: str = ""
    "coturn `static-auth-secret`: per-page TURN credentials are derived from it."
    ice_interfaces: tuple[str, ...] = ()
    "Network interfaces whose addresses are offered as ICE candidates (empty: all)."
    ice_loopback: bool = True
    "Also offer 127.0.0.1 (needed on a machine whose only interface is loopback)."
    max_viewers: int = 200
    "WebRTC viewers per show; over it WHEP answers 503 with Retry-After."
    max_negotiations: int = 16
    "SDP negotiations in flight at once; over it WHIP/WHEP answer 503."
    max_sessions_per_ip: int = 20
    "WHEP sessions one client address may hold at once (429 beyond)."
    max_event_sockets_per_ip: int = 100
    "Viewer pages (event WebSockets) one client address may hold at once (429 beyond)."
    video_width: int = 1280
    "Program width (the source's, if smaller)."
    video_height: int = 720
    "Program height (the source's, if smaller)."
    video_fps: int = 30
    "Program frame rate."
    video_bitrate: int = 2_000_000
    "Program video bitrate in bit/s."
    x264_preset: str = "veryfast"
    "libx264 preset; see `python -m bench` for the cost of each on this machine."
    keyframe_interval: float = 2.0
    "Seconds between regular keyframes (a joiner also forces one)."
    grace_period: float = 60.0
    "Seconds a vanished publisher has to come back before the show ends."
    trusted_proxy: tuple[str, ...] = ()
    "Addresses of reverse proxies whose X-Forwarded-* headers are believed."

    @property
    def base_url(self) -> str:
        """The public base URL without a trailing slash."""
        if self.public_url:
            return self.public_url.rstrip("/")
        scheme = "https" if self.tls_cert else "http"
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def database_path(self) -> Path:
        """The SQLite file."""
        return self.data_dir / "livestudio.sqlite3"


_PATH_FIELDS = {"data_dir", "recordings_dir", "tls_cert", "tls_key"}


def _convert(name: str, kind: Any, raw: str) -> Any:
    text = raw.strip()
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{name}: expected true/false, got {raw!r}")
    if kind is int:
        return int(text)
    if kind is float:
        return float(text)
    if name in _PATH_FIELDS:
        return Path(text).expanduser().absolute() if text else None
    if kind == tuple[str, ...]:
        return tuple(part.strip() for part in text.split(",") if part.strip())
    return text


def _field_types() -> dict[str, Any]:
    hints = get_type_hints(Settings)
    kinds: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        kind = hints[f.name]
        if f.name in _PATH_FIELDS:
            kind = Path
        kinds[f.name] = kind
    return kinds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one --flag per setting to `parser` (defaults come from the environment later)."""
    docs = _attribute_docs()
    for f in dataclasses.fields(Settings):
        flag = "--" + f.name.replace("_", "-")
        env = "LIVESTUDIO_" + f.name.upper()
        parser.add_argument(
            flag,
            dest=f.name,
            default=None,
            metavar=f.name.upper(),
            help=f"{docs.get(f.name, '')} [{env}, default: {f.default}]".replace("%", "%%"),
        )


def load_settings(
    overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None
) -> Settings:
    """Build Settings from defaults < LIVESTUDIO_* environment < overrides (CLI flags)."""
    env = os.environ if environ is None else environ
    kinds = _field_types()
    values: dict[str, Any] = {}
    for name, kind in kinds.items():
        raw = env.get("LIVESTUDIO_" + name.upper())
        if raw is not None:
            values[name] = _convert(name, kind, raw)
    for name, value in (overrides or {}).items():
        if value is None:
            continue
        if name not in kinds:
            raise ValueError(f"unknown setting {name!r}")
        values[name] = _convert(name, kinds[name], value) if isinstance(value, str) else value
    for name in ("data_dir", "recordings_dir"):
        if name not in values:
            values[name] = Path(getattr(Settings, name)).absolute()
    settings = Settings(**values)
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    if not 0 <= s.port <= 65535:
        raise ValueError(f"port: {s.port} is not a TCP port")
    if s.video_width < 16 or s.video_height < 16 or s.video_width > 3840 or s.video_height > 2160:
        raise ValueError("video size must be between 16x16 and 3840x2160")
    if not 1 <= s.video_fps <= 60:
        raise ValueError("video_fps must be between 1 and 60")
    if (s.tls_cert is None) != (s.tls_key is None):
        raise ValueError("tls_cert and tls_key go together")
    if s.keyframe_interval <= 0 or s.keyframe_interval > 10:
        raise ValueError("keyframe_interval must be in (0, 10] seconds")


def settings_help() -> list[tuple[str, str, str]]:
    """(name, default, description) for every setting, for docs and --help."""
    docs = _attribute_docs()
    rows = []
    for f in dataclasses.fields(Settings):
        default = f.default if f.default is not dataclasses.MISSING else ""
        rows.append((f.name, str(default), docs.get(f.name, "")))
    return rows


def _attribute_docs() -> dict[str, str]:
    import ast
    import inspect
    import itertools

    tree = ast.parse(inspect.getsource(Settings))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, nxt in itertools.pairwise(body):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
                docs[node.target.id] = str(nxt.value.value)
    return docs


__all__ = ["Settings", "add_arguments", "load_settings", "settings_help"]
