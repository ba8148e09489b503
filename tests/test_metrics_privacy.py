"""/metrics is unauthenticated: it must never carry a secret.

`DELETE /whep/{show}/{session}` needs nothing but the WHEP session id, and
`DELETE /whip/{show}/{session}` nothing but the publisher's: either in /metrics would let
anyone who can read it kick viewers or end the show. Per-viewer figures are per show.
"""

from __future__ import annotations

from .conftest import Studio
from .utils import parse_metrics, until, whep_play, whip_publish


async def scrape(studio: Studio) -> tuple[str, list[tuple[str, dict[str, str], float]]]:
    async with studio.session.get(studio.url("/metrics")) as r:
        assert r.status == 200
        text = await r.text()
    return text, parse_metrics(text)


def value(samples: list[tuple[str, dict[str, str], float]], name: str, show: str) -> float:
    found = [v for n, labels, v in samples if n == name and labels == {"show": show}]
    assert len(found) == 1, f"{name} for {show}: {found}"
    return found[0]


async def test_metrics_name_no_session_ids_or_stream_keys(studio: Studio) -> None:
    show_id, key = await studio.create_show()
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    viewer = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
    try:
        await until(lambda: len(viewer.stamps) > 5, 15)
        viewer_session = viewer.location.rstrip("/").rsplit("/", 1)[1]
        publisher_session = pub.location.rstrip("/").rsplit("/", 1)[1]

        text, samples = await scrape(studio)
        for secret in (viewer_session, publisher_session, key):
            assert secret not in text
        # The show id is the only label: it is public (its viewer link, the home page).
        assert {frozenset(labels) for _, labels, _ in samples} <= {frozenset(), frozenset({"show"})}
        assert {labels["show"] for _, labels, _ in samples if labels} == {show_id}
        assert value(samples, "livestudio_viewers", show_id) == 1
        assert value(samples, "livestudio_subscriber_video_drops_total", show_id) >= 0

        live = studio.onair.get(show_id)
        assert live is not None
        watching = live.viewer(viewer_session)
        assert watching is not None and watching.subscriber is not None
        sub = watching.subscriber
        base = sub.video_drops
        sub.video_drops = base + 3
        _, samples = await scrape(studio)
        assert value(samples, "livestudio_subscriber_video_drops_total", show_id) == base + 3
        assert value(samples, "livestudio_subscriber_video_drops_max", show_id) == base + 3
        assert value(samples, "livestudio_subscribers_dropping", show_id) == 1

        await viewer.close(studio.session)
        await until(lambda: live.viewer_count == 0, 5)
        _, samples = await scrape(studio)
        # A counter: the drops of a viewer who left still count.
        assert value(samples, "livestudio_subscriber_video_drops_total", show_id) >= base + 3
        assert value(samples, "livestudio_subscriber_video_drops_max", show_id) == 0
        assert value(samples, "livestudio_subscribers_dropping", show_id) == 0
        assert value(samples, "livestudio_viewers", show_id) == 0
    finally:
        await viewer.close(studio.session)
        await pub.close(studio.session)
