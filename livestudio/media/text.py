"""Text for overlays: font fallback by cmap, measuring, ellipsizing, wrapping, drawing.

Each character is drawn with the first shipped font whose cmap has it (DejaVu Sans for
Latin, Greek, Cyrillic and symbols; Droid Sans Fallback for CJK; Symbola for emoji), one
run per font, all runs on one baseline. Text is split into clusters (a character with its
combining marks, variation selectors, emoji modifiers and ZWJ sequences) so a cut never
separates a mark from its base. A cluster no font has (emoji newer than Symbola's 2017
set) is left out rather than drawn as a box ("tofu").
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path(__file__).resolve().parent / "fonts"
EMOJI = "Symbola-Emoji.ttf"
"""Emoji and symbols, in outline (monochrome, drawn in the text's colour): viewers ask with
emoji ("in green? 🌿"), and a question burned in without them reads wrong."""
REGULAR = ("DejaVuSans.ttf", "DroidSansFallback.ttf", EMOJI)
"Fallback chain for regular text: first font whose cmap has the character wins."
BOLD = ("DejaVuSans-Bold.ttf", "DroidSansFallback.ttf", EMOJI)
ELLIPSIS = "…"

_FREETYPE = threading.Lock()
"Fonts are shared (cached) objects: one thread at a time lays out or rasterizes text."

Colour = tuple[int, int, int, int]
"RGBA, straight alpha, 0..255."


@dataclass(frozen=True)
class TextStyle:
    """A font size and weight; sizes are in pixels."""

    size: int
    bold: bool = False

    @property
    def chain(self) -> tuple[str, ...]:
        """Font files to try, in order."""
        return BOLD if self.bold else REGULAR

    def fonts(self) -> tuple[ImageFont.FreeTypeFont, ...]:
        """The loaded fonts of the chain at this size (cached)."""
        return tuple(load_font(name, self.size) for name in self.chain)

    def metrics(self) -> tuple[int, int]:
        """(ascent, descent) of the primary font: the line box every run sits in."""
        ascent, descent = self.fonts()[0].getmetrics()
        return int(ascent), int(descent)

    @property
    def line_height(self) -> int:
        """Ascent + descent of the primary font."""
        ascent, descent = self.metrics()
        return ascent + descent


@lru_cache(maxsize=8)
def font_cmap(name: str) -> frozenset[int]:
    """The codepoints the font file `name` (in FONT_DIR) maps to a glyph, read once."""
    font = TTFont(FONT_DIR / name, lazy=True)
    try:
        return frozenset(font.getBestCmap())
    finally:
        font.close()


@lru_cache(maxsize=64)
def load_font(name: str, size: int) -> ImageFont.FreeTypeFont:
    """A Pillow font from FONT_DIR at `size` pixels (Raqm layout when available)."""
    return ImageFont.truetype(str(FONT_DIR / name), size)


def font_for(char: str, chain: Sequence[str]) -> int | None:
    """Index in `chain` of the first font that has `char`, or None."""
    code = ord(char)
    for i, name in enumerate(chain):
        if code in font_cmap(name):
            return i
    return None


def _extends(char: str, previous: str) -> bool:
    """True when `char` belongs to the cluster before it."""
    code = ord(char)
    if previous == "\u200d":  # the character after a ZWJ joins the sequence
        return True
    if code == 0x200D or 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF:
        return True
    if 0x1F3FB <= code <= 0x1F3FF:  # emoji skin-tone modifiers
        return True
    return unicodedata.category(char) in ("Mn", "Me", "Mc")


def clusters(text: str) -> list[str]:
    """`text` (NFC-normalized, controls as spaces) split into clusters that stay whole."""
    text = unicodedata.normalize("NFC", text)
    out: list[str] = []
    for char in text:
        if unicodedata.category(char) == "Cc":
            char = " "
        if out and _extends(char, out[-1][-1]):
            out[-1] += char
        else:
            out.append(char)
    return out


def runs(text: str | Sequence[str], chain: Sequence[str]) -> list[tuple[int, str]]:
    """(font index, text) runs: each cluster goes to the first font with its base character.

    Marks the chosen font lacks are dropped; so are clusters no font has.
    """
    parts = clusters(text) if isinstance(text, str) else text
    out: list[tuple[int, str]] = []
    for cluster in parts:
        index = font_for(cluster[0], chain)
        if index is None:
            continue
        cmap = font_cmap(chain[index])
        if chain[index] == EMOJI:
            # An outline font has no skin tones and no ZWJ ligatures (👩‍💻 would come out
            # as 👩 and 💻 side by side): the sequence is drawn as its first emoji.
            kept = cluster[0]
        else:
            kept = cluster[0] + "".join(c for c in cluster[1:] if ord(c) in cmap)
        if out and out[-1][0] == index:
            out[-1] = (index, out[-1][1] + kept)
        else:
            out.append((index, kept))
    return out


def drawable(text: str, style: TextStyle) -> str:
    """What of `text` will be drawn (clusters no font has are left out)."""
    return "".join(run for _, run in runs(text, style.chain))


def text_width(text: str | Sequence[str], style: TextStyle) -> float:
    """Advance width in pixels of `text` drawn in `style`."""
    fonts = style.fonts()
    parts = runs(text, style.chain)
    with _FREETYPE:
        return sum(fonts[i].getlength(run) for i, run in parts)


def ellipsize(text: str, style: TextStyle, max_width: float, force: bool = False) -> str:
    """`text` if it fits in `max_width`, else its longest prefix that fits with "…".

    With `force`, the ellipsis is added even when the text fits (the caller cut it).
    """
    parts = clusters(text)
    if not force and text_width(parts, style) <= max_width:
        return "".join(parts).strip()
    lo, hi = 0, len(parts)  # the answer k (clusters kept) is in [lo, hi]
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if text_width("".join(parts[:mid]).rstrip() + ELLIPSIS, style) <= max_width:
            lo = mid
        else:
            hi = mid - 1
    kept = "".join(parts[:lo]).rstrip()
    return kept + ELLIPSIS


def _is_wide(cluster: str) -> bool:
    """CJK and other wide characters: a line may break before and after each one."""
    return unicodedata.east_asian_width(cluster[0]) in ("W", "F")


def _closes(cluster: str) -> bool:
    """Closing brackets and punctuation (which must not start a line)."""
    return unicodedata.category(cluster[0]) in ("Pe", "Pf", "Po")


def _segments(parts: list[str]) -> list[list[str]]:
    """Unbreakable segments: a word with its trailing spaces, or one wide character."""
    segments: list[list[str]] = []
    current: list[str] = []
    for cluster in parts:
        if cluster.isspace():
            current.append(cluster)
            segments.append(current)
            current = []
        elif _is_wide(cluster) and _closes(cluster) and (current or segments):
            # "，" or "。" never starts a line: it stays with what it follows
            (current or segments[-1]).append(cluster)
        elif _is_wide(cluster):
            if current:
                segments.append(current)
            segments.append([cluster])
            current = []
        else:
            if current and current[-1].isspace():
                segments.append(current)
                current = []
            current.append(cluster)
    if current:
        segments.append(current)
    return segments


def wrap(text: str, style: TextStyle, max_width: float, max_lines: int) -> list[str]:
    """Lines of `text` fitting `max_width`, at most `max_lines`, the last one ellipsized
    if text was left over. Words too long for a line are broken between characters.
    """

    def fits(cs: list[str]) -> bool:
        return text_width("".join(cs).rstrip(), style) <= max_width

    parts = [c for c in clusters(" ".join(text.split())) if c]
    segments = _segments(parts)
    lines: list[list[str]] = []
    current: list[str] = []
    while segments and len(lines) < max_lines:
        segment = segments[0]
        if fits(current + segment):
            current += segment
            segments.pop(0)
        elif current:
            lines.append(current)
            current = []
        else:  # a word wider than the line: break it where it stops fitting
            k = 1
            while k < len(segment) and fits(segment[: k + 1]):
                k += 1
            lines.append(segment[:k])
            segments[0] = segment[k:]
    if current and len(lines) < max_lines:
        lines.append(current)
    rest = [c for segment in segments for c in segment]
    out = ["".join(line).strip() for line in lines]
    if rest and out:
        out[-1] = ellipsize("".join(lines[-1]) + "".join(rest), style, max_width, force=True)
    return out


def draw_text(
    canvas: Image.Image, xy: tuple[float, float], text: str, style: TextStyle, fill: Colour
) -> float:
    """Draw `text` anti-aliased onto the RGBA `canvas` with its left baseline at `xy`.

    Composited "over" the canvas (straight alpha, no dark fringes on transparent areas).
    Returns the advance width.
    """
    fonts = style.fonts()
    parts = runs(text, style.chain)
    ascent, descent = style.metrics()
    with _FREETYPE:
        width = sum(fonts[i].getlength(run) for i, run in parts)
    if width <= 0:
        return 0.0
    # Glyphs may overhang their advance and the line box: leave a margin of a size.
    pad = style.size
    x, baseline = xy
    left, top = int(x) - pad, int(baseline) - ascent - pad
    mask = Image.new("L", (int(width) + 2 * pad, ascent + descent + 2 * pad), 0)
    draw = ImageDraw.Draw(mask)
    pen = x - left
    with _FREETYPE:
        for i, run in parts:
            draw.text((pen, baseline - top), run, font=fonts[i], fill=255, anchor="ls")
            pen += fonts[i].getlength(run)
    layer = Image.new("RGBA", mask.size, (*fill[:3], 0))
    if fill[3] != 255:
        mask = mask.point(lambda v: v * fill[3] // 255)
    layer.putalpha(mask)
    _composite_clipped(canvas, layer, left, top)
    return float(width)


def _composite_clipped(canvas: Image.Image, layer: Image.Image, left: int, top: int) -> None:
    """alpha_composite with a destination that may start above/left of the canvas."""
    sx, sy = max(0, -left), max(0, -top)
    canvas.alpha_composite(layer, dest=(max(0, left), max(0, top)), source=(sx, sy))
