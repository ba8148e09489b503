"""#16's brand and language on the viewer pages main added next to it: the embed (live and
replay), the scheduled panel's "Add to calendar", the calendar feed link, the clips lists
and a clip's share page. Under a German brand none of them speaks English."""

from __future__ import annotations

import json
import re
from typing import Any

from .conftest import Studio
from .utils import clipped_show


def config_of(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="config">(.*?)</script>', page, re.S)
    assert found, page
    return dict(json.loads(found.group(1)))


async def german(studio: Studio) -> None:
    await studio.store.update_brand({"name": "Kaffeerösterei Lange", "locale": "de_DE"})


async def test_the_embed_speaks_the_brands_language(studio: Studio) -> None:
    await german(studio)
    show, _ = await studio.store.create_show("Eingebettet", "2099-12-04T18:00:00+00:00")
    show_id = show.id
    page = (await studio.call("GET", f"/embed/{show_id}?chat=1", auth=False)).text
    assert '<html lang="de-DE">' in page and "/brand.css?v=" in page
    assert "🔇 Ton an" in page and 'id="state-badge">Bald<' in page
    assert ">normale Verzögerung<" in page  # HLS, when WebRTC cannot play
    assert "Zum Kalender hinzufügen" in page and "Stell eine Frage…" in page
    assert "data-local>Fr., 4. Dez. 2099" in page  # Babel, then Intl in the viewer's zone
    config = config_of(page)
    assert config["locale"] == "de-DE" and config["words"]["starts"] == "Beginnt {when}"
    # What the player says when this browser cannot play, or playback will not start.
    assert config["words"]["no_h264"].startswith("Dieser Browser kann den Stream nicht")
    assert config["words"]["play_retry"].startswith("Die Wiedergabe konnte nicht starten ({n})")
    for english in ("Tap to unmute", "standard latency", "Add to calendar", "Buy<"):
        assert english not in page, english


async def test_home_replay_and_clip_pages_in_german(studio: Studio) -> None:
    await german(studio)
    show_id, _mug, _lamp, token = await clipped_show(studio)
    status, clip = await studio.api(
        "POST", f"/api/shows/{show_id}/clips", token, json={"chapter": 0}
    )
    assert status == 201, clip
    home = (await studio.call("GET", "/", auth=False)).text
    assert "Neueste Clips" in home and "Kommende Shows in deiner Kalender-App abonnieren" in home
    replay = (await studio.call("GET", f"/replay/{show_id}", auth=False)).text
    assert "<h2>Clips</h2>" in replay and "MP4 herunterladen" in replay
    assert config_of(replay)["locale"] == "de-DE"
    share = (await studio.call("GET", f"/clips/{clip['id']}", auth=False)).text
    assert '<html lang="de-DE">' in share
    assert "Aus <a" in share and "Die ganze Show ansehen" in share and ">Kaufen<" in share
    assert "24,90\xa0€" in share or "24,90 €" in share, "the price as the locale writes it"
    embed = (await studio.call("GET", f"/embed/{show_id}", auth=False)).text
    assert config_of(embed)["locale"] == "de-DE", "the replay embed's prices and times"
    for page in (home, replay, share):
        for english in ("Latest clips", "Watch the whole show", "Subscribe to upcoming"):
            assert english not in page, english


async def test_a_shared_link_is_described_in_the_brands_language(studio: Studio) -> None:
    # What a chat app shows under a pasted link (og:description): a German brand's
    # viewers read German there too, scheduled, live and replay alike.
    await german(studio)
    show, _ = await studio.store.create_show("Geplant", "2099-12-04T18:00:00+00:00")
    page = (await studio.call("GET", f"/live/{show.id}", auth=False)).text
    assert '<meta property="og:description" content="Live am Fr., 4. Dez. 2099' in page
    unplanned, _ = await studio.store.create_show("Ohne Datum")
    page = (await studio.call("GET", f"/live/{unplanned.id}", auth=False)).text
    assert '<meta property="og:description" content="Eine Live-Shopping-Show.">' in page
    show_id, _mug, _lamp, _token = await clipped_show(studio)
    replay = (await studio.call("GET", f"/replay/{show_id}", auth=False)).text
    described = re.search(r'<meta property="og:description" content="([^"]*)">', replay)
    assert described and described.group(1).startswith("Sieh dir die Aufzeichnung an")
    for text in (page, replay):
        assert "shop the products" not in text and "A live shopping show" not in text
