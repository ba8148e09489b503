"""HTML pages: home, login, the studio (host) and the viewer page. Jinja2, autoescaped."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import secrets
import shutil
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from aiohttp import web
from aiohttp_session import get_session
from babel.dates import format_date, format_skeleton, format_time
from babel.numbers import format_decimal

from .. import __version__
from ..catalog.brand import BrandSettings
from ..catalog.images import image_urls
from ..catalog.labels import card_words
from ..catalog.page_words import page_words
from ..live.calendar import google_calendar_url
from ..live.chat import viewer_tag
from ..store import ShowRecord, ValidationError
from .auth import CSRF_FIELD, check_csrf, csrf_token, current_user, log_in, log_out, require_login
from .errors import error
from .iceservers import ice_servers
from .keys import ONAIR, SETTINGS, STORE
from .share import (
    brand_image,
    embed_iframe,
    embed_size,
    embed_url,
    oembed_discovery_url,
    structured_data,
)

JINJA = web.AppKey("jinja", jinja2.Environment)
LATEST_CLIPS = 6
"Clips the home page shows, newest first."


def web_root() -> Path:
    """The folder holding templates/ and static/ (the repo's web/, or the installed copy)."""
    package = Path(__file__).resolve().parent.parent
    repo = package.parent / "web"
    if (repo / "templates").is_dir():
        return repo
    return package / "web"  # installed: pyproject maps web/ to livestudio.web


def _when(value: str | None, locale: str = "en_US") -> str:
    """An ISO date-time as the locale writes it, in UTC with its zone ("Fr., 4. Dez. 2026
    17:00 UTC"); pages show it in the viewer's own zone (`Intl`, web/static/js/intl.js)."""
    if not value:
        return ""
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    moment = moment.astimezone(dt.UTC)
    day = format_skeleton("yMMMEd", moment, locale=locale, fuzzy=True)
    hour = format_time(moment, "short", tzinfo=dt.UTC, locale=locale)
    return f"{day} {hour} UTC"


def _date(ts: float, locale: str = "en_US") -> str:
    """A unix time's date as the locale writes it ("04.12.2026" in de_DE)."""
    return str(format_date(dt.datetime.fromtimestamp(ts, dt.UTC), "medium", locale=locale))


def _iso(value: str | float | None) -> str:
    """ISO 8601 in UTC, for <time datetime>."""
    if value is None:
        return ""
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, dt.UTC).isoformat()
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat()


def _duration(seconds: float | None) -> str:
    s = int(seconds or 0)
    h, m, r = s // 3600, (s % 3600) // 60, s % 60
    return f"{h}:{m:02d}:{r:02d}" if h else f"{m}:{r:02d}"


def make_environment() -> jinja2.Environment:
    """The template environment: autoescape on everything, so product and chat text is safe."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(web_root() / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Dates in the brand's locale (the page's `locale`; the studio's pages: the same).
    env.filters["when"] = jinja2.pass_context(lambda ctx, v: _when(v, ctx.get("locale", "en_US")))
    env.filters["date"] = jinja2.pass_context(lambda ctx, v: _date(v, ctx.get("locale", "en_US")))
    env.filters["iso"] = _iso
    env.filters["number"] = jinja2.pass_context(
        lambda ctx, n: format_decimal(n, locale=ctx.get("locale", "en_US"))
    )
    env.filters["duration"] = _duration
    env.filters["tojson_attr"] = lambda v: json.dumps(v)
    # What _og.html and _calendar.html need to describe a show to other sites and apps.
    env.globals.update(
        embed_url=embed_url,
        embed_size=embed_size,
        oembed_url=oembed_discovery_url,
        structured_data=structured_data,
        google_calendar_url=google_calendar_url,
    )
    return env


async def render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    """Render a template with what every page needs (user, CSRF token, base URL)."""
    env = request.app[JINJA]
    user = await current_user(request)
    brand = await request.app[STORE].get_brand()
    base = {
        # The shop on every page (name, logo, accent from /brand.css) and the words of
        # the public pages in its language.
        "brand": brand,
        "brand_logo": image_urls(brand.logo)["thumbnail_url"],
        "brand_css": brand_css_version(brand),
        "locale": brand.locale,
        "lang": brand.locale.replace("_", "-"),
        "words": words(brand.locale),
        "user": user,
        "csrf_field": CSRF_FIELD,
        "csrf_token": await csrf_token(request) if user else "",
        "base_url": request.app[SETTINGS].base_url,
        "version": __version__,
        "request_path": request.path,
    }
    html = env.get_template(template).render({**base, **context})
    response = web.Response(text=html, content_type="text/html", status=status)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if user:  # a host's page: CSRF token, maybe a stream key shown once
        response.headers["Cache-Control"] = "no-store"
    return response


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths after login (no open redirect)."""
    if not target:
        return "/studio"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/studio"
    return target


# -- public ---------------------------------------------------------------------------------


def brand_css_text(brand: BrandSettings) -> str:
    """The brand's accent as CSS custom properties (pages have no inline styles: CSP)."""
    return f":root {{ --accent: {brand.accent}; --brand-accent: {brand.accent}; }}\n"


def brand_css_version(brand: BrandSettings) -> str:
    """A short hash of /brand.css, for its URL: it changes when the accent does."""
    return hashlib.sha256(brand_css_text(brand).encode()).hexdigest()[:10]


async def brand_css(request: web.Request) -> web.Response:
    """GET /brand.css: the brand's accent colour for every page."""
    brand = await request.app[STORE].get_brand()
    cache = "public, max-age=31536000, immutable" if request.query.get("v") else "no-cache"
    return web.Response(
        text=brand_css_text(brand), content_type="text/css", headers={"Cache-Control": cache}
    )


LATE_LISTED_SECONDS = 6 * 3600
"A scheduled show stays listed this long past its start time (running late), then drops."


def is_listed(show: ShowRecord, now: float) -> bool:
    """Whether a scheduled show is listed as upcoming on the public home page.

    A show without a start time is a draft (a test, a show being prepared): unlisted, like
    a shop's draft product. Its viewer link works for whoever has it, and it is listed
    once it has a start time, or live. A start long past is dropped too.
    """
    if show.state != "scheduled" or not show.starts_at:
        return False
    try:
        starts = dt.datetime.fromisoformat(show.starts_at)
    except ValueError:
        return False
    if starts.tzinfo is None:
        starts = starts.replace(tzinfo=dt.UTC)
    return starts.timestamp() > now - LATE_LISTED_SECONDS


async def home(request: web.Request) -> web.Response:
    """GET /: live now and upcoming shows."""
    shows = await request.app[STORE].list_shows()
    onair = request.app[ONAIR]
    live = [s for s in shows if onair.get(s.id) is not None]
    upcoming = [s for s in shows if is_listed(s, time.time())]
    upcoming.sort(key=lambda s: s.starts_at or "9999")
    replays = [s for s in shows if s.state == "published"]
    replays.sort(key=lambda s: s.went_live_at or s.created_at, reverse=True)
    featured = await request.app[STORE].featured([s.id for s in replays])
    clips = await request.app[STORE].latest_clips(LATEST_CLIPS)
    return await render(
        request,
        "index.html",
        {
            "live": live,
            "upcoming": upcoming,
            "replays": replays,
            "featured": featured,
            "config": {"locale": (await request.app[STORE].get_brand()).locale.replace("_", "-")},
            "clips": clips,
        },
    )


async def ensure_viewer(request: web.Request) -> str:
    """The viewer's id in their session cookie, made on their first page (no login).

    Who a viewer is, for chat moderation (bans hold across reconnects) and for counting
    each viewer's Buy click once.
    """
    session = await get_session(request)
    viewer = session.get("viewer")
    if not isinstance(viewer, str):
        viewer = session["viewer"] = secrets.token_urlsafe(12)
    return viewer


def badge_state(state: str) -> str:
    """What a viewer's badge says of a show state: live, back soon, soon, or ended."""
    return state if state in ("live", "reconnecting", "scheduled") else "ended"


def words(locale: str) -> dict[str, str]:
    """Every word of the public pages in the locale's language (page and card words)."""
    return {**page_words(locale), **card_words(locale).page()}


def live_config(
    request: web.Request, show: ShowRecord, state: str, viewer: str, brand: BrandSettings
) -> dict[str, Any]:
    """What live.js needs to play a show (the viewer page's and the embed's)."""
    settings = request.app[SETTINGS]
    live = request.app[ONAIR].get(show.id)
    return {
        "show": show.id,
        "state": state,
        "title": show.title,
        "startsAt": show.starts_at,
        "whep": f"/whep/{show.id}",
        # HLS for when WebRTC cannot play (a full show, UDP blocked) or ?hls=1; its
        # program date-times map to program pts through programStart (also in the
        # events' snapshot and `clock` event, for a page opened before the show).
        "hls": f"/media/{show.id}/index.m3u8" if settings.hls else None,
        "hlsPartTarget": settings.hls_part_duration,
        "programStart": live.wall_origin if live is not None else None,
        "events": f"/live/{show.id}/events",
        "iceServers": ice_servers(settings),
        # Public events name a banned viewer by this tag: the page knows it is its own.
        "viewerTag": viewer_tag(viewer),
        # The page's words and the locale its numbers and times are written in (Intl).
        "locale": brand.locale.replace("_", "-"),
        "words": words(brand.locale),
        "orientation": show.orientation,
    }


async def viewer_page(request: web.Request) -> web.Response:
    """GET /live/{show}: the viewer link. No login."""
    show = await request.app[STORE].get_show(request.match_info["show"])
    if show is None or show.state == "deleted":
        return await render(request, "not_found.html", {"what": "show"}, status=404)
    settings = request.app[SETTINGS]
    viewer = await ensure_viewer(request)
    state = request.app[ONAIR].state_of(show)
    brand = await request.app[STORE].get_brand()
    return await render(
        request,
        "live.html",
        {
            "show": show,
            "state": state,
            "badge_state": badge_state(state),
            "orientation": show.orientation,
            "config": live_config(request, show, state, viewer, brand),
            "page_url": f"{settings.base_url}/live/{show.id}",
            "og_image": settings.base_url + brand_image(brand),
            "player_card": "*" in brand.embed_origins,
        },
    )


# -- login ----------------------------------------------------------------------------------


async def login_form(request: web.Request) -> web.Response:
    """GET /login."""
    if await current_user(request):
        raise web.HTTPSeeOther(_safe_next(request.query.get("next")))
    return await render(
        request,
        "login.html",
        {
            "next": _safe_next(request.query.get("next")),
            "message": "",
            "login_csrf": await csrf_token(request),
        },
    )


async def login_submit(request: web.Request) -> web.Response:
    """POST /login: a login form with the pre-login CSRF token (no login CSRF either)."""
    form = await request.post()
    await check_csrf(request, str(form.get(CSRF_FIELD, "")))
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "")))
    if username and password and await log_in(request, username, password):
        raise web.HTTPSeeOther(target)
    return await render(
        request,
        "login.html",
        {
            "next": target,
            "message": "Wrong username or password.",
            "login_csrf": await csrf_token(request),
        },
        status=401,
    )


async def logout(request: web.Request) -> web.Response:
    """POST /logout."""
    form = await request.post()
    await check_csrf(request, str(form.get(CSRF_FIELD, "")))
    await log_out(request)
    raise web.HTTPSeeOther("/login")


# -- studio ---------------------------------------------------------------------------------


def _disk(recordings_dir: Path) -> dict[str, str]:
    """Space the recordings use and what is left on their disk, for the studio."""
    used = 0
    if recordings_dir.is_dir():
        for path in recordings_dir.rglob("*"):
            if path.is_file() and not path.is_symlink():
                used += path.stat().st_size
    try:
        free = shutil.disk_usage(recordings_dir).free
    except OSError:
        free = 0
    return {"used": _bytes(used), "free": _bytes(free)}


def _bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


async def studio(request: web.Request) -> web.Response:
    """GET /studio: the host's shows, and a form to create one."""
    await require_login(request)
    return await _studio_list(request, "", 200)


async def _studio_list(request: web.Request, message: str, status: int) -> web.Response:
    shows = await request.app[STORE].list_shows()
    onair = request.app[ONAIR]
    states = {}
    for s in shows:
        states[s.id] = onair.state_of(s)
    disk = await asyncio.to_thread(_disk, request.app[SETTINGS].recordings_dir)
    return await render(
        request,
        "studio.html",
        {"shows": shows, "states": states, "message": message, "disk": disk},
        status=status,
    )


async def studio_create_show(request: web.Request) -> web.Response:
    """POST /studio/shows: the create-show form."""
    await require_login(request)
    form = await request.post()
    await check_csrf(request, str(form.get(CSRF_FIELD, "")))
    title = str(form.get("title", ""))
    starts_at = str(form.get("starts_at", "")).strip() or None
    offset = str(form.get("tz_offset", "")).strip()
    if starts_at and offset and len(starts_at) <= 16:
        # <input type=datetime-local> has no zone: the page sends the browser's offset.
        starts_at = _with_offset(starts_at, offset)
    try:
        show, key = await request.app[STORE].create_show(title, starts_at)
    except ValidationError as exc:
        return await _studio_list(request, str(exc), 422)
    # Shown once, on the show's page right after this redirect (only its hash is kept);
    # meanwhile it waits in the encrypted session cookie.
    session = await get_session(request)
    session[NEW_KEY] = {"show": show.id, "key": key}
    raise web.HTTPSeeOther(f"/studio/shows/{show.id}")


NEW_KEY = "new_stream_key"
"The session cookie's key for a stream key just made, until its show's page shows it."


async def _take_new_key(request: web.Request, show_id: str) -> str:
    """The stream key made for this show just before, once (then it is gone)."""
    session = await get_session(request)
    new = session.get(NEW_KEY)
    if not isinstance(new, dict) or new.get("show") != show_id:
        return ""
    del session[NEW_KEY]
    key = new.get("key")
    return key if isinstance(key, str) else ""


def _with_offset(local: str, minutes_west: str) -> str:
    """'2026-12-01T18:00' + JS getTimezoneOffset() (minutes west of UTC) → ISO with zone."""
    try:
        west = int(minutes_west)
    except ValueError:
        return local
    sign = "-" if west > 0 else "+"
    west = abs(west)
    return f"{local}{sign}{west // 60:02d}:{west % 60:02d}"


async def _studio_show(request: web.Request) -> ShowRecord:
    await require_login(request)
    show = await request.app[STORE].get_show(request.match_info["show"])
    if show is None or show.state == "deleted":
        raise error(404, "no such show")
    return show


async def studio_show(request: web.Request) -> web.Response:
    """GET /studio/shows/{show}: go live, watch the health, end the show."""
    show = await _studio_show(request)
    settings = request.app[SETTINGS]
    # The page goes live with the host's session (and CSRF token), not the stream key:
    # the key is stored hashed, and shown only when made or rotated.
    key = await _take_new_key(request, show.id)
    state = request.app[ONAIR].state_of(show)
    locale = (await request.app[STORE].get_brand()).locale
    config = {
        "show": show.id,
        "state": state,
        "whip": f"/whip/{show.id}",
        "events": f"/live/{show.id}/events",
        "iceServers": ice_servers(settings),
        "gracePeriod": settings.grace_period,
        "wentLiveAt": show.went_live_at,
        "csrf": await csrf_token(request),
        # The host's program preview: WHEP, not counted among the viewers.
        "whep": f"/whep/{show.id}?preview=host",
        "orientation": show.orientation,
    }
    return await render(
        request,
        "studio_show.html",
        {
            "show": show,
            "state": state,
            "config": config,
            "stream_key": key,
            "whip_url": f"{settings.base_url}/whip/{show.id}",
            "viewer_url": f"{settings.base_url}/live/{show.id}",
            "tls": settings.tls_cert is not None,
            "recording": {
                "none": "not started",
                "recording": "recording",
                "ready": f"ready ({_duration(show.duration)})",
                "failed": f"stopped: {show.recording_error or 'error'}",
            }.get(show.recording, show.recording),
            "replay_url": f"/replay/{show.id}" if show.recording in ("ready", "failed") else "",
            # Prices are typed as the brand's locale writes them ("19,90" in de_DE).
            "price_example": format_decimal(Decimal("19.90"), format="#,##0.00", locale=locale),
            "video_bitrate": settings.video_bitrate,
            "video_fps": settings.video_fps,
            "video_size": f"{settings.video_width}×{settings.video_height}",
            "embed": await _embed_codes(request, show),
        },
    )


async def _embed_codes(request: web.Request, show: ShowRecord) -> dict[str, Any]:
    """The studio's embed codes (without and with chat) and the sites allowed to use them."""
    base = request.app[SETTINGS].base_url
    codes = {}
    for chat in (False, True):
        width, height = embed_size(chat)
        codes[chat] = embed_iframe(embed_url(base, show.id, chat), show.title, width, height)
    brand = await request.app[STORE].get_brand()
    return {"code": codes[False], "code_chat": codes[True], "origins": brand.embed_origins}


def setup(app: web.Application) -> None:
    """Register the page routes and static files."""
    app[JINJA] = make_environment()
    r = app.router
    r.add_get("/", home)
    r.add_get("/brand.css", brand_css)
    r.add_get("/login", login_form)
    r.add_post("/login", login_submit)
    r.add_post("/logout", logout)
    r.add_get("/studio", studio)
    r.add_post("/studio/shows", studio_create_show)
    r.add_get("/studio/shows/{show}", studio_show)
    r.add_get("/live/{show}", viewer_page)
    r.add_static("/static", web_root() / "static")
