"""The HLS packager: one more output of the broadcast, cutting the program's own packets
into fMP4 LL-HLS parts and segments on a thread of its own.

It subscribes like the recorder (DESIGN, "one fan-out point"), reads the same H.264
packets and the AAC the recorder takes — no second encode — and cuts them into parts
(≈ `part_target`, one moof+mdat each) and segments (keyframe to keyframe: one GOP,
`keyframe_interval` long). What it makes goes to the show's `HlsStream` on the loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

import av

from .clock import AUDIO_TIME_BASE, VIDEO_TIME_BASE
from .fmp4 import InitSegment, Sample, avcc, fragment, init_segment
from .hls import HlsOptions, HlsStream, Part
from .record import parameter_sets
from .subscribers import OutputSubscriber

log = logging.getLogger(__name__)


class PartCutter:
    """Packets → fMP4 parts and segments (on the packager's thread; no I/O, no loop).

    A segment starts at each keyframe; within it a part ends at the frame boundary nearest
    `part_target` (so a late frame may take a part half a frame past it). A part is
    written when the frame after its last one arrives: that frame's dts gives the last
    one its duration. Audio goes into whichever part is open when it arrives. After the
    subscription skipped to a keyframe (the thread fell ~10 s behind), the frame before
    the gap lasts until the keyframe: the timeline (tfdt = program pts) stays true.
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
        self._part_number = 0
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
            number=self._part_number,
            data=data,
            duration=sum(s.duration for s in self._video) / 90000,
            independent=self._video[0].sync,
        )
        self._on_part(part, self._segment_start_pts)
        self._segment_parts.append(data)
        self._part_index += 1
        self._part_number += 1
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


__all__ = ["HlsPackager", "PartCutter"]
