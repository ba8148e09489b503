"""Who may put our pages in a frame: nobody, except the embeddable player's listed sites.

Every response says `X-Frame-Options: DENY` and `frame-ancestors 'none'` (clickjacking:
no other site can overlay the studio or a viewer page with its own buttons). The embed
(`/embed/{show}`) is the one exception: its handler calls `allow_framing` with the
brand's allowed origins, and gets `frame-ancestors 'self' <origins>` and no
X-Frame-Options (which has no allow-list that browsers honour).

The frame-ancestors directive is merged into a Content-Security-Policy the response
already has (one a page policy set before this hook ran), or is the whole policy; so a
stricter page policy keeps every other directive, and this module stays the one place
that decides about framing.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

FRAME_ANCESTORS = web.ResponseKey("frame_ancestors", tuple)
"The frame-ancestors sources a handler allows (set with allow_framing; aiohttp >= 3.13)."
CSP = "Content-Security-Policy"


def allow_framing(response: web.StreamResponse, origins: Sequence[str]) -> None:
    """Let the sites in `origins` (validated origins, or "*") and this server frame it."""
    response[FRAME_ANCESTORS] = ("'self'", *origins)


def frame_ancestors(response: web.StreamResponse) -> str:
    """The frame-ancestors sources of this response: 'none' unless allow_framing said."""
    sources = response.get(FRAME_ANCESTORS)
    return " ".join(sources) if sources else "'none'"


def with_frame_ancestors(policy: str, sources: str) -> str:
    """`policy` with its frame-ancestors directive (if any) replaced by `sources`."""
    directives = [d.strip() for d in policy.split(";") if d.strip()]
    kept = [d for d in directives if d.split()[0].lower() != "frame-ancestors"]
    return "; ".join([*kept, f"frame-ancestors {sources}"])


async def on_prepare(_request: web.Request, response: web.StreamResponse) -> None:
    """The response_prepare hook: the framing headers of every response."""
    sources = frame_ancestors(response)
    response.headers[CSP] = with_frame_ancestors(response.headers.get(CSP, ""), sources)
    if sources == "'none'":
        response.headers["X-Frame-Options"] = "DENY"
    else:
        response.headers.popall("X-Frame-Options", None)


def setup(app: web.Application) -> None:
    """Install the hook (after any hook that sets a page policy, so this one merges into it)."""
    app.on_response_prepare.append(on_prepare)
