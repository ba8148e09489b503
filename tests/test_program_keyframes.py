"""KeyframeSchedule: IDRs spaced in program time, forced by requests, x264's own ones."""

from __future__ import annotations

from livestudio.media.keyframes import KeyframeRequests, KeyframeSchedule

SECOND = 90000
INTERVAL_PTS = round((2.0 - 0.5 / 30) * SECOND)
"A 2 s interval at 30 fps, less half a frame."


def schedule(now: list[float]) -> tuple[KeyframeSchedule, KeyframeRequests]:
    """A schedule (2 s interval, 30 fps) whose requests read the monotonic time `now[0]`."""
    requests = KeyframeRequests(min_interval=0.5, now=lambda: now[0])
    return KeyframeSchedule(2.0, 30, requests), requests


def test_the_first_frame_is_a_keyframe() -> None:
    keyframes, _ = schedule([0.0])
    assert keyframes.due(0)
    assert keyframes.due(3000), "until one went out"


def test_keyframes_come_every_interval_of_program_time_less_half_a_frame() -> None:
    keyframes, requests = schedule([0.0])
    keyframes.keyframe_out(0, asked=True)
    assert not keyframes.due(INTERVAL_PTS - 1)
    assert keyframes.due(INTERVAL_PTS)
    assert requests.forced == 0, "periodic keyframes are not forced ones"


def test_a_slow_program_still_gets_one_every_interval() -> None:
    keyframes, _ = schedule([0.0])
    keyframes.keyframe_out(0, asked=True)
    # 20 fps instead of 30: 40 frames (not 60) make up the 2 s interval
    due = [n for n in range(1, 61) if keyframes.due(n * SECOND // 20)]
    assert due[0] == 40


def test_the_interval_counts_from_the_last_keyframe_out() -> None:
    keyframes, _ = schedule([0.0])
    keyframes.keyframe_out(0, asked=True)
    keyframes.keyframe_out(SECOND, asked=False)
    assert not keyframes.due(INTERVAL_PTS)
    assert keyframes.due(SECOND + INTERVAL_PTS)


def test_a_request_forces_one_mid_interval() -> None:
    now = [10.0]
    keyframes, requests = schedule(now)
    keyframes.keyframe_out(0, asked=True)
    requests.request()
    assert keyframes.due(3000)
    assert requests.forced == 1
    assert not keyframes.due(6000), "served"


def test_a_request_is_consumed_by_a_frame_due_anyway() -> None:
    now = [10.0]
    keyframes, requests = schedule(now)
    requests.request()
    assert keyframes.due(0)  # the first frame: a keyframe in any case
    assert requests.forced == 1, "asked first, every frame"
    keyframes.keyframe_out(0, asked=True)
    assert not keyframes.due(3000)


def test_an_unasked_keyframe_serves_a_held_back_request() -> None:
    now = [10.0]
    keyframes, requests = schedule(now)
    keyframes.keyframe_out(0, asked=True)
    requests.request()
    assert keyframes.due(3000)  # forced at 10.0
    keyframes.keyframe_out(3000, asked=True)
    requests.request()
    now[0] = 10.2
    assert not keyframes.due(21000), "held back: forced IDRs are 0.5 s apart"
    keyframes.keyframe_out(24000, asked=False)  # x264's own IDR
    now[0] = 10.6
    assert not keyframes.due(57000), "the unasked keyframe served it"
    assert requests.forced == 1


def test_an_asked_periodic_keyframe_does_not_serve_a_held_back_request() -> None:
    # Measured worse for crowds of joiners (~510 against ~90 ms); see keyframe_out.
    now = [10.0]
    keyframes, requests = schedule(now)
    keyframes.keyframe_out(0, asked=True)
    requests.request()
    assert keyframes.due(INTERVAL_PTS - 9000)  # forced at 10.0
    keyframes.keyframe_out(INTERVAL_PTS - 9000, asked=True)
    requests.request()
    now[0] = 10.2
    assert keyframes.due(2 * INTERVAL_PTS)  # periodic, the request still held back
    keyframes.keyframe_out(2 * INTERVAL_PTS, asked=True)
    now[0] = 10.6
    assert keyframes.due(2 * INTERVAL_PTS + 3000), "the request is served after all"
    assert requests.forced == 2
