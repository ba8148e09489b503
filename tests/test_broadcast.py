"""Broadcast and keyframe-request units: joiners, slow subscribers, coalescing."""

from __future__ import annotations

import asyncio
import fractions

import av

from livestudio.media.broadcast import Broadcast, PacketTrack
from livestudio.media.keyframes import KeyframeRequests


def packet(pts: int, key: bool = False) -> av.Packet:
    p = av.Packet(b"\x00\x00\x00\x01\x65" if key else b"\x00\x00\x00\x01\x41")
    p.pts = p.dts = pts
    p.time_base = fractions.Fraction(1, 90000)
    p.is_keyframe = key
    return p


def audio(pts: int) -> av.Packet:
    p = av.Packet(b"\xfc")
    p.pts = p.dts = pts
    p.time_base = fractions.Fraction(1, 48000)
    return p


def drain(queue) -> list[av.Packet]:  # type: ignore[no-untyped-def]
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


async def test_joiner_starts_on_next_keyframe_and_requests_one() -> None:
    requests: list[int] = []
    b = Broadcast(request_keyframe=lambda: requests.append(1))
    b.publish_video(packet(0, key=True))
    b.publish_video(packet(54000))  # the cached keyframe is 0.6 s old: too old to start from
    sub = b.subscribe("viewer")
    assert requests == [1], "a joiner asks for an IDR at once"
    b.publish_video(packet(57000))
    assert sub.video.empty(), "nothing before its keyframe"
    b.publish_video(packet(60000, key=True))
    b.publish_video(packet(63000))
    got = drain(sub.video)
    assert [p.pts for p in got] == [60000, 63000]
    assert got[0].is_keyframe


async def test_joiner_starts_from_a_recent_cached_gop_without_forcing_one() -> None:
    requests: list[int] = []
    b = Broadcast(request_keyframe=lambda: requests.append(1))
    for n in range(10):  # 0.3 s since the keyframe (another joiner's, a periodic one)
        b.publish_video(packet(n * 3000, key=n == 0))
    track = PacketTrack("video", b.subscribe("viewer"))
    assert requests == [], "no keyframe forced: a crowd of joiners shares one"
    got = [await track.recv() for _ in range(10)]
    assert got[0].is_keyframe and [p.pts for p in got] == [27000 - 9 + i for i in range(10)]


async def test_an_output_starts_from_the_gop_cache_with_its_audio_rendition() -> None:
    b = Broadcast(request_keyframe=lambda: None)
    b.publish_video(packet(0, key=True))
    b.publish_audio(audio(0))
    b.publish_audio(audio(0), "aac")
    b.publish_video(packet(3000))
    b.publish_audio(audio(1024), "aac")
    out = b.subscribe_output("recorder", audio="aac")
    b.publish_audio(audio(960))  # Opus: not this output's rendition
    b.publish_audio(audio(2048), "aac")
    got = [(kind, p.pts) for kind, p in drain(out.items)]
    assert got == [("video", 0), ("video", 3000), ("audio", 0), ("audio", 1024), ("audio", 2048)]


async def test_an_output_that_falls_behind_skips_to_the_next_keyframe_audio_included() -> None:
    requests: list[int] = []
    b = Broadcast(request_keyframe=lambda: requests.append(1))
    out = b.subscribe_output("slow disk", max_packets=4)
    b.publish_audio(audio(0), "aac")  # the keyframe's audio, published before it
    b.publish_video(packet(0, key=True))
    assert [(k, p.pts) for k, p in drain(out.items)] == [("video", 0), ("audio", 0)]
    for n in range(1, 6):  # never read: 4 fit, the 5th overflows
        b.publish_video(packet(n * 3000))
    assert out.video_drops == 1 and out.waiting_for_keyframe and out.items.empty()
    b.publish_audio(audio(18 * 960), "aac")  # skipped with the video...
    b.publish_video(packet(18000))
    b.publish_audio(audio(19 * 960), "aac")  # ...but the next keyframe's moment is kept
    keyframe_pts = 19 * 960 * 90000 // 48000
    b.publish_video(packet(keyframe_pts, key=True))
    got = [(k, p.pts) for k, p in drain(out.items)]
    assert got == [("video", keyframe_pts), ("audio", 19 * 960)]
    assert requests == [], "an output waits for the next keyframe, it forces none"
    b.end()
    assert out.get(timeout=1) is None, "the end reaches the output's reader"


async def test_slow_subscriber_drops_to_next_keyframe_fast_one_gets_everything() -> None:
    requests: list[int] = []
    b = Broadcast(request_keyframe=lambda: requests.append(1), video_queue=5)
    fast = b.subscribe("fast")
    slow = b.subscribe("slow")
    fast_got: list[int] = []
    b.publish_video(packet(0, key=True))
    pts = 0
    for _ in range(12):  # the slow one never reads
        pts += 3000
        b.publish_video(packet(pts))
        fast_got += [p.pts for p in drain(fast.video)]
    fast_got = [0, *fast_got] if fast_got[0] != 0 else fast_got
    assert fast_got == list(range(0, pts + 1, 3000)), "the fast subscriber lost nothing"
    assert slow.video_drops == 1 and slow.waiting_for_keyframe
    assert slow.video.empty(), "the overflowing queue was emptied"
    assert fast.video_drops == 0
    requests.clear()
    b.publish_video(packet(pts + 3000))
    assert slow.video.empty()
    b.publish_video(packet(pts + 6000, key=True))
    got = drain(slow.video)
    assert [p.pts for p in got] == [pts + 6000] and got[0].is_keyframe


async def test_packet_track_yields_packets_then_ends() -> None:
    b = Broadcast(request_keyframe=lambda: None)
    sub = b.subscribe("viewer")
    video = PacketTrack("video", sub)
    b.publish_video(packet(0, key=True))
    got = await video.recv()
    assert isinstance(got, av.Packet) and got.pts == 0
    b.end()
    try:
        await video.recv()
    except Exception as exc:
        assert type(exc).__name__ == "MediaStreamError"
    else:
        raise AssertionError("recv after the end must raise MediaStreamError")


def test_keyframe_requests_coalesce() -> None:
    now = [100.0]
    k = KeyframeRequests(min_interval=0.5, now=lambda: now[0])
    assert not k.due()
    for _ in range(10):  # ten joiners at once
        k.request()
    assert k.due() and not k.due(), "one IDR serves the burst"
    k.request()
    now[0] += 0.2
    assert not k.due(), "too soon after the last forced IDR"
    now[0] += 0.31
    assert k.due(), "the held request is served once the interval has passed"
    assert k.forced == 2 and k.requested == 11
    k.request()
    k.natural_keyframe()
    now[0] += 1
    assert not k.due(), "a regular keyframe satisfied the request"
    k.request()
    assert k.due(), "and a joiner just after it does not wait for the interval"


async def test_a_viewer_connecting_slowly_starts_at_live_not_with_a_burst() -> None:
    requests: list[int] = []
    b = Broadcast(request_keyframe=lambda: requests.append(1))
    sub = b.subscribe("viewer")
    other = b.subscribe("another viewer")
    video, sound = PacketTrack("video", sub), PacketTrack("audio", sub)
    # 0.5 s of program queue up while ICE and DTLS connect.
    for n in range(16):
        b.publish_video(packet(n * 3000, key=n == 0))
    for n in range(25):
        b.publish_audio(audio(n * 960))
    got = [await video.recv() for _ in range(16)]
    newest = 15 * 3000
    assert got[0].is_keyframe and [p.pts for p in got] == [newest - 15 + i for i in range(16)]
    assert bytes(got[0]) == bytes(packet(0, key=True)), "the same frames, re-stamped"
    b.publish_video(packet(16 * 3000))
    assert (await video.recv()).pts == 16 * 3000, "then live, at its own pace"
    assert [p.pts for p in drain(other.video)][:2] == [0, 3000], "others' packets untouched"
    assert [(await sound.recv()).pts for _ in range(3)] == [22 * 960, 23 * 960, 24 * 960]


async def test_a_viewer_without_a_queued_keyframe_asks_for_one() -> None:
    requests: list[int] = []
    b = Broadcast(request_keyframe=lambda: requests.append(1))
    sub = b.subscribe("viewer")
    track = PacketTrack("video", sub)
    sub.waiting_for_keyframe = False  # it was receiving, and an overflow dropped its queue
    sub.video.put_nowait(packet(3000))
    requests.clear()
    first = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0)  # one turn of the loop: recv() runs until it waits
    assert requests == [1] and not first.done()
    b.publish_video(packet(6000, key=True))
    assert (await first).pts == 6000


async def test_a_joiner_whose_keyframe_is_on_its_way_does_not_ask_again() -> None:
    requests: list[int] = []
    b = Broadcast(request_keyframe=lambda: requests.append(1))
    track = PacketTrack("video", b.subscribe("viewer"))
    first = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0)  # one turn of the loop: recv() runs until it waits
    assert requests == [1], "asked once, at subscription: a second would delay the next joiner"
    b.publish_video(packet(3000, key=True))
    assert (await first).pts == 3000


async def test_an_output_gets_what_was_queued_before_the_end() -> None:
    b = Broadcast(request_keyframe=lambda: None)
    out = b.subscribe_output("recorder", max_packets=4)
    for n in range(4):  # the queue is full when the show ends: a slow disk
        b.publish_video(packet(n * 3000, key=n == 0))
    b.end()
    got = []
    while (item := out.get(timeout=1)) is not None:
        got.append(item[1].pts)
    assert got == [0, 3000, 6000, 9000], "the recording keeps its last packets"
