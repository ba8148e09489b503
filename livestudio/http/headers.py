"""Headers every response gets: a Server name without versions, and on pages a strict
Content-Security-Policy (no inline script or style: a slip of escaping cannot run code)."""

from __future__ import annotations

import re

from aiohttp import web

SERVER = "LiveStudio"
"What the Server header says: no product versions for scanners to match against CVEs."
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")


def content_security_policy(host: str) -> str:
    """The pages' policy. Scripts, styles, fonts and frames only from this server; media
    also from blob: (hls.js plays through Media Source Extensions, its worker is a blob);
    the events WebSocket on this host (CSP 'self' does not cover ws: in every browser)."""
    sockets = f" ws://{host} wss://{host}" if _HOST.fullmatch(host) else ""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "media-src 'self' blob:",
            "worker-src 'self' blob:",
            f"connect-src 'self'{sockets}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        )  # frame-ancestors: http/framing.py adds it to every response
    )


async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """The response_prepare hook: Server for all, the policy for HTML."""
    response.headers["Server"] = SERVER
    if response.content_type == "text/html":
        response.headers.setdefault(
            "Content-Security-Policy", content_security_policy(request.host)
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")


def setup(app: web.Application) -> None:
    """Install the hook."""
    app.on_response_prepare.append(on_prepare)
