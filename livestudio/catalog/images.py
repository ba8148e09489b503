"""Product images and logos: verified by decoding, normalized to WebP, stored by content hash."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

MAX_BYTES = 10 * 1024 * 1024
"""Largest upload accepted (a 48-megapixel phone JPEG is ~8 MB)."""
MAX_PIXELS = 40_000_000
"""Largest image decoded: a small file can unpack to gigabytes (decompression bomb)."""
MAX_SIDE = 1600
"""Longest side of the stored image."""
THUMB_SIDE = 320
"""Longest side of the thumbnail (studio lists, on-air card)."""
FORMATS = ("JPEG", "PNG", "WEBP")
_NAME = re.compile(r"(?P<key>[0-9a-f]{32})(?P<thumb>\.thumb)?\.webp")
_KEY = re.compile(r"[0-9a-f]{32}")


class ImageError(ValueError):
    """An upload that is not an acceptable image; `status` is 400 or 413."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class PreparedImage:
    """A verified, normalized image and its thumbnail, not yet written anywhere."""

    key: str
    "Content hash of `image`: the name it is stored under."
    image: bytes
    "WebP, at most MAX_SIDE on its longest side, upright, without metadata."
    thumbnail: bytes
    width: int
    height: int


def too_large() -> ImageError:
    """The error for a file over MAX_BYTES (an upload, or an image URL's body)."""
    return ImageError(f"the image is larger than {MAX_BYTES // (1024 * 1024)} MB", 413)


def _to_srgb(im: Image.Image) -> Image.Image:
    # Phone photos are often Display P3: without converting, colours go dull once the
    # profile is dropped (it is, with all other metadata).
    icc = im.info.get("icc_profile")
    if not icc or im.mode not in ("RGB", "RGBA"):
        return im
    with contextlib.suppress(ImageCms.PyCMSError, OSError, ValueError, TypeError):
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(
            im, source, ImageCms.createProfile("sRGB"), outputMode=im.mode
        )
        if converted is not None:
            return converted
    return im


def _normalize_mode(im: Image.Image) -> Image.Image:
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        im.mode == "P" and "transparency" in im.info
    )
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # 16-bit greyscale PNG: scale to 8 bits before Pillow clips it to white.
        im = im.point(lambda v: v / 256).convert("L")
    return im.convert("RGBA" if has_alpha else "RGB")


def _encode(im: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    im.save(out, "WEBP", quality=quality, method=4, alpha_quality=100)
    return out.getvalue()


def prepare_image(data: bytes, max_side: int = MAX_SIDE) -> PreparedImage:
    """Verify `data` is a JPEG, PNG or WebP by decoding it, and normalize it (CPU: use a thread).

    Raises ImageError: 413 when the file or its pixel count is too large, else 400.
    """
    if len(data) > MAX_BYTES:
        raise too_large()
    if not data:
        raise ImageError("the image is empty")
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as source:
            width, height = source.size
            if width < 1 or height < 1 or width * height > MAX_PIXELS:
                raise ImageError(
                    f"the image is {width}x{height} pixels; the limit is"
                    f" {MAX_PIXELS // 1_000_000} megapixels",
                    413,
                )
            if source.format == "JPEG":
                # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: less memory and time.
                source.draft(None, (max_side, max_side))
            source.load()
            im = ImageOps.exif_transpose(source)
            im = _to_srgb(_normalize_mode(im))
    except UnidentifiedImageError:
        raise ImageError("not a JPEG, PNG or WebP image") from None
    except Image.DecompressionBombError:
        raise ImageError(
            f"the image has too many pixels; the limit is {MAX_PIXELS // 1_000_000} megapixels",
            413,
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        if isinstance(exc, ImageError):
            raise
        raise ImageError("the image is damaged or truncated and cannot be decoded") from None
    im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    image = _encode(im, 85)
    thumb = im.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    return PreparedImage(
        key=hashlib.sha256(image).hexdigest()[:32],
        image=image,
        thumbnail=_encode(thumb, 80),
        width=im.width,
        height=im.height,
    )


def is_image_key(value: str) -> bool:
    """Whether `value` looks like an image key (32 lower-case hex digits)."""
    return _KEY.fullmatch(value) is not None


def image_name(key: str) -> str:
    """File name of the normalized image."""
    return f"{key}.webp"


def thumbnail_name(key: str) -> str:
    """File name of the thumbnail."""
    return f"{key}.thumb.webp"


def key_of_name(name: str) -> str | None:
    """The key in a stored file name ("<key>.webp" or "<key>.thumb.webp"), else None."""
    match = _NAME.fullmatch(name)
    return match["key"] if match else None


class ImageLibrary:
    """A folder of normalized images, each stored once under its content hash."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path | None:
        """The stored file called `name`, or None (any other name, including tricks, is None)."""
        if _NAME.fullmatch(name) is None:
            return None
        path = self.root / name
        if path.is_symlink() or not path.is_file():
            return None
        return path

    def has(self, key: str) -> bool:
        """Whether the image with this key (and its thumbnail) is stored."""
        return (
            is_image_key(key)
            and self.path(image_name(key)) is not None
            and self.path(thumbnail_name(key)) is not None
        )

    def save(self, image: PreparedImage) -> str:
        """Write the image and thumbnail unless already there (blocking I/O); return the key."""
        self.add(image)
        return image.key

    def add(self, image: PreparedImage) -> list[str]:
        """Write the image and thumbnail unless already there (blocking I/O).

        Returns the names of the files written, for `remove` to take back if what they were
        for fails (a CSV import the database refused).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        written: list[str] = []
        for name, data in (
            (thumbnail_name(image.key), image.thumbnail),
            (image_name(image.key), image.image),
        ):
            target = self.root / name
            if target.is_file():
                continue
            # Write then rename: a reader never sees half a file, a crash leaves only a temp.
            fd, temp = tempfile.mkstemp(dir=self.root, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(data)
                os.chmod(temp, 0o644)
                os.replace(temp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
            written.append(name)
        return written

    def remove(self, names: Iterable[str]) -> None:
        """Delete files that `add` wrote (blocking I/O); other names are left alone.

        Best effort: it runs while another error is on its way, which must not be masked
        (a file left over is only unused, never wrong).
        """
        for name in names:
            path = self.path(name)
            if path is not None:
                with contextlib.suppress(OSError):
                    path.unlink()


MEDIA_PREFIX = "/media/products/"
"Where images and thumbnails are served."


def image_urls(key: str | None) -> dict[str, str | None]:
    """The public URLs of an image and its thumbnail (relative, for any host or proxy)."""
    if key is None:
        return {"image_url": None, "thumbnail_url": None}
    return {
        "image_url": MEDIA_PREFIX + image_name(key),
        "thumbnail_url": MEDIA_PREFIX + thumbnail_name(key),
    }
