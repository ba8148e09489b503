"""The shows on air in this process: their lifecycle, mirrored into the store and the
events hub, and the replay published the moment each ends (or, after a crash, at the
next start)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..catalog.images import ImageLibrary, image_name, thumbnail_name
from ..config import Settings
from ..media.encode import VideoSettings
from ..media.hls import HlsOptions, HlsStream
from ..media.ice import IcePolicy
from ..media.record import RecordingResult, finalize, remux_for_download
from ..media.show import LiveShow, ShowLimits
from ..store import ShowRecord, Store
from .errors import NotOnAir
from .events import EventHub
from .onair_products import OnAirProducts

log = logging.getLogger(__name__)


def limits_from(settings: Settings) -> ShowLimits:
    """Per-show limits from the server settings."""
    return ShowLimits(
        box=VideoSettings(
            width=settings.video_width,
            height=settings.video_height,
            fps=settings.video_fps,
            bitrate=settings.video_bitrate,
            preset=settings.x264_preset,
            keyframe_interval=settings.keyframe_interval,
        ),
        grace_period=settings.grace_period,
        max_viewers=settings.max_viewers,
        ice=IcePolicy(
            loopback=settings.ice_loopback,
            interfaces=settings.ice_interfaces,
            public_ip=settings.public_ip,
        ),
        recordings_dir=settings.recordings_dir,
        hls=HlsOptions(
            segment_target=settings.keyframe_interval, part_target=settings.hls_part_duration
        )
        if settings.hls
        else None,
        sender=settings.fanout_sender,
        fanout_workers=settings.fanout_workers,
    )


def portrait(limits: ShowLimits) -> ShowLimits:
    """The limits of a portrait show: the box turned to 9:16 (720x1280 for a 1280x720
    setting), the camera cropped to fill it (centre) instead of letterboxed."""
    box = limits.box
    side, other = max(box.width, box.height), min(box.width, box.height)
    return dataclasses.replace(
        limits, box=dataclasses.replace(box, width=other, height=side, fill=True)
    )


ENDED_HLS_KEPT = 60.0
"""Seconds an ended show's live HLS stays fetchable: players and CDN edges a few segments
behind finish what they were fetching (the playlist URL serves the replay meanwhile)."""


class OnAir:
    """Creates LiveShows on first publish, mirrors their state into the store and events."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        hub: EventHub,
        images: ImageLibrary | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.hub = hub
        self.images = images
        self._products: dict[str, OnAirProducts] = {}
        "What each show on air burns into its video."
        self.limits = limits_from(settings)
        self.shows: dict[str, LiveShow] = {}
        self._previous_states: dict[str, str] = {}
        "Where each show on air goes back to if nothing of it airs."
        self._tasks: set[asyncio.Task[Any]] = set()
        self._viewer_counts: dict[str, int] = {}
        self._previews: dict[str, set[str]] = {}
        "WHEP sessions of the host's own program preview, per show: not in the audience."
        self._ended_hls: dict[str, HlsStream] = {}
        "Live HLS of shows that ended less than ENDED_HLS_KEPT ago."
        self.on_finished: list[Callable[[str], Awaitable[None]]] = []
        "Called with the show id once a show has ended and its replay is published."
        self.on_started: list[Callable[[str, LiveShow], None]] = []
        "Called with the show id and its new LiveShow when a show goes live."

    def get(self, show_id: str) -> LiveShow | None:
        """The live show with this id, if it is on air in this process."""
        return self.shows.get(show_id)

    def start(
        self, show_id: str, previous_state: str = "scheduled", orientation: str = "landscape"
    ) -> LiveShow:
        """The show's LiveShow, created (and marked live) if it is not on air yet.

        `previous_state` is where the show goes back to if nothing of it ever airs;
        `orientation` "portrait" makes a 9:16 program (cropped from the camera).
        """
        live = self.shows.get(show_id)
        if live is not None:
            # Also when it has just ended: publishing then gets 409 (ShowEnded) instead
            # of a new program whose recorder would overwrite the published recording.
            return live
        live = LiveShow(
            show_id,
            portrait(self.limits) if orientation == "portrait" else self.limits,
            on_state=lambda s: self._state_changed(show_id, s),
            on_recording_error=lambda message: self._recording_failed(show_id, message),
            on_nothing_aired=lambda: self._spawn(self.abandon(show_id, previous_state, live)),
        )
        self.shows[show_id] = live
        self._previous_states[show_id] = previous_state
        self._close_products(show_id)
        self._products[show_id] = OnAirProducts(
            show_id, live, self.store, self.hub, self._thumbnail, self._image
        )
        self.hub.snapshots[show_id] = lambda: self.snapshot(show_id)
        self._spawn(self.store.set_show_state(show_id, "live"))
        self._spawn(self.store.set_recording(show_id, "recording"))
        self.hub.publish(show_id, "state", state="live")
        self._spawn(self._announce_clock(show_id, live))
        for started in self.on_started:
            started(show_id, live)
        return live

    async def _announce_clock(self, show_id: str, live: LiveShow) -> None:
        """Tell the pages when program pts 0 was (the snapshot says it to later joiners):
        a page playing HLS maps its playlist's program date-time to program pts with it."""
        if not await live.wait_on_air():
            return
        for _ in range(200):  # the program thread starts its clock as it begins
            if live.wall_origin is not None:
                self.hub.publish(show_id, "clock", program_start=live.wall_origin)
                return
            await asyncio.sleep(0.01)

    def _thumbnail(self, key: str) -> Path | None:
        return self.images.path(thumbnail_name(key)) if self.images else None

    def _image(self, key: str) -> Path | None:
        return self.images.path(image_name(key)) if self.images else None

    def hls(self, show_id: str) -> HlsStream | None:
        """The show's live HLS: on air now, or ended less than ENDED_HLS_KEPT ago."""
        live = self.shows.get(show_id)
        if live is not None and live.hls is not None:
            return live.hls
        return self._ended_hls.get(show_id)

    def _keep_ended_hls(self, show_id: str, stream: HlsStream) -> None:
        self._ended_hls[show_id] = stream

        def forget() -> None:
            if self._ended_hls.get(show_id) is stream:
                del self._ended_hls[show_id]

        asyncio.get_running_loop().call_later(ENDED_HLS_KEPT, forget)

    def state_of(self, show: ShowRecord) -> str:
        """The show's state now: as its LiveShow says while on air, else as stored."""
        live = self.shows.get(show.id)
        return live.state if live is not None and not live.ended else show.state

    def live_state(self, show_id: str) -> str:
        """'live' or 'reconnecting' for a show on air in this process, '' for any other."""
        live = self.shows.get(show_id)
        return live.state if live is not None and not live.ended else ""

    def program_pts(self, show_id: str) -> int | None:
        """Program time now of a show on air (None if it is not on air)."""
        live = self.shows.get(show_id)
        return live.program_pts() if live is not None else None

    def products(self, show_id: str) -> OnAirProducts | None:
        """What a show on air burns into its video (None: it is not on air)."""
        live = self.shows.get(show_id)
        if live is None or live.ended:
            return None
        return self._products.get(show_id)

    async def product_changed(self, product_id: int) -> None:
        """A product was edited (stock on air, price, deletion): redraw where it is pinned."""
        for products in list(self._products.values()):
            await products.product_changed(product_id)

    async def brand_changed(self) -> None:
        """The brand's accent, corner or logo changed: every show on air redraws."""
        for products in list(self._products.values()):
            try:
                await products.brand_changed()
            except NotOnAir:
                pass  # not on air yet: its first change draws it

    def _close_products(self, show_id: str) -> None:
        products = self._products.pop(show_id, None)
        if products is not None:
            products.close()

    def snapshot(self, show_id: str) -> dict[str, Any]:
        """What a page joining now needs to know."""
        live = self.shows.get(show_id)
        if live is None:
            return {"state": "ended", "viewers": 0}
        products = self._products.get(show_id)
        return {
            "state": live.state,
            "viewers": self.audience(show_id),
            # Unix time of program pts 0: an HLS player maps its program date-time to
            # program pts with it (product cards follow playback).
            "program_start": live.wall_origin,
            **(products.snapshot() if products else {}),
        }

    def _state_changed(self, show_id: str, state: str) -> None:
        log.info("show %s is %s", show_id, state)
        self._spawn(self.store.set_show_state(show_id, state))
        self.hub.publish(show_id, "state", state=state)
        if state == "ended":
            live = self.shows.get(show_id)
            if live is not None:
                self._spawn(self._finish(show_id, live))

    def _recording_failed(self, show_id: str, message: str) -> None:
        self._spawn(self.store.set_recording(show_id, "failed", error=message))
        # The events socket is public: everyone may learn that the recording stopped (and
        # that the disk is full), but an FFmpeg or OS error can name server paths: the
        # host reads it in the studio (GET /api/shows/{show}) and the log.
        public = message if "disk is full" in message else "the recording stopped"
        self.hub.publish(show_id, "recording", error=public)

    async def _finish(self, show_id: str, live: LiveShow) -> None:
        """After the end: finalize the recording and publish the replay at once."""
        await live.end()
        await live.wait_ended()
        await publish_recording(self.store, self.hub, show_id, live.recording)
        if live.recording is not None and live.recording.playable:
            # The replay plays from the fragments already; a progressive MP4 for
            # download follows in the background (until then the fMP4 is served).
            self._spawn(asyncio.to_thread(remux_for_download, live.recording.folder))
        if self.shows.get(show_id) is live:
            if live.hls is not None:
                self._keep_ended_hls(show_id, live.hls)
            del self.shows[show_id]
            self._previous_states.pop(show_id, None)
            self._close_products(show_id)
        for finished in self.on_finished:
            await finished(show_id)

    def add_preview(self, show_id: str, session_id: str) -> None:
        """A WHEP session is the host's program preview: it does not count as a viewer."""
        self._previews.setdefault(show_id, set()).add(session_id)

    def remove_preview(self, show_id: str, session_id: str) -> None:
        """The host's preview session left."""
        previews = self._previews.get(show_id)
        if previews is not None:
            previews.discard(session_id)
            if not previews:
                del self._previews[show_id]

    def audience(self, show_id: str) -> int:
        """Viewers watching the show now ("N watching"): its WHEP sessions, less the host's
        program preview."""
        live = self.shows.get(show_id)
        if live is None:
            return 0
        previews = self._previews.get(show_id, set())
        return live.viewer_count - sum(1 for s in previews if live.viewer(s) is not None)

    def viewers_changed(self, show_id: str) -> None:
        """Tell pages the new viewer count (coalesced: only when it changed)."""
        count = self.audience(show_id)
        if self._viewer_counts.get(show_id) != count:
            self._viewer_counts[show_id] = count
            self.hub.publish(show_id, "viewers", viewers=count)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    async def abandon(
        self, show_id: str, previous_state: str, live: LiveShow | None = None
    ) -> None:
        """Undo `start` for a show of which nothing aired (its first publish failed, or
        its publisher left before any media): it is as it was, and can go live later.

        With `live`, only that LiveShow is undone: if it is no longer the show's (an
        earlier abandon already ran and the host has published again), nothing is.
        """
        if live is not None and self.shows.get(show_id) is not live:
            if not live.ended:
                await live.discard()
            return
        live = self.shows.pop(show_id, None)
        self._previous_states.pop(show_id, None)
        self.hub.snapshots.pop(show_id, None)
        self._close_products(show_id)
        if live is not None:
            await live.discard()
        await self.store.set_show_state(show_id, previous_state)
        await self.store.set_recording(show_id, "none")
        self.hub.publish(show_id, "state", state=previous_state)

    async def stop_publishing(self, show_id: str, session_id: str) -> bool:
        """A WHIP DELETE of `session_id`: the host stopped streaming. False: no such session.

        It ends the show, unless nothing of it ever aired (FFmpeg DELETEs right after a
        failed handshake): then the show goes back to where it was, and may go live again.
        A DELETE of an earlier session of a show that has not aired changes nothing: the
        host's newer attempt may still be connecting.
        """
        live = self.shows.get(show_id)
        if live is None:
            return False
        if live.aired or live.ended:
            if not any(hmac.compare_digest(known, session_id) for known in live.publisher_ids()):
                return False
            await self.end(show_id)
            return True
        if live.publisher_session(session_id) is not None:
            await self.abandon(show_id, self._previous_states.get(show_id, "scheduled"), live)
            return True
        return any(hmac.compare_digest(known, session_id) for known in live.publisher_ids())

    async def end(self, show_id: str) -> None:
        """End a show on air (studio's End show, WHIP DELETE)."""
        live = self.shows.get(show_id)
        if live is not None:
            await live.end()
            await live.wait_ended()
        else:
            await self.store.set_show_state(show_id, "ended")

    async def close(self) -> None:
        """Server shutdown: end every show and wait for the store writes."""
        for show_id in list(self.shows):
            with contextlib.suppress(Exception):
                await self.shows[show_id].end()
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


async def publish_recording(
    store: Store, hub: EventHub | None, show_id: str, recording: RecordingResult | None
) -> None:
    """Mark the show's recording and, if it plays, publish the replay (O(1): the playlist
    over the fragments already written is all it takes)."""
    if recording is None or not recording.playable:
        await store.set_recording(show_id, "none", error=recording.error if recording else None)
        return
    status = "failed" if recording.error else "ready"
    await store.set_recording(
        show_id, status, duration=recording.duration, error=recording.error or None
    )
    await store.set_show_state(show_id, "published")
    if hub is not None:
        hub.publish(show_id, "state", state="published", replay=f"/replay/{show_id}")


async def recover_unfinished(settings: Settings, store: Store) -> list[asyncio.Future[bool]]:
    """At startup: end the shows a previous process left live, publishing what they recorded.

    That process's program is gone, so they cannot resume. Each recording is finalized
    (its torn last fragment left out) and published; the MP4 for download is remuxed in
    the background, as after any show: the returned futures finish those remuxes.
    """
    remuxes: list[asyncio.Future[bool]] = []
    for show in await store.list_shows():
        if show.state not in ("live", "reconnecting"):
            continue
        log.warning("show %s was left %s by a previous run; ending it", show.id, show.state)
        await store.set_show_state(show.id, "ended")
        folder = settings.recordings_dir / show.id
        recording = await asyncio.to_thread(finalize, folder)
        await publish_recording(store, None, show.id, recording)
        if recording.playable:
            remuxes.append(asyncio.ensure_future(asyncio.to_thread(remux_for_download, folder)))
    return remuxes
