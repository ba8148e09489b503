"""Product images: verified by decoding, normalized, thumbnailed, stored once by content."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from livestudio.catalog.images import (
    MAX_BYTES,
    MAX_SIDE,
    THUMB_SIDE,
    ImageError,
    ImageLibrary,
    image_name,
    prepare_image,
    thumbnail_name,
)

from .utils import png_bomb


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **params)
    return out.getvalue()


def photo(width: int, height: int) -> Image.Image:
    """A left-red, right-blue image: orientation shows in the colours."""
    im = Image.new("RGB", (width, height), (220, 20, 20))
    im.paste((20, 20, 220), (width // 2, 0, width, height))
    return im


def test_jpeg_is_normalized_with_a_thumbnail() -> None:
    prepared = prepare_image(encode(photo(4000, 3000), "JPEG", quality=90))
    assert (prepared.width, prepared.height) == (MAX_SIDE, 1200)
    image = Image.open(io.BytesIO(prepared.image))
    thumb = Image.open(io.BytesIO(prepared.thumbnail))
    assert image.format == "WEBP" and image.size == (MAX_SIDE, 1200)
    assert thumb.format == "WEBP" and thumb.size == (THUMB_SIDE, 240)
    assert len(prepared.key) == 32


def test_small_images_are_not_enlarged() -> None:
    prepared = prepare_image(encode(photo(200, 100), "PNG"))
    assert (prepared.width, prepared.height) == (200, 100)
    assert Image.open(io.BytesIO(prepared.thumbnail)).size == (200, 100)


def test_exif_orientation_is_applied_and_metadata_dropped() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    exif[0x010F] = "SecretCam"  # camera make: metadata that must not be published
    data = encode(photo(400, 200), "JPEG", exif=exif.tobytes())
    prepared = prepare_image(data)
    assert (prepared.width, prepared.height) == (200, 400)
    image = Image.open(io.BytesIO(prepared.image)).convert("RGB")
    # Rotated clockwise: the left (red) half is now on top.
    top = image.getpixel((100, 50))
    assert isinstance(top, tuple) and top[0] > 150 and top[2] < 100
    assert b"SecretCam" not in prepared.image and not image.getexif()


def test_png_alpha_survives_and_webp_is_accepted() -> None:
    im = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    im.paste((255, 0, 0, 255), (100, 100, 200, 200))
    prepared = prepare_image(encode(im, "PNG"))
    out = Image.open(io.BytesIO(prepared.image))
    assert out.mode == "RGBA"
    corner = out.getpixel((0, 0))
    assert isinstance(corner, tuple) and corner[3] == 0
    webp = prepare_image(encode(photo(300, 200), "WEBP"))
    assert (webp.width, webp.height) == (300, 200)


def test_palette_cmyk_and_16_bit_images_convert() -> None:
    for im in (
        photo(64, 64).convert("P"),
        photo(64, 64).convert("CMYK"),
        Image.new("I;16", (64, 64), 40000),
        Image.new("LA", (64, 64), (128, 200)),
    ):
        fmt = "JPEG" if im.mode == "CMYK" else "PNG"
        prepared = prepare_image(encode(im, fmt))
        assert (prepared.width, prepared.height) == (64, 64)


def test_same_content_same_key() -> None:
    data = encode(photo(640, 480), "PNG")
    assert prepare_image(data).key == prepare_image(data).key
    assert prepare_image(data).key != prepare_image(encode(photo(641, 480), "PNG")).key


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"this is a text file, not a JPEG\n" * 20, "not a JPEG, PNG or WebP"),
        (encode(photo(64, 64), "GIF"), "not a JPEG, PNG or WebP"),
        (encode(photo(64, 64), "BMP"), "not a JPEG, PNG or WebP"),
        (encode(photo(64, 64), "TIFF"), "not a JPEG, PNG or WebP"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "not a JPEG, PNG or WebP"),
        (encode(photo(640, 480), "JPEG")[:3000], "damaged or truncated"),
        (encode(photo(640, 480), "PNG")[:500], "damaged or truncated"),
    ],
)
def test_not_an_acceptable_image(data: bytes, message: str) -> None:
    with pytest.raises(ImageError, match=message) as caught:
        prepare_image(data)
    assert caught.value.status == 400


def test_decompression_bombs_are_refused_before_decoding() -> None:
    # 20000x20000 greyscale: 400 megapixels in a few hundred kB of PNG.
    bomb = png_bomb(20000, 20000)
    assert len(bomb) < 1024 * 1024
    with pytest.raises(ImageError, match="megapixels") as caught:
        prepare_image(bomb)
    assert caught.value.status == 413
    # Under Pillow's own limit but over ours.
    with pytest.raises(ImageError, match="9000x5000 pixels") as caught:
        prepare_image(png_bomb(9000, 5000))
    assert caught.value.status == 413


def test_huge_files_are_refused() -> None:
    with pytest.raises(ImageError, match="larger than 10 MB") as caught:
        prepare_image(b"\xff\xd8" + bytes(MAX_BYTES))
    assert caught.value.status == 413


def test_library_stores_once_and_serves_only_its_names(tmp_path: Path) -> None:
    library = ImageLibrary(tmp_path / "media")
    prepared = prepare_image(encode(photo(640, 480), "PNG"))
    key = library.save(prepared)
    assert library.save(prepared) == key
    assert sorted(p.name for p in library.root.iterdir()) == sorted(
        [image_name(key), thumbnail_name(key)]
    )
    assert library.has(key)
    assert library.path(image_name(key)) == library.root / image_name(key)
    (tmp_path / "secret.webp").write_bytes(b"x")
    for bad in (
        "../secret.webp",
        "..%2Fsecret.webp",
        "/etc/passwd",
        key + ".png",
        key.upper() + ".webp",
        key + ".webp/",
        "0" * 32 + ".webp",
        "",
    ):
        assert library.path(bad) is None, bad
    link = library.root / ("1" * 32 + ".webp")
    link.symlink_to(tmp_path / "secret.webp")
    assert library.path(link.name) is None
    assert not library.has("1" * 32) and not library.has("../x")
