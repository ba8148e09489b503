"""ICE servers handed to browsers: STUN as is, TURN with short-lived credentials.

With coturn's `use-auth-secret`, a TURN username is `<expiry>:<name>` and its password
the base64 HMAC-SHA1 of the username under the shared secret, so no static TURN password
ever appears in a page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from ..config import Settings

TURN_TTL = 12 * 3600


def turn_credentials(
    secret: str, name: str = "livestudio", now: float | None = None
) -> tuple[str, str]:
    """(username, credential) valid for TURN_TTL seconds."""
    expiry = int((now if now is not None else time.time()) + TURN_TTL)
    username = f"{expiry}:{name}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(settings: Settings) -> list[dict[str, Any]]:
    """RTCIceServer dictionaries for a page (fresh TURN credentials each call)."""
    servers: list[dict[str, Any]] = []
    for url in settings.ice_servers:
        entry: dict[str, Any] = {"urls": url}
        if url.startswith(("turn:", "turns:")) and settings.turn_secret:
            entry["username"], entry["credential"] = turn_credentials(settings.turn_secret)
        servers.append(entry)
    return servers


def link_headers(settings: Settings) -> list[str]:
    """The same servers as WHIP/WHEP `Link: <url>; rel="ice-server"` headers."""
    links = []
    for server in ice_servers(settings):
        link = f'<{server["urls"]}>; rel="ice-server"'
        if "username" in server:
            link += (
                f'; username="{server["username"]}"; credential="{server["credential"]}"'
                '; credential-type="password"'
            )
        links.append(link)
    return links
