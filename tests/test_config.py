"""Settings are checked when they are loaded: one line naming the setting, never a crash later."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from livestudio.config import _RANGES, X264_PRESETS, Settings, SettingsError, load_settings

from .certs import ec_key, key_pem, self_signed, write_pair

ROOT = Path(__file__).resolve().parent.parent


def load(tmp_path: Path, **env: str) -> Settings:
    """load_settings with only `env` (as LIVESTUDIO_*) and data dirs under tmp_path."""
    environ = {
        "LIVESTUDIO_DATA_DIR": str(tmp_path / "data"),
        "LIVESTUDIO_RECORDINGS_DIR": str(tmp_path / "recordings"),
        **{f"LIVESTUDIO_{k.upper()}": v for k, v in env.items()},
    }
    return load_settings(environ=environ)


BAD_VALUES = [
    ("x264_preset", "bogus", None),
    ("x264_preset", "", None),
    ("public_ip", "studio.example.com", None),
    ("public_ip", "203.0.113.7:5000", None),
    ("public_ip", "[2001:db8::7]", None),
    ("public_ip", "0.0.0.0", None),
    ("max_viewers", "lots", None),
    ("max_viewers", "0", None),
    ("max_viewers", "-5", None),
    ("max_viewers", "2.5", None),
    ("max_negotiations", "0", None),
    ("max_negotiations", "-1", None),
    ("max_sessions_per_ip", "0", None),
    ("max_event_sockets_per_ip", "-1", None),
    ("grace_period", "0", None),
    ("grace_period", "-10", None),
    ("grace_period", "soon", None),
    ("grace_period", "nan", None),
    ("grace_period", "inf", None),
    ("video_bitrate", "0", None),
    ("video_bitrate", "-2000000", None),
    ("video_bitrate", "2000", None),  # meant as kbit/s
    ("video_bitrate", "2M", None),
    ("video_width", "8", None),
    ("video_height", "4000", None),
    ("video_fps", "0", None),
    ("keyframe_interval", "0", None),
    ("keyframe_interval", "11", None),
    ("hls", "maybe", None),
    ("hls_part_duration", "0.05", None),  # a part per frame or two
    ("hls_part_duration", "1.5", None),
    ("hls_part_duration", "-0.5", None),
    ("port", "99999", None),
    ("port", "http", None),
    ("ice_loopback", "maybe", None),
    ("data_dir", "", None),
    ("data_dir", "   ", None),
    ("recordings_dir", "", None),
    ("public_url", "shop.example", None),
    ("public_url", "ftp://shop.example", None),
    ("public_url", "https://", None),
    ("public_url", "https://shop example", None),
    ("public_url", "https://shop.example:99999", None),
    ("public_url", "https://shop.example/?ref=1", None),
    ("public_url", "HTTPS://shop.example", None),
    ("ice_servers", "stun.example.com", None),
    ("ice_servers", "stun:", None),
    ("ice_servers", "http://stun.example.com", None),
    ("ice_servers", "stun:stun.example.com:99999", None),
    ("ice_servers", "stun:stun.example.com?transport=udp", None),
    ("ice_servers", "stun:ok.example.com,stun:bad example", None),
    # A browser refuses a TURN server without credentials, which come from the secret.
    ("ice_servers", "turn:turn.example.com:3478", "turn_secret"),
    ("trusted_proxy", "proxy.local", None),
    ("trusted_proxy", "10.0.0.0/33", None),
    ("trusted_proxy", "10.0.0.1;10.0.0.2", None),
    ("ice_interfaces", "192.168.1.10", None),
    ("ice_interfaces", "eth0,10.0.0.0/8", None),
]


@pytest.mark.parametrize(("name", "value", "named"), BAD_VALUES)
def test_a_bad_value_is_one_line_naming_the_variable(
    tmp_path: Path, name: str, value: str, named: str | None
) -> None:
    with pytest.raises(SettingsError) as caught:
        load(tmp_path, **{name: value})
    message = str(caught.value)
    assert message.startswith(f"LIVESTUDIO_{(named or name).upper()} must ")
    assert "\n" not in message


def test_the_message_quotes_the_value_and_what_is_allowed(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load(tmp_path, max_viewers="lots")
    assert str(caught.value) == "LIVESTUDIO_MAX_VIEWERS must be a whole number above 0 (got 'lots')"
    with pytest.raises(SettingsError) as caught:
        load(tmp_path, x264_preset="bogus")
    assert "veryfast" in str(caught.value) and "'bogus'" in str(caught.value)


def test_a_flag_is_named_as_a_flag(tmp_path: Path) -> None:
    environ = {"LIVESTUDIO_MAX_VIEWERS": "5", "LIVESTUDIO_DATA_DIR": str(tmp_path)}
    with pytest.raises(SettingsError, match=r"^--max-viewers must be .* \(got '0'\)$"):
        load_settings({"max_viewers": "0"}, environ=environ)
    with pytest.raises(SettingsError, match=r"^--public-ip must be "):
        load_settings({"public_ip": "studio.example.com"}, environ=environ)


@pytest.mark.parametrize(
    ("name", "value"), [("video_bitrate", 2e6), ("max_viewers", True), ("grace_period", "5")]
)
def test_overrides_from_code_are_checked_too(tmp_path: Path, name: str, value: object) -> None:
    overrides = {"data_dir": str(tmp_path), name: value}
    if isinstance(value, str):  # a string is converted like a flag
        assert getattr(load_settings(overrides, environ={}), name) == 5.0
        return
    with pytest.raises(SettingsError, match=f"^--{name.replace('_', '-')} must be "):
        load_settings(overrides, environ={})


def test_every_number_setting_has_a_range() -> None:
    numbers = {
        f.name for f in dataclasses.fields(Settings) if f.type in ("int", "float", int, float)
    }
    assert numbers and numbers == set(_RANGES)


def test_a_data_dir_that_is_a_file(tmp_path: Path) -> None:
    file = tmp_path / "data"
    file.write_text("not a directory")
    with pytest.raises(SettingsError, match=r"^LIVESTUDIO_DATA_DIR must be a directory"):
        load(tmp_path)
    with pytest.raises(SettingsError, match=r"^LIVESTUDIO_RECORDINGS_DIR must be a directory"):
        load(tmp_path, data_dir=str(tmp_path / "ok"), recordings_dir=str(file / "below"))


def test_a_data_dir_this_user_cannot_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    # CI runs as root, who may write anywhere: the permission check is made to say no.
    real_access = os.access
    monkeypatch.setattr(
        "livestudio.config.os.access",
        lambda path, mode: False if Path(path) == locked else real_access(path, mode),
    )
    try:
        with pytest.raises(SettingsError, match=r"^LIVESTUDIO_DATA_DIR must be .* write"):
            load(tmp_path, data_dir=str(locked / "data"))
    finally:
        locked.chmod(0o700)


def good_values() -> list[dict[str, str]]:
    return [
        {},
        *({"x264_preset": preset} for preset in X264_PRESETS),
        {"public_ip": "2001:db8::7"},
        {"public_ip": "203.0.113.7"},
        {"max_viewers": "1", "grace_period": "0.5", "video_bitrate": " 2_500_000 "},
        {"keyframe_interval": "10", "port": "0", "ice_loopback": "off"},
        {"hls": "off", "hls_part_duration": "0"},
        {"hls_part_duration": "0.2"},
        {"public_url": "https://shop.example:8443/studio/"},
        {
            "ice_servers": "stun:stun.l.google.com:19302, turns:[2001:db8::3]:5349,"
            "turn:203.0.113.3:3478?transport=tcp",
            "turn_secret": "s3cret",
        },
        {"trusted_proxy": "127.0.0.1, 10.0.0.0/8, ::1, fd00::/8"},
        {"ice_interfaces": "eth0, wlp2s0, Ethernet 2"},
        {"tls_cert": "", "tls_key": ""},
    ]


@pytest.mark.parametrize("env", good_values())
def test_good_values_still_load(tmp_path: Path, env: dict[str, str]) -> None:
    settings = load(tmp_path, **env)
    assert settings.data_dir == tmp_path / "data"
    assert not settings.data_dir.exists()  # checked, not created: the server does that


def test_the_defaults_load() -> None:
    assert load_settings(environ={}) == Settings(
        data_dir=Path("data").absolute(), recordings_dir=Path("recordings").absolute()
    )


@pytest.fixture(scope="module")
def pems(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cert.pem + key.pem (a pair), other.pem (another key), encrypted.pem, junk.pem."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec_key()
    write_pair(self_signed(key, "localhost"), key, folder / "cert.pem", folder / "key.pem")
    (folder / "other.pem").write_bytes(key_pem(ec_key()))
    (folder / "encrypted.pem").write_bytes(key_pem(key, passphrase=b"passphrase"))
    (folder / "junk.pem").write_text("this is not PEM\n")
    return folder


@pytest.mark.parametrize(
    ("cert", "key", "named", "says"),
    [
        ("missing.pem", "key.pem", "TLS_CERT", "an existing PEM file"),
        ("cert.pem", "missing.pem", "TLS_KEY", "an existing PEM file"),
        (".", "key.pem", "TLS_CERT", "not a directory"),
        ("junk.pem", "key.pem", "TLS_CERT", "a PEM certificate"),
        ("key.pem", "cert.pem", "TLS_CERT", "a PEM certificate"),
        ("cert.pem", "junk.pem", "TLS_KEY", "a PEM private key"),
        ("cert.pem", "other.pem", "TLS_KEY", "the private key of LIVESTUDIO_TLS_CERT"),
        ("cert.pem", None, "TLS_KEY", "set too"),
        (None, "key.pem", "TLS_CERT", "set too"),
    ],
)
def test_tls_files_are_checked_before_the_server_starts(
    tmp_path: Path, pems: Path, cert: str | None, key: str | None, named: str, says: str
) -> None:
    env = {}
    if cert is not None:
        env["tls_cert"] = str(pems / cert)
    if key is not None:
        env["tls_key"] = str(pems / key)
    with pytest.raises(SettingsError) as caught:
        load(tmp_path, **env)
    assert str(caught.value).startswith(f"LIVESTUDIO_{named} must ")
    assert says in str(caught.value)


def test_an_unreadable_key_is_named(
    tmp_path: Path, pems: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "key.pem"
    key.write_bytes((pems / "key.pem").read_bytes())
    key.chmod(0)
    # CI runs as root, who reads any file: opening it is made to fail as it would.
    real_open = Path.open

    def refuse(self: Path, *args: object, **kwargs: object) -> object:
        if self == key:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(SettingsError, match=r"^LIVESTUDIO_TLS_KEY must be a PEM file this user"):
        load(tmp_path, tls_cert=str(pems / "cert.pem"), tls_key=str(key))


@pytest.mark.parametrize("key", ["key.pem", "encrypted.pem"])
def test_a_good_pair_loads(tmp_path: Path, pems: Path, key: str) -> None:
    # An encrypted key is left to the server's passphrase prompt, as before: no prompt here.
    settings = load(tmp_path, tls_cert=str(pems / "cert.pem"), tls_key=str(pems / key))
    assert settings.tls_cert == pems / "cert.pem" and settings.base_url.startswith("https://")


def serve(data_dir: Path, *flags: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m livestudio serve` with only `env` as LIVESTUDIO_* variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LIVESTUDIO_")}
    clean["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), clean.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "livestudio", "serve", "--data-dir", str(data_dir), *flags],
        capture_output=True,
        text=True,
        env={**clean, **env},
        cwd=ROOT,
        timeout=30,
    )


def test_serve_with_a_bad_variable_exits_with_one_line(tmp_path: Path) -> None:
    done = serve(tmp_path, LIVESTUDIO_MAX_VIEWERS="lots")
    assert done.returncode == 2
    assert done.stderr == (
        "livestudio: error: LIVESTUDIO_MAX_VIEWERS must be a whole number above 0 (got 'lots')\n"
    )
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_serve_with_a_missing_certificate_creates_nothing(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.pem")
    done = serve(tmp_path / "data", "--tls-cert", missing, "--tls-key", missing)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr == (
        f"livestudio: error: --tls-cert must be an existing PEM file (got {missing!r})\n"
    )
    # Before, the first-run admin was created (its password printed) and then ssl failed.
    assert not (tmp_path / "data").exists()
