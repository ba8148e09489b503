"""One live show: wires ingest → program (compose, encode) → broadcast → viewers.

The show outlives its publisher's connection (DESIGN 8): a host who reloads the page or
loses Wi-Fi comes back to the same program, the same clock and the same viewers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av

from .broadcast import Broadcast, OutputSubscriber
from .compose import Scene
from .encode import VideoSettings
from .hls import HlsOptions, HlsStream
from .hlspackager import HlsPackager
from .ice import IcePolicy
from .ingest import Publisher
from .program import Program
from .record import Recorder, RecordingResult, finalize
from .recovery import RecoveryStats
from .restream import RtmpPush
from .viewer import Viewer
from .whip_push import WhipPush
from .workers import FanoutWorkers

log = logging.getLogger(__name__)

REPLACE_SILENT_AFTER = 2.0
"A publisher silent this long may be replaced by a new POST with the right key."
SHOWN_TIMEOUT = 5.0
"Seconds to wait for the program to report the first frame with a new scene."


class ShowBusy(Exception):
    """A healthy publisher is already live."""


class ShowFull(Exception):
    """The viewer cap is reached."""


class ShowEnded(Exception):
    """The show has ended; nothing more can join it."""


@dataclass(frozen=True)
class ShowLimits:
    """Per-show settings taken from the server's Settings."""

    box: VideoSettings
    grace_period: float = 60.0
    max_viewers: int = 200
    ice: IcePolicy = IcePolicy()  # noqa: RUF009 (frozen dataclass)
    recordings_dir: Path | None = None
    "Where each show's recording folder goes; None: shows are not recorded."
    hls: HlsOptions | None = None
    "How the show's live HLS is cut; None: no HLS."
    sender: str = "lean"
    "How viewers' RTP is sent: 'lean' (packetized once, media/rtpsend.py) or 'aiortc'."
    fanout_workers: int = 0
    "Processes serving the viewers (media/workers.py); 0: the main process does."


StateListener = Callable[[str], None]
"Called with 'live', 'reconnecting' or 'ended' on every state change."


@dataclass(frozen=True)
class ShowStats:
    """What /metrics and the studio read of a show on air."""

    viewers: int
    program_frames: int
    frames_repeated: int
    frames_slate: int
    encode_seconds_total: float
    encode_last_seconds: float
    keyframes_forced: int
    video_drops_total: int
    "Times any viewer (gone ones included) fell behind and skipped to a keyframe."
    video_drops_max: int
    "Most drops of any one current viewer."
    subscribers_dropping: int
    "Current viewers that dropped video at least once."
    recording_drops: int
    "Times the recording fell ~10 s behind (a slow disk) and skipped to a keyframe."
    ingest_packets_missing: int = 0
    "Host video packets found missing (and NACKed), over every publisher of the show."
    ingest_packets_lost: int = 0
    "Of those, packets never recovered (given up)."
    ingest_frames_held: int = 0
    "Decoded host frames held back: damaged by loss, or older than one shown."
    source_frames_skipped: int = 0
    "Host frames the program skipped (bunched beyond what it keeps waiting)."
    hls_segments: int = 0
    "HLS segments completed."
    hls_parts: int = 0
    "LL-HLS parts written."
    hls_served: dict[str, int] | None = None
    "HLS responses served, by kind (playlist, init, segment, part)."
    hls_waiting: int = 0
    "HLS requests waiting for the next part now."


class LiveShow:
    """A show that is on air (or waiting for its host to come back)."""

    def __init__(
        self,
        show_id: str,
        limits: ShowLimits,
        on_state: StateListener,
        on_recording_error: Callable[[str], None] | None = None,
        on_nothing_aired: Callable[[], None] | None = None,
    ) -> None:
        self.id = show_id
        self.limits = limits
        self._on_state = on_state
        self._on_recording_error = on_recording_error
        self._on_nothing_aired = on_nothing_aired
        "Called instead of waiting for the host when the only publisher left before any media."
        self._had_media = False
        "A publisher delivered media at least once."
        self.state = "live"
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.program = Program(
            loop,
            limits.box,
            on_video=self._on_video_packet,
            on_audio=self._on_audio_packet,
            on_stall=self._on_stall,
            name=f"program-{show_id}",
            # AAC is for the muxing outputs (MP4, HLS): encoded once for all of them.
            on_aac=self._on_aac_packet if limits.recordings_dir or limits.hls else None,
            on_failure=self._program_failed,
        )
        self.broadcast = Broadcast(request_keyframe=self.program.keyframes.request)
        self.recorder: Recorder | None = None
        self.recording: RecordingResult | None = None
        "What the recording holds, once the show has ended."
        if limits.recordings_dir is not None:
            # The recorder is one more subscriber of the broadcast, an output.
            self.recorder = Recorder(
                limits.recordings_dir / show_id,
                self.broadcast.subscribe_output(f"recorder {show_id}", audio="aac"),
                aac_config=self.program.aac_extradata,
                on_error=self._recording_error_from_thread,
                name=f"recorder-{show_id}",
            )
        self.hls: HlsStream | None = None
        "The show's live HLS (segments, parts, playlist), if HLS is on."
        self._hls_packager: HlsPackager | None = None
        if limits.hls is not None:
            self.hls = HlsStream(limits.hls, lambda: self.program.clock.wall_origin, loop)
            self._hls_packager = HlsPackager(
                self.broadcast.subscribe_output(f"hls {show_id}", audio="aac"),
                self.hls,
                aac_config=self.program.aac_extradata,
                loop=loop,
                name=f"hls-{show_id}",
            )
        self.workers: FanoutWorkers | None = None
        if limits.fanout_workers > 0:
            self.workers = FanoutWorkers(
                limits.fanout_workers, self.broadcast, self.program.keyframes.request
            )
        self.publisher: Publisher | None = None
        self.viewers: dict[str, Viewer] = {}
        self.recent_viewer_ids: deque[str] = deque(maxlen=1000)
        "Viewers that left on their own, so their late DELETE is not a 404."
        self._past_publisher_ids: deque[str] = deque(maxlen=8)
        self._past_recovery = RecoveryStats()
        "What loss recovery did for the publishers gone (/metrics adds the current one's)."
        self._grace: asyncio.Task[None] | None = None
        self._failure: asyncio.Task[None] | None = None
        self._ended = asyncio.Event()
        self._on_air = asyncio.Event()
        "Set once the program runs at its fixed size: scenes can be shown from then on."
        self._quiet = False
        "Ending without telling the state listener (a show of which nothing aired)."

    # -- what the app may do to a show on air -----------------------------------------------

    @property
    def on_air(self) -> bool:
        """True once the program runs (its size is fixed) and until the show ends."""
        return self._on_air.is_set() and not self.ended

    async def wait_on_air(self) -> bool:
        """Wait until the program runs; False if the show ended first."""
        on_air = asyncio.ensure_future(self._on_air.wait())
        ended = asyncio.ensure_future(self._ended.wait())
        try:
            await asyncio.wait({on_air, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            on_air.cancel()
            ended.cancel()
        return self.on_air

    @property
    def frame_size(self) -> tuple[int, int] | None:
        """The program's fixed width and height (None until on air)."""
        settings = self.program.settings
        return (settings.width, settings.height) if settings is not None else None

    def program_seconds(self) -> float:
        """Program time now, in seconds (0 before the first frame)."""
        return self.program.clock.seconds()

    @property
    def wall_origin(self) -> float | None:
        """Unix time of program pts 0 (None before the first frame): HLS players map
        EXT-X-PROGRAM-DATE-TIME back to program pts with it."""
        return self.program.clock.wall_origin

    def program_pts(self) -> int | None:
        """Program time now in 1/90000 (None before the first frame)."""
        clock = self.program.clock
        return clock.pts() if clock.started else None

    async def show_scene(self, scene: Scene | None) -> int:
        """Put `scene` on the program (None: clear it); returns the pts of the first frame
        that shows it, which is what viewers see and what show events are stamped with."""
        shown: asyncio.Future[int] = self._loop.create_future()

        def report(pts: int) -> None:  # on the program thread
            self._loop.call_soon_threadsafe(_resolve, shown, pts)

        self.program.compositor.set_scene(scene, on_shown=report)
        try:
            return await asyncio.wait_for(asyncio.shield(shown), SHOWN_TIMEOUT)
        except TimeoutError:
            return self.program.clock.pts()  # the program stalled: stamp with the clock

    def subscribe(self, name: str, audio: str = "aac") -> OutputSubscriber:
        """A new output of the program (HLS, a restream): the same packets the viewers
        get, from the last keyframe on, in a bounded queue its own thread reads."""
        return self.broadcast.subscribe_output(name, audio=audio)

    def unsubscribe(self, output: OutputSubscriber) -> None:
        """The output stops (its reader gets the end)."""
        self.broadcast.unsubscribe(output)

    def restream(self, url: str, key: str, tls: ssl.SSLContext | None = None) -> RtmpPush:
        """An RTMP(S) push of the program's H.264 + AAC packets (FLV, no re-encode)."""
        return RtmpPush(
            url,
            key,
            subscribe=lambda name: self.subscribe(name, audio="aac"),
            unsubscribe=self.unsubscribe,
            aac_config=self.program.aac_extradata,
            name=f"restream-{self.id}",
            tls=tls,
        )

    def whip_push(self, url: str, key: str) -> WhipPush:
        """A WHIP push of the program's H.264 + Opus packets (to an SFU, another studio)."""
        return WhipPush(
            url,
            key,
            self.broadcast,
            self.program.keyframes.request,
            self.limits.ice,
            self.limits.box.profile_level_id,
            name=f"whip push {self.id}",
        )

    @property
    def viewer_count(self) -> int:
        """WebRTC viewers watching now."""
        return len(self.viewers)

    def viewer(self, session_id: str) -> Viewer | None:
        """The WHEP session with this id, if it is watching."""
        return self.viewers.get(session_id)

    def stats(self) -> ShowStats:
        """Counters for /metrics."""
        s = self.program.stats
        drops = [sub.video_drops for sub in self.broadcast.viewers() if not sub.closed]
        ingest = self._past_recovery
        if self.publisher is not None:
            ingest = ingest.plus(self.publisher.recovery.stats)
        return ShowStats(
            viewers=len(self.viewers),
            program_frames=s.frames,
            frames_repeated=s.frames_repeated,
            frames_slate=s.frames_slate,
            encode_seconds_total=s.encode_seconds_total,
            encode_last_seconds=s.last_encode_seconds,
            keyframes_forced=self.program.keyframes.forced,
            video_drops_total=self.broadcast.viewer_drops_total(),
            video_drops_max=max(drops, default=0),
            subscribers_dropping=sum(1 for d in drops if d),
            recording_drops=self.recorder.dropped if self.recorder else 0,
            ingest_packets_missing=ingest.nacked,
            ingest_packets_lost=ingest.given_up,
            ingest_frames_held=ingest.frames_held,
            source_frames_skipped=self.program.source_frames_skipped,
            hls_segments=self.hls.segments_made if self.hls else 0,
            hls_parts=self.hls.parts_made if self.hls else 0,
            hls_served=dict(self.hls.served) if self.hls else None,
            hls_waiting=self.hls.waiting if self.hls else 0,
        )

    # -- packets from the program thread (on the loop) --------------------------------------

    def _on_video_packet(self, packet: object) -> None:
        self.broadcast.publish_video(packet)  # type: ignore[arg-type]

    def _on_audio_packet(self, packet: object) -> None:
        self.broadcast.publish_audio(packet)  # type: ignore[arg-type]

    def _on_aac_packet(self, packet: object) -> None:
        self.broadcast.publish_audio(packet, "aac")  # type: ignore[arg-type]

    def _program_failed(self, exc: BaseException) -> None:
        # Without its program a show only shows a frozen picture: end it cleanly (the
        # recording so far is finalized and published) rather than pretend to be live.
        log.error("show %s: its program stopped (%s); ending the show", self.id, exc)
        self._failure = asyncio.ensure_future(self.end())

    def _recording_error_from_thread(self, message: str) -> None:
        if self._on_recording_error is not None:
            self._loop.call_soon_threadsafe(self._on_recording_error, message)

    # -- state ------------------------------------------------------------------------------

    def _set_state(self, state: str) -> None:
        if state != self.state and self.state != "ended":
            self.state = state
            if not self._quiet:
                self._on_state(state)

    def _on_stall(self, stalled: bool) -> None:
        if stalled:
            self._set_state("reconnecting")
            self._start_grace()
        elif self.publisher is not None:
            self._cancel_grace()
            self._set_state("live")

    def _start_grace(self) -> None:
        if self._grace is None or self._grace.done():
            self._grace = asyncio.ensure_future(self._grace_timer())

    def _cancel_grace(self) -> None:
        if self._grace is not None and self._grace is not asyncio.current_task():
            self._grace.cancel()
        self._grace = None

    async def _grace_timer(self) -> None:
        await asyncio.sleep(self.limits.grace_period)
        log.info("show %s: host did not come back within %ss", self.id, self.limits.grace_period)
        await self.end()

    @property
    def ended(self) -> bool:
        """True once the show is over."""
        return self.state == "ended"

    # -- publishing -------------------------------------------------------------------------

    async def publish(self, offer_sdp: str, address: str = "", reached: str = "") -> Publisher:
        """Accept a host's offer; a silent previous publisher is replaced, a healthy one wins.

        `address` is the host's address and `reached` the server address its request
        came to (either "" if unknown): they decide the candidates of the answer.
        """
        if self.ended:
            raise ShowEnded
        old = self.publisher
        if old is not None:
            if old.silent_for < REPLACE_SILENT_AFTER:
                raise ShowBusy
            log.info(
                "show %s: replacing publisher %s (silent %.1fs)", self.id, old.id, old.silent_for
            )
            self.publisher = None
            await old.close()
        publisher = Publisher(
            self._source_video,
            self.program.feed_audio,
            self.limits.ice.for_client(address, reached),
            on_gone=self._publisher_gone,
            on_media=self._publisher_media,
        )
        self.publisher = publisher
        try:
            await publisher.answer(offer_sdp)
        except BaseException:
            if self.publisher is publisher:  # not a newer publisher that replaced this one
                self.publisher = None
            await publisher.close()
            raise
        # The grace timer keeps running until media actually flows (_publisher_media).
        return publisher

    def _source_video(self, frame: av.VideoFrame) -> None:
        self.program.feed_video(frame)
        if not self._on_air.is_set() and self.program.running:
            self._on_air.set()

    def _publisher_media(self, publisher: Publisher) -> None:
        # The host is back (first frame of a new connection): live again.
        self._had_media = True
        if self.publisher is publisher and not self.ended:
            self._cancel_grace()
            self._set_state("live")

    @property
    def aired(self) -> bool:
        """True once a publisher's media reached the program (the show really went on)."""
        return self._had_media

    def publisher_session(self, session_id: str) -> Publisher | None:
        """The current publisher if `session_id` names it."""
        publisher = self.publisher
        if publisher is not None and hmac.compare_digest(publisher.id, session_id):
            return publisher
        return None

    def publisher_ids(self) -> list[str]:
        """Sessions a WHIP DELETE may name: the current publisher and recent ones."""
        current = [self.publisher.id] if self.publisher else []
        return current + list(self._past_publisher_ids)

    def _publisher_gone(self, publisher: Publisher) -> None:
        self._past_publisher_ids.append(publisher.id)
        self._past_recovery = self._past_recovery.plus(publisher.recovery.stats)
        if self.publisher is publisher:
            self.publisher = None
            if self.ended:
                return
            if not self._had_media and self._on_nothing_aired is not None:
                # Nothing ever went on air (the host's media never got through: UDP
                # blocked, a closed laptop): not a show to wait for and then end for good,
                # but one that has not started yet. The host may simply try again.
                log.info("show %s: its publisher left before any media", self.id)
                self._on_nothing_aired()
                return
            self._set_state("reconnecting")
            self._start_grace()

    # -- viewers ----------------------------------------------------------------------------

    async def play(self, offer_sdp: str, address: str = "", reached: str = "") -> Viewer:
        """Add a WHEP viewer; it starts at the next (forced) keyframe.

        `address` and `reached` as for `publish`."""
        if self.ended:
            raise ShowEnded
        if len(self.viewers) >= self.limits.max_viewers:
            raise ShowFull
        if self.workers is not None:
            return await self._play_on_worker(self.workers, offer_sdp, address, reached)
        viewer = Viewer(
            self.broadcast,
            self.program.keyframes.request,
            self.limits.ice.for_client(address, reached),
            on_gone=self._viewer_gone,
            address=address,
            profile_level_id=self.limits.box.profile_level_id,
            sender=self.limits.sender,
        )
        self.viewers[viewer.id] = viewer
        try:
            await viewer.answer(offer_sdp)
        except BaseException:
            await viewer.close()
            raise
        return viewer

    async def _play_on_worker(
        self, workers: FanoutWorkers, offer_sdp: str, address: str, reached: str
    ) -> Viewer:
        remote = await workers.play(
            offer_sdp,
            self.limits.ice.for_client(address, reached),
            address,
            self.limits.box.profile_level_id,
            self.limits.sender,
        )
        remote.on_gone = self._viewer_gone
        self.viewers[remote.id] = remote
        if self.ended:
            await remote.close()
        return remote

    def _viewer_gone(self, viewer: Viewer) -> None:
        self.viewers.pop(viewer.id, None)
        self.recent_viewer_ids.append(viewer.id)

    # -- the end ----------------------------------------------------------------------------

    async def end(self) -> None:
        """End the show: close the publisher and every viewer, stop the program thread."""
        if self.ended:
            return
        self._set_state("ended")
        try:
            self._cancel_grace()
            self.broadcast.end()
            closers = [v.close() for v in list(self.viewers.values())]
            if self.publisher is not None:
                closers.append(self.publisher.close())
            with contextlib.suppress(Exception):
                await asyncio.gather(*closers, return_exceptions=True)
            await asyncio.to_thread(self.program.stop)
            if self.workers is not None:
                await asyncio.to_thread(self.workers.stop)
            hls_done = None
            if self._hls_packager is not None:
                # Its last part and segment are written, and the playlist ends (alongside
                # the recording's finalize: the replay must not wait for it).
                hls_done = asyncio.ensure_future(asyncio.to_thread(self._hls_packager.close))
            if self.recorder is not None:
                self.recording = await self._finish_recording(self.recorder)
            if hls_done is not None:
                await hls_done
        finally:
            # Whatever failed above, the show is over: nobody may wait for it forever.
            self._ended.set()

    async def discard(self) -> None:
        """End a show of which nothing aired, without reporting it as ended: it can go
        live later as if this attempt never happened."""
        self._quiet = True
        await self.end()

    async def _finish_recording(self, recorder: Recorder) -> RecordingResult:
        await asyncio.to_thread(recorder.close)
        try:
            result = await asyncio.to_thread(finalize, recorder.folder)
        except Exception as exc:  # not expected: a full disk only costs finalize side files
            log.error("show %s: the recording could not be finalized: %s", self.id, exc)
            return RecordingResult(recorder.folder, 0.0, False, f"recording not finalized: {exc}")
        if recorder.error:
            return RecordingResult(result.folder, result.duration, result.playable, recorder.error)
        return result

    async def wait_ended(self) -> None:
        """Wait until the show is over."""
        await self._ended.wait()


def _resolve(future: asyncio.Future[int], pts: int) -> None:
    if not future.done():
        future.set_result(pts)
