"""On air end to end: pin → the card is burned into the frames viewers decode, with the
event stamped at the pts of the first frame that shows it; sales; stock; the Buy redirect."""

from __future__ import annotations

import aiohttp
import av

from .conftest import MUG, Studio
from .utils import card_score, until, whep_play, whip_publish


async def test_pin_burns_the_card_in_at_the_stamped_pts_then_unpin(studio: Studio) -> None:
    token = await studio.store.create_api_token("t")
    product = await studio.create_product(token, like=MUG)
    show_id, key = await studio.create_show()
    status, _ = await studio.api(
        "POST", f"/api/shows/{show_id}/pin", token, json={"product": product["id"]}
    )
    assert status == 409, "not live yet"

    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    viewer = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
    await until(lambda: len(viewer.stamps) > 15, 15)
    live = studio.onair.get(show_id)
    assert live is not None
    session = viewer.location.rsplit("/", 1)[1]
    watching = live.viewer(session)
    assert watching is not None
    frames: list[tuple[int, av.VideoFrame]] = []
    viewer.on_frame = lambda f: frames.append((f.pts + (watching.first_video_pts or 0), f))
    await until(lambda: len(frames) > 10, 10)  # frames from before the pin, to compare

    status, event = await studio.api(
        "POST", f"/api/shows/{show_id}/pin", token, json={"product": product["id"]}
    )
    assert status == 200, event
    assert event["card"]["name"] == "Kaffeetasse Café" and event["card"]["price"] == "€24.90"
    stage = studio.onair.products(show_id)
    assert stage is not None and stage.scene is not None
    rect = stage.scene.card_rect
    assert rect is not None
    await until(lambda: any(card_score(f, rect) > 30 for _, f in frames), 10)
    first_with_card = min(pts for pts, f in frames if card_score(f, rect) > 30)
    assert abs(first_with_card - event["pts"]) <= 2 * 3000, (first_with_card, event["pts"])
    before = [f for pts, f in frames if pts < event["pts"] - 3000]
    assert before and all(card_score(f, rect) < 15 for f in before[-5:]), "no card before the pin"
    stored = [e for e in await studio.store.list_events(show_id) if e.kind == "pin"]
    assert (
        stored and stored[-1].pts == event["pts"] and stored[-1].data["name"] == "Kaffeetasse Café"
    )

    status, gone = await studio.api("DELETE", f"/api/shows/{show_id}/pin", token)
    assert status == 200
    await until(lambda: any(pts > gone["pts"] + 6000 for pts, _ in frames), 10)
    after = [f for pts, f in frames if pts > gone["pts"] + 3000]
    assert after and all(card_score(f, rect) < 15 for f in after), "the card is gone"
    status, _again = await studio.api("DELETE", f"/api/shows/{show_id}/pin", token)
    assert status == 409

    await viewer.close(studio.session)
    await pub.close(studio.session)


async def test_sale_stock_and_errors(studio: Studio) -> None:
    token = await studio.store.create_api_token("t")
    product = await studio.create_product(token, like=MUG)
    other = await studio.create_product(token, like=MUG, name="Other", sku="O-1")
    show_id, key = await studio.create_show()
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    live = studio.onair.get(show_id)
    assert live is not None
    await until(lambda: live.on_air and live.stats().program_frames > 5, 10)
    pid = product["id"]
    path = f"/api/shows/{show_id}/sale"
    for body, expected in (
        ({"product": pid, "price": "abc", "seconds": 5}, 422),
        ({"product": pid, "price": "24.999", "seconds": 5}, 422),
        ({"product": pid, "price": "99.00", "seconds": 5}, 422),  # not below the price
        ({"product": pid, "price": "19.90", "seconds": 0}, 422),
        ({"product": pid, "price": "19.90", "seconds": "5"}, 422),
        ({"product": 999999, "price": "19.90", "seconds": 5}, 404),
        ({"product": "x", "price": "19.90", "seconds": 5}, 422),
    ):
        status, text = await studio.api("POST", path, token, json=body)
        assert status == expected, (body, status, text)
    status, _ = await studio.api("POST", "/api/shows/nosuch/pin", token, json={"product": pid})
    assert status == 404
    async with studio.session.post(
        studio.url(f"/api/shows/{show_id}/pin"), json={"product": pid}
    ) as r:
        assert r.status == 401

    status, sale = await studio.api(
        "POST", path, token, json={"product": pid, "price": "19.90", "seconds": 2}
    )
    assert status == 200, sale
    card = sale["card"]
    assert card["price"] == "€19.90" and card["compare_at"] == "€24.90" and card["sale_ends_pts"]
    # It ends by itself: a sale_end event, the regular price back.
    await until(
        lambda: (
            studio.app is not None
            and any(e["type"] == "sale_end" for e in studio.onair.hub.channel(show_id).backlog)
        ),
        10,
    )
    # Stock changes show at once.
    status, _ = await studio.api("PATCH", f"/api/products/{pid}", token, json={"stock": 3})
    assert status == 200
    stock_events = [e for e in studio.onair.hub.channel(show_id).backlog if e["type"] == "stock"]
    assert stock_events and stock_events[-1]["card"]["stock_text"] == "Only 3 left"
    status, _ = await studio.api("PATCH", f"/api/products/{pid}", token, json={"stock": 0})
    stock_events = [e for e in studio.onair.hub.channel(show_id).backlog if e["type"] == "stock"]
    assert stock_events[-1]["card"]["stock_text"] == "Sold out"
    # Deleting the pinned product takes it off air; pinning a deleted product is 404.
    status, _ = await studio.api(
        "POST", f"/api/shows/{show_id}/pin", token, json={"product": other["id"]}
    )
    assert status == 200
    status, _ = await studio.api("DELETE", f"/api/products/{other['id']}", token)
    assert status == 204
    assert studio.onair.products(show_id).state.pinned is None  # type: ignore[union-attr]
    status, _ = await studio.api(
        "POST", f"/api/shows/{show_id}/pin", token, json={"product": other["id"]}
    )
    assert status == 404
    await pub.close(studio.session)
    await until(lambda: studio.onair.get(show_id) is None, 10)


async def test_buy_redirect_counts_and_never_opens(studio: Studio) -> None:
    token = await studio.store.create_api_token("t")
    product = await studio.create_product(token, like=MUG)
    elsewhere = await studio.create_product(token, like=MUG, name="Not in this show", sku="X-9")
    show_id, _ = await studio.create_show()
    status, _ = await studio.api(
        "PUT", f"/api/shows/{show_id}/products", token, json={"products": [product["id"]]}
    )
    assert status == 200
    go = studio.url(f"/go/{show_id}/{product['id']}")
    # A viewer: the show's page gives them their cookie.
    viewer = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with viewer.get(studio.url(f"/live/{show_id}")) as r:
        assert r.status == 200
    for _ in range(3):  # taps and reloads: one viewer who clicked
        async with viewer.get(go, allow_redirects=False) as r:
            assert r.status == 302
            assert r.headers["Location"] == (
                f"https://shop.example/tasse?color=blue&utm_source=livestudio"
                f"&utm_campaign={show_id}"
            )
    async with viewer.get(f"{go}?from=replay&url=https://evil.example", allow_redirects=False) as r:
        assert r.status == 302 and "evil" not in r.headers["Location"]
    async with viewer.head(go, allow_redirects=False) as r:
        assert r.status == 302
    await viewer.close()
    # A link preview or a crawler (no page cookie) is sent on, not counted.
    async with aiohttp.ClientSession() as bot, bot.get(go, allow_redirects=False) as r:
        assert r.status == 302
    for bad in (
        f"/go/{show_id}/999999",
        f"/go/nosuch/{product['id']}",
        f"/go/{show_id}/abc",
        f"/go/{show_id}/https:%2F%2Fevil.example",
        f"/go/{show_id}/{elsewhere['id']}",  # a product, but not one of this show
    ):
        async with studio.session.get(studio.url(bad), allow_redirects=False) as r:
            assert r.status == 404, bad
    _status, counts = await studio.api("GET", f"/api/shows/{show_id}/clicks", token)
    assert counts["clicks"][str(product["id"])] == {"live": 1, "replay": 1}


async def test_logo_watermark_is_always_on_when_set(studio: Studio) -> None:
    from PIL import Image

    token = await studio.store.create_api_token("t")
    logo = Image.new("RGBA", (200, 80), (255, 255, 255, 255))
    import io

    buffer = io.BytesIO()
    logo.save(buffer, "PNG")
    status, brand = await studio.api(
        "POST",
        "/api/brand/logo",
        token,
        data=buffer.getvalue(),
        headers={"Content-Type": "image/png"},
    )
    assert status == 200, brand
    show_id, key = await studio.create_show()
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    viewer = await whep_play(studio.session, studio.url(f"/whep/{show_id}"), keep_frames=10_000)
    await until(
        lambda: (
            studio.onair.products(show_id) is not None
            and studio.onair.products(show_id).scene is not None
        ),
        10,
    )  # type: ignore[union-attr]
    stage = studio.onair.products(show_id)
    assert stage is not None and stage.scene is not None
    logo_layer = next(layer for layer in stage.scene.layers if layer.name == "logo")
    frames_now = len(viewer.frames)
    await until(lambda: len(viewer.frames) > frames_now + 10, 10)
    r = logo_layer.rect
    rgb = viewer.frames[-1].to_ndarray(format="rgb24")[
        r.y + 4 : r.y + r.height - 4, r.x + 4 : r.x + r.width - 4
    ]
    assert rgb.mean() > 180, "a white logo watermark without any pin"
    await viewer.close(studio.session)
    await pub.close(studio.session)
