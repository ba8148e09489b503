"""Settings: CLI flags and LIVESTUDIO_* environment variables, with defaults that just work."""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_type_hints
from urllib.parse import urlsplit


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
    "Base URL in links (WHIP URL, viewer link, embed code, oEmbed, calendars); defaults to http(s)://host:port."
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
    "Also offer 127.0.0.1 to clients on this machine (needed when its only interface is loopback)."
    max_viewers: int = 200
    "WebRTC viewers per show; over it WHEP answers 503 with Retry-After."
    max_server_load: float = 1.0
    """Above this load (the event loop's share of a core, or the process's of its cores,
    over 2 s) new WebRTC viewers get 503 and their pages play HLS; 1 (the default): never.
    Opt-in: a crowd joining at once loads a server more than the same crowd watching
    (docs/deploy.md)."""
    max_negotiations: int = 16
    "SDP negotiations in flight at once (a quarter kept for WHIP); over it WHIP/WHEP answer 503."
    max_sessions_per_ip: int = 20
    "WHEP sessions one client address (IPv6: its /64) may hold at once (429 beyond)."
    max_event_sockets_per_ip: int = 100
    "Viewer pages (event WebSockets) one client address (IPv6: its /64) may hold at once."
    chat_messages_per_ip: int = 10
    "Chat messages per 10 s from one client address (IPv6: its /64), whatever its cookies."
    allowed_origins: tuple[str, ...] = ()
    "Other sites (https://shop.example) whose pages may open the live events WebSocket."
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
    fanout_workers: int = 0
    "Processes that serve the viewers, to use every core (0: the main process does)."
    fanout_sender: str = "lean"
    "Viewers' RTP: lean (packetized once, one loop over viewers) or aiortc (a sender each)."
    grace_period: float = 60.0
    "Seconds a vanished publisher has to come back before the show ends."
    hls: bool = True
    "Serve each live show as HLS at /media/{show}/index.m3u8 (CDNs; viewers WebRTC cannot reach)."
    hls_part_duration: float = 0.5
    "Seconds of a Low-Latency HLS part (0: segments only, no LL-HLS parts)."
    trusted_proxy: tuple[str, ...] = ()
    "Addresses of reverse proxies whose X-Forwarded-* headers are believed."
    import_allow_private_hosts: bool = False
    "Let CSV imports fetch image URLs from loopback and private networks (a shop on the LAN)."

    @property
    def base_url(self) -> str:
        """The public base URL without a trailing slash."""
        if self.public_url:
            return self.public_url.rstrip("/")
        scheme = "https" if self.tls_cert else "http"
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        if ":" in host:  # an IPv6 address: brackets keep its colons apart from the port
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.port}"

    @property
    def database_path(self) -> Path:
        """The SQLite file."""
        return self.data_dir / "livestudio.sqlite3"


_PATH_FIELDS = {"data_dir", "recordings_dir", "tls_cert", "tls_key"}

FANOUT_SENDERS = ("lean", "aiortc")
"Values of fanout_sender (media/viewer.py SENDERS)."

X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
"libx264's presets: any other name makes the encoder refuse to open when the host goes live."


class SettingsError(ValueError):
    """A setting the server cannot run with; the message names it the way the user set it."""


SERVER_FILE = "server.json"
"In the data directory: the address of the server running on it (written by serve)."
ADDRESS_SETTINGS = ("public_url", "host", "port", "tls_cert")
"The settings that make the server's base URL."


def write_server_address(settings: Settings) -> None:
    """Note the server's base URL in its data directory, for the CLI's links."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    record = {"base_url": settings.base_url, "pid": os.getpid()}
    (settings.data_dir / SERVER_FILE).write_text(json.dumps(record) + "\n")


def running_server_url(data_dir: Path) -> str | None:
    """The base URL of the server running on `data_dir`, if one is (its process lives)."""
    try:
        record = json.loads((data_dir / SERVER_FILE).read_text())
        pid, base_url = int(record["pid"]), str(record["base_url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # a server that stopped: its address may be gone with it
    except PermissionError:
        pass  # alive, another user's
    return base_url


def env_name(name: str) -> str:
    """The environment variable of setting `name`."""
    return "LIVESTUDIO_" + name.upper()


def flag_name(name: str) -> str:
    """The command-line flag of setting `name`."""
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class _Given:
    """What the user wrote for each setting and where, so an error can quote it back."""

    labels: dict[str, str]
    "Setting name → the environment variable or --flag it came from (the one that won)."
    raw: dict[str, Any]
    "Setting name → the value as given (the string, for the environment and the CLI)."

    def label(self, name: str) -> str:
        # A default that fails a check (only possible for combined checks) is named by its
        # environment variable: that is the spelling the docs lead with.
        return self.labels.get(name, env_name(name))

    def error(self, name: str, allowed: str, got: Any = None) -> SettingsError:
        """`<setting> must be <allowed> (got <what the user wrote>)`."""
        shown = self.raw.get(name) if got is None else got
        return SettingsError(f"{self.label(name)} must be {allowed} (got {shown!r})")


@dataclass(frozen=True)
class _Range:
    """The allowed values of a numeric setting, and how to say so."""

    low: float
    high: float = math.inf
    low_open: bool = False
    "The low end itself is not allowed (a duration of 0 s is as wrong as a negative one)."
    text: str = ""

    def allows(self, value: float) -> bool:
        if not math.isfinite(value):  # nan slips through every comparison
            return False
        above_low = value > self.low if self.low_open else value >= self.low
        return above_low and value <= self.high


HLS_PART_TEXT = "0 (no parts) or a number of seconds from 0.1 to 1"
_COUNT = _Range(1, text="a whole number above 0")
"A limit of 0 would turn everyone away; a negative one compares as if there were none."

_RANGES: dict[str, _Range] = {
    "port": _Range(0, 65535, text="a whole number from 0 to 65535"),
    "max_viewers": _COUNT,
    "fanout_workers": _Range(0, 64, text="a whole number from 0 to 64"),
    "max_negotiations": _COUNT,
    "max_server_load": _Range(0.1, 1.0, text="a share from 0.1 to 1 (1: never turn away)"),
    "max_sessions_per_ip": _COUNT,
    "max_event_sockets_per_ip": _COUNT,
    "chat_messages_per_ip": _COUNT,
    "video_width": _Range(16, 3840, text="a whole number of pixels from 16 to 3840"),
    "video_height": _Range(16, 2160, text="a whole number of pixels from 16 to 2160"),
    "video_fps": _Range(1, 60, text="a whole number from 1 to 60"),
    # In bit/s: the floor catches a value meant as kbit/s (x264's VBV is set in kbit/s, so
    # under 1000 it would even be 0), the ceiling one with a zero too many.
    "video_bitrate": _Range(
        100_000, 100_000_000, text="a whole number of bit/s from 100000 to 100000000"
    ),
    "keyframe_interval": _Range(
        0, 10, low_open=True, text="a number of seconds above 0 and at most 10"
    ),
    "grace_period": _Range(0, low_open=True, text="a number of seconds above 0"),
    "hls_part_duration": _Range(0, 1, text=HLS_PART_TEXT),
}
"Every int and float setting has its range here (tests/test_config.py checks that)."


def _convert(name: str, kind: Any, raw: str, given: _Given) -> Any:
    text = raw.strip()
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise given.error(name, "true or false (or yes/no, on/off, 1/0)")
    if kind is int or kind is float:
        try:
            return kind(text)
        except ValueError:
            raise given.error(name, _RANGES[name].text) from None
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
        parser.add_argument(
            flag_name(f.name),
            dest=f.name,
            default=None,
            metavar=f.name.upper(),
            help=f"{docs.get(f.name, '')} [{env_name(f.name)}, default: {f.default}]".replace(
                "%", "%%"
            ),
        )


def load_settings(
    overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None
) -> Settings:
    """Build Settings from defaults < LIVESTUDIO_* environment < overrides (CLI flags).

    Raises SettingsError, in one line naming the variable or flag, for anything the server
    could not run with: better now than when the host goes live.
    """
    env = os.environ if environ is None else environ
    kinds = _field_types()
    given = _Given(labels={}, raw={})
    for name in kinds:
        raw = env.get(env_name(name))
        if raw is not None:
            given.labels[name], given.raw[name] = env_name(name), raw
    for name, value in (overrides or {}).items():
        if value is None:
            continue
        if name not in kinds:
            raise SettingsError(f"unknown setting {name!r}")
        given.labels[name], given.raw[name] = flag_name(name), value
    values: dict[str, Any] = {}
    for name, value in given.raw.items():
        values[name] = (
            _convert(name, kinds[name], value, given) if isinstance(value, str) else value
        )
    for name in ("data_dir", "recordings_dir"):
        if name not in values:
            values[name] = Path(getattr(Settings, name)).absolute()
    settings = Settings(**values)
    _validate(settings, kinds, given)
    return settings


def _validate(s: Settings, kinds: dict[str, Any], given: _Given) -> None:
    _check_numbers(s, kinds, given)
    _check_directory(s.data_dir, "data_dir", given)
    _check_directory(s.recordings_dir, "recordings_dir", given)
    _check_tls(s, given)
    if s.x264_preset not in X264_PRESETS:
        raise given.error("x264_preset", "one of " + ", ".join(X264_PRESETS))
    if s.fanout_sender not in FANOUT_SENDERS:
        raise given.error("fanout_sender", "one of " + ", ".join(FANOUT_SENDERS))
    _check_public_ip(s.public_ip, given)
    _check_public_url(s.public_url, given)
    _check_ice_servers(s, given)
    _check_ice_interfaces(s.ice_interfaces, given)
    _check_trusted_proxy(s.trusted_proxy, given)
    _check_origins(s.allowed_origins, given)
    _check_switch(s.import_allow_private_hosts, "import_allow_private_hosts", given)
    _check_switch(s.hls, "hls", given)
    if 0 < s.hls_part_duration < 0.1:
        # A part per frame or two: requests per viewer multiply for no latency gained.
        raise given.error("hls_part_duration", HLS_PART_TEXT, given.raw.get("hls_part_duration"))


def _check_numbers(s: Settings, kinds: dict[str, Any], given: _Given) -> None:
    for name, allowed in _RANGES.items():
        value = getattr(s, name)
        # Overrides from code arrive unconverted: a str "5" was converted, but a float for an
        # int setting (or a bool, which is an int) would reach libx264 or a counter as is.
        types = (int,) if kinds[name] is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, types):
            raise given.error(name, allowed.text, value)
        if not allowed.allows(value):
            raise given.error(name, allowed.text, given.raw.get(name, value))


def _check_directory(path: Path | None, name: str, given: _Given) -> None:
    # An empty value is an error rather than the default: `LIVESTUDIO_DATA_DIR=$DIR` with
    # DIR unset would otherwise put a fresh database (new admin, no shows) in the cwd.
    if path is None:
        raise given.error(name, "a directory path")
    # The server creates it (and its parents) on first use: check what is already there.
    # (os.path, not Path: Path.exists raises on a parent this user may not even look into.)
    existing = path
    while not os.path.exists(existing) and existing != existing.parent:
        existing = existing.parent
    if not os.path.isdir(existing):
        raise given.error(name, "a directory, not a file", str(existing))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise given.error(name, "a directory this user can write to", str(existing))


def _check_tls(s: Settings, given: _Given) -> None:
    if s.tls_cert is None and s.tls_key is None:
        return
    if s.tls_cert is None or s.tls_key is None:
        missing, present = ("tls_key", "tls_cert") if s.tls_key is None else ("tls_cert", "tls_key")
        raise SettingsError(
            f"{given.label(missing)} must be set too: it goes with {given.label(present)}"
        )
    # A certificate and key in one file serve for both, so look for the marker, not the start.
    if b"-----BEGIN CERTIFICATE-----" not in _read_pem(s.tls_cert, "tls_cert", given):
        raise given.error("tls_cert", "a PEM certificate file", str(s.tls_cert))
    if b"PRIVATE KEY-----" not in _read_pem(s.tls_key, "tls_key", given):
        raise given.error("tls_key", "a PEM private key file", str(s.tls_key))
    _check_cert_chain(s.tls_cert, s.tls_key, given)


def _read_pem(path: Path, name: str, given: _Given) -> bytes:
    # Opening is the only check that tells the truth about permissions (ACLs, root, ...).
    try:
        with path.open("rb") as file:
            return file.read(1_000_000)
    except IsADirectoryError:
        raise given.error(name, "a PEM file, not a directory", str(path)) from None
    except FileNotFoundError:
        raise given.error(name, "an existing PEM file", str(path)) from None
    except OSError as exc:
        raise given.error(
            name, f"a PEM file this user can read ({exc.strerror})", str(path)
        ) from None


class _Encrypted(Exception):
    """The key asked for a passphrase: the server will prompt for it, as it always has."""


def _check_cert_chain(cert: Path, key: Path, given: _Given) -> None:
    # Loaded here, as the server will, so a mismatched or broken pair is one line now rather
    # than an ssl traceback after the first-run admin has been created.
    import ssl

    def no_prompt() -> str:
        raise _Encrypted

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key, password=no_prompt)
    except _Encrypted:
        return
    except ssl.SSLError as exc:
        reason = (exc.reason or "").lower().replace("_", " ") or str(exc)
        raise SettingsError(
            f"{given.label('tls_key')} must be the private key of {given.label('tls_cert')} "
            f"({reason}; got {str(key)!r} for {str(cert)!r})"
        ) from None


def _check_public_ip(public_ip: str, given: _Given) -> None:
    # ICE candidates carry an address: a hostname would fail in ice.announce_public_ip on
    # every WHIP/WHEP request.
    if not public_ip:
        return
    allowed = "an IP address such as 203.0.113.7 or 2001:db8::7, not a hostname"
    try:
        address = ipaddress.ip_address(public_ip)
    except ValueError:
        raise given.error("public_ip", allowed) from None
    if address.is_unspecified or address.is_multicast:
        raise given.error("public_ip", allowed.replace("not a hostname", "browsers can reach"))


def _check_public_url(url: str, given: _Given) -> None:
    # Every link printed and put in pages starts with it; auth decides on Secure cookies by
    # its "https://" prefix, so the scheme is checked as written, in lower case.
    if not url:
        return
    allowed = "an http:// or https:// URL such as https://shop.example, without ?query or #"
    if not url.startswith(("http://", "https://")) or any(c.isspace() for c in url):
        raise given.error("public_url", allowed)
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 (parsing the port is the check)
    except ValueError:
        raise given.error("public_url", allowed) from None
    if not parts.hostname or parts.query or parts.fragment or "?" in url or "#" in url:
        raise given.error("public_url", allowed)


_ICE_URL = re.compile(
    r"(?:stuns?:|turns?:)"
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
    r"(?::(?P<port>\d{1,5}))?"
)
"RFC 7064/7065 host[:port]; a browser rejects anything else when it builds the connection."
_TURN_QUERY = re.compile(r"\?transport=(?:udp|tcp)")


def _check_ice_servers(s: Settings, given: _Given) -> None:
    allowed = (
        "stun: or turn: URLs separated by commas, such as stun:stun.example.com:3478 "
        "or turn:turn.example.com:3478?transport=udp"
    )
    for url in s.ice_servers:
        match = _ICE_URL.match(url)
        if match is None:
            raise given.error("ice_servers", allowed, url)
        rest = url[match.end() :]
        is_turn = url.startswith("turn")
        if rest and not (is_turn and _TURN_QUERY.fullmatch(rest)):
            raise given.error("ice_servers", allowed, url)
        if match["port"] is not None and not 1 <= int(match["port"]) <= 65535:
            raise given.error("ice_servers", allowed, url)
        # A browser refuses a TURN server without credentials (InvalidAccessError) and the
        # page's connection with it; they are derived from the secret.
        if is_turn and not s.turn_secret:
            raise SettingsError(
                f"{given.label('turn_secret')} must be set (coturn's static-auth-secret) "
                f"for the TURN server {url!r} in {given.label('ice_servers')}"
            )


def _check_ice_interfaces(names: tuple[str, ...], given: _Given) -> None:
    # Interfaces are matched by name; an address here would silently match nothing and
    # leave only loopback candidates (an unknown name is allowed: it may come up later).
    for name in names:
        if _is_address(name):
            raise given.error(
                "ice_interfaces",
                "network interface names such as eth0, separated by commas, not addresses",
                name,
            )


def _check_trusted_proxy(entries: tuple[str, ...], given: _Given) -> None:
    # http/net.py skips entries it cannot parse, so a typo would quietly trust no proxy and
    # lump every viewer under the proxy's address (one per-IP limit for all).
    for entry in entries:
        if not _is_address(entry):
            raise given.error(
                "trusted_proxy",
                "IP addresses or networks separated by commas, such as 10.0.0.2 or "
                "10.0.0.0/8, not hostnames",
                entry,
            )


def _check_origins(origins: tuple[str, ...], given: _Given) -> None:
    # Compared with a browser's Origin header, which is scheme://host[:port] exactly.
    for origin in origins:
        parts = urlsplit(origin)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or origin != f"{parts.scheme}://{parts.netloc}"
        ):
            raise given.error(
                "allowed_origins",
                "origins such as https://shop.example (scheme, host and port, no path), "
                "separated by commas",
                origin,
            )


def _check_switch(value: object, name: str, given: _Given) -> None:
    # It lowers a security guard: an override from code that is not a bool (the int 1, a
    # list) must not switch it on by being truthy. Strings were converted already.
    if not isinstance(value, bool):
        raise given.error(name, "true or false (or yes/no, on/off, 1/0)", value)


def _is_address(text: str) -> bool:
    """An IP address or network, the way http/net.py reads one."""
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


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


__all__ = [
    "X264_PRESETS",
    "Settings",
    "SettingsError",
    "add_arguments",
    "env_name",
    "flag_name",
    "load_settings",
    "settings_help",
]
