"""Analytics a brand acts on: per show and across shows, as studio pages (server-rendered
SVG charts), CSV and JSON. The figures and their definitions: live/analytics.py."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

from aiohttp import web

from ..catalog.csvio import neutralize
from ..live.analytics import (
    ProductTotals,
    ShowReport,
    build_report,
    load_inputs,
    product_totals,
)
from ..store import ShowRecord
from .api import require_host
from .auth import require_login
from .charts import activity_chart, clock, viewers_chart
from .errors import error
from .keys import STORE
from .pages import render

TIME_COLUMNS = ("t", "viewers", "webrtc", "hls", "chat", "reactions", "clicks")
PRODUCT_COLUMNS = (
    "product",
    "name",
    "on_air_seconds",
    "watchers",
    "clickers",
    "ctr",
    "clicks_live",
    "clicks_replay",
)
SHOW_COLUMNS = (
    "show",
    "title",
    "started_at",
    "duration",
    "peak",
    "unique_viewers",
    "watch_avg",
    "watch_median",
    "chat_messages",
    "reactions",
    "clicks_live",
    "clicks_replay",
    "buyers",
    "conversion",
    "replay_views",
    "clip_views",
)


async def _show(request: web.Request) -> ShowRecord:
    show = await request.app[STORE].get_show(request.match_info["show"])
    if show is None or show.state == "deleted":
        raise error(404, "no such show")
    return show


async def report_of(request: web.Request, show: ShowRecord) -> ShowReport:
    """The show's report, computed on a worker thread from what the store holds."""
    inputs = await load_inputs(request.app[STORE], show)
    return await asyncio.to_thread(build_report, inputs)


async def all_reports(request: web.Request) -> list[ShowReport]:
    """Reports of every show that went live, newest first."""
    store = request.app[STORE]
    shows = [s for s in await store.list_shows() if s.went_live_at is not None]
    inputs = [await load_inputs(store, s) for s in shows]
    return await asyncio.to_thread(lambda: [build_report(i) for i in inputs])


# -- JSON and CSV ------------------------------------------------------------------------------


async def show_analytics(request: web.Request) -> web.Response:
    """GET /api/shows/{show}/analytics: the show's figures, series and products."""
    await require_host(request)
    report = await report_of(request, await _show(request))
    return web.json_response(report.to_json(), headers={"Cache-Control": "no-store"})


async def show_analytics_csv(request: web.Request) -> web.Response:
    """GET /api/shows/{show}/analytics.csv?rows=time|products."""
    await require_host(request)
    show = await _show(request)
    rows = request.query.get("rows", "time")
    if rows not in ("time", "products"):
        raise error(400, "rows must be time or products")
    report = await report_of(request, show)
    if rows == "time":
        table = [[getattr(b, c) for c in TIME_COLUMNS] for b in report.series]
        return _csv(f"{show.id}-time.csv", TIME_COLUMNS, table)
    table = [[getattr(p, c) for c in PRODUCT_COLUMNS] for p in report.products]
    return _csv(f"{show.id}-products.csv", PRODUCT_COLUMNS, table)


async def overview(request: web.Request) -> web.Response:
    """GET /api/analytics: every show's summary and the products across shows."""
    await require_host(request)
    reports = await all_reports(request)
    return web.json_response(
        {
            "shows": [r.to_json(with_series=False) for r in reports],
            "products": [_totals_json(t) for t in product_totals(reports)],
        },
        headers={"Cache-Control": "no-store"},
    )


async def overview_csv(request: web.Request) -> web.Response:
    """GET /api/analytics.csv?rows=shows|products."""
    await require_host(request)
    rows = request.query.get("rows", "shows")
    if rows not in ("shows", "products"):
        raise error(400, "rows must be shows or products")
    reports = await all_reports(request)
    if rows == "shows":
        table = [[getattr(r, c) for c in SHOW_COLUMNS] for r in reports]
        return _csv("shows.csv", SHOW_COLUMNS, table)
    columns = ("product", "name", "shows", *PRODUCT_COLUMNS[2:])
    totals = product_totals(reports)
    return _csv("products.csv", columns, [[getattr(t, c) for c in columns] for t in totals])


def _totals_json(t: ProductTotals) -> dict[str, Any]:
    out = dict(vars(t))
    for key in ("on_air_seconds", "ctr"):
        if isinstance(out[key], float):
            out[key] = round(out[key], 4)
    return out


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    return neutralize(str(value)) if isinstance(value, str) else str(value)


def _csv(name: str, columns: tuple[str, ...], table: list[list[Any]]) -> web.Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows([[_cell(v) for v in row] for row in table])
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


# -- studio pages ------------------------------------------------------------------------------


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


async def analytics_page(request: web.Request) -> web.Response:
    """GET /studio/shows/{show}/analytics: summary, charts, products, exports."""
    await require_login(request)
    show = await _show(request)
    report = await report_of(request, show)
    pins = [m for m in report.markers if m.kind in ("pin", "sale")]
    return await render(
        request,
        "studio_analytics.html",
        {
            "show": show,
            "report": report,
            "pins": pins,
            "viewers_chart": viewers_chart(
                report.series, report.markers, report.duration, report.bucket
            ),
            "activity_chart": activity_chart(
                report.series, report.markers, report.duration, report.bucket
            ),
            "clock": clock,
            "percent": _percent,
            "live": show.state in ("live", "reconnecting"),
        },
    )


async def overview_page(request: web.Request) -> web.Response:
    """GET /studio/analytics: which shows and products convert."""
    await require_login(request)
    reports = await all_reports(request)
    return await render(
        request,
        "studio_analytics_overview.html",
        {
            "reports": reports,
            "products": product_totals(reports),
            "clock": clock,
            "percent": _percent,
        },
    )


def setup(app: web.Application) -> None:
    """Register the analytics routes."""
    r = app.router
    r.add_get("/api/shows/{show}/analytics", show_analytics)
    r.add_get("/api/shows/{show}/analytics.csv", show_analytics_csv)
    r.add_get("/api/analytics", overview)
    r.add_get("/api/analytics.csv", overview_csv)
    r.add_get("/studio/analytics", overview_page)
    r.add_get("/studio/shows/{show}/analytics", analytics_page)
