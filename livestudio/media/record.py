"""The recorder: the program's own packets → a crash-safe fragmented MP4, then an HLS replay.

It subscribes to the broadcast like any viewer (DESIGN, "one fan-out point"), as an
output: its own bounded queue, starting from the GOP cache so its first packet is a
keyframe, and skipping to the next keyframe when the disk falls ~10 s behind. It muxes
the *same* H.264 packets the viewers get plus the program's AAC: no second video encode.
Fragments are at most 1 s and flushed as written (DESIGN 9), so a killed process leaves
a playable file short of at most ~1.5 s. Writing happens on a thread of its own; a full
disk stops the recording with a clear error and leaves the file playable up to its last
fragment.

Only recording.mp4 matters for the replay: the playlist is served from its fragment index
(`mp4index.cached_playlist`), so the side files (playlist, poster, download MP4) are
written best-effort and a full disk that refuses them costs a log line, never the replay.
"""

from __future__ import annotations

import errno
import io
import logging
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av

from .clock import AUDIO_TIME_BASE, VIDEO_TIME_BASE
from .mp4index import Mp4Index, hls_playlist, scan
from .packets import copy_packet, seconds
from .subscribers import OutputSubscriber

log = logging.getLogger(__name__)

RECORDING = "recording.mp4"
PLAYLIST = "index.m3u8"
POSTER = "poster.jpg"
DOWNLOAD = "download.mp4"
POSTER_AFTER = 2.0
"Seconds into the show of the keyframe used as the replay's poster (the first one after)."
DOWNLOAD_RESERVE = 128 * 1024 * 1024
"Free bytes the download remux leaves on the disk: shows still live must keep recording."
DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
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
    """Index the recording and write its HLS VOD playlist (also after a crash).

    Playable whenever recording.mp4 holds a complete keyframe-led fragment: the playlist
    file is only a copy of what the server serves from the index, so failing to write it
    (a full disk) is logged, not fatal.
    """
    path = folder / RECORDING
    if not path.exists():
        return RecordingResult(folder, 0.0, False)
    try:
        index: Mp4Index = scan(path)
    except Exception as exc:  # an I/O error, a damaged box: never a server that won't start
        log.error("recording %s could not be read: %s", folder, exc)
        return RecordingResult(folder, 0.0, False, f"recording could not be read: {exc}")
    if index.torn_at is not None:
        _cut_torn_tail(path, index.end)
    if not index.playable:
        return RecordingResult(folder, 0.0, False)
    write_side_file(folder, PLAYLIST, hls_playlist(index, RECORDING).encode())
    return RecordingResult(folder, index.duration, True)


def _cut_torn_tail(path: Path, end: int) -> None:
    """Cut the half-written box so every tool reads the file cleanly; a moof whose mdat
    never came is cut too (the playlist ends before it anyway). Best-effort: the index
    leaves the torn tail out whether it is cut or not."""
    try:
        with path.open("r+b") as f:
            f.truncate(end)
    except OSError as exc:
        log.warning("recording %s: its torn last fragment stays (%s)", path.parent, exc)


def write_side_file(folder: Path, name: str, data: bytes) -> bool:
    """Write folder/name atomically (temp file, then rename); on failure log it, leave no
    temp file behind and return False. A reader never sees a half-written file."""
    tmp = folder / (name + ".tmp")
    try:
        with tmp.open("wb") as f:
            f.write(data)
        tmp.replace(folder / name)
        return True
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        log.error(
            "recording %s: %s not written: %s (the replay does not depend on it)",
            folder,
            name,
            _reason(exc),
        )
        return False


class Recorder:
    """Muxes what its broadcast subscription delivers, on a writer thread of its own."""

    def __init__(
        self,
        folder: Path,
        feed: OutputSubscriber,
        aac_config: bytes,
        on_error: Callable[[str], None] | None = None,
        name: str = "recorder",
    ) -> None:
        self.folder = folder
        self.feed = feed
        "Its subscription: closing it (the show's end) ends the file."
        self._asc = aac_config
        "The AAC AudioSpecificConfig, needed before the file's header is written."
        self._on_error = on_error
        self.error = ""
        self.packets_written = 0
        self.bytes_written = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def dropped(self) -> int:
        """Times the disk fell so far behind that the recording skipped to a keyframe."""
        return self.feed.video_drops

    def close(self) -> None:
        """Wait until the writer has flushed and closed the file (blocking).

        The broadcast ends first (LiveShow.end), which closes the subscription.
        """
        self.feed.close()
        self._thread.join(timeout=30)

    # -- the writer thread --------------------------------------------------------------------

    def _run(self) -> None:
        out: av.container.OutputContainer | None = None
        video = audio = None
        poster_done = False
        first_keyframe: av.Packet | None = None
        while (item := self.feed.get()) is not None:
            if self.error:
                continue  # failed: keep reading so the feed's end is seen, write nothing
            kind, packet = item
            try:
                if out is None:
                    # The subscription starts on a keyframe; audio before it is not offered.
                    out, video, audio = self._open(packet)
                    first_keyframe = packet
                self._mux(out, video if kind == "video" else audio, packet)
                if kind == "video" and not poster_done and packet.is_keyframe:
                    assert first_keyframe is not None
                    if seconds(packet) - seconds(first_keyframe) >= POSTER_AFTER:
                        poster_done = self._poster(packet)
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
        self, keyframe: av.Packet
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
        audio.codec_context.extradata = self._asc or b"\x11\x90"  # AAC-LC, 48 kHz, stereo
        return out, video, audio

    def _mux(
        self, out: av.container.OutputContainer, stream: av.stream.Stream | None, packet: av.Packet
    ) -> None:
        assert stream is not None
        # The same packet object is in every viewer's queue: mux a copy, never the original.
        copy = copy_packet(packet)
        copy.stream = stream
        out.mux(copy)
        self.packets_written += 1
        self.bytes_written += copy.size

    def _poster(self, keyframe: av.Packet) -> bool:
        try:
            jpeg = _poster_jpeg(keyframe)
        except (OSError, av.FFmpegError, ValueError) as exc:
            log.warning("recording %s: no poster: %s", self.folder, exc)
            return True  # do not retry on every keyframe
        if jpeg is None:
            return False
        # A poster the disk has no room for is logged; the replay page has a default one.
        write_side_file(self.folder, POSTER, jpeg)
        return True

    def _fail(self, exc: BaseException) -> None:
        if self.error:
            return
        self.error = _describe(exc)
        log.error("recording %s stopped: %s", self.folder, self.error)
        if self._on_error is not None:
            self._on_error(self.error)


def remux_for_download(folder: Path) -> bool:
    """The fragmented recording → a progressive MP4 (moov first) for download. Background.

    False when there is none: the download route then serves the fragmented recording
    itself (it plays everywhere, only without a moov up front), so a full disk costs no
    download, only the nicer file.
    """
    source = folder / RECORDING
    target = folder / (DOWNLOAD + ".tmp")
    if (folder / DOWNLOAD).exists():
        return True
    if not source.exists():
        return False
    if not _room_for_copy(source):
        log.warning(
            "no download MP4 for %s: not enough free disk space for a copy of the recording;"
            " the recording itself is offered for download",
            folder.name,
        )
        return False
    try:
        _remux(source, target)
        target.replace(folder / DOWNLOAD)
        return True
    except (OSError, av.FFmpegError) as exc:
        log.warning(
            "no download MP4 for %s: %s; the recording itself is offered for download",
            folder.name,
            _reason(exc),
        )
        target.unlink(missing_ok=True)
        return False


def _room_for_copy(source: Path) -> bool:
    """Whether a copy of source fits and still leaves DOWNLOAD_RESERVE free.

    Checked first because a remux that fills the disk fails only after it has taken the
    last free bytes from every show still recording on that disk.
    """
    try:
        free = shutil.disk_usage(source.parent).free
        needed = source.stat().st_size + DOWNLOAD_RESERVE
    except OSError:
        return True  # cannot tell: try, and let a read or write error say no
    return free >= needed


def _remux(source: Path, target: Path) -> None:
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


def _reason(exc: BaseException) -> str:
    """The error as the studio and the log say it: a full disk in plain words."""
    if getattr(exc, "errno", None) in DISK_FULL:
        return "the disk is full"
    return str(exc)


def _describe(exc: BaseException) -> str:
    if getattr(exc, "errno", None) in DISK_FULL:
        return "the disk is full: recording stopped (the live show goes on)"
    return f"recording failed: {exc}"


def _poster_jpeg(keyframe: av.Packet) -> bytes | None:
    """The keyframe as a JPEG at most 1280 wide (encoded in memory: the disk only ever
    sees a complete image)."""
    frames = _decode_one(bytes(keyframe))
    if not frames:
        return None
    frame = frames[0]
    width = min(frame.width, 1280)
    height = round(frame.height * width / frame.width / 2) * 2
    jpeg = io.BytesIO()
    frame.to_image().resize((width, height)).save(jpeg, format="JPEG", quality=85)
    return jpeg.getvalue()


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
    "write_side_file",
]
