"""Server-rendered SVG charts of a show's analytics: no script, so they render under a
strict Content-Security-Policy, print, and are read by tests as plain markup.

The markup is built here with every text escaped (html.escape), and the page includes it
with `| safe`. Colours are SVG presentation attributes (not style attributes, which a CSP without
'unsafe-inline' would drop); every chart has a <title> and <desc> for screen readers and
the page carries the same figures as tables.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from ..live.analytics import Bucket, Marker

WIDTH, HEIGHT = 800, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 22, 28
"Room for the y labels, the marker heads and the x labels."
GRID = "#2c313c"
AXIS_TEXT = "#9aa1ad"
TOTAL = "#ff3b6b"
WEBRTC_LINE = "#f7a8bd"
HLS_LINE = "#4fb3ff"
CHAT = "#31c48d"
REACTIONS = "#f2b84b"
PIN = "#c084fc"
SALE = "#f2b84b"
OFF_AIR = "#6b7280"


@dataclass(frozen=True)
class Frame:
    """Maps seconds and values to chart pixels."""

    duration: float
    top_value: int

    def x(self, seconds: float) -> float:
        """Pixel x of a time (seconds from the start)."""
        span = max(self.duration, 1.0)
        return LEFT + (WIDTH - LEFT - RIGHT) * min(max(seconds, 0.0), span) / span

    def y(self, value: float) -> float:
        """Pixel y of a value."""
        return TOP + (HEIGHT - TOP - BOTTOM) * (1 - value / max(self.top_value, 1))


def nice_top(value: int) -> int:
    """A round axis maximum at or above `value` (1, 2, 5, 10, 20, 50...)."""
    if value <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def clock(seconds: float) -> str:
    """1:05, 1:02:03."""
    s = int(seconds)
    h, m, r = s // 3600, (s % 3600) // 60, s % 60
    return f"{h}:{m:02d}:{r:02d}" if h else f"{m}:{r:02d}"


def _time_step(duration: float) -> float:
    for step in (10, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if duration / step <= 8:
            return float(step)
    return 7200.0


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _axes(frame: Frame) -> list[str]:
    parts = []
    for i in range(5):
        value = frame.top_value * i / 4
        if frame.top_value < 4 and value != int(value):
            continue
        y = _n(frame.y(value))
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}" stroke="{GRID}"/>'
            f'<text x="{LEFT - 6}" y="{y}" dy="4" text-anchor="end" fill="{AXIS_TEXT}"'
            f' font-size="11">{_n(value)}</text>'
        )
    step = _time_step(frame.duration)
    t = 0.0
    while t <= frame.duration + 1e-6:
        x = frame.x(t)
        anchor = "end" if x > WIDTH - RIGHT - 20 else "middle"  # the last one inside
        parts.append(
            f'<text x="{_n(x)}" y="{HEIGHT - 8}" text-anchor="{anchor}" fill="{AXIS_TEXT}"'
            f' font-size="11">{clock(t)}</text>'
        )
        t += step
    return parts


def _markers(frame: Frame, markers: Sequence[Marker]) -> list[str]:
    """A vertical line per pin/sale (and a dashed one where a card left the air)."""
    parts = []
    for n, m in enumerate(markers, 1):
        x = _n(frame.x(m.t))
        colour = {"pin": PIN, "sale": SALE}.get(m.kind, OFF_AIR)
        what = {"pin": "Pinned", "sale": "Sale", "unpin": "Unpinned", "sale_end": "Sale ended"}
        label = escape(f"{what.get(m.kind, m.kind)} {m.name} at {clock(m.t)}".replace("  ", " "))
        dash = ' stroke-dasharray="3 3"' if m.kind in ("unpin", "sale_end") else ""
        head = (
            f'<circle cx="{x}" cy="{TOP - 8}" r="7" fill="{colour}"/>'
            f'<text x="{x}" y="{TOP - 4}" text-anchor="middle" font-size="10"'
            f' fill="#111">{n}</text>'
            if m.kind in ("pin", "sale")
            else ""
        )
        product = f' data-product="{m.product}"' if m.product is not None else ""
        parts.append(
            f'<g class="marker {m.kind}"{product} data-t="{_n(m.t)}"><title>{label}</title>'
            f'<line x1="{x}" x2="{x}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" stroke="{colour}"'
            f' stroke-width="1.5"{dash}/>{head}</g>'
        )
    return parts


def _step_path(frame: Frame, series: Sequence[Bucket], value: str, bucket: float) -> str:
    """A step line: each bucket's value held across it."""
    points = []
    for b in series:
        y = _n(frame.y(getattr(b, value)))
        points.append(f"{_n(frame.x(b.t))},{y}")
        points.append(f"{_n(frame.x(min(b.t + bucket, frame.duration)))},{y}")
    return "M" + " L".join(points) if points else ""


def _svg(kind: str, title: str, desc: str, body: list[str]) -> str:
    return (
        f'<svg class="chart {kind}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"'
        f' xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet"'
        f' aria-label="{escape(title)}"><title>{escape(title)}</title><desc>{escape(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def viewers_chart(
    series: Sequence[Bucket], markers: Sequence[Marker], duration: float, bucket: float
) -> str:
    """Players watching over time (all, WebRTC, HLS), pins and sales marked."""
    top = nice_top(max((b.viewers for b in series), default=0))
    frame = Frame(duration, top)
    body = _axes(frame)
    total = _step_path(frame, series, "viewers", bucket)
    if total:
        base = _n(frame.y(0))
        area = f"{total} L{_n(frame.x(series[-1].t + bucket))},{base} L{LEFT},{base} Z"
        body.append(f'<path class="area" d="{area}" fill="{TOTAL}" fill-opacity="0.18"/>')
        body.append(
            f'<path class="line viewers" d="{total}" fill="none" stroke="{TOTAL}"'
            ' stroke-width="2"/>'
        )
        for value, colour in (("webrtc", WEBRTC_LINE), ("hls", HLS_LINE)):
            if any(getattr(b, value) for b in series):
                path = _step_path(frame, series, value, bucket)
                body.append(
                    f'<path class="line {value}" d="{path}" fill="none" stroke="{colour}"'
                    ' stroke-width="1.2" stroke-dasharray="4 3"/>'
                )
    body += _markers(frame, markers)
    peak = max((b.viewers for b in series), default=0)
    desc = (
        f"Concurrent viewers per {int(bucket)} s over {clock(duration)}; peak {peak};"
        f" {sum(1 for m in markers if m.kind in ('pin', 'sale'))} products put on air."
    )
    return _svg("viewers", "Concurrent viewers over time", desc, body)


def activity_chart(
    series: Sequence[Bucket], markers: Sequence[Marker], duration: float, bucket: float
) -> str:
    """Chat messages, reaction taps and live Buy clicks per bucket, as bars."""
    kinds = (("chat", CHAT), ("reactions", REACTIONS), ("clicks", TOTAL))
    top = nice_top(max((max(b.chat, b.reactions, b.clicks) for b in series), default=0))
    frame = Frame(duration, top)
    body = _axes(frame)
    width = max(1.0, (frame.x(bucket) - frame.x(0)) / 3 - 0.5)
    for b in series:
        for n, (kind, colour) in enumerate(kinds):
            value = getattr(b, kind)
            if not value:
                continue
            x, y = frame.x(b.t) + n * (width + 0.5), frame.y(value)
            body.append(
                f'<rect class="bar {kind}" x="{_n(x)}" y="{_n(y)}" width="{_n(width)}"'
                f' height="{_n(frame.y(0) - y)}" fill="{colour}"><title>{kind} {value}'
                f" at {clock(b.t)}</title></rect>"
            )
    body += _markers(frame, markers)
    desc = (
        f"Per {int(bucket)} s: {sum(b.chat for b in series)} chat messages,"
        f" {sum(b.reactions for b in series)} reactions,"
        f" {sum(b.clicks for b in series)} live Buy clicks."
    )
    return _svg("activity", "Chat, reactions and Buy clicks over time", desc, body)
