"""VideoPacer: when program video frames go out, on injected program time."""

from __future__ import annotations

import itertools

import pytest

from livestudio.media.pacing import VideoPacer

FPS = 30
INTERVAL = 1 / FPS


def simulate(arrivals: list[float], end: float, fps: int = FPS) -> list[tuple[float, bool]]:
    """Run the program loop's video decisions over source `arrivals` (program seconds).

    The loop wakes when a frame arrives or when the pacer's due time comes, as the program
    thread does; returns (time, fresh) for every frame that went out.
    """
    pacer = VideoPacer(fps)
    out: list[tuple[float, bool]] = []
    sent = 0  # arrivals already sent (the newest arrival counts: older ones are replaced)
    now = 0.0
    while now < end:
        arrived = sum(1 for t in arrivals if t <= now)
        fresh = arrived > sent
        due = pacer.due(now, fresh)
        if now >= due:
            pacer.release(now, fresh)
            out.append((now, fresh))
            sent = arrived
            continue
        later = [t for t in arrivals if t > now]
        now = min([due, *later[:1]])
    return out


def test_first_fresh_frame_goes_out_at_once_with_pts_zero() -> None:
    pacer = VideoPacer(FPS)
    assert pacer.due(0.0, fresh=True) <= 0.0
    assert pacer.release(0.0, fresh=True) == 0


def test_without_a_fresh_frame_the_last_repeats_after_one_and_a_half_intervals() -> None:
    pacer = VideoPacer(FPS)
    pacer.release(1.0, fresh=True)
    assert pacer.due(1.01, fresh=False) == pytest.approx(1.0 + 1.5 * INTERVAL)
    pacer.release(1.05, fresh=False)
    assert pacer.due(1.06, fresh=False) == pytest.approx(1.05 + INTERVAL), "then every interval"
    pacer.release(1.05 + INTERVAL, fresh=True)
    assert pacer.due(1.1, fresh=False) == pytest.approx(1.05 + 2.5 * INTERVAL), "reset by fresh"


def test_a_fresh_frame_with_a_token_goes_a_quarter_interval_after_the_last() -> None:
    pacer = VideoPacer(FPS)
    pacer.release(1.0, fresh=True)
    assert pacer.due(1.001, fresh=True) == pytest.approx(1.0 + 0.25 * INTERVAL)


def test_without_a_token_a_fresh_frame_waits_for_one_to_refill() -> None:
    pacer = VideoPacer(FPS)
    for now in (1.0, 1.0 + 0.25 * INTERVAL):  # two bunched frames: 2 → 1, then 1.25 → 0.25
        assert pacer.due(now, fresh=True) <= now
        pacer.release(now, fresh=True)
    now = 1.0 + 0.5 * INTERVAL
    # half a token after refilling for a quarter interval: half an interval to go
    assert pacer.due(now, fresh=True) == pytest.approx(now + 0.5 * INTERVAL)


def test_pts_strictly_increase_within_one_pts_unit() -> None:
    pacer = VideoPacer(FPS)
    assert pacer.release(2.0, fresh=True) == 180000
    assert pacer.release(2.0, fresh=False) == 180001
    assert pacer.release(2.5, fresh=True) == 225000


def test_a_steady_source_at_fps_goes_out_frame_for_frame() -> None:
    arrivals = [n * INTERVAL for n in range(60)]
    out = simulate(arrivals, end=arrivals[-1] + 0.001)
    assert len(out) == 60 and all(fresh for _, fresh in out)
    assert [t for t, _ in out] == pytest.approx(arrivals), "each as soon as it arrives"


def test_bunched_frames_all_go_out_evened_to_fps() -> None:
    # network jitter: frames arrive in pairs 1 ms apart every two intervals (30 fps)
    arrivals = [n // 2 * 2 * INTERVAL + (n % 2) * 0.001 for n in range(60)]
    out = simulate(arrivals, end=2.0)
    fresh = [t for t, f in out if f]
    assert len(fresh) == 60, "no source frame lost"
    late = [t - arrived for t, arrived in zip(fresh, arrivals, strict=True)]
    # Once the tokens are spent (the first gap of 1.5 intervals cost a repeat), the second
    # of each pair waits for a token: the pairs go out evened to one frame an interval.
    assert max(late) < INTERVAL
    assert [f for _, f in out].count(False) == 1
    times = [t for t, _ in out[3:]]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps == pytest.approx([INTERVAL] * len(gaps))


def test_a_60_fps_source_is_held_to_about_the_program_fps() -> None:
    arrivals = [n / 60 for n in range(240)]  # 4 s
    out = simulate(arrivals, end=4.0)
    assert all(fresh for _, fresh in out)
    assert 118 <= len(out) <= 122, f"{len(out)} frames in 4 s"


def test_a_stopped_source_repeats_at_fps() -> None:
    out = simulate([0.0], end=1.0)
    times = [t for t, _ in out]
    assert out[0] == (0.0, True) and not any(fresh for _, fresh in out[1:])
    assert times[1] == pytest.approx(1.5 * INTERVAL)
    gaps = [b - a for a, b in itertools.pairwise(times[1:])]
    assert gaps == pytest.approx([INTERVAL] * len(gaps))
    assert len(out) == 30, "30 fps of repeats"


def test_a_backlog_goes_out_without_waiting_for_tokens_and_leaves_no_debt() -> None:
    pacer = VideoPacer(FPS)
    for now in (1.0, 1.0 + 0.25 * INTERVAL):  # two bunched frames spend the tokens
        assert pacer.due(now, fresh=True) <= now
        pacer.release(now, fresh=True)
    now = 1.0 + 0.5 * INTERVAL
    assert pacer.due(now, fresh=True) > now, "one frame alone waits for a token"
    # but frames waiting behind it (a retransmission's burst) go a quarter interval apart
    for _ in range(3):
        assert pacer.due(now, fresh=True, backlog=True) <= now
        pacer.release(now, fresh=True, backlog=True)
        now += 0.25 * INTERVAL
    # and leave no debt: the next frame at the source's pace goes as it comes
    later = now + INTERVAL
    assert pacer.due(later, fresh=True) <= later
