"""Per-product clips of a replay: one click per chapter, trimmed in the studio.

A plain clip is cut from the recording without re-encoding (media/mp4clip.py: the
chapter's samples from the keyframe at or before its start, copied into a progressive
MP4 in tens of milliseconds) on a worker thread. A vertical clip (9:16 for Reels, TikTok,
Shorts) re-encodes that cut with the portrait product card (media/vertical.py): it takes
about as long as the clip plays, so it runs in the background, one at a time, with its
progress kept here for the studio to poll.

Files live in the show's recording folder, `clips/<id>-<version>.mp4` (and `.jpg`, the
poster): a trim writes a new version beside the old one (removed after), so a reader
never sees a file change under it; deleting the show deletes them with the folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
from PIL import Image

from ..catalog.images import ImageLibrary, image_name
from ..media.mp4clip import ClipError, CutResult, cut, extent
from ..media.record import RECORDING
from ..media.vertical import Cancelled, render_portrait_card, render_vertical
from ..store import ClipRecord, ShowRecord, Store
from .cards import card_model
from .chapters import product_spans
from .errors import ShowActionError

log = logging.getLogger(__name__)

MIN_SECONDS = 1.0
MAX_SECONDS = {"plain": 3600.0, "vertical": 600.0}
"Longest clip of each kind: a vertical one is re-encoded (about its own length in time)."
ROUNDING = 90
"Program pts of 1 ms: what rounding seconds to three decimals may move a time."
RESTARTED = "the server restarted while it was being made: trim it or make it again"


class ClipRefused(ShowActionError):
    """A clip that cannot be made (no recording yet, a live show, an unknown chapter, a
    span outside the recording)."""


class BadSpan(ShowActionError):
    """A clip too short or too long (one outside the recording is ClipRefused: it is the
    recording, not the times, that does not fit)."""


@dataclass(frozen=True)
class Chapter:
    """A product's span on air, in the recording's program pts."""

    index: int
    product: int
    title: str
    start: int
    end: int


@dataclass
class _Job:
    """A vertical clip being made."""

    progress: float = 0.0
    cancelled: bool = False


class Clips:
    """Makes, trims and deletes a show's clips; their files and background jobs."""

    def __init__(self, store: Store, recordings_dir: Path, images: ImageLibrary | None) -> None:
        self.store = store
        self.recordings_dir = recordings_dir
        self.images = images
        self._jobs: dict[int, _Job] = {}
        "Vertical clips being made (or queued), by clip id."
        self._tasks: set[asyncio.Task[None]] = set()
        self._cutting = asyncio.Lock()
        "Plain cuts one at a time (they take milliseconds): two trims never race."
        # One vertical encode at a time: each already keeps a core busy.
        self._encoder = ThreadPoolExecutor(1, thread_name_prefix="vertical-clips")

    # -- where things are -----------------------------------------------------------------------

    def folder(self, show_id: str) -> Path:
        """The show's clips folder."""
        return self.recordings_dir / show_id / "clips"

    def video_path(self, clip: ClipRecord) -> Path:
        """The clip's current MP4 (exists once it is ready)."""
        return self.folder(clip.show_id) / f"{clip.id}-{clip.version}.mp4"

    def poster_path(self, clip: ClipRecord) -> Path:
        """The clip's current poster JPEG."""
        return self.folder(clip.show_id) / f"{clip.id}-{clip.version}.jpg"

    def progress(self, clip: ClipRecord) -> float:
        """0..1: how far a vertical clip being made is (1 once ready)."""
        if clip.status == "ready":
            return 1.0
        job = self._jobs.get(clip.id)
        return job.progress if job is not None else 0.0

    # -- chapters -------------------------------------------------------------------------------

    async def chapters(self, show: ShowRecord) -> list[Chapter]:
        """The show's product chapters with their ends (the recording's end for the last)."""
        recording = self._recording(show)
        _first, last = await asyncio.to_thread(_extent, recording)
        events = await self.store.list_events(show.id)
        out = []
        for n, span in enumerate(product_spans(events)):
            end = span.end_pts if span.end_pts is not None else last
            out.append(Chapter(n, span.product, span.title, span.start_pts, min(end, last)))
        return out

    def _recording(self, show: ShowRecord) -> Path:
        if show.state in ("live", "reconnecting", "scheduled"):
            raise ClipRefused("clips are made from the replay: end the show first")
        path = self.recordings_dir / show.id / RECORDING
        if show.recording not in ("ready", "failed") or not path.is_file():
            raise ClipRefused("this show has no recording to cut clips from")
        return path

    # -- making ---------------------------------------------------------------------------------

    async def make(
        self,
        show: ShowRecord,
        chapter_index: int,
        kind: str = "plain",
        start: int | None = None,
        end: int | None = None,
    ) -> ClipRecord:
        """A new clip of a chapter (trimmed to [start, end) if given)."""
        chapters = await self.chapters(show)
        if not 0 <= chapter_index < len(chapters):
            raise ClipRefused(f"this show has no chapter {chapter_index}")
        chapter = chapters[chapter_index]
        span = await self._span(
            show,
            kind,
            chapter.start if start is None else start,
            chapter.end if end is None else end,
        )
        clip = await self.store.add_clip(
            show.id, chapter.product, chapter.title, kind, (chapter.start, chapter.end), span
        )
        async with self._cutting:
            return await self._produce(show, clip)

    async def trim(self, clip: ClipRecord, start: int | None, end: int | None) -> ClipRecord:
        """Cut the clip again from a new start and/or end (a vertical one is re-encoded)."""
        async with self._cutting:
            current = await self.store.get_clip(clip.id)
            if current is None:
                raise ClipRefused("this clip was deleted")
            return await self._trim(current, start, end)

    async def _trim(self, clip: ClipRecord, start: int | None, end: int | None) -> ClipRecord:
        show = await self.store.get_show(clip.show_id)
        assert show is not None
        span = await self._span(
            show,
            clip.kind,
            clip.start_pts if start is None else start,
            clip.end_pts if end is None else end,
        )
        self._cancel(clip.id)
        clip = await self.store.update_clip(
            clip, start_pts=span[0], end_pts=span[1], status="working", error=None
        )
        return await self._produce(show, clip)

    async def delete(self, clip: ClipRecord) -> None:
        """The clip goes: its job is called off, its files and row removed."""
        self._cancel(clip.id)
        await self.store.delete_clip(clip.id)
        await asyncio.to_thread(self._remove_versions, clip, None)

    async def _span(self, show: ShowRecord, kind: str, start: int, end: int) -> tuple[int, int]:
        first, last = await asyncio.to_thread(_extent, self._recording(show))
        # Times travel as seconds rounded to the millisecond: one a hair past an end of
        # the recording means that end.
        if first - ROUNDING <= start < first:
            start = first
        if last < end <= last + ROUNDING:
            end = last
        if not first <= start < last or not first < end <= last:
            raise ClipRefused(
                f"start and end must lie within the recording ({first / 90000:.3f}"
                f" to {last / 90000:.3f} s)"
            )
        seconds = (end - start) / 90000
        if seconds < MIN_SECONDS:
            raise BadSpan(f"a clip lasts at least {MIN_SECONDS:g} s (end after start)")
        if seconds > MAX_SECONDS[kind]:
            raise BadSpan(f"a {kind} clip lasts at most {MAX_SECONDS[kind] / 60:g} minutes")
        return start, end

    async def _produce(self, show: ShowRecord, clip: ClipRecord) -> ClipRecord:
        # The caller holds self._cutting.
        if clip.kind == "plain":
            return await self._cut(show, clip)
        job = self._jobs[clip.id] = _Job()
        task = asyncio.ensure_future(self._vertical(show, clip, job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return clip

    async def _cut(self, show: ShowRecord, clip: ClipRecord) -> ClipRecord:
        version = clip.version + 1
        target = self.folder(show.id) / f"{clip.id}-{version}.mp4"
        recording = self.recordings_dir / show.id / RECORDING
        try:
            result = await asyncio.to_thread(
                _cut_with_poster, recording, target, clip.start_pts, clip.end_pts
            )
        except (ClipError, OSError, av.FFmpegError) as exc:
            log.warning("clip %s of show %s failed: %s", clip.id, show.id, exc)
            return await self.store.update_clip(clip, status="failed", error=str(exc))
        ready = await self.store.update_clip(
            clip,
            status="ready",
            error=None,
            version=version,
            cut_start=result.start_pts,
            cut_end=result.end_pts,
            width=result.width,
            height=result.height,
            size=result.size,
        )
        await asyncio.to_thread(self._remove_versions, ready, version)
        return ready

    async def _vertical(self, show: ShowRecord, clip: ClipRecord, job: _Job) -> None:
        version = clip.version + 1
        folder = self.folder(show.id)
        plain = folder / f"{clip.id}-{version}-plain.mp4"
        target = folder / f"{clip.id}-{version}.mp4"
        card = await self._portrait_card(clip)
        corner = (await self.store.get_brand()).corner
        recording = self.recordings_dir / show.id / RECORDING
        loop = asyncio.get_running_loop()

        def work() -> tuple[int, int, int, int, int]:
            try:
                cut_result = _cut_with_poster(recording, plain, clip.start_pts, clip.end_pts, False)
                if job.cancelled:
                    raise Cancelled
                result = render_vertical(
                    plain,
                    target,
                    card,
                    corner=corner,
                    progress=lambda p: setattr(job, "progress", p),
                    cancelled=lambda: job.cancelled,
                )
                _write_poster(target.with_suffix(".jpg"), result.poster)
                return (
                    cut_result.start_pts,
                    cut_result.end_pts,
                    result.width,
                    result.height,
                    result.size,
                )
            finally:
                plain.unlink(missing_ok=True)

        try:
            start, end, width, height, size = await loop.run_in_executor(self._encoder, work)
        except Cancelled:
            return  # trimmed again (a new job runs) or deleted
        except (ClipError, OSError, av.FFmpegError, ValueError) as exc:
            log.warning("vertical clip %s of show %s failed: %s", clip.id, show.id, exc)
            if self._jobs.get(clip.id) is job:
                del self._jobs[clip.id]
                with contextlib.suppress(LookupError):
                    await self.store.update_clip(clip, status="failed", error=str(exc))
            return
        if self._jobs.get(clip.id) is not job or job.cancelled:
            return
        del self._jobs[clip.id]
        if await self.store.get_clip(clip.id) is None:  # deleted meanwhile
            self._remove_versions(clip, None)
            return
        ready = await self.store.update_clip(
            clip,
            status="ready",
            error=None,
            version=version,
            cut_start=start,
            cut_end=end,
            width=width,
            height=height,
            size=size,
        )
        await asyncio.to_thread(self._remove_versions, ready, version)

    async def _portrait_card(self, clip: ClipRecord) -> Image.Image | None:
        """The portrait card of the clip's product as it is now (what Buy leads to)."""
        if clip.product_id is None:
            return None
        product = await self.store.get_product(clip.product_id, include_deleted=True)
        if product is None:
            return None
        brand = await self.store.get_brand()

        def picture(key: str) -> Path | None:
            return self.images.path(image_name(key)) if self.images else None

        model = card_model(product, brand, None, picture)
        return await asyncio.to_thread(render_portrait_card, model, 720)

    def _cancel(self, clip_id: int) -> None:
        job = self._jobs.pop(clip_id, None)
        if job is not None:
            job.cancelled = True

    def _remove_versions(self, clip: ClipRecord, keep: int | None) -> None:
        """Delete the clip's files but those of version `keep` (None: all of them)."""
        folder = self.folder(clip.show_id)
        if not folder.is_dir():
            return
        for path in folder.glob(f"{clip.id}-*"):
            version = path.name[len(f"{clip.id}-") :].split(".")[0].split("-")[0]
            if keep is None or version != str(keep):
                path.unlink(missing_ok=True)

    # -- lifecycle ------------------------------------------------------------------------------

    async def recover(self) -> None:
        """At startup: clips a stopped server was making are marked failed."""
        count = await self.store.fail_unfinished_clips(RESTARTED)
        if count:
            log.warning("%d clips were being made when the server stopped: marked failed", count)

    async def close(self) -> None:
        """Shutdown: call off every job and wait for the encoder thread to let go."""
        for job in self._jobs.values():
            job.cancelled = True
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self._encoder.shutdown(wait=False, cancel_futures=True)


def _extent(recording: Path) -> tuple[int, int]:
    try:
        return extent(recording)
    except (ClipError, OSError) as exc:
        raise ClipRefused(f"the recording cannot be cut: {exc}") from None


def _cut_with_poster(
    recording: Path, target: Path, start: int, end: int, poster: bool = True
) -> CutResult:
    """Cut the clip (and its poster: the first frame, as a JPEG). Blocking."""
    target.parent.mkdir(parents=True, exist_ok=True)
    result = cut(recording, target, start, end)
    if poster:
        with av.open(str(target)) as clip:
            for frame in clip.decode(video=0):
                buffer = io.BytesIO()
                frame.to_image().save(buffer, format="JPEG", quality=85)
                _write_poster(target.with_suffix(".jpg"), buffer.getvalue())
                break
    return result


def _write_poster(path: Path, jpeg: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(jpeg)
    tmp.replace(path)
