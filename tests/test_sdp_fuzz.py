"""Malformed offers get a 4xx with a message, never a 500, and leave nothing behind.

aiortc parses much more of an offer than `livestudio.media.sdp` checks, and fails on a
damaged one with whatever exception its parser hits. Known cases first, then a seeded
fuzz of single-line mutations of a real offer (the same offers every run).
"""

from __future__ import annotations

import random
import re

import aiohttp

from .conftest import Studio
from .utils import SDP, bearer, offer, until, whep_play, whip_publish

KNOWN = [
    (r"m=video \d+ ", "m=video x "),  # non-numeric port
    (r"c=IN IP4 [\d.]+", "c=IN  192.0.2.2"),  # malformed connection line
    (r"a=group:BUNDLE 0 1", "a=group:BUNDLE x 1"),  # a BUNDLE mid with no section
    (r"/90000\r\n", "\r\n"),  # rtpmap without a clock rate
    (r"a=rtcp:9 IN IP4 [\d.]+", "a=rtcp:9 IN IP4 "),
]


def mutations(sdp: str, count: int, seed: int) -> list[str]:
    """`count` offers, each with one line dropped, duplicated or garbled."""
    rnd = random.Random(seed)
    lines = sdp.strip().split("\r\n")
    out = []
    for _ in range(count):
        copy = list(lines)
        i = rnd.randrange(1, len(copy))
        op = rnd.choice(["drop", "dup", "value", "field"])
        if op == "drop":
            del copy[i]
        elif op == "dup":
            copy.insert(i, copy[i])
        elif op == "value":
            key = copy[i].split("=", 1)[0]
            copy[i] = key + "=" + rnd.choice(["", "x", "-1", "a b c", "99999999999", "\u00ff"])
        else:
            parts = copy[i].split(" ")
            parts[rnd.randrange(len(parts))] = rnd.choice(["", "x", "0", "abc:def"])
            copy[i] = " ".join(parts)
        out.append("\r\n".join(copy) + "\r\n")
    return out


def damaged(good: str) -> list[str]:
    known = [re.sub(old, new, good, count=1) for old, new in KNOWN if re.search(old, good)]
    assert len(known) == len(KNOWN), "the known cases still apply to aiortc's offers"
    return known + mutations(good, 60, seed=7)


async def check(response: aiohttp.ClientResponse, offer_sdp: str) -> None:
    text = await response.text()
    assert response.status < 500, f"{response.status} {text}\n{offer_sdp}"
    assert response.headers.get("Access-Control-Allow-Origin") == "*"
    if response.status >= 400:
        assert text.strip(), "an error says what is wrong"


async def test_damaged_whip_offers_are_refused_cleanly(studio: Studio) -> None:
    good = await offer()
    show_id, key = await studio.create_show()
    statuses = []
    for sdp in damaged(good):
        async with studio.session.post(
            studio.url(f"/whip/{show_id}"), data=sdp, headers=bearer(key)
        ) as r:
            await check(r, sdp)
            statuses.append(r.status)
            if r.status == 201:  # harmless damage: that show now waits for media
                show_id, key = await studio.create_show()
    assert statuses.count(400) >= 10, statuses
    # Nothing half-made is left, and the server still takes a real publisher.
    await until(lambda: len(studio.onair.shows) <= statuses.count(201), 10)
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    player = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
    await until(lambda: len(player.stamps) > 5, 15)
    await player.close(studio.session)
    await pub.close(studio.session)


async def test_damaged_whep_offers_are_refused_cleanly(studio: Studio) -> None:
    show_id, key = await studio.create_show()
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    live = studio.onair.get(show_id)
    assert live is not None
    await until(lambda: live.on_air, 10)
    good = await offer("play")
    url = studio.url(f"/whep/{show_id}")
    statuses = []
    for sdp in damaged(good):
        async with studio.session.post(url, data=sdp, headers=SDP) as r:
            await check(r, sdp)
            statuses.append(r.status)
            if r.status == 201:
                async with studio.session.delete(studio.url(r.headers["Location"])) as d:
                    assert d.status == 200
    assert statuses.count(400) >= 10, statuses
    await until(lambda: live.viewer_count == 0, 10)
    player = await whep_play(studio.session, url)
    await until(lambda: len(player.stamps) > 5, 15)
    await player.close(studio.session)
    await pub.close(studio.session)
