"""On-air overlay images: product card, flash-sale countdown, logo watermark, lower-third.

Everything here renders an RGBA Pillow image from a small frozen model, off the frame path
(once per change; the countdown once per displayed second). `blend.Overlay` turns an image
into planes and `scene.OverlayScene` places and blends them. Sizes are designed for 720p
and scaled with the program (`scale = shorter side / 720`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from PIL import Image, ImageDraw, ImageOps

from .blend import Rect
from .text import Colour, TextStyle, draw_text, ellipsize, text_width, wrap

log = logging.getLogger(__name__)

Corner = Literal["top-left", "top-right", "bottom-left", "bottom-right"]
CORNERS: tuple[Corner, ...] = ("top-left", "top-right", "bottom-left", "bottom-right")
ImageSource = Image.Image | str | Path
"An image given as a Pillow image or a file path."

LOW_STOCK = 5
"At or below this many items left, the card says 'Only N left'."

WHITE: Colour = (255, 255, 255, 255)
INK: Colour = (17, 24, 39, 255)
MUTED: Colour = (107, 114, 128, 255)
CARD_BACKGROUND: Colour = (255, 255, 255, 255)
"Opaque, so a countdown drawn over the card needs no background of its own."
LOW_STOCK_COLOUR: Colour = (180, 83, 9, 255)
SOLD_OUT_COLOUR: Colour = (185, 28, 28, 255)
SOLD_OUT_TAG: Colour = (156, 163, 175, 255)
BAR_BACKGROUND: Colour = (15, 15, 20, 215)


@dataclass(frozen=True)
class Labels:
    """The words burned into the card (English by default; the stage passes the brand's
    language from `catalog.labels.card_words`)."""

    ends_in: str = "Ends in {time}"
    "With {time} (e.g. 0:42)."
    only_left: str | Callable[[int], str] = "Only {n} left"
    "A template with {n}, or a callable (n → text) for languages with plural forms."
    sold_out: str = "Sold out"

    def left(self, n: int) -> str:
        """'Only N left' for `n`."""
        if isinstance(self.only_left, str):
            return self.only_left.format(n=n)
        return self.only_left(n)


@dataclass(frozen=True)
class CardModel:
    """A product card as shown on air. Prices come formatted (e.g. "€1.299,00")."""

    name: str
    price_text: str
    "The price to pay: the sale price during a sale."
    compare_at_text: str | None = None
    "Struck through beside the price (the regular price during a sale)."
    image: ImageSource | None = None
    "Thumbnail, cropped to a square."
    accent: str = "#e11d48"
    "Brand accent colour, #rrggbb: the price tag."
    corner: Corner = "bottom-left"
    stock: int | None = None
    "Items left; None: not tracked (no stock line)."
    sale_ends_at: float | None = None
    "Program time (seconds, as passed to Scene.draw) when the flash sale ends: a countdown."
    low_stock: int = LOW_STOCK
    labels: Labels = field(default_factory=Labels)

    @property
    def sold_out(self) -> bool:
        """True at zero stock."""
        return self.stock is not None and self.stock <= 0

    def stock_text(self) -> str | None:
        """'Sold out', 'Only N left' or None (plenty, or not tracked)."""
        if self.stock is None:
            return None
        if self.stock <= 0:
            return self.labels.sold_out
        if self.stock <= self.low_stock:
            return self.labels.left(self.stock)
        return None


@dataclass(frozen=True)
class LogoModel:
    """The brand's logo, watermarked in a top corner."""

    image: ImageSource
    opacity: float = 0.85
    max_height: int = 56
    "At 720p; scaled with the program."
    max_width: int = 200


@dataclass(frozen=True)
class QuestionModel:
    """A viewer's chat question highlighted by the host, as a lower-third."""

    name: str
    text: str
    accent: str = "#e11d48"


@dataclass(frozen=True)
class CardImage:
    """A rendered card and where its countdown line goes (in card pixels)."""

    image: Image.Image
    countdown_slot: Rect | None


@dataclass(frozen=True)
class CardLayout:
    """Sizes of a card at a scale (720p: scale 1)."""

    scale: float

    def px(self, value: float) -> int:
        """`value` 720p-pixels at this scale, rounded."""
        return max(1, round(value * self.scale))

    @property
    def width(self) -> int:
        """Card width with a thumbnail."""
        return self.px(440)

    @property
    def width_no_image(self) -> int:
        """Card width without one."""
        return self.px(340)

    @property
    def padding(self) -> int:
        """Inner margin."""
        return self.px(14)

    @property
    def radius(self) -> int:
        """Corner radius."""
        return self.px(14)

    @property
    def thumb(self) -> int:
        """Thumbnail side."""
        return self.px(112)

    @property
    def name(self) -> TextStyle:
        """Product name."""
        return TextStyle(self.px(22), bold=True)

    @property
    def price(self) -> TextStyle:
        """Price in the tag."""
        return TextStyle(self.px(24), bold=True)

    @property
    def compare_at(self) -> TextStyle:
        """Struck-through regular price."""
        return TextStyle(self.px(17))

    @property
    def stock(self) -> TextStyle:
        """Stock line."""
        return TextStyle(self.px(16), bold=True)

    @property
    def countdown(self) -> TextStyle:
        """Countdown line."""
        return TextStyle(self.px(17), bold=True)


def parse_colour(value: str | tuple[int, int, int], alpha: int = 255) -> Colour:
    """'#rrggbb' (or an RGB tuple) as RGBA."""
    if isinstance(value, tuple):
        return (value[0], value[1], value[2], alpha)
    text = value.strip().lstrip("#")
    if len(text) != 6:
        raise ValueError(f"expected a colour as #rrggbb, got {value!r}")
    r, g, b = (int(text[i : i + 2], 16) for i in (0, 2, 4))
    return (r, g, b, alpha)


def luminance(colour: Colour) -> float:
    """WCAG relative luminance, 0..1."""

    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in colour[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: Colour, b: Colour) -> float:
    """WCAG contrast ratio, 1..21."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_on(background: Colour) -> Colour:
    """White or ink, whichever reads better on `background`."""
    return WHITE if contrast(WHITE, background) >= contrast(INK, background) else INK


def readable(colour: Colour, background: Colour, minimum: float = 3.0) -> Colour:
    """`colour` if it reads on `background`, else the better of white and ink."""
    return colour if contrast(colour, background) >= minimum else text_on(background)


def format_countdown(seconds: int) -> str:
    """0:42, 12:05, 1:02:03."""
    seconds = max(0, seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def countdown_seconds(ends_at: float, now: float) -> int:
    """Whole seconds displayed at program time `now` (rounded up, so 0 means over)."""
    return max(0, math.ceil(ends_at - now - 1e-6))


def load_image(source: ImageSource) -> Image.Image | None:
    """An RGBA image from a Pillow image or a path (EXIF-rotated); None if unreadable."""
    if isinstance(source, Image.Image):
        return source.convert("RGBA") if source.mode != "RGBA" else source
    try:
        with Image.open(source) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened)
            return image.convert("RGBA")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        log.warning("overlay image %s unreadable: %s", source, exc)
        return None


def rounded_mask(size: tuple[int, int], radius: int, supersample: int = 4) -> Image.Image:
    """An anti-aliased rounded-rectangle coverage mask ("L")."""
    w, h = size
    big = Image.new("L", (w * supersample, h * supersample), 0)
    ImageDraw.Draw(big).rounded_rectangle(
        (0, 0, w * supersample - 1, h * supersample - 1), radius * supersample, fill=255
    )
    return big.resize(size, Image.Resampling.BOX)


def fill_rounded(
    canvas: Image.Image, box: tuple[int, int, int, int], radius: int, colour: Colour
) -> None:
    """Composite an anti-aliased rounded rectangle (x0, y0, x1, y1) of `colour` over `canvas`."""
    x0, y0, x1, y1 = box
    size = (x1 - x0, y1 - y0)
    if size[0] <= 0 or size[1] <= 0:
        return
    mask = rounded_mask(size, radius)
    if colour[3] != 255:
        mask = mask.point(lambda v: v * colour[3] // 255)
    layer = Image.new("RGBA", size, (*colour[:3], 0))
    layer.putalpha(mask)
    canvas.alpha_composite(layer, dest=(x0, y0))


def thumbnail(source: ImageSource, side: int, radius: int) -> Image.Image | None:
    """A square, centre-cropped, rounded thumbnail; None if the image is unreadable."""
    image = load_image(source)
    if image is None:
        return None
    square = ImageOps.fit(image, (side, side), Image.Resampling.LANCZOS)
    # Transparent product shots sit on white, like on the shop page.
    base = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    base.alpha_composite(square)
    base.putalpha(rounded_mask((side, side), radius))
    return base


def render_card(model: CardModel, scale: float = 1.0) -> CardImage:
    """The product card: thumbnail, name, price tag, stock line, a slot for the countdown."""
    lay = CardLayout(scale)
    accent = parse_colour(model.accent)
    pad = lay.padding
    thumb = thumbnail(model.image, lay.thumb, lay.px(10)) if model.image is not None else None
    width = lay.width if thumb is not None else lay.width_no_image
    text_x = pad + (lay.thumb + pad if thumb is not None else 0)
    column = width - text_x - pad

    # Rows top to bottom: the card grows with the rows present.
    name_style, price_style = lay.name, lay.price
    tag_pad_x, tag_pad_y = lay.px(9), lay.px(3)
    stock_text = model.stock_text()
    gap = lay.px(6)
    y = pad
    name_base = y + name_style.metrics()[0]
    y += name_style.line_height + gap
    tag_top = y
    tag_h = price_style.line_height + 2 * tag_pad_y
    y += tag_h
    stock_base = None
    if stock_text is not None:
        y += gap
        stock_base = y + lay.stock.metrics()[0]
        y += lay.stock.line_height
    slot = None
    if model.sale_ends_at is not None:
        y += gap
        slot = Rect(text_x, y, column, lay.countdown.line_height)
        y += lay.countdown.line_height
    height = max(y + pad, (2 * pad + lay.thumb) if thumb is not None else 0)

    card = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    fill_rounded(card, (0, 0, width, height), lay.radius, CARD_BACKGROUND)
    if thumb is not None:
        card.alpha_composite(thumb, dest=(pad, (height - lay.thumb) // 2))
    # Centre the text block vertically when the thumbnail is the taller one.
    shift = (height - (y + pad)) // 2
    name = ellipsize(model.name, name_style, column)
    draw_text(card, (text_x, name_base + shift), name, name_style, INK)

    tag_colour = SOLD_OUT_TAG if model.sold_out else accent
    price_room = column - 2 * tag_pad_x
    price = ellipsize(model.price_text, price_style, price_room)
    price_w = math.ceil(text_width(price, price_style))
    tag_box = (text_x, tag_top + shift, text_x + price_w + 2 * tag_pad_x, tag_top + shift + tag_h)
    fill_rounded(card, tag_box, lay.px(6), tag_colour)
    draw_text(
        card,
        (text_x + tag_pad_x, tag_top + shift + tag_pad_y + price_style.metrics()[0]),
        price,
        price_style,
        text_on(tag_colour),
    )
    if model.compare_at_text:
        _struck_price(card, model.compare_at_text, lay, tag_box, text_x + column)
    if stock_text is not None and stock_base is not None:
        colour = SOLD_OUT_COLOUR if model.sold_out else LOW_STOCK_COLOUR
        text = ellipsize(stock_text, lay.stock, column)
        draw_text(card, (text_x, stock_base + shift), text, lay.stock, colour)
    if slot is not None:
        slot = Rect(slot.x, slot.y + shift, slot.width, slot.height)
    return CardImage(card, slot)


def _struck_price(
    card: Image.Image, text: str, lay: CardLayout, tag_box: tuple[int, int, int, int], right: int
) -> None:
    """The compare-at price beside the tag, struck through; left out if it does not fit."""
    style = lay.compare_at
    x = tag_box[2] + lay.px(10)
    room = right - x
    if room < text_width("0" * 3, style):
        return
    text = ellipsize(text, style, room)
    ascent, descent = style.metrics()
    baseline = (tag_box[1] + tag_box[3]) // 2 + (ascent - descent) // 2
    width = draw_text(card, (x, baseline), text, style, MUTED)
    # Through the middle of the digits (about half the cap height above the baseline).
    mid = baseline - round(style.size * 0.36)
    thickness = max(1, round(style.size / 12))
    ImageDraw.Draw(card).rectangle(
        (x - 1, mid - thickness // 2, x + math.ceil(width), mid - thickness // 2 + thickness - 1),
        fill=MUTED,
    )


def render_countdown(
    seconds: int, size: tuple[int, int], scale: float, accent: str, labels: Labels
) -> Image.Image:
    """The countdown line ("Ends in 0:42") on a transparent image of `size`."""
    lay = CardLayout(scale)
    style = lay.countdown
    colour = readable(parse_colour(accent), CARD_BACKGROUND)
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    text = ellipsize(labels.ends_in.format(time=format_countdown(seconds)), style, size[0])
    draw_text(image, (0, style.metrics()[0]), text, style, colour)
    return image


def render_logo(model: LogoModel, scale: float = 1.0) -> Image.Image | None:
    """The logo fitted in its box, at its opacity; None if the image is unreadable."""
    image = load_image(model.image)
    if image is None:
        return None
    box = (max(1, round(model.max_width * scale)), max(1, round(model.max_height * scale)))
    image = image.copy()
    image.thumbnail(box, Image.Resampling.LANCZOS)
    if image.size[0] * image.size[1] and image.height < box[1] and image.width < box[0]:
        # Small logos are scaled up to their box too.
        factor = min(box[0] / image.width, box[1] / image.height)
        new = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
        image = image.resize(new, Image.Resampling.LANCZOS)
    opacity = min(max(model.opacity, 0.0), 1.0)
    if opacity < 1.0:
        alpha = image.getchannel("A").point(lambda v: round(v * opacity))
        image.putalpha(alpha)
    return image


def render_question(model: QuestionModel, width: int, scale: float = 1.0) -> Image.Image:
    """The lower-third: asker's name over the question (two lines at most, ellipsized)."""
    lay = CardLayout(scale)
    name_style = TextStyle(lay.px(17), bold=True)
    text_style = TextStyle(lay.px(21))
    pad, stripe = lay.px(14), lay.px(6)
    text_x = stripe + pad
    column = width - text_x - pad
    accent = parse_colour(model.accent)
    name = ellipsize(model.name, name_style, column)
    lines = wrap(model.text, text_style, column, max_lines=2) or [""]
    gap = lay.px(4)
    height = pad + name_style.line_height + gap + len(lines) * text_style.line_height + pad
    bar = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    fill_rounded(bar, (0, 0, width, height), lay.px(10), BAR_BACKGROUND)
    # The accent stripe, clipped to the bar's rounded left edge.
    stripe_layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    ImageDraw.Draw(stripe_layer).rectangle((0, 0, stripe - 1, height - 1), fill=accent)
    stripe_layer.putalpha(
        Image.composite(
            stripe_layer.getchannel("A"),
            Image.new("L", (width, height), 0),
            rounded_mask((width, height), lay.px(10)),
        )
    )
    bar.alpha_composite(stripe_layer)
    y = pad + name_style.metrics()[0]
    draw_text(bar, (text_x, y), name, name_style, readable(accent, BAR_BACKGROUND, 4.5))
    y = pad + name_style.line_height + gap + text_style.metrics()[0]
    for line in lines:
        draw_text(bar, (text_x, y), line, text_style, WHITE)
        y += text_style.line_height
    return bar
