"""The on-air overlay scene: rendered layers at their places, blended onto program frames.

An `OverlayScene` is immutable once built, except for its countdown cache: build it off
the event loop and off the frame path (rendering a card takes milliseconds), then hand it
to `Compositor.set_scene`. `draw()` only blends precomputed planes, plus, once per
displayed second of a flash sale, the countdown line: rendered in `draw` when the second
changes, or ahead of time on an executor if one is given (`prefetch`).
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass

import av
from PIL import Image

from .blend import Overlay, Rect, frame_planes
from .overlays import (
    CardModel,
    LogoModel,
    QuestionModel,
    countdown_seconds,
    render_card,
    render_countdown,
    render_logo,
    render_question,
)

log = logging.getLogger(__name__)

REFERENCE_SIDE = 720
"Overlay sizes are designed at 720p and scaled with the program's shorter side."
MARGIN = 24
"Distance of the layers from the frame's edges, at 720p (a title-safe margin)."
PORTRAIT_SCALE = 4 / 3
"""A portrait program (9:16, for phones) draws its layers this much larger than a
landscape one of the same width: it fills a phone's width, where a 720 px frame is shown
~390 px wide, and the card's text must stay readable there (≥ 12 px)."""
PORTRAIT_BOTTOM = 0.06
"A portrait card sits centred at the bottom, this much of the height above the edge."
QUESTION_WIDTH = 560
QUESTION_MIN_WIDTH = 300


class Keep(enum.Enum):
    """The default of `OverlayScene.replace`'s arguments: leave that model as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True)
class Layer:
    """One rendered overlay at its place in the frame."""

    name: str
    "card, logo or question."
    rect: Rect
    "Where the rendered image sits (its full box, transparent corners included)."
    overlay: Overlay


class CountdownLayer:
    """The flash-sale countdown line: one image per displayed second, rendered once each.

    `overlay_at()` runs on the program thread. With an executor, the next second is
    rendered ahead while the current one is on air, so the frame path only blends.
    """

    KEEP = 3
    "Seconds kept in the cache (the countdown only goes down)."

    def __init__(
        self,
        render: Callable[[int], Image.Image],
        x: int,
        y: int,
        ends_at: float,
        prefetch: Executor | None = None,
    ) -> None:
        self._render = render
        self.x, self.y = x, y
        self.ends_at = ends_at
        self._prefetch = prefetch
        self._lock = threading.RLock()  # RLock: an executor may run a task in place
        self._cache: dict[int, Overlay] = {}
        self._pending: dict[int, Future[Overlay]] = {}
        self.renders = 0
        "Images rendered so far: one per distinct second shown (and the one prefetched)."

    def seconds_at(self, now: float) -> int:
        """The whole seconds displayed at program time `now`."""
        return countdown_seconds(self.ends_at, now)

    def overlay_at(self, now: float) -> Overlay:
        """The countdown line to show at program time `now`."""
        seconds = self.seconds_at(now)
        overlay = self.overlay_for(seconds)
        if self._prefetch is not None and seconds > 0:
            self._schedule(seconds - 1)
        return overlay

    def overlay_for(self, seconds: int) -> Overlay:
        """The line for `seconds` left: cached, being prefetched (waited for) or rendered."""
        with self._lock:
            overlay = self._cache.get(seconds)
            pending = self._pending.get(seconds)
        if overlay is not None:
            return overlay
        if pending is not None:
            try:
                return pending.result()
            except Exception:  # logged by _make; try once more here
                pass
        return self._make(seconds)

    def prepare(self, now: float) -> None:
        """Render the seconds shown at `now` and just after (call off the frame path)."""
        seconds = self.seconds_at(now)
        self.overlay_for(seconds)
        if seconds > 0:
            self.overlay_for(seconds - 1)

    def _make(self, seconds: int) -> Overlay:
        try:
            overlay = Overlay.from_rgba(self._render(seconds), self.x, self.y)
        except Exception:
            log.exception("countdown image for %d s failed to render", seconds)
            with self._lock:
                self._pending.pop(seconds, None)
            raise
        with self._lock:
            self.renders += 1
            self._cache[seconds] = overlay
            self._pending.pop(seconds, None)
            # The countdown only goes down: drop the largest (past) seconds first.
            while len(self._cache) > self.KEEP:
                del self._cache[max(self._cache)]
        return overlay

    def _schedule(self, seconds: int) -> None:
        with self._lock:
            if seconds in self._cache or seconds in self._pending:
                return
            assert self._prefetch is not None
            try:
                self._pending[seconds] = self._prefetch.submit(self._make, seconds)
            except RuntimeError:  # executor shut down: render on demand instead
                self._prefetch = None


class OverlayScene:
    """Product card, logo watermark and highlighted question for one program size.

    Implements the compositor's `Scene` protocol. Build it off the frame path and off the
    event loop (`loop.run_in_executor`); `replace()` makes the next scene, reusing the
    layers whose model did not change.
    """

    card_layer: Layer | None
    logo_layer: Layer | None
    question_layer: Layer | None
    countdown: CountdownLayer | None
    "The flash-sale countdown, when the card has one."

    def __init__(
        self,
        size: tuple[int, int],
        card: CardModel | None = None,
        logo: LogoModel | None = None,
        question: QuestionModel | None = None,
        *,
        now: float | None = None,
        prefetch: Executor | None = None,
        previous: OverlayScene | None = None,
    ) -> None:
        """Render the layers for frames of `size` (width, height).

        `now`: program time the scene goes on air, to pre-render a countdown.
        `prefetch`: an executor to render each next countdown second ahead of time.
        `previous`: a scene whose rendered layers are reused where the model is the same.
        """
        self.size = size
        self.card, self.logo, self.question = card, logo, question
        self._prefetch = prefetch
        self.portrait = size[1] > size[0]
        self.scale = min(size) / REFERENCE_SIDE * (PORTRAIT_SCALE if self.portrait else 1)
        margin = round(MARGIN * self.scale)
        reuse = previous if previous is not None and previous.size == size else None

        layers: list[Layer] = []
        self.countdown = None
        card_layer: Layer | None = None
        if card is not None:
            if reuse is not None and reuse.card == card and reuse.card_layer is not None:
                card_layer = reuse.card_layer
                self.countdown = reuse.countdown
            else:
                card_layer = self._card(card, margin, now)
            layers.append(card_layer)
        self.card_layer = card_layer

        self.logo_layer = None
        if logo is not None:
            if reuse is not None and reuse.logo == logo and reuse.card_corner == self.card_corner:
                self.logo_layer = reuse.logo_layer
            else:
                self.logo_layer = self._logo(logo, margin)
            if self.logo_layer is not None:
                layers.append(self.logo_layer)

        self.question_layer = None
        if question is not None:
            same_card_box = reuse is not None and _rect(reuse.card_layer) == _rect(card_layer)
            if reuse is not None and reuse.question == question and same_card_box:
                self.question_layer = reuse.question_layer
            else:
                self.question_layer = self._question(question, margin, card_layer)
            if self.question_layer is not None:
                layers.append(self.question_layer)
        self.layers: tuple[Layer, ...] = tuple(layers)

    @property
    def card_corner(self) -> str | None:
        """The corner the card is in, if any (portrait: "bottom-centre", whatever the brand's)."""
        if self.card is None:
            return None
        return "bottom-centre" if self.portrait else self.card.corner

    @property
    def card_rect(self) -> Rect | None:
        """The card's rectangle in the frame, if a card is on."""
        return self.card_layer.rect if self.card_layer is not None else None

    def replace(
        self,
        *,
        card: CardModel | Keep | None = KEEP,
        logo: LogoModel | Keep | None = KEEP,
        question: QuestionModel | Keep | None = KEEP,
        now: float | None = None,
    ) -> OverlayScene:
        """A new scene with some models changed (None removes one), reusing the renders
        of the unchanged ones. Call it off the frame path, like the constructor."""
        return OverlayScene(
            self.size,
            self.card if isinstance(card, Keep) else card,
            self.logo if isinstance(logo, Keep) else logo,
            self.question if isinstance(question, Keep) else question,
            now=now,
            prefetch=self._prefetch,
            previous=self,
        )

    def draw(self, frame: av.VideoFrame, seconds: float) -> None:
        """Blend every layer onto the writable yuv420p `frame` (`seconds`: program time)."""
        if (frame.width, frame.height) != self.size:
            self._resize((frame.width, frame.height))
        luma, u, v = frame_planes(frame)
        for layer in self.layers:
            layer.overlay.blend_planes(luma, u, v)
        if self.countdown is not None:
            self.countdown.overlay_at(seconds).blend_planes(luma, u, v)

    def _resize(self, size: tuple[int, int]) -> None:
        """Re-render for another frame size (the program's is fixed: should not happen)."""
        log.warning("overlay scene built for %s got a %s frame: re-rendering", self.size, size)
        other = OverlayScene(size, self.card, self.logo, self.question, prefetch=self._prefetch)
        self.__dict__.update(other.__dict__)

    def _card(self, card: CardModel, margin: int, now: float | None) -> Layer:
        rendered = render_card(card, self.scale)
        w, h = rendered.image.size
        if self.portrait:  # a phone's thumb is at the bottom: the card too, centred
            x = (self.size[0] - w) // 4 * 2
            y = self.size[1] - round(self.size[1] * PORTRAIT_BOTTOM) - h
        else:
            x, y = _corner_position(card.corner, self.size, (w, h), margin)
        layer = Layer("card", Rect(x, y, w, h), Overlay.from_rgba(rendered.image, x, y))
        slot = rendered.countdown_slot
        if card.sale_ends_at is not None and slot is not None:
            scale, accent, labels = self.scale, card.accent, card.labels

            def render(seconds: int) -> Image.Image:
                return render_countdown(seconds, (slot.width, slot.height), scale, accent, labels)

            self.countdown = CountdownLayer(
                render, x + slot.x, y + slot.y, card.sale_ends_at, self._prefetch
            )
            if now is not None:
                self.countdown.prepare(now)
        return layer

    def _logo(self, logo: LogoModel, margin: int) -> Layer | None:
        image = render_logo(logo, self.scale)
        if image is None:
            return None
        corner = "top-left" if self.card_corner == "top-right" else "top-right"
        x, y = _corner_position(corner, self.size, image.size, margin)
        return Layer("logo", Rect(x, y, *image.size), Overlay.from_rgba(image, x, y))

    def _question(self, question: QuestionModel, margin: int, card: Layer | None) -> Layer | None:
        width, height = self.size
        wanted = min(round(QUESTION_WIDTH * self.scale), width - 2 * margin)
        minimum = round(QUESTION_MIN_WIDTH * self.scale)
        corner = self.card_corner or ""
        x = margin
        bottom = height - margin
        if card is not None and corner.startswith("bottom"):
            beside = width - 3 * margin - card.rect.width
            if beside >= minimum:
                wanted = min(wanted, beside)
                x = margin if corner == "bottom-right" else width - margin - wanted
            else:  # no room beside the card: above it
                bottom = card.rect.y - margin // 2
        if wanted <= 0:
            return None
        image = render_question(question, wanted, self.scale)
        y = bottom - image.height
        return Layer("question", Rect(x, y, *image.size), Overlay.from_rgba(image, x, y))


def _rect(layer: Layer | None) -> Rect | None:
    return layer.rect if layer is not None else None


def _corner_position(
    corner: str, frame: tuple[int, int], size: tuple[int, int], margin: int
) -> tuple[int, int]:
    """Top-left of a `size` box in `corner` of the frame, `margin` from its edges."""
    fw, fh = frame
    w, h = size
    x = fw - margin - w if corner.endswith("right") else margin
    y = fh - margin - h if corner.startswith("bottom") else margin
    return x, y
