"""When each product was on air: the spans between a pin (or sale) and what took it off.

The replay's chapters (http/replay.py `product_chapters`), the clips and the analytics'
click-through rates all follow the same rule: a product's span starts when it is pinned
or put on sale while another (or nothing) is on air, and ends when it is unpinned or
another product goes on air; a sale on the product already on air, its end, or a stock
change is no new span. The last span runs to the show's end.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

CARD_EVENTS = ("pin", "unpin", "sale", "sale_end", "stock")
"The on-air events that change the product card."


class OnAirEvent(Protocol):
    """What a span needs of a stored show event."""

    @property
    def kind(self) -> str: ...

    @property
    def pts(self) -> int | None: ...

    @property
    def wall(self) -> float: ...

    @property
    def data(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Span:
    """One product on air, from the first frame that showed its card."""

    product: int
    title: str
    "The product's name when it went on air."
    kind: str
    "pin or sale: what put it on air."
    start_pts: int
    start_wall: float
    end_pts: int | None
    "Program pts of the first frame without it; None: on air until the show's end."
    end_wall: float | None


def product_spans(events: Iterable[OnAirEvent]) -> list[Span]:
    """The products' spans on air, in order (events oldest first)."""
    spans: list[Span] = []
    open_span: Span | None = None
    for e in events:
        if e.pts is None or e.kind not in CARD_EVENTS:
            continue
        product = e.data.get("product") if e.kind != "unpin" else None
        if e.kind not in ("pin", "sale", "unpin"):
            continue
        if open_span is not None and product == open_span.product:
            continue  # pinned again, or a sale on the product on air: the same span
        if open_span is not None:
            spans.append(_ended(open_span, e.pts, e.wall))
            open_span = None
        if isinstance(product, int) and not isinstance(product, bool):
            title = str(e.data.get("name", ""))
            open_span = Span(product, title, e.kind, e.pts, e.wall, None, None)
    if open_span is not None:
        spans.append(open_span)
    return spans


def _ended(span: Span, pts: int, wall: float) -> Span:
    return Span(span.product, span.title, span.kind, span.start_pts, span.start_wall, pts, wall)
