"""What a show did, for the brand: figures computed from what was stored as it happened.

Inputs (all in the store): viewer sessions (`live/audience.py`), the show's events (pins,
sales, chat, reactions), Buy clicks, replay and clip page views. Nothing is sampled: the
viewers-over-time series is the exact number of players watching, taken at its highest
within each BUCKET seconds, so a test's joins and leaves give exact figures.

Definitions (docs/api.md "Analytics" says the same to the brand):

- The show's timeline runs from when it went live to when it ended (now while live);
  times are seconds from its start.
- concurrent viewers: players watching (a WebRTC connection, an HLS player); `peak` is the
  most at any moment. `unique_viewers`: distinct viewers (cookies) who watched at all.
- watch time: per viewer, the time any of their players watched (overlaps counted once);
  `watch_avg` and `watch_median` over the unique viewers.
- chat messages (deleted ones not counted), reaction taps and live Buy clicks per bucket.
- per product: its spans on air (live/chapters.py); `watchers`: viewers watching at some
  moment of a span; `clickers`: those of them who clicked its Buy button live during a span
  or up to CLICK_GRACE seconds after (an HLS player shows the card seconds late);
  `ctr` = clickers / watchers. Buy clicks live, in the replay (and clips) are counted
  once per viewer each (store/clicks.py).
- `buyers`: unique viewers who clicked any Buy button live; `conversion` = buyers / unique
  viewers. `replay_views` / `clip_views`: viewers who opened the replay / a clip page.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..store import ClickRow, SessionRow, ShowRecord, Store, TimedEvent
from .audience import HLS, WEBRTC
from .chapters import Span, product_spans

BUCKET = 10.0
"Seconds per point of the time series."
CLICK_GRACE = 10.0
"Seconds after a product left the air in which a live Buy click still counts for its CTR."
MARKER_EVENTS = ("pin", "unpin", "sale", "sale_end")
REPORT_EVENTS = (*MARKER_EVENTS, "stock", "chat", "chat_delete", "reactions")


@dataclass(frozen=True)
class Bucket:
    """One point of the time series: [t, t + BUCKET) seconds from the start."""

    t: float
    viewers: int
    "Most players watching at once in it (WebRTC + HLS)."
    webrtc: int
    hls: int
    chat: int
    reactions: int
    clicks: int
    "Live Buy clicks."


@dataclass(frozen=True)
class Marker:
    """An on-air event on the timeline."""

    t: float
    kind: str
    "pin, unpin, sale or sale_end."
    product: int | None
    name: str


@dataclass
class ProductFigures:
    """One product in one show."""

    product: int
    name: str
    spans: list[tuple[float, float]] = field(default_factory=list)
    "(start, end) seconds on air."
    on_air_seconds: float = 0.0
    clicks_live: int = 0
    clicks_replay: int = 0
    watchers: int = 0
    clickers: int = 0
    ctr: float | None = None


@dataclass
class ShowReport:
    """Everything the analytics page, the CSV and the API show of one show."""

    show: str
    title: str
    state: str
    started_at: float | None
    "Unix time it went live (None: it never did)."
    ended_at: float | None
    duration: float
    bucket: float
    peak: int
    peak_at: float | None
    peak_webrtc: int
    peak_hls: int
    unique_viewers: int
    watch_avg: float
    watch_median: float
    chat_messages: int
    reactions: int
    clicks_live: int
    clicks_replay: int
    buyers: int
    conversion: float | None
    replay_views: int
    clip_views: int
    series: list[Bucket] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    products: list[ProductFigures] = field(default_factory=list)

    def to_json(self, with_series: bool = True) -> dict[str, Any]:
        """The report as the API answers it (rounded to the millisecond)."""
        out = _rounded(asdict(self))
        if not with_series:
            for key in ("series", "markers"):
                out.pop(key)
        return out


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


@dataclass(frozen=True)
class ShowInputs:
    """What the store holds of a show, read once (the computation runs off the loop)."""

    show: ShowRecord
    sessions: list[SessionRow]
    events: list[TimedEvent]
    clicks: list[ClickRow]
    views: dict[str, int]
    names: dict[int, str]
    now: float


async def load_inputs(store: Store, show: ShowRecord, now: float | None = None) -> ShowInputs:
    """Read what a report of `show` needs."""
    events = await store.timed_events(show.id, REPORT_EVENTS)
    clicks = await store.clicks(show.id)
    ids = sorted({c.product_id for c in clicks} | {s.product for s in product_spans(events)})
    return ShowInputs(
        show,
        await store.sessions(show.id),
        events,
        clicks,
        await store.views(show.id),
        await store.product_names(ids),
        time.time() if now is None else now,
    )


def build_report(inputs: ShowInputs) -> ShowReport:
    """The figures of one show (pure: runs on a worker thread)."""
    show = inputs.show
    start = show.went_live_at
    end = show.ended_at if show.ended_at is not None else inputs.now
    views = inputs.views
    clip_views = sum(n for page, n in views.items() if page.startswith("clip:"))
    report = ShowReport(
        show=show.id,
        title=show.title,
        state=show.state,
        started_at=start,
        ended_at=show.ended_at,
        duration=max(0.0, end - start) if start is not None else 0.0,
        bucket=BUCKET,
        peak=0,
        peak_at=None,
        peak_webrtc=0,
        peak_hls=0,
        unique_viewers=0,
        watch_avg=0.0,
        watch_median=0.0,
        chat_messages=0,
        reactions=0,
        clicks_live=sum(1 for c in inputs.clicks if c.source == "live"),
        clicks_replay=sum(1 for c in inputs.clicks if c.source != "live"),
        buyers=0,
        conversion=None,
        replay_views=views.get("replay", 0),
        clip_views=clip_views,
    )
    if start is None:
        return report
    sessions = _clipped(inputs.sessions, start, end)
    count = max(1, int((end - start) // BUCKET) + (1 if (end - start) % BUCKET else 0))
    total = _concurrency(sessions, start, count, None)
    webrtc = _concurrency(sessions, start, count, WEBRTC)
    hls = _concurrency(sessions, start, count, HLS)
    report.peak, report.peak_at = _peak(sessions, start)
    report.peak_webrtc, report.peak_hls = max(webrtc, default=0), max(hls, default=0)

    watched = _watch_times(sessions)
    report.unique_viewers = len(watched)
    if watched:
        report.watch_avg = sum(watched.values()) / len(watched)
        report.watch_median = float(statistics.median(watched.values()))

    chat, reactions, clicks = [0] * count, [0] * count, [0] * count
    deleted = {e.data.get("id") for e in inputs.events if e.kind == "chat_delete"}
    for e in inputs.events:
        slot = _slot(e.wall, start, end, count)
        if slot is None:
            continue
        if e.kind == "chat" and e.data.get("id") not in deleted:
            chat[slot] += 1
        elif e.kind == "reactions":
            taps = sum(n for n in e.data.get("counts", {}).values() if isinstance(n, int))
            reactions[slot] += taps
    live_clicks = [c for c in inputs.clicks if c.source == "live"]
    for c in live_clicks:
        slot = _slot(c.at, start, end, count)
        if slot is not None:
            clicks[slot] += 1
    report.chat_messages, report.reactions = sum(chat), sum(reactions)
    report.series = [
        Bucket(i * BUCKET, total[i], webrtc[i], hls[i], chat[i], reactions[i], clicks[i])
        for i in range(count)
    ]
    report.markers = [
        Marker(
            e.wall - start,
            e.kind,
            e.data.get("product"),
            str(e.data.get("name", "")),
        )
        for e in inputs.events
        if e.kind in MARKER_EVENTS and e.pts is not None and start <= e.wall <= end
    ]
    viewers = set(watched)
    buyers = {c.viewer for c in live_clicks if c.viewer in viewers}
    report.buyers = len(buyers)
    report.conversion = len(buyers) / len(viewers) if viewers else None
    report.products = _products(inputs, sessions, start, end)
    return report


def _clipped(sessions: Iterable[SessionRow], start: float, end: float) -> list[SessionRow]:
    """Sessions within the show's timeline (an open one watches until its end)."""
    out = []
    for s in sessions:
        joined = max(s.joined_at, start)
        left = min(s.left_at if s.left_at is not None else end, end)
        if left >= joined:
            out.append(SessionRow(s.viewer, s.kind, joined, left))
    return out


def _points(sessions: Iterable[SessionRow], kind: str | None) -> list[tuple[float, int]]:
    """(time, +1 join / -1 leave), leaves first at equal times (no phantom overlap)."""
    points = []
    for s in sessions:
        if kind is None or s.kind == kind:
            assert s.left_at is not None
            points += [(s.joined_at, 1), (s.left_at, -1)]
    points.sort(key=lambda p: (p[0], p[1]))
    return points


def _concurrency(
    sessions: list[SessionRow], start: float, count: int, kind: str | None
) -> list[int]:
    """The most players (of `kind`, None: all) watching at once in each bucket.

    A session watches over [joined, left): one that leaves at a bucket's first instant is
    not in it, one that joins then is.
    """
    out = [0] * count
    current = 0
    points = _points(sessions, kind)
    i = 0
    for b in range(count):
        bucket_start, bucket_end = start + b * BUCKET, start + (b + 1) * BUCKET
        while i < len(points) and points[i][0] <= bucket_start:
            current += points[i][1]
            i += 1
        highest = current
        while i < len(points) and (points[i][0] < bucket_end or b == count - 1):
            current += points[i][1]
            highest = max(highest, current)
            i += 1
        out[b] = highest
    return out


def _peak(sessions: list[SessionRow], start: float) -> tuple[int, float | None]:
    """The most players at once, and when (seconds from the start) it was first reached."""
    current, best, at = 0, 0, None
    for t, delta in _points(sessions, None):
        current += delta
        if current > best:
            best, at = current, t - start
    return best, at


def _watch_times(sessions: list[SessionRow]) -> dict[str, float]:
    """Seconds each viewer watched: the union of their players' sessions."""
    by_viewer: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for s in sessions:
        assert s.left_at is not None
        by_viewer[s.viewer].append((s.joined_at, s.left_at))
    return {viewer: _union_length(spans) for viewer, spans in by_viewer.items()}


def _union_length(spans: list[tuple[float, float]]) -> float:
    total = 0.0
    reach: float | None = None
    begin = 0.0
    for a, b in sorted(spans):
        if reach is None or a > reach:
            if reach is not None:
                total += reach - begin
            begin, reach = a, b
        else:
            reach = max(reach, b)
    if reach is not None:
        total += reach - begin
    return total


def _slot(at: float, start: float, end: float, count: int) -> int | None:
    if at < start or at > end:
        return None
    return min(count - 1, int((at - start) // BUCKET))


def _products(
    inputs: ShowInputs, sessions: list[SessionRow], start: float, end: float
) -> list[ProductFigures]:
    spans_by: dict[int, list[Span]] = defaultdict(list)
    for span in product_spans(inputs.events):
        spans_by[span.product].append(span)
    ids = list(spans_by) + sorted({c.product_id for c in inputs.clicks} - set(spans_by))
    out = []
    for product in ids:
        first = spans_by[product][0].title if spans_by[product] else ""
        figures = ProductFigures(product, inputs.names.get(product, first or f"#{product}"))
        windows = []
        for span in spans_by[product]:
            a = max(span.start_wall, start)
            b = min(span.end_wall if span.end_wall is not None else end, end)
            if b >= a:
                windows.append((a, b))
                figures.spans.append((a - start, b - start))
        figures.on_air_seconds = sum(b - a for a, b in windows)
        clicks = [c for c in inputs.clicks if c.product_id == product]
        figures.clicks_live = sum(1 for c in clicks if c.source == "live")
        figures.clicks_replay = sum(1 for c in clicks if c.source != "live")
        watchers = {
            s.viewer
            for s in sessions
            for a, b in windows
            if s.joined_at < b and s.left_at is not None and s.left_at > a
        }
        clickers = {
            c.viewer
            for c in clicks
            if c.source == "live"
            and c.viewer in watchers
            and any(a <= c.at <= b + CLICK_GRACE for a, b in windows)
        }
        figures.watchers, figures.clickers = len(watchers), len(clickers)
        figures.ctr = len(clickers) / len(watchers) if watchers else None
        out.append(figures)
    return out


@dataclass
class ProductTotals:
    """One product over every show it was on air or clicked in."""

    product: int
    name: str
    shows: int = 0
    on_air_seconds: float = 0.0
    watchers: int = 0
    "Summed over shows: a viewer of two shows counts twice."
    clickers: int = 0
    ctr: float | None = None
    clicks_live: int = 0
    clicks_replay: int = 0


def product_totals(reports: Iterable[ShowReport]) -> list[ProductTotals]:
    """Which products convert, across shows: best CTR first (products never seen last)."""
    totals: dict[int, ProductTotals] = {}
    for report in reports:
        for p in report.products:
            t = totals.setdefault(p.product, ProductTotals(p.product, p.name))
            t.shows += 1
            t.on_air_seconds += p.on_air_seconds
            t.watchers += p.watchers
            t.clickers += p.clickers
            t.clicks_live += p.clicks_live
            t.clicks_replay += p.clicks_replay
    for t in totals.values():
        t.ctr = t.clickers / t.watchers if t.watchers else None
    return sorted(
        totals.values(),
        key=lambda t: (t.ctr is None, -(t.ctr or 0.0), -t.clicks_live, t.name),
    )
