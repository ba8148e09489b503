"""Calendar files, read back with an independent parser (the `icalendar` package): a show's
"Add to calendar" file and the feed of upcoming shows; escaping, folding, the upcoming rule."""

from __future__ import annotations

import datetime as dt
from typing import Any

import icalendar

from livestudio.live.calendar import (
    DURATION,
    escape_text,
    fold,
    google_calendar_url,
    upcoming,
)
from livestudio.store import ShowRecord

from .conftest import Studio

NOW = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)


def show(show_id: str, state: str = "scheduled", starts_at: str | None = None) -> ShowRecord:
    return ShowRecord(show_id, f"Show {show_id}", starts_at, state, 0.0, None, None)


def events(text: str) -> list[Any]:
    calendar = icalendar.Calendar.from_ical(text)
    return list(calendar.walk("VEVENT"))


def test_text_is_escaped_and_lines_fold_at_75_octets() -> None:
    assert escape_text("a,b;c\\d\ne\r\nf\x07") == "a\\,b\\;c\\\\d\\ne\\nf"
    line = "SUMMARY:" + "Kaffeetasse Café ☕ 北欧 " * 10
    folded = fold(line)
    parts = folded.split("\r\n")
    assert len(parts) > 3
    assert all(len(part.encode()) <= 75 for part in parts)
    assert all(part.startswith(" ") for part in parts[1:])
    assert "".join([parts[0], *(p[1:] for p in parts[1:])]) == line  # unfolds to the line
    assert fold("short") == "short"


def test_the_upcoming_rule() -> None:
    shows = [
        show("later", starts_at="2030-01-05T10:00:00+00:00"),
        show("soon", starts_at="2030-01-01T13:00:00+00:00"),
        show("no-start"),
        show("on-air", "live", "2030-01-01T11:00:00+00:00"),
        show("back-soon", "reconnecting", "2029-12-31T11:00:00+00:00"),
        show("ended", "ended", "2030-01-01T10:00:00+00:00"),
        show("published", "published", "2030-01-01T09:00:00+00:00"),
        show("late", starts_at="2030-01-01T02:00:00+00:00"),  # 10 h late: still on
        show("abandoned", starts_at="2029-12-30T12:00:00+00:00"),
    ]
    assert [s.id for s in upcoming(shows, NOW)] == [
        "back-soon",
        "late",
        "on-air",
        "soon",
        "later",
    ]


def test_google_calendar_link() -> None:
    link = google_calendar_url(show("x", starts_at="2030-01-05T10:00:00+00:00"), "https://l/x")
    assert link.startswith("https://calendar.google.com/calendar/render?action=TEMPLATE&")
    assert "dates=20300105T100000Z%2F20300105T110000Z" in link
    assert google_calendar_url(show("y"), "https://l/y") == ""


async def test_a_shows_calendar_file(studio_factory: Any) -> None:
    studio: Studio = await studio_factory(public_url="https://live.shop.example")
    await studio.store.update_brand({"name": "Acme; Co"})
    title = "Spring, drop; \\ special — Kaffeetasse Café ☕ with a long title " * 2
    record, _ = await studio.store.create_show(title.strip(), "2030-01-02T18:00:00+01:00")
    reply = await studio.call("GET", f"/live/{record.id}/calendar.ics", auth=False)
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert reply.headers["Content-Disposition"] == f'attachment; filename="{record.id}.ics"'
    raw = reply.body
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
    (event,) = events(reply.text)
    assert str(event["UID"]) == f"{record.id}@live.shop.example"
    assert event.decoded("DTSTART") == dt.datetime(2030, 1, 2, 17, 0, tzinfo=dt.UTC)
    assert event.decoded("DURATION") == DURATION
    assert str(event["SUMMARY"]) == title.strip()
    assert str(event["URL"]) == f"https://live.shop.example/live/{record.id}"
    assert f"https://live.shop.example/live/{record.id}" in str(event["DESCRIPTION"])
    assert "Acme; Co" in str(event["DESCRIPTION"])
    (alarm,) = event.walk("VALARM")
    assert alarm.decoded("TRIGGER") == -dt.timedelta(minutes=15)
    # The UID is the show's for good: a second download updates the same entry.
    again = await studio.call("GET", f"/live/{record.id}/calendar.ics", auth=False)
    assert str(events(again.text)[0]["UID"]) == str(event["UID"])

    unannounced, _ = await studio.create_show("No date yet")
    for path in (f"/live/{unannounced}/calendar.ics", "/live/nosuchshow/calendar.ics"):
        assert (await studio.call("GET", path, auth=False)).status == 404, path


async def test_the_feed_lists_upcoming_shows(studio: Studio) -> None:
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    later, _ = await studio.store.create_show("Later", (soon + dt.timedelta(days=3)).isoformat())
    first, _ = await studio.store.create_show("First", soon.isoformat())
    await studio.create_show("Unannounced")
    over, _ = await studio.store.create_show("Over", soon.isoformat())
    await studio.store.set_show_state(over.id, "live")
    await studio.store.set_show_state(over.id, "ended")
    reply = await studio.call("GET", "/shows.ics", auth=False)
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(reply.text)
    assert str(calendar["X-WR-CALNAME"]) == "LiveStudio live shows"
    listed = [str(e["SUMMARY"]) for e in calendar.walk("VEVENT")]
    assert listed == ["First", "Later"]
    uids = [str(e["UID"]) for e in calendar.walk("VEVENT")]
    assert uids == [f"{first.id}@127.0.0.1", f"{later.id}@127.0.0.1"]
    assert not any(e.walk("VALARM") for e in calendar.walk("VEVENT"))  # no alarms in a feed
