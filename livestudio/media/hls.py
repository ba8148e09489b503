"""Live HLS of a show: the program's own packets as fMP4 segments and LL-HLS parts, in memory.

One more output of the broadcast (DESIGN, "one fan-out point"): the packager subscribes
like the recorder, reads the same H.264 packets and the AAC the recorder takes, and on a
thread of its own cuts them into parts (≤ `part_target`, a moof+mdat each) and segments
(from keyframe to keyframe: one GOP, `keyframe_interval` long) — no second encode.
Everything else happens on the event loop (`HlsStream`): the sliding window of segments
and parts, the playlist over them (rendered once per change), and requests that wait for
the next part (blocking playlist reload, preload hints), bounded in number and time.

URLs never repeat: each stream has a random `run` in its segment paths, so a CDN that
caches `…/live/<run>/41.m4s` forever can never be served other bytes for that URL by a
later show or a restarted server.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import av

from .clock import AUDIO_TIME_BASE, VIDEO_TIME_BASE
from .fmp4 import InitSegment, Sample, avcc, fragment, init_segment
from .subscribers import OutputSubscriber

log = logging.getLogger(__name__)

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
            self.segments.popleft()
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
        """(msn, index) of the part being cut now: the preload hint."""
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
            msn, index = self.next_part()
            lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{self.uri(f"{msn}.{index}.m4s")}"')
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
                uri = self.uri(f"{part.msn}.{part.index}.m4s")
                lines.append(f'#EXT-X-PART:DURATION={part.duration:.3f},URI="{uri}"{independent}')
        if segment.complete:
            lines += [f"#EXTINF:{segment.duration:.3f},", self.uri(f"{segment.msn}.m4s")]
        return lines


class PartCutter:
    """Packets → fMP4 parts and segments (on the packager's thread; no I/O, no loop).

    A segment starts at each keyframe; within it a part ends at the frame boundary nearest
    `part_target` (so a late frame may take a part half a frame past it). A part is written when the
    frame after its last one arrives: that frame's dts gives the last one its duration.
    Audio goes into whichever part is open when it arrives.
    """

    def __init__(
        self,
        options: HlsOptions,
        aac_config: bytes,
        on_init: Callable[[bytes], None],
        on_part: Callable[[Part, int], None],
        on_segment: Callable[[int, bytes], None],
    ) -> None:
        self.options = options
        self._aac_config = aac_config
        self._on_init = on_init
        self._on_part = on_part
        "Called with each part and the pts its segment starts at."
        self._on_segment = on_segment
        "Called with a segment's msn and all its parts' bytes, once it is complete."
        self.init: InitSegment | None = None
        self.msn = -1
        self._sequence = 0
        self._part_index = 0
        self._segment_start_pts = 0
        self._segment_parts: list[bytes] = []
        self._video: list[Sample] = []
        self._audio: list[Sample] = []
        self._held: Sample | None = None
        "The newest video sample, waiting for its successor to know its duration."
        self._interval = 3000
        "The last frame interval (1/90000): the last frame's duration at the end."

    def video(self, packet: av.Packet) -> None:
        """A video packet of the program (the first one a keyframe)."""
        if packet.pts is None:
            return
        dts = _ticks(packet.dts if packet.dts is not None else packet.pts, packet, VIDEO_TIME_BASE)
        pts = _ticks(packet.pts, packet, VIDEO_TIME_BASE)
        annexb = bytes(packet)
        if self.init is None:
            if not packet.is_keyframe:
                return
            self.init = _init_for(annexb, self._aac_config)
            self._on_init(self.init.data)
        held = self._held
        if held is not None:
            held.duration = max(1, dts - held.dts)
            self._interval = held.duration
            self._video.append(held)
            if packet.is_keyframe:
                self._close_part(ends_segment=True)
            elif self._part_full(dts):
                self._close_part(ends_segment=False)
        if packet.is_keyframe and not self._segment_parts and not self._video:
            self.msn += 1
            self._part_index = 0
            self._segment_start_pts = pts
        self._held = Sample(avcc(annexb), dts, cts_offset=pts - dts, sync=packet.is_keyframe)

    def audio(self, packet: av.Packet) -> None:
        """An AAC packet of the program."""
        if packet.pts is None or self.init is None:
            return
        dts = _ticks(packet.dts if packet.dts is not None else packet.pts, packet, AUDIO_TIME_BASE)
        if dts < 0:
            return  # the encoder's priming frame, before the program's start
        self._audio.append(Sample(bytes(packet), dts, duration=packet.duration or 1024))

    def finish(self) -> None:
        """The program is over: the last part and segment are written."""
        held = self._held
        if held is None:
            return
        held.duration = self._interval
        self._video.append(held)
        self._held = None
        self._close_part(ends_segment=True)

    def _part_full(self, next_dts: int) -> bool:
        target = self.options.part_target
        if target <= 0 or not self._video:
            return False
        # Full at the frame boundary nearest the target: at 30 fps 15 frames make 0.5 s,
        # four parts a 2 s GOP (cutting a frame early would leave a 2-frame last part).
        elapsed = next_dts - self._video[0].dts
        return (elapsed + 0.5 * self._interval) / 90000 > target

    def _close_part(self, ends_segment: bool) -> None:
        if not self._video:
            return
        assert self.init is not None
        self._sequence += 1
        data = fragment(
            self._sequence,
            [(self.init.video_track, self._video), (self.init.audio_track, self._audio)],
        )
        part = Part(
            msn=self.msn,
            index=self._part_index,
            data=data,
            duration=sum(s.duration for s in self._video) / 90000,
            independent=self._video[0].sync,
        )
        self._on_part(part, self._segment_start_pts)
        self._segment_parts.append(data)
        self._part_index += 1
        self._video, self._audio = [], []
        if ends_segment:
            self._on_segment(self.msn, b"".join(self._segment_parts))
            self._segment_parts = []


def _ticks(value: int, packet: av.Packet, time_base: object) -> int:
    """A timestamp in `time_base` (the program's packets already are)."""
    if packet.time_base is None or packet.time_base == time_base:
        return int(value)
    return round(value * packet.time_base / time_base)  # type: ignore[operator]


def _init_for(keyframe: bytes, aac_config: bytes) -> InitSegment:
    from .record import parameter_sets

    width, height = _frame_size(keyframe)
    return init_segment(parameter_sets(keyframe), width, height, aac_config)


def _frame_size(keyframe: bytes) -> tuple[int, int]:
    decoder = av.CodecContext.create("h264", "r")
    frames = list(decoder.decode(av.Packet(keyframe))) + list(decoder.decode(None))
    if not frames:
        raise ValueError("the first keyframe could not be decoded")
    return frames[0].width, frames[0].height


class HlsPackager:
    """Reads its subscription on a thread of its own and feeds the stream on the loop."""

    def __init__(
        self,
        feed: OutputSubscriber,
        stream: HlsStream,
        aac_config: bytes,
        loop: asyncio.AbstractEventLoop,
        name: str = "hls",
    ) -> None:
        self.feed = feed
        self.stream = stream
        self._loop = loop
        self._cutter = PartCutter(
            stream.options,
            aac_config,
            on_init=lambda data: self._call(stream.add_init, data),
            on_part=lambda part, start: self._call(stream.add_part, part, start),
            on_segment=lambda msn, data: self._call(stream.complete_segment, msn, data),
        )
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def dropped(self) -> int:
        """Times the packager fell ~10 s behind and skipped to the next keyframe."""
        return self.feed.video_drops

    def close(self) -> None:
        """Wait for the thread to finish (blocking); the broadcast's end closes the feed."""
        self.feed.close()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        error = ""
        cutter = self._cutter
        while (item := self.feed.get()) is not None:
            if error:
                continue  # keep reading so the feed's end is seen
            kind, packet = item
            try:
                if kind == "video":
                    cutter.video(packet)
                else:
                    cutter.audio(packet)
            except Exception as exc:  # a damaged packet, FFmpeg: the show goes on without HLS
                log.exception("HLS packager %s stopped", self._thread.name)
                error = f"HLS stopped: {exc}"
        if not error:
            try:
                cutter.finish()
            except Exception as exc:
                log.exception("HLS packager %s: the last part was lost", self._thread.name)
                error = f"HLS stopped: {exc}"
        self._call(self.stream.end, error)

    def _call(self, function: Callable[..., None], *args: object) -> None:
        if not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(function, *args)
            except RuntimeError:  # the loop closed meanwhile (server shutdown)
                pass


__all__ = [
    "HlsBusy",
    "HlsOptions",
    "HlsPackager",
    "HlsStream",
    "Part",
    "PartCutter",
    "Segment",
]
