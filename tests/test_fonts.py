"""Shipped fonts cover the product names we promise, and text is laid out without tofu."""

from __future__ import annotations

import numpy as np
import pytest
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from PIL import Image, ImageFont

from livestudio.media.text import (
    BOLD,
    ELLIPSIS,
    FONT_DIR,
    REGULAR,
    TextStyle,
    clusters,
    draw_text,
    drawable,
    ellipsize,
    font_for,
    runs,
    text_width,
    wrap,
)

SAMPLES = [
    "Café",
    "Crème brûlée façade Ångström Łódź Straße",
    "Кресло Поэнг",
    "Καρέκλα",
    "椅子",
    "ソファ・ベッド",
    "의자",
    "€1.299,00 · 4 990 ₽ · ¥1,299 · £12 · ₴99",
]


def cmaps(chain: tuple[str, ...]) -> list[set[int]]:
    """Each font's cmap, read with fontTools straight from the file."""
    out = []
    for name in chain:
        font = TTFont(FONT_DIR / name, lazy=True)
        out.append(set(font.getBestCmap()))
        font.close()
    return out


def not_in(cmap: set[int]) -> str:
    """A private-use codepoint the font has no glyph for: it renders as .notdef."""
    return next(chr(c) for c in range(0xE000, 0xF8FF) if c not in cmap)


def test_fonts_and_licences_are_shipped() -> None:
    for name in {*REGULAR, *BOLD}:
        assert (FONT_DIR / name).is_file()
    assert (FONT_DIR / "LICENSE-DejaVu.txt").is_file()
    assert (FONT_DIR / "LICENSE-DroidSansFallback.txt").is_file()
    assert (FONT_DIR / "LICENSE-Symbola.txt").is_file()


@pytest.mark.parametrize("chain", [REGULAR, BOLD], ids=["regular", "bold"])
@pytest.mark.parametrize("sample", SAMPLES)
def test_every_codepoint_is_in_a_shipped_cmap(sample: str, chain: tuple[str, ...]) -> None:
    fonts = cmaps(chain)
    for char in sample:
        assert any(ord(char) in cmap for cmap in fonts), f"U+{ord(char):04X} {char!r}"


@pytest.mark.parametrize("chain", [REGULAR, BOLD], ids=["regular", "bold"])
@pytest.mark.parametrize("sample", SAMPLES)
def test_every_character_renders_differently_from_notdef(
    sample: str, chain: tuple[str, ...]
) -> None:
    fonts = cmaps(chain)
    for char in set(sample) - {" "}:
        index = font_for(char, chain)
        assert index is not None
        font = ImageFont.truetype(str(FONT_DIR / chain[index]), 32)
        glyph = np.asarray(font.getmask(char))
        notdef = np.asarray(font.getmask(not_in(fonts[index])))
        assert glyph.any(), f"{char!r} renders blank"
        assert glyph.shape != notdef.shape or not np.array_equal(glyph, notdef), (
            f"{char!r} renders as .notdef in {chain[index]}"
        )


def test_cjk_goes_to_the_fallback_font_latin_stays_in_dejavu() -> None:
    assert runs("Café 椅子 Кресло", REGULAR) == [(0, "Café "), (1, "椅子"), (0, " Кресло")]


def test_decomposed_accents_render_like_composed() -> None:
    style = TextStyle(24)
    assert clusters("Cafe\u0301") == ["C", "a", "f", "é"]
    assert text_width("Cafe\u0301", style) == text_width("Café", style)


def test_characters_no_font_has_are_left_out_not_boxed() -> None:
    style = TextStyle(20)
    # U+1FAE8 (shaking face, Unicode 15) is newer than every shipped font.
    assert drawable("nice 🫨 chair", style) == "nice  chair"
    # A skin-tone modifier stays with its (missing) base: both are dropped together.
    assert drawable("ok🫱🏽!", style) == "ok!"


def test_emoji_render_in_outline_as_their_first_emoji() -> None:
    style = TextStyle(20)
    assert drawable("in green? 🌿 👍 🔥 ❤️", style) == "in green? 🌿 👍 🔥 ❤️"
    assert runs("ok 👍", REGULAR)[-1] == (REGULAR.index("Symbola-Emoji.ttf"), "👍")
    # No skin tones or ZWJ ligatures in an outline font: the first emoji stands for all.
    assert drawable("👍🏽 👩‍💻", style) == "👍 👩"
    canvas = Image.new("RGBA", (60, 40), (0, 0, 0, 0))
    draw_text(canvas, (4, 30), "🌿", TextStyle(28), (255, 255, 255, 255))
    assert (np.asarray(canvas)[..., 3] > 128).sum() > 40, "the leaf is drawn"


def test_draw_text_is_anti_aliased_and_uses_both_fonts() -> None:
    canvas = Image.new("RGBA", (200, 40), (0, 0, 0, 0))
    width = draw_text(canvas, (4, 30), "Café 椅子", TextStyle(24), (255, 255, 255, 255))
    alpha = np.asarray(canvas)[..., 3]
    assert width == pytest.approx(text_width("Café 椅子", TextStyle(24)))
    assert ((alpha > 0) & (alpha < 255)).any(), "edges are anti-aliased"
    # The CJK part (right of the Latin word) has ink.
    latin = int(text_width("Café ", TextStyle(24)))
    assert alpha[:, 4 + latin + 2 :].any()


def test_ellipsize() -> None:
    style = TextStyle(22, bold=True)
    assert ellipsize("Café", style, 300) == "Café"
    long = "Poäng armchair with cushion, birch veneer, Hillared anthracite"
    short = ellipsize(long, style, 200)
    assert short.endswith(ELLIPSIS) and len(short) < len(long)
    assert text_width(short, style) <= 200
    assert long.startswith(short[:-1])
    # CJK with no spaces is cut between characters too.
    cut = ellipsize("椅子" * 30, style, 120)
    assert cut.endswith(ELLIPSIS) and text_width(cut, style) <= 120


def test_wrap_clamps_to_two_lines_with_an_ellipsis() -> None:
    style = TextStyle(20)
    text = "Does this chair come in green? I love it and would buy three of them right now"
    lines = wrap(text, style, 220, max_lines=2)
    assert len(lines) == 2
    assert lines[-1].endswith(ELLIPSIS)
    assert all(text_width(line, style) <= 220 for line in lines)
    assert wrap("Short one", style, 220, max_lines=2) == ["Short one"]


def test_wrap_breaks_very_long_words() -> None:
    style = TextStyle(20)
    lines = wrap("A" * 200, style, 150, max_lines=2)
    assert len(lines) == 2
    assert lines[0] == "A" * len(lines[0]) and len(lines[0]) > 3
    assert lines[1].endswith(ELLIPSIS)
    assert all(text_width(line, style) <= 150 for line in lines)


def test_wrap_cjk_without_spaces_keeps_punctuation_off_line_starts() -> None:
    style = TextStyle(20)
    lines = wrap("这把椅子有绿色的吗？我很喜欢它，想买三把如果颜色更好看的话", style, 150, 3)
    assert len(lines) == 3
    assert all(text_width(line, style) <= 150 for line in lines)
    assert not any(line[0] in "，。？" for line in lines)


def test_wrap_keeps_emoji_clusters_whole() -> None:
    style = TextStyle(20)
    lines = wrap("love it 😀😀😀 " * 6, style, 120, max_lines=2)
    assert len(lines) == 2
    joined = "".join(lines)
    assert "\ufffd" not in joined
