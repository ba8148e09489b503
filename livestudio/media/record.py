"""The recorder: the program's own packets → a crash-safe fragmented MP4, then an HLS replay.

It subscribes to the broadcast like any viewer (DESIGN, "one fan-out point"), starting
from the GOP cache so its first packet is a keyframe, and muxes the *same* H.264 packets
the viewers get plus the program's AAC: no second video encode. Fragments are at most
1 s and flushed as written (DESIGN 9), so a killed process leaves a playable file short
of at most ~1.5 s. Writing happens on a thread of its own; a full disk stops the
recording with a clear error and leaves the file playable up to its last fragment.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av

from .clock import AUDIO_TIME_BASE, VIDEO_TIME_BASE
from .mp4index import Mp4Index, hls_playlist, scan

log = logging.getLogger(__name__)

RECORDING = "recording.mp4"
PLAYLIST = "index.m3u8"
POSTER = "poster.jpg"
DOWNLOAD = "download.mp4"
POSTER_AFTER = 2.0
"Seconds into the show of the keyframe used as the replay's poster (the first one after)."
MAX_BACKLOG = 30 * 20
"Packets waiting for a slow disk (~10 s of video and audio) before some are dropped."
MP4_OPTIONS = {
    # empty_moov: the header goes out first, so a torn file is still playable;
    # frag_keyframe + frag_duration: a fragment per keyframe and at least every second.
    "movflags": "frag_keyframe+empty_moov+default_base_moof",
    "frag_duration": "1000000",
    "flush_packets": "1",
}


@dataclass(frozen=True)
class RecordingResult:
    """What a finished (or recovered) recording holds."""

    folder: Path
    duration: float
    playable: bool
    error: str = ""


def parameter_sets(annexb: bytes) -> bytes:
    """The SPS and PPS NAL units (with start codes) of an Annex-B keyframe."""
    out = bytearray()
    starts = []
    i = annexb.find(b"\x00\x00\x01")
    while i >= 0:
        starts.append(i)
        i = annexb.find(b"\x00\x00\x01", i + 3)
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(annexb)
        if end > 0 and n + 1 < len(starts) and annexb[end - 1] == 0:
            end -= 1  # the next start code is 4 bytes long
        if annexb[start + 3] & 0x1F in (7, 8):
            out += b"\x00\x00\x00\x01" + annexb[start + 3 : end]
    return bytes(out)


def finalize(folder: Path) -> RecordingResult:
    """Index the recording and write its HLS VOD playlist (also after a crash)."""
    path = folder / RECORDING
    if not path.exists():
        return RecordingResult(folder, 0.0, False)
    index: Mp4Index = scan(path)
    if index.torn_at is not None:
        # Cut the half-written box so every tool reads the file cleanly; a moof whose
        # mdat never came is cut too (the playlist ends before it anyway).
        with path.open("r+b") as f:
            f.truncate(index.end)
    if not index.playable:
        return RecordingResult(folder, 0.0, False)
    playlist = hls_playlist(index, RECORDING)
    tmp = folder / (PLAYLIST + ".tmp")
    tmp.write_text(playlist)
    tmp.replace(folder / PLAYLIST)
    return RecordingResult(folder, index.duration, True)


class Recorder:
    """Muxes packets handed over by `put_*` (any thread) on its own writer thread."""

    def __init__(
        self,
        folder: Path,
        on_error: Callable[[str], None] | None = None,
        name: str = "recorder",
    ) -> None:
        self.folder = folder
        self._on_error = on_error
        self._queue: queue.Queue[tuple[str, av.Packet | bytes | None]] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self.error = ""
        self.packets_written = 0
        self.dropped = 0
        self.bytes_written = 0
        self._waiting_for_keyframe = False

    # -- fed from the event loop --------------------------------------------------------------

    def put_video(self, packet: av.Packet) -> None:
        """A program video packet (Annex-B H.264, pts in 1/90000)."""
        if self._backlogged(packet):
            return
        self._queue.put(("v", packet))

    def put_audio(self, packet: av.Packet) -> None:
        """A program AAC packet (pts in 1/48000)."""
        if self.error or self._queue.qsize() > MAX_BACKLOG:
            return
        self._queue.put(("a", packet))

    def set_audio_config(self, extradata: bytes) -> None:
        """The AAC AudioSpecificConfig, needed before the file's header is written."""
        self._queue.put(("asc", extradata))

    def _backlogged(self, packet: av.Packet) -> bool:
        if self.error:
            return True
        if self._waiting_for_keyframe and not packet.is_keyframe:
            self.dropped += 1
            return True
        self._waiting_for_keyframe = False
        if self._queue.qsize() > MAX_BACKLOG:
            # The disk is not keeping up: skip to the next keyframe rather than grow forever.
            self._waiting_for_keyframe = True
            self.dropped += 1
            return True
        return False

    def close(self) -> None:
        """Flush, close the file and wait for the writer (blocking)."""
        self._queue.put(("end", None))
        self._thread.join(timeout=30)

    # -- the writer thread --------------------------------------------------------------------

    def _run(self) -> None:
        out: av.container.OutputContainer | None = None
        video = audio = None
        asc = b""
        pending_audio: list[av.Packet] = []
        poster_done = False
        first_pts: int | None = None
        first_keyframe: av.Packet | None = None
        try:
            while True:
                kind, item = self._queue.get()
                if kind == "end":
                    break
                if kind == "asc":
                    assert isinstance(item, bytes)
                    asc = item
                    continue
                assert isinstance(item, av.Packet)
                if out is None:
                    if kind == "a":
                        pending_audio.append(item)
                        del pending_audio[:-50]
                        continue
                    if not item.is_keyframe:
                        continue
                    out, video, audio = self._open(item, asc)
                    first_pts = item.pts
                    first_keyframe = item
                    # Audio from before the first keyframe is dropped: the file starts on it.
                    start = float((item.pts or 0) * VIDEO_TIME_BASE)
                    for packet in pending_audio:
                        if float((packet.pts or 0) * AUDIO_TIME_BASE) >= start:
                            self._mux(out, audio, packet)
                    pending_audio.clear()
                if kind == "v":
                    self._mux(out, video, item)
                    seconds = float(((item.pts or 0) - (first_pts or 0)) * VIDEO_TIME_BASE)
                    if not poster_done and item.is_keyframe and seconds >= POSTER_AFTER:
                        poster_done = self._poster(item)
                else:
                    self._mux(out, audio, item)
        except Exception as exc:  # disk full, FFmpeg, an undecodable first keyframe, ...
            self._fail(exc)
        if out is not None:
            try:
                out.close()
            except (OSError, av.FFmpegError) as exc:
                self._fail(exc)
        if not poster_done and first_keyframe is not None:
            # A show shorter than POSTER_AFTER: its first frame will do.
            self._poster(first_keyframe)

    def _open(
        self, keyframe: av.Packet, asc: bytes
    ) -> tuple[av.container.OutputContainer, av.VideoStream, av.AudioStream]:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / RECORDING
        out = av.open(str(path), "w", format="mp4", options=MP4_OPTIONS)
        video = out.add_stream("h264")
        width, height = _size_from_sps(bytes(keyframe))
        video.width, video.height = width, height
        video.time_base = VIDEO_TIME_BASE
        # With empty_moov the avcC box is written before any packet: give it SPS/PPS now.
        video.codec_context.extradata = parameter_sets(bytes(keyframe))
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "stereo"
        audio.time_base = AUDIO_TIME_BASE
        audio.codec_context.extradata = asc or b"\x11\x90"  # AAC-LC, 48 kHz, stereo
        return out, video, audio

    def _mux(
        self, out: av.container.OutputContainer, stream: av.stream.Stream | None, packet: av.Packet
    ) -> None:
        assert stream is not None
        # The same packet object is in every viewer's queue: mux a copy, never the original.
        copy = av.Packet(bytes(packet))
        copy.pts = packet.pts
        copy.dts = packet.dts if packet.dts is not None else packet.pts
        copy.time_base = packet.time_base
        copy.is_keyframe = packet.is_keyframe
        copy.stream = stream
        out.mux(copy)
        self.packets_written += 1
        self.bytes_written += copy.size

    def _poster(self, keyframe: av.Packet) -> bool:
        try:
            frames = _decode_one(bytes(keyframe))
            if not frames:
                return False
            frame = frames[0]
            width = min(frame.width, 1280)
            height = round(frame.height * width / frame.width / 2) * 2
            image = frame.to_image().resize((width, height))
            tmp = self.folder / (POSTER + ".tmp.jpg")
            image.save(tmp, quality=85)
            tmp.replace(self.folder / POSTER)
            return True
        except (OSError, av.FFmpegError, ValueError) as exc:
            log.warning("recording %s: no poster: %s", self.folder, exc)
            return True  # do not retry on every keyframe

    def _fail(self, exc: BaseException) -> None:
        if self.error:
            return
        self.error = _describe(exc)
        log.error("recording %s stopped: %s (the show goes on)", self.folder, self.error)
        if self._on_error is not None:
            self._on_error(self.error)
        # Drain so producers never block on a dead writer.
        while True:
            try:
                kind, _ = self._queue.get_nowait()
            except queue.Empty:
                return
            if kind == "end":
                self._queue.put(("end", None))
                return


def remux_for_download(folder: Path) -> None:
    """The fragmented recording → a progressive MP4 (moov first) for download. Background."""
    source = folder / RECORDING
    target = folder / (DOWNLOAD + ".tmp")
    if not source.exists() or (folder / DOWNLOAD).exists():
        return
    try:
        with (
            av.open(str(source)) as inp,
            av.open(str(target), "w", format="mp4", options={"movflags": "+faststart"}) as out,
        ):
            mapping = {s.index: out.add_stream_from_template(s) for s in inp.streams}
            for packet in inp.demux():
                if packet.dts is None:
                    continue
                packet.stream = mapping[packet.stream.index]
                out.mux(packet)
        target.replace(folder / DOWNLOAD)
    except (OSError, av.FFmpegError) as exc:
        log.warning("no download MP4 for %s: %s", folder.name, exc)
        target.unlink(missing_ok=True)


def _describe(exc: BaseException) -> str:
    import errno

    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return "the disk is full: recording stopped (the live show goes on)"
    return f"recording failed: {exc}"


def _size_from_sps(annexb: bytes) -> tuple[int, int]:
    """Frame size of the first SPS, decoded by libavcodec (robust to every SPS variant)."""
    for frame in _decode_one(annexb):
        return frame.width, frame.height
    raise ValueError("the first keyframe could not be decoded")


def _decode_one(annexb: bytes) -> list[av.VideoFrame]:
    """Decode a lone keyframe (flushing: a decoder may hold a frame back otherwise)."""
    decoder = av.CodecContext.create("h264", "r")
    frames = list(decoder.decode(av.Packet(annexb)))
    frames += decoder.decode(None)
    return frames


__all__ = [
    "MP4_OPTIONS",
    "PLAYLIST",
    "POSTER",
    "RECORDING",
    "Recorder",
    "RecordingResult",
    "finalize",
    "remux_for_download",
]
