"""How a show looks when shared: its embed code, picture and structured data.

Used by the viewer and replay pages (OpenGraph, Twitter, schema.org), the oEmbed endpoint
and the studio's embed code, so a link pasted anywhere shows the same player and picture.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any
from urllib.parse import quote

from ..catalog.brand import BrandSettings
from ..catalog.images import image_urls
from ..store import ShowRecord

DEFAULT_IMAGE = "/static/img/og.png"
"The picture of a show with no poster yet, when the brand has no logo (1200×630)."
DEFAULT_IMAGE_SIZE = (1200, 630)
EMBED_WIDTH = 640
"The embed's default width in CSS pixels (its video is 16:9)."
EMBED_MIN_WIDTH = 240
CARD_HEIGHT = 88
"Room under the video for the product card with its Buy button."
CHAT_WIDTH = 300
"The chat column beside the video (?chat=1)."
CHAT_BELOW = 240
"The chat's room under the card when the frame is too narrow for a column (< 540 px)."


def brand_image(brand: BrandSettings) -> str:
    """The path of the brand's picture: its logo, else the default image."""
    return image_urls(brand.logo)["image_url"] or DEFAULT_IMAGE


def embed_url(base_url: str, show_id: str, chat: bool = False) -> str:
    """The embeddable player's URL."""
    return f"{base_url}/embed/{quote(show_id)}" + ("?chat=1" if chat else "")


def embed_size(
    chat: bool = False, maxwidth: int | None = None, maxheight: int | None = None
) -> tuple[int, int]:
    """(width, height) of the embed: a 16:9 video with the card under it and the chat
    beside it (under both in a frame too narrow for that), shrunk, never grown, to fit
    maxwidth × maxheight, down to a smallest player of EMBED_MIN_WIDTH."""
    beside = chat and (maxwidth is None or maxwidth - CHAT_WIDTH >= EMBED_MIN_WIDTH)
    side = CHAT_WIDTH if beside else 0
    below = CHAT_BELOW if chat and not beside else 0
    video = EMBED_WIDTH
    if maxwidth is not None:
        video = min(video, maxwidth - side)
    if maxheight is not None:
        video = min(video, (maxheight - CARD_HEIGHT - below) * 16 // 9)
    video = max(video, EMBED_MIN_WIDTH)
    return video + side, video * 9 // 16 + CARD_HEIGHT + below


def embed_iframe(src: str, title: str, width: int, height: int) -> str:
    """The iframe snippet (HTML text) a site pastes, or an oEmbed consumer inserts.

    `allow`: autoplay (the player starts muted by itself), picture-in-picture; and
    fullscreen. No sandbox: Buy must be able to open the shop in the top window."""
    return (
        f'<iframe src="{html.escape(src)}" title="{html.escape(title)}" width="{width}"'
        f' height="{height}" style="border:0;max-width:100%"'
        ' allow="autoplay; picture-in-picture" allowfullscreen></iframe>'
    )


def oembed_discovery_url(base_url: str, page_url: str) -> str:
    """The oEmbed URL that a page advertises for itself (oEmbed spec §4, discovery)."""
    return f"{base_url}/oembed?url={quote(page_url, safe='')}&format=json"


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="seconds")


def structured_data(
    show: ShowRecord, page_url: str, image_url: str, base_url: str, description: str
) -> dict[str, Any]:
    """schema.org VideoObject with its BroadcastEvent (Google's markup for live streams):
    the start time (announced, else when it went live), the end once ended, the embed."""
    live = show.state in ("live", "reconnecting")
    event: dict[str, Any] = {
        "@type": "BroadcastEvent",
        "isLiveBroadcast": True,
        "name": show.title,
        "url": page_url,
    }
    start = show.starts_at or _iso(show.went_live_at)
    if live and show.went_live_at is not None:
        start = _iso(show.went_live_at)
    if start:
        event["startDate"] = start
    if show.ended_at is not None and not live:
        event["endDate"] = _iso(show.ended_at)
    return {
        "@context": "https://schema.org",
        "@type": "VideoObject",
        "name": show.title,
        "description": description,
        "thumbnailUrl": [image_url],
        "uploadDate": _iso(show.went_live_at or show.created_at),
        "embedUrl": embed_url(base_url, show.id),
        "url": page_url,
        "publication": event,
    }
