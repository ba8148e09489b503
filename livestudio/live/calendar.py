"""Shows in people's calendars: an iCalendar event per announced show (RFC 5545), the feed
of upcoming ones, and the "Add to Google Calendar" link.

Written by hand rather than with a library: a few properties, UTC times only (no
VTIMEZONE), and the two things that matter done carefully: TEXT escaping (§3.3.11) and
folding lines at 75 octets without splitting a UTF-8 character (§3.1).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from ..store import ShowRecord

DURATION = dt.timedelta(hours=1)
"How long a show's calendar entry lasts: shows have no announced end."
REMINDER = dt.timedelta(minutes=15)
"When the per-show entry's alarm goes off, before the start."
STALE_AFTER = dt.timedelta(hours=12)
"A scheduled show whose start passed this long ago without going live is not upcoming."
UPCOMING_STATES = ("scheduled", "live", "reconnecting")
FEED_REFRESH = "PT1H"
"How often calendar apps are asked to refresh the feed (REFRESH-INTERVAL, RFC 7986)."


def start_of(show: ShowRecord) -> dt.datetime | None:
    """The announced start, as an aware UTC datetime (None if not announced)."""
    if not show.starts_at:
        return None
    try:
        moment = dt.datetime.fromisoformat(show.starts_at)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def upcoming(shows: Iterable[ShowRecord], now: dt.datetime) -> list[ShowRecord]:
    """The shows the calendar feed lists, soonest first: announced (a start time), not
    over (scheduled, or on air now), and not a scheduled show whose start passed more than
    STALE_AFTER ago without it going live. The one place this rule lives."""
    chosen: list[tuple[dt.datetime, ShowRecord]] = []
    for show in shows:
        start = start_of(show)
        if start is None or show.state not in UPCOMING_STATES:
            continue
        if show.state == "scheduled" and start < now - STALE_AFTER:
            continue
        chosen.append((start, show))
    chosen.sort(key=lambda pair: (pair[0], pair[1].id))
    return [show for _, show in chosen]


def escape_text(value: str) -> str:
    """A TEXT value (RFC 5545 §3.3.11): backslash, semicolon, comma and newlines escaped;
    other control characters, which TEXT may not hold, dropped."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = "".join(c for c in value if c == "\n" or c == "\t" or ord(c) >= 0x20)
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace("\n", "\\n")


def fold(line: str) -> str:
    """A content line folded at 75 octets (§3.1), never inside a UTF-8 character; each
    continuation starts with one space, which counts toward its 75."""
    out: list[str] = []
    current = ""
    size = 0
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > 75:
            out.append(current)
            current, size = " ", 1
        current += char
        size += width
    out.append(current)
    return "\r\n".join(out)


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _duration(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds()) // 60
    hours, minutes = divmod(minutes, 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes or not hours else "")


@dataclass(frozen=True)
class CalendarSite:
    """What every entry says about where the shows are."""

    base_url: str
    "The public base URL: viewer links start with it, UIDs end with its host."
    brand: str
    "The brand's name: the organizer people see."
    version: str = ""

    @property
    def host(self) -> str:
        return (urlsplit(self.base_url).hostname or "localhost").lower()

    def page_url(self, show: ShowRecord) -> str:
        return f"{self.base_url}/live/{show.id}"

    def uid(self, show: ShowRecord) -> str:
        """Stable for the show's life: calendar apps update the entry instead of adding one."""
        return f"{show.id}@{self.host}"


def description(site: CalendarSite, show: ShowRecord) -> str:
    """The entry's text: who, and the link to watch and shop."""
    return f"Live shopping with {site.brand}. Watch and shop here: {site.page_url(show)}"


def _event(site: CalendarSite, show: ShowRecord, now: dt.datetime, alarm: bool) -> list[str]:
    start = start_of(show)
    assert start is not None  # only announced shows have entries
    url = site.page_url(show)
    lines = [
        "BEGIN:VEVENT",
        f"UID:{escape_text(site.uid(show))}",
        f"DTSTAMP:{_utc(now)}",
        f"DTSTART:{_utc(start)}",
        f"DURATION:{_duration(DURATION)}",
        f"SUMMARY:{escape_text(show.title)}",
        f"DESCRIPTION:{escape_text(description(site, show))}",
        # URL is what the standard has; many apps only show LOCATION, so it has the link too.
        f"URL:{url}",
        f"LOCATION:{escape_text(url)}",
        "STATUS:CONFIRMED",
        "TRANSP:OPAQUE",
    ]
    if alarm:
        lines += [
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            f"DESCRIPTION:{escape_text(show.title)}",
            f"TRIGGER:-{_duration(REMINDER)}",
            "END:VALARM",
        ]
    lines.append("END:VEVENT")
    return lines


def icalendar(
    site: CalendarSite,
    shows: Sequence[ShowRecord],
    now: dt.datetime,
    *,
    feed: bool,
) -> str:
    """A VCALENDAR with one VEVENT per show (announced shows only), CRLF line ends.

    `feed`: the subscription (a name and a refresh interval for calendar apps, no
    alarms: a subscriber did not ask to be woken for every show); otherwise the "Add to
    calendar" file of one show, with a reminder before it starts."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:-//LiveStudio//LiveStudio {site.version}//EN".replace("  ", " "),
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
    ]
    if feed:
        name = escape_text(f"{site.brand} live shows")
        lines += [
            f"NAME:{name}",
            f"X-WR-CALNAME:{name}",
            f"REFRESH-INTERVAL;VALUE=DURATION:{FEED_REFRESH}",
            f"X-PUBLISHED-TTL:{FEED_REFRESH}",
            f"SOURCE;VALUE=URI:{site.base_url}/shows.ics",
        ]
    for show in shows:
        if start_of(show) is not None:
            lines += _event(site, show, now, alarm=not feed)
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)


def google_calendar_url(show: ShowRecord, page_url: str) -> str:
    """Google Calendar's "add this event" link for an announced show ("" if not announced)."""
    start = start_of(show)
    if start is None:
        return ""
    query = {
        "action": "TEMPLATE",
        "text": show.title,
        "dates": f"{_utc(start)}/{_utc(start + DURATION)}",
        "details": f"Watch and shop here: {page_url}",
        "location": page_url,
    }
    return "https://calendar.google.com/calendar/render?" + urlencode(query)
