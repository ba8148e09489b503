"""A portrait program (issue #16): a show setting, 720x1280 cropped from a landscape
camera, with the card centred at the bottom and drawn larger, decoded by a WHEP viewer."""

from __future__ import annotations

import av
import numpy as np

from livestudio.media.frames import to_program
from livestudio.media.scene import PORTRAIT_SCALE

from .conftest import MUG, Studio
from .utils import CAMERA_RGB, card_score, until, whep_play, whip_publish


def test_fill_crops_the_centre_instead_of_letterboxing() -> None:
    rgb = np.zeros((720, 1280, 3), np.uint8)
    rgb[:, :, 0] = 200  # red everywhere...
    rgb[:, 600:680] = (0, 200, 0)  # ...and a green bar in the middle
    source = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    out = to_program(source, 720, 1280, fill=True)
    assert (out.width, out.height) == (720, 1280)
    picture = out.to_ndarray(format="rgb24").astype(int)
    assert picture[:, :8].mean(axis=(0, 1))[0] > 150, "no bars at the sides: cropped"
    assert picture[:, 340:380].mean(axis=(0, 1))[1] > 150, "the centre of the camera"
    fitted = to_program(source, 720, 1280).to_ndarray(format="rgb24")
    assert fitted[:8].max() < 40, "without fill: letterboxed (black above)"


async def test_portrait_show_plays_720x1280_with_the_card_at_the_bottom(studio: Studio) -> None:
    token = await studio.api_token()
    product = await studio.create_product(token, like=MUG)
    status, show = await studio.api(
        "POST", "/api/shows", token, json={"title": "Für Handys", "orientation": "portrait"}
    )
    assert status == 201 and show["orientation"] == "portrait", show
    status, bad = await studio.api(
        "PATCH", f"/api/shows/{show['id']}", token, json={"orientation": "square"}
    )
    assert status == 422, bad
    status, back = await studio.api(
        "PATCH", f"/api/shows/{show['id']}", token, json={"orientation": "landscape"}
    )
    assert status == 200 and back["orientation"] == "landscape"
    status, again = await studio.api(
        "PATCH", f"/api/shows/{show['id']}", token, json={"orientation": "portrait"}
    )
    assert status == 200 and again["orientation"] == "portrait"

    show_id, key = show["id"], show["stream_key"]
    pub = await whip_publish(studio.session, studio.url(f"/whip/{show_id}"), key)
    viewer = await whep_play(studio.session, studio.url(f"/whep/{show_id}"))
    try:
        await until(lambda: len(viewer.sizes) > 0 and len(viewer.pts) > 10, 15)
        assert viewer.sizes == {(720, 1280)}, viewer.sizes
        status, _fixed = await studio.api(
            "PATCH", f"/api/shows/{show_id}", token, json={"orientation": "landscape"}
        )
        assert status == 409, "fixed once live"

        frames: list[av.VideoFrame] = []
        viewer.on_frame = frames.append
        status, event = await studio.api(
            "POST", f"/api/shows/{show_id}/pin", token, json={"product": product["id"]}
        )
        assert status == 200, event
        stage = studio.onair.products(show_id)
        assert stage is not None and stage.scene is not None
        rect = stage.scene.card_rect
        assert rect is not None
        # Centred, in the lower part, wider than a landscape card of the same width.
        assert abs((rect.x + rect.width / 2) - 360) <= 2, rect
        assert rect.y > 1280 * 0.6 and rect.y + rect.height < 1280, rect
        assert stage.scene.scale == PORTRAIT_SCALE and rect.width > 440, rect
        await until(lambda: any(card_score(f, rect) > 30 for f in frames), 10)
        # The camera fills the frame: its colour reaches the sides (no black bars).
        picture = frames[-1].to_ndarray(format="rgb24").astype(int)
        side = picture[400:600, :16].mean(axis=(0, 1))
        assert np.abs(side - CAMERA_RGB).mean() < 30, side
    finally:
        await viewer.close(studio.session)
        await pub.close(studio.session)
