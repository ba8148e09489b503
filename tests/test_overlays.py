"""Product card, countdown, logo and lower-third rendering, and the scene on program frames."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from livestudio.media.blend import frame_planes, rgb_to_yuv
from livestudio.media.compose import Compositor
from livestudio.media.overlays import (
    CORNERS,
    CardModel,
    Labels,
    LogoModel,
    QuestionModel,
    countdown_seconds,
    format_countdown,
    render_card,
    render_countdown,
    render_logo,
    render_question,
)
from livestudio.media.scene import OverlayScene

SIZE_720 = (1280, 720)


def thumb() -> Image.Image:
    image = Image.new("RGB", (300, 200), (200, 120, 40))
    ImageDraw.Draw(image).ellipse((50, 20, 250, 180), fill=(30, 90, 160))
    return image


def card(**changes: object) -> CardModel:
    values: dict[str, object] = {
        "name": "Кресло Поэнг",
        "price_text": "€99,00",
        "compare_at_text": "€149,00",
        "image": thumb(),
        "accent": "#e11d48",
    }
    values.update(changes)
    return CardModel(**values)  # type: ignore[arg-type]


def camera_frame(width: int = 1280, height: int = 720, seed: int = 3) -> av.VideoFrame:
    """A decoded-looking frame: random bytes, so any stray write shows."""
    rng = np.random.default_rng(seed)
    frame = av.VideoFrame(width, height, "yuv420p")
    for plane in frame_planes(frame):
        plane[...] = rng.integers(16, 236, size=plane.shape, dtype=np.uint8)
    return frame


def planes_copy(frame: av.VideoFrame) -> list[np.ndarray]:
    return [p.copy() for p in frame_planes(frame)]


def differs(a: Image.Image, b: Image.Image) -> bool:
    return a.size != b.size or not np.array_equal(np.asarray(a), np.asarray(b))


# --- the card image -------------------------------------------------------------------


def test_card_renders_with_and_without_thumbnail() -> None:
    with_image = render_card(card()).image
    without = render_card(card(image=None)).image
    assert with_image.mode == "RGBA" and without.mode == "RGBA"
    assert with_image.width > without.width
    alpha = np.asarray(with_image)[..., 3]
    assert alpha[alpha.shape[0] // 2, alpha.shape[1] // 2] == 255  # opaque body
    assert alpha[0, 0] < 255  # rounded, anti-aliased corner


def test_card_thumbnail_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "chair.png"
    thumb().save(path)
    assert not differs(render_card(card(image=path)).image, render_card(card()).image)


def test_unreadable_thumbnail_leaves_it_out(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    rendered = render_card(card(image=broken)).image
    assert rendered.size == render_card(card(image=None)).image.size


def test_long_names_are_ellipsized_to_the_card() -> None:
    long_name = "Poäng armchair with cushion, birch veneer, Hillared anthracite " * 3
    short = render_card(card(name="Poäng")).image
    long = render_card(card(name=long_name)).image
    assert long.size == short.size  # the card does not grow
    assert differs(long, short)


def test_stock_lines() -> None:
    assert card(stock=None).stock_text() is None
    assert card(stock=20).stock_text() is None
    assert card(stock=5).stock_text() == "Only 5 left"
    assert card(stock=3).stock_text() == "Only 3 left"
    assert card(stock=0).stock_text() == "Sold out"
    assert card(stock=0).sold_out and not card(stock=1).sold_out
    translated = Labels(only_left="Nur noch {n}", sold_out="Ausverkauft")
    assert card(stock=2, labels=translated).stock_text() == "Nur noch 2"

    plenty = render_card(card(stock=20)).image
    low = render_card(card(stock=3)).image
    sold = render_card(card(stock=0)).image
    other_low = render_card(card(stock=4)).image
    assert differs(low, plenty) and differs(sold, plenty) and differs(low, sold)
    assert differs(low, other_low)  # the number itself is drawn
    # Without a thumbnail the card grows by the stock line.
    assert (
        render_card(card(stock=3, image=None)).image.height
        > render_card(card(stock=20, image=None)).image.height
    )


def test_sold_out_greys_the_price_tag() -> None:
    live = np.asarray(render_card(card(stock=1, image=None)).image)
    sold = np.asarray(render_card(card(stock=0, image=None)).image)
    accent = np.array([0xE1, 0x1D, 0x48])
    assert (np.abs(live[..., :3].astype(int) - accent).sum(axis=-1) == 0).any()
    assert not (np.abs(sold[..., :3].astype(int) - accent).sum(axis=-1) == 0).any()


def test_compare_at_price_is_struck_through() -> None:
    with_compare = render_card(card(image=None)).image
    without = render_card(card(image=None, compare_at_text=None)).image
    assert differs(with_compare, without)


def test_card_reserves_a_countdown_slot_only_during_a_sale() -> None:
    assert render_card(card()).countdown_slot is None
    slot = render_card(card(sale_ends_at=60.0, image=None)).countdown_slot
    assert slot is not None and slot.width > 0 and slot.height > 0


def test_countdown_text() -> None:
    assert format_countdown(42) == "0:42"
    assert format_countdown(605) == "10:05"
    assert format_countdown(3723) == "1:02:03"
    assert format_countdown(-3) == "0:00"
    assert countdown_seconds(100.0, 57.5) == 43
    assert countdown_seconds(100.0, 58.0) == 42
    assert countdown_seconds(100.0, 120.0) == 0
    a = render_countdown(42, (200, 24), 1.0, "#e11d48", Labels())
    b = render_countdown(41, (200, 24), 1.0, "#e11d48", Labels())
    assert a.size == (200, 24) and differs(a, b)


def test_question_lower_third_clamps_to_two_lines() -> None:
    short = render_question(QuestionModel("Anna", "Green?"), 500)
    long = render_question(QuestionModel("Anna", "Does this come in green? " * 20), 500)
    three = render_question(QuestionModel("Anna", "x " * 400), 500)
    assert short.width == long.width == 500
    assert long.height > short.height
    assert three.height == long.height  # never more than two lines
    word = render_question(QuestionModel("A", "Sooooooo" + "o" * 300 + " 😀👍"), 500)
    assert word.height == long.height


def test_logo_is_fitted_and_translucent() -> None:
    logo = Image.new("RGBA", (400, 100), (255, 255, 255, 255))
    rendered = render_logo(LogoModel(logo, opacity=0.5), scale=1.0)
    assert rendered is not None
    assert rendered.height <= 56 and rendered.width <= 200
    assert 120 <= int(np.asarray(rendered)[..., 3].max()) <= 135
    assert render_logo(LogoModel("/nonexistent/logo.png")) is None


# --- the scene on frames ----------------------------------------------------------------


def test_scene_card_shows_and_only_its_rectangle_changes() -> None:
    scene = OverlayScene(SIZE_720, card(stock=3))
    assert scene.card_rect is not None
    rect = scene.card_rect
    frame = camera_frame()
    before = planes_copy(frame)
    scene.draw(frame, 0.0)
    luma, u, v = frame_planes(frame)

    outside = np.ones(luma.shape, bool)
    outside[rect.y : rect.bottom, rect.x : rect.right] = False
    assert np.array_equal(luma[outside], before[0][outside])
    chroma_outside = np.ones(u.shape, bool)
    chroma_outside[rect.y // 2 : (rect.bottom + 1) // 2, rect.x // 2 : (rect.right + 1) // 2] = (
        False
    )
    assert np.array_equal(u[chroma_outside], before[1][chroma_outside])
    assert np.array_equal(v[chroma_outside], before[2][chroma_outside])

    # Inside, the luma is the card's own where it is opaque.
    image = np.asarray(render_card(card(stock=3)).image)
    expected = np.rint(rgb_to_yuv(image[..., :3])[..., 0])
    opaque = image[..., 3] == 255
    region = luma[rect.y : rect.bottom, rect.x : rect.right].astype(int)
    assert opaque.mean() > 0.9
    assert np.abs(region[opaque] - expected[opaque]).max() <= 1


@pytest.mark.parametrize("corner", CORNERS)
@pytest.mark.parametrize("size", [SIZE_720, (1920, 1080), (854, 480), (720, 1280)])
def test_layers_sit_inside_the_frame_without_overlapping(
    corner: str, size: tuple[int, int]
) -> None:
    logo = Image.new("RGBA", (300, 120), (255, 255, 255, 200))
    scene = OverlayScene(
        size,
        card(corner=corner, stock=2, sale_ends_at=30.0),
        LogoModel(logo),
        QuestionModel("Anna K.", "Does this chair come in green? " * 3),
    )
    rects = [layer.rect for layer in scene.layers]
    assert [layer.name for layer in scene.layers] == ["card", "logo", "question"]
    for r in rects:
        assert 0 <= r.x and r.right <= size[0] and 0 <= r.y and r.bottom <= size[1], r
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            overlap = a.x < b.right and b.x < a.right and a.y < b.bottom and b.y < a.bottom
            assert not overlap, (a, b)
    card_rect = scene.card_rect
    assert card_rect is not None
    if corner.endswith("right"):
        assert card_rect.right > size[0] // 2
    if corner.startswith("bottom"):
        assert card_rect.bottom > size[1] // 2
    # Scaled with the program: a 1080p card is 1.5 times a 720p one.
    if size == (1920, 1080):
        small = OverlayScene(SIZE_720, card(corner=corner, stock=2, sale_ends_at=30.0))
        assert small.card_rect is not None
        assert abs(card_rect.width - 1.5 * small.card_rect.width) <= 2


def test_countdown_renders_once_per_displayed_second() -> None:
    scene = OverlayScene(SIZE_720, card(sale_ends_at=100.0))
    assert scene.countdown is not None
    frame = camera_frame()
    source = planes_copy(frame)
    shown: list[np.ndarray] = []
    for i in range(90):  # 3 s at 30 fps, from program time 40.5 s: 60, 59, 58, 57 shown
        for plane, clean in zip(frame_planes(frame), source, strict=True):
            plane[...] = clean
        scene.draw(frame, 40.5 + i / 30)
        shown.append(frame_planes(frame)[0].copy())
    seconds = {countdown_seconds(100.0, 40.5 + i / 30) for i in range(90)}
    assert seconds == {60, 59, 58, 57}
    assert scene.countdown.renders == len(seconds)
    for _ in range(10):  # more frames within the last second: cached
        scene.draw(frame, 40.5 + 89 / 30)
    assert scene.countdown.renders == len(seconds)
    # The countdown line changes on air when the second does, not in between.
    slot = scene.countdown
    assert not np.array_equal(shown[0], shown[-1])
    assert np.array_equal(shown[1], shown[2])
    assert slot.seconds_at(40.5) == 60


def test_countdown_prefetch_renders_ahead_off_the_drawing_thread() -> None:
    threads: list[str] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as pool:
        scene = OverlayScene(SIZE_720, card(sale_ends_at=100.0), now=40.5, prefetch=pool)
        assert scene.countdown is not None
        countdown = scene.countdown
        assert countdown.renders == 2  # prepared: the second on air at 40.5 s and the next
        render = countdown._render

        def counted(seconds: int) -> Image.Image:
            threads.append(threading.current_thread().name)
            return render(seconds)

        countdown._render = counted
        frame = camera_frame()
        for i in range(90):
            scene.draw(frame, 40.5 + i / 30)
            if i % 30 == 29:
                pool.submit(lambda: None).result()  # let the prefetch finish, like a tick
    assert threads and all(name.startswith("prefetch") for name in threads)
    assert countdown.renders == 2 + len(threads)


def test_scene_replace_reuses_unchanged_layers() -> None:
    scene = OverlayScene(SIZE_720, card(), logo=LogoModel(thumb()))
    with_question = scene.replace(question=QuestionModel("Bo", "Is it comfy?"))
    assert with_question.card_layer is scene.card_layer
    assert with_question.logo_layer is scene.logo_layer
    assert with_question.question_layer is not None
    restocked = with_question.replace(card=card(stock=0))
    assert restocked.card_layer is not scene.card_layer
    assert restocked.question_layer is with_question.question_layer
    cleared = restocked.replace(card=None, question=None)
    assert cleared.card_layer is None and cleared.question_layer is None
    assert cleared.logo_layer is not None


def test_compositor_passes_frames_through_untouched_without_a_scene() -> None:
    compositor = Compositor()
    frame = camera_frame()
    before = planes_copy(frame)
    out = compositor.compose(frame, 3000, 1 / 30)
    assert out is frame
    for a, b in zip(frame_planes(out), before, strict=True):
        assert np.array_equal(a, b)


def test_compositor_reports_the_first_frame_showing_a_scene() -> None:
    compositor = Compositor()
    shown: list[int] = []
    compositor.set_scene(OverlayScene(SIZE_720, card()), shown.append)
    compositor.compose(camera_frame(), 3000, 1 / 30)
    compositor.compose(camera_frame(), 6000, 2 / 30)
    assert shown == [3000]
    compositor.set_scene(None, shown.append)
    frame = camera_frame()
    before = planes_copy(frame)
    compositor.compose(frame, 9000, 3 / 30)
    assert shown == [3000, 9000]
    for a, b in zip(frame_planes(frame), before, strict=True):
        assert np.array_equal(a, b)


def test_a_failing_scene_does_not_stop_the_program() -> None:
    class Broken:
        def draw(self, frame: av.VideoFrame, seconds: float) -> None:
            raise RuntimeError("boom")

    compositor = Compositor()
    compositor.set_scene(Broken())
    compositor.compose(camera_frame(), 0, 0.0)
    compositor.compose(camera_frame(), 1, 0.0)
    assert compositor.draw_errors == 2 and compositor.frames == 2


def test_scene_draws_on_a_copy_of_decoded_frames() -> None:
    """The decoder keeps a reference to its frames: compose copies before drawing."""
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 320, 240, "yuv420p"
    encoder.options = {"preset": "ultrafast", "tune": "zerolatency"}
    decoder = av.CodecContext.create("h264", "r")
    frames: list[av.VideoFrame] = []
    source = camera_frame(320, 240)
    for i in range(3):
        source.pts = i
        for packet in encoder.encode(source):
            frames.extend(decoder.decode(packet))
    frame = frames[-1]
    before, decoder_buffer = planes_copy(frame), frame.planes[0].buffer_ptr
    compositor = Compositor()
    compositor.set_scene(OverlayScene((320, 240), card(image=None, corner="top-left")))
    out = compositor.compose(frame, 0, 0.0)
    assert out.planes[0].buffer_ptr != decoder_buffer
    assert not np.array_equal(frame_planes(out)[0], before[0])
