"""Live HLS of a show on the event loop: the window of segments and parts, the playlist,
and the requests that wait for the next part.

The packets become parts and segments on the packager's thread (media/hlspackager.py);
here, on the loop, is what requests read (`HlsStream`): the sliding window of segments
and parts in memory, the playlist over them (rendered once per change), and requests
that wait for the next part (blocking playlist reload, preload hints), bounded in number
and time.

URLs never repeat: each stream has a random `run` in its segment paths, so a CDN that
caches `…/live/<run>/41.m4s` forever can never be served other bytes for that URL by a
later show or a restarted server. Parts are named by their number in the stream
(`p163.m4s`), not by segment: the preload hint names the next part before anyone knows
whether a keyframe (a joiner may force one) will make it the first of a new segment.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_WAITING = 1000
"Requests one stream may hold waiting for its next part at once; more get 503."
ADVANCE_PARTS = 3
"How many parts past the live edge a blocking request may ask for (RFC 8216bis 6.2.5.2)."


@dataclass(frozen=True)
class HlsOptions:
    """How a show's HLS is cut and how much of it is kept."""

    segment_target: float = 2.0
    "Seconds of a segment: the program's keyframe interval (a segment is one GOP)."
    part_target: float = 0.5
    "Seconds of an LL-HLS part (0: no parts, segments only)."
    window: float = 12.0
    "Seconds of segments the playlist lists (a player starts ~3 segments from its end)."
    keep: float = 30.0
    "Seconds of segments (and parts) kept fetchable: a player behind the window gets its next one."

    @property
    def target_duration(self) -> int:
        """EXT-X-TARGETDURATION: whole seconds no segment exceeds (rounded)."""
        return max(1, math.ceil(self.segment_target - 1e-6))

    @property
    def part_hold_back(self) -> float:
        """How far behind the last part an LL-HLS player starts (three parts)."""
        return round(3 * self.part_target, 3)


@dataclass
class Part:
    """One moof+mdat: an LL-HLS partial segment."""

    msn: int
    index: int
    "Its place in segment `msn` (what _HLS_part counts)."
    number: int
    "Its place in the stream (its URI): the preload hint can name it in advance."
    data: bytes
    duration: float
    independent: bool
    "Starts with a keyframe: a player may start here."
    made_at: float = field(default_factory=time.time)
    "Unix time it was written (Last-Modified)."


@dataclass
class Segment:
    """One GOP: its parts, and once complete, all of them as one resource."""

    msn: int
    start_pts: int
    "Program pts (1/90000) of its first frame."
    parts: list[Part] = field(default_factory=list)
    data: bytes = b""
    complete: bool = False
    completed_at: float = 0.0
    "Unix time it was completed (Last-Modified)."

    @property
    def duration(self) -> float:
        """Seconds of media in its parts so far."""
        return sum(p.duration for p in self.parts)


class HlsBusy(Exception):
    """Too many requests are already waiting for this stream's next part."""


class HlsStream:
    """A show's live HLS on the event loop: the window, the playlist, waiting requests."""

    def __init__(
        self,
        options: HlsOptions,
        wall_origin: Callable[[], float | None],
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.options = options
        self._wall_origin = wall_origin
        self._loop = loop or asyncio.get_running_loop()
        self.run = secrets.token_hex(4)
        "In every media path of this stream: its URLs are never reused."
        self.init: bytes | None = None
        self.segments: deque[Segment] = deque()
        "Complete segments still fetchable, oldest first."
        self.current: Segment | None = None
        "The segment being cut now (its parts so far)."
        self.ended = False
        self.ended_at = 0.0
        "time.monotonic() when it ended (an ended stream is served a little longer)."
        self.failed = ""
        self.version = 0
        self.updated_at = time.time()
        self.waiting = 0
        "Requests waiting for a part or a playlist update now."
        self.served: Counter[str] = Counter()
        "Responses served by kind (playlist, init, segment, part): /metrics."
        self.parts_made = 0
        self.segments_made = 0
        self._by_number: dict[int, Part] = {}
        "Every kept part by its number."
        self._changed: asyncio.Future[None] = self._loop.create_future()
        self._playlist: tuple[int, str] | None = None

    # -- from the packager thread (called on the loop) -----------------------------------------

    def add_init(self, data: bytes) -> None:
        """The init segment (once)."""
        self.init = data
        self._touch()

    def add_part(self, part: Part, start_pts: int) -> None:
        """A new part; a part with index 0 opens segment `part.msn` (starting at start_pts)."""
        if self.current is None or self.current.msn != part.msn:
            self.current = Segment(part.msn, start_pts)
        self.current.parts.append(part)
        self._by_number[part.number] = part
        self.parts_made += 1
        self._touch()

    def complete_segment(self, msn: int, data: bytes) -> None:
        """Segment `msn` has all its parts: it is listed as a whole from now on."""
        segment = self.current
        if segment is None or segment.msn != msn:
            return
        segment.data = data
        segment.complete = True
        segment.completed_at = time.time()
        self.segments.append(segment)
        self.current = None
        self.segments_made += 1
        while len(self.segments) > 1 and self._kept_seconds() - self.segments[0].duration >= (
            self.options.keep
        ):
            for gone in self.segments.popleft().parts:
                self._by_number.pop(gone.number, None)
        self._touch()

    def end(self, error: str = "") -> None:
        """No more media: the playlist gets its EXT-X-ENDLIST; waiting requests are answered."""
        if self.ended:
            return
        self.ended = True
        self.ended_at = time.monotonic()
        self.failed = error
        self.current = None  # an incomplete segment is never listed
        self._touch()

    def _kept_seconds(self) -> float:
        return sum(s.duration for s in self.segments)

    def _touch(self) -> None:
        self.version += 1
        self.updated_at = time.time()
        changed, self._changed = self._changed, self._loop.create_future()
        changed.set_result(None)

    # -- what requests read -------------------------------------------------------------------

    @property
    def playable(self) -> bool:
        """At least one complete segment (a player needs one to start)."""
        return self.init is not None and bool(self.segments)

    def segment(self, msn: int) -> Segment | None:
        """A complete segment still kept."""
        if not self.segments or msn < self.segments[0].msn:
            return None
        index = msn - self.segments[0].msn
        return self.segments[index] if index < len(self.segments) else None

    def part(self, msn: int, index: int) -> Part | None:
        """A part still kept (of a complete segment or of the one being cut)."""
        segment = self.segment(msn)
        if segment is None and self.current is not None and self.current.msn == msn:
            segment = self.current
        if segment is None or index >= len(segment.parts):
            return None
        return segment.parts[index]

    def part_numbered(self, number: int) -> Part | None:
        """A part still kept, by its number in the stream (its URI)."""
        return self._by_number.get(number)

    def next_part_number(self) -> int:
        """The number of the part being cut now: the preload hint."""
        return self.parts_made

    def last_part(self) -> tuple[int, int]:
        """(msn, index) of the newest part; (-1, -1) before the first."""
        if self.current is not None and self.current.parts:
            return self.current.msn, len(self.current.parts) - 1
        if self.segments:
            last = self.segments[-1]
            return last.msn, len(last.parts) - 1
        return -1, -1

    def last_msn(self) -> int:
        """Media sequence number of the newest complete segment (-1 before the first)."""
        return self.segments[-1].msn if self.segments else -1

    def next_part(self) -> tuple[int, int]:
        """(msn, index) of the part being cut now, if its segment goes on."""
        if self.current is not None:
            return self.current.msn, len(self.current.parts)
        return self.last_msn() + 1, 0

    def too_far(self, msn: int, part: int | None) -> bool:
        """A blocking request for media further ahead than the spec lets a client ask."""
        last_msn, last_index = self.last_part()
        if msn > max(last_msn, self.last_msn()) + 2:
            return True
        if part is None or self.options.part_target <= 0:
            return False
        advance = max(ADVANCE_PARTS, math.ceil(ADVANCE_PARTS / self.options.part_target))
        return msn == last_msn and part > last_index + advance

    def has_playlist_for(self, msn: int, part: int | None) -> bool:
        """The playlist lists segment `msn` (or part `part` of it), or something later."""
        if self.ended:
            return True
        if part is None or self.options.part_target <= 0:
            return self.last_msn() >= msn
        return self.last_part() >= (msn, part)

    async def wait_for(self, ready: Callable[[], bool], within: float) -> bool:
        """Wait until ready() (re-checked after every change) or the stream ends; False
        after `within` seconds. Raises HlsBusy when MAX_WAITING requests already wait."""
        if ready():
            return True
        if self.waiting >= MAX_WAITING:
            raise HlsBusy
        self.waiting += 1
        deadline = self._loop.time() + within
        try:
            while not ready() and not self.ended:
                remaining = deadline - self._loop.time()
                if remaining <= 0:
                    return False
                try:
                    # Shielded: one waiter timing out must not cancel everyone's future.
                    await asyncio.wait_for(asyncio.shield(self._changed), remaining)
                except TimeoutError:
                    return ready()
            return ready()
        finally:
            self.waiting -= 1

    # -- the playlist ---------------------------------------------------------------------------

    def playlist(self) -> str:
        """The live media playlist now (cached until the next change)."""
        if self._playlist is not None and self._playlist[0] == self.version:
            return self._playlist[1]
        text = self._render()
        self._playlist = (self.version, text)
        return text

    def uri(self, name: str) -> str:
        """A media path relative to the playlist (/media/{show}/)."""
        return f"live/{self.run}/{name}"

    def _render(self) -> str:
        options = self.options
        parts_on = options.part_target > 0
        listed = self._listed()
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:9" if parts_on else "#EXT-X-VERSION:7",
            f"#EXT-X-TARGETDURATION:{options.target_duration}",
            f"#EXT-X-MEDIA-SEQUENCE:{listed[0].msn if listed else 0}",
            "#EXT-X-INDEPENDENT-SEGMENTS",
        ]
        if parts_on:
            lines += [
                f"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={options.part_hold_back:.3f}",
                f"#EXT-X-PART-INF:PART-TARGET={options.part_target:.3f}",
            ]
        else:
            lines.append("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES")
        lines.append(f'#EXT-X-MAP:URI="{self.uri("init.mp4")}"')
        with_parts = self._parts_from(listed) if parts_on else None
        for segment in listed:
            lines += self._segment_lines(segment, with_parts)
        if self.ended:
            lines.append("#EXT-X-ENDLIST")
        elif parts_on:
            hint = self.uri(f"p{self.next_part_number()}.m4s")
            lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{hint}"')
        return "\n".join(lines) + "\n"

    def _listed(self) -> list[Segment]:
        """The complete segments the playlist lists: the newest covering `window` seconds,
        and the one being cut (parts only) when parts are on."""
        listed: list[Segment] = []
        total = 0.0
        for segment in reversed(self.segments):
            if total >= self.options.window:
                break
            listed.append(segment)
            total += segment.duration
        listed.reverse()
        if self.options.part_target > 0 and self.current is not None and self.current.parts:
            listed.append(self.current)
        return listed

    def _parts_from(self, listed: list[Segment]) -> int:
        """The first msn whose parts are listed: those starting within three target
        durations of the playlist's end (RFC 8216bis: older parts may go)."""
        first = listed[-1].msn if listed else 0
        span = 0.0
        for segment in reversed(listed):
            span += segment.duration
            first = segment.msn
            if span > 3 * self.options.target_duration:
                break
        return first

    def _segment_lines(self, segment: Segment, parts_from: int | None) -> list[str]:
        lines = []
        origin = self._wall_origin()
        if origin is not None:
            moment = dt.datetime.fromtimestamp(origin + segment.start_pts / 90000, dt.UTC)
            stamp = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{stamp}")
        if parts_from is not None and segment.msn >= parts_from:
            for part in segment.parts:
                independent = ",INDEPENDENT=YES" if part.independent else ""
                uri = self.uri(f"p{part.number}.m4s")
                lines.append(f'#EXT-X-PART:DURATION={part.duration:.3f},URI="{uri}"{independent}')
        if segment.complete:
            lines += [f"#EXTINF:{segment.duration:.3f},", self.uri(f"{segment.msn}.m4s")]
        return lines


__all__ = ["HlsBusy", "HlsOptions", "HlsStream", "Part", "Segment"]
