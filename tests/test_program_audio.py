"""HostAudio: resampling, the opening trim, backlog trims, 20 ms chunks or silence."""

from __future__ import annotations

import av
import numpy as np

from livestudio.media.encode import AUDIO_FRAME_SAMPLES
from livestudio.media.hostaudio import AUDIO_CUSHION, MAX_AUDIO_BUFFER, HostAudio

CHUNK = AUDIO_FRAME_SAMPLES


def frame(pcm: np.ndarray, layout: str = "stereo", rate: int = 48000) -> av.AudioFrame:
    """An s16 audio frame of `pcm` (one row per sample; two columns for stereo)."""
    out = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(pcm, dtype=np.int16).reshape(1, -1), format="s16", layout=layout
    )
    out.sample_rate = rate
    return out


def ramp(start: int, samples: int) -> np.ndarray:
    """Stereo samples numbered start, start+1, ... (both channels): traceable through trims."""
    assert start + samples <= 32768, "numbers must fit in s16"
    values = np.arange(start, start + samples).astype(np.int16)
    return np.repeat(values[:, None], 2, axis=1)


def numbers(chunk: np.ndarray) -> list[int]:
    """The sample numbers (left channel) of a chunk's interleaved samples."""
    return chunk.reshape(-1, 2)[:, 0].tolist()


def opened() -> HostAudio:
    """A HostAudio past its opening tick (which went out as silence)."""
    audio = HostAudio()
    assert audio.next_chunk().silent
    return audio


def test_no_host_audio_gives_silence_of_20_ms() -> None:
    chunk = HostAudio().next_chunk()
    assert chunk.silent and chunk.trimmed == 0
    assert chunk.samples.shape == (1, 2 * CHUNK) and chunk.samples.dtype == np.int16
    assert not chunk.samples.any()


def test_the_opening_keeps_only_the_newest_20_ms() -> None:
    audio = HostAudio()
    audio.put(frame(ramp(0, 5 * CHUNK)))  # queued while the program size settled
    chunk = audio.next_chunk()
    assert not chunk.silent
    assert numbers(chunk.samples) == list(range(4 * CHUNK, 5 * CHUNK))
    assert audio.buffered == 0


def test_host_audio_goes_out_in_order_then_silence() -> None:
    audio = opened()
    audio.put(frame(ramp(0, CHUNK // 2)))
    audio.put(frame(ramp(CHUNK // 2, CHUNK + CHUNK // 2)))
    assert numbers(audio.next_chunk().samples) == list(range(CHUNK))
    assert numbers(audio.next_chunk().samples) == list(range(CHUNK, 2 * CHUNK))
    assert audio.next_chunk().silent


def test_a_part_chunk_waits_for_the_rest_unless_the_source_stalled() -> None:
    audio = opened()
    audio.put(frame(ramp(0, CHUNK // 2)))
    assert audio.next_chunk().silent and audio.buffered == CHUNK // 2
    audio.put(frame(ramp(CHUNK // 2, CHUNK // 2)))
    assert numbers(audio.next_chunk().samples) == list(range(CHUNK))

    audio.put(frame(ramp(0, CHUNK // 2)))
    assert audio.next_chunk(stalled=True).silent
    assert audio.buffered == 0, "stale sound is not kept to open the host's return"


def test_an_overflowing_buffer_keeps_the_newest_half() -> None:
    audio = opened()
    audio.put(frame(ramp(0, MAX_AUDIO_BUFFER + 1)))
    chunk = audio.next_chunk()
    kept_from = MAX_AUDIO_BUFFER + 1 - MAX_AUDIO_BUFFER // 2
    assert numbers(chunk.samples) == list(range(kept_from, kept_from + CHUNK))
    assert audio.buffered == MAX_AUDIO_BUFFER // 2 - CHUNK
    assert chunk.trimmed == 0, "the overflow is not counted as a standing-backlog trim"


def test_a_standing_backlog_is_trimmed_to_the_cushion() -> None:
    audio = opened()  # tick 0: level 0
    backlog = 3000
    audio.put(frame(ramp(0, CHUNK + backlog)))
    sent = 0
    trims = {}
    for tick in range(1, 30):  # the host sends 20 ms per tick: the backlog stands
        if tick > 1:
            audio.put(frame(ramp(CHUNK + backlog + (tick - 2) * CHUNK, CHUNK)))
        chunk = audio.next_chunk()
        got = numbers(chunk.samples)
        assert got == list(range(got[0], got[0] + CHUNK)), "contiguous within a chunk"
        if chunk.trimmed:
            trims[tick] = chunk.trimmed
        skipped = backlog - AUDIO_CUSHION if tick == 20 else 0
        assert got[0] == sent + skipped, "the oldest samples of the backlog went"
        sent = got[0] + CHUNK
    # Measured every 10 ticks in the first second: ticks 0-9 include the opening's empty
    # tick; ticks 10-19 all stand at the backlog, which then goes, bar the cushion.
    assert trims == {19: backlog - AUDIO_CUSHION}
    assert audio.buffered == AUDIO_CUSHION


def test_after_the_first_second_the_backlog_is_measured_once_a_second() -> None:
    audio = opened()
    for _ in range(49):
        assert audio.next_chunk().trimmed == 0
    backlog = 2000
    audio.put(frame(ramp(0, backlog)))
    trims = {}
    for tick in range(50, 150):
        audio.put(frame(ramp(0, CHUNK)))
        trimmed = audio.next_chunk().trimmed
        if trimmed:
            trims[tick] = trimmed
    assert trims == {99: backlog - AUDIO_CUSHION}, "ticks 50-99 form one window"


def test_a_backlog_within_the_cushion_stays() -> None:
    audio = opened()
    audio.put(frame(ramp(0, AUDIO_CUSHION)))
    for _ in range(30):
        audio.put(frame(ramp(0, CHUNK)))
        assert audio.next_chunk().trimmed == 0
    assert audio.buffered == AUDIO_CUSHION


def test_mono_16k_is_resampled_to_stereo_48k() -> None:
    audio = opened()
    tone = (np.sin(np.arange(1600) * 2 * np.pi * 440 / 16000) * 10000).astype(np.int16)
    audio.put(frame(tone.reshape(-1, 1), layout="mono", rate=16000))  # 100 ms
    chunk = audio.next_chunk()
    stereo = chunk.samples.reshape(-1, 2)
    assert not chunk.silent and np.array_equal(stereo[:, 0], stereo[:, 1])
    assert np.abs(stereo).max() > 5000
    # 100 ms at 48 kHz, less the chunk sent and the resampler's few samples of delay
    assert 4 * CHUNK - 100 <= audio.buffered <= 4 * CHUNK
