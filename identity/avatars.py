"""Avatars: generated orbs and the cleaning of uploaded images.

Pure functions over bytes; nothing here touches the database. Every principal,
whatever its kind, gets the same treatment: an uploaded picture or an orb, a soft
two-colour radial gradient derived from its public id.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math

from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

__all__ = [
    "AVATAR_MAX_BYTES",
    "AVATAR_MAX_SIDE",
    "AVATAR_SIZE",
    "ORB_SIZES",
    "AvatarError",
    "clean_upload",
    "orb_colors",
    "orb_png",
]

ORB_SIZES = (24, 40, 64, 128)

AVATAR_MAX_BYTES = 2 * 1024 * 1024
# Checked from the header, before any pixel is decoded: at most 4096 × 4096,
# about 16.8 megapixels, far below Pillow's own decompression-bomb threshold.
AVATAR_MAX_SIDE = 4096
AVATAR_SIZE = 256

# Decoders Pillow may try. Anything else (SVG, BMP, TIFF, PSD, text) is refused
# because no decoder claims it, whatever the file is called.
_DECODERS = ("PNG", "JPEG", "WEBP", "GIF")
# Camera JPEGs carrying several pictures decode as MPO through the JPEG plugin.
_ACCEPTED_FORMATS = frozenset({"PNG", "JPEG", "MPO", "WEBP", "GIF"})

_TOO_BIG = "The image file is larger than 2 MB."
_EMPTY = "The file is empty."
_NOT_AN_IMAGE = "Upload a PNG, JPEG, WebP or GIF image."
_TOO_MANY_PIXELS = "The image is too large: at most 4096 × 4096 pixels."
_UNREADABLE = "The image could not be read; the file may be damaged."


class AvatarError(ValueError):
    """An uploaded avatar was refused; the message can be shown to the user."""


# ---------------------------------------------------------------------------
# Orbs


def _oklch_to_rgb(lightness: float, chroma: float, hue: float) -> tuple[int, int, int]:
    """OKLCH → sRGB, lowering chroma until the colour fits in the sRGB gamut.

    OKLCH keeps perceived lightness even across hues, so a yellow orb and a
    blue orb look equally bright and no id draws a muddy or neon one.
    """
    h = math.radians(hue)
    while True:
        a, b = chroma * math.cos(h), chroma * math.sin(h)
        l_ = (lightness + 0.3963377774 * a + 0.2158037573 * b) ** 3
        m_ = (lightness - 0.1055613458 * a - 0.0638541728 * b) ** 3
        s_ = (lightness - 0.0894841775 * a - 1.2914855480 * b) ** 3
        linear = (
            4.0767416621 * l_ - 3.3077115913 * m_ + 0.2309699292 * s_,
            -1.2684380046 * l_ + 2.6097574011 * m_ - 0.3413193965 * s_,
            -0.0041960863 * l_ - 0.7034186147 * m_ + 1.7076147010 * s_,
        )
        if all(-1e-4 <= c <= 1.0001 for c in linear) or chroma <= 0:
            break
        chroma = max(0.0, chroma - 0.005)
    return tuple(_encode_srgb(c) for c in linear)  # type: ignore[return-value]


def _encode_srgb(linear: float) -> int:
    c = min(1.0, max(0.0, linear))
    c = 12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055
    return round(c * 255)


@functools.lru_cache(maxsize=4096)
def _orb_stops(public_id: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """The light centre colour and the deep rim colour of an id's orb."""
    digest = hashlib.sha256(public_id.encode("utf-8")).digest()
    hue = int.from_bytes(digest[0:2], "big") / 65536 * 360
    # The rim sits 35–75° away on the colour wheel, either way round: analogous
    # hues blend softly, and the direction doubles the number of distinct pairs.
    spread = 35 + digest[2] / 255 * 40
    rim_hue = hue + (spread if digest[3] & 1 else -spread)
    rim_hue %= 360
    # Dark yellows read as olive and mustard: lift the rim's lightness near yellow.
    near_yellow = max(0.0, math.cos(math.radians(rim_hue - 95) * 2))
    centre = _oklch_to_rgb(0.87 - digest[4] / 255 * 0.05, 0.085, hue)
    rim = _oklch_to_rgb(0.58 + digest[5] / 255 * 0.08 + 0.13 * near_yellow, 0.15, rim_hue)
    return centre, rim


def orb_colors(public_id: str) -> tuple[str, str]:
    """The orb's two colours as CSS hex strings: (centre, rim)."""
    return tuple("#{:02x}{:02x}{:02x}".format(*c) for c in _orb_stops(public_id))  # type: ignore[return-value]


def _check_size(size: int) -> None:
    if size not in ORB_SIZES:
        raise ValueError(f"orb size must be one of {ORB_SIZES}, not {size!r}")


@functools.lru_cache(maxsize=len(ORB_SIZES))
def _orb_shading(size: int) -> Image.Image:
    """Greyscale shading shared by every orb of a size: 0 at the highlight, 255 at the rim."""
    # Computed on a small grid and smoothed up: a gradient has no detail to lose,
    # and this keeps the per-pixel Python work to a few thousand points.
    grid = 48
    hx, hy = 0.34, 0.30  # the light falls from the upper left
    reach = math.hypot(0.5 - hx, 0.5 - hy) + 0.5
    values = []
    for j in range(grid):
        for i in range(grid):
            x, y = (i + 0.5) / grid, (j + 0.5) / grid
            t = min(1.0, math.hypot(x - hx, y - hy) / reach)
            t = t * t * (3 - 2 * t)  # smoothstep: a soft centre and a soft rim
            values.append(round(t * 255))
    small = Image.new("L", (grid, grid))
    small.putdata(values)
    return small.resize((size, size), Image.Resampling.BICUBIC)


@functools.lru_cache(maxsize=len(ORB_SIZES))
def _orb_mask(size: int) -> Image.Image:
    """An antialiased disc: drawn four times larger, then scaled down."""
    scale = 4
    big = Image.new("L", (size * scale, size * scale), 0)
    ImageDraw.Draw(big).ellipse((0, 0, size * scale - 1, size * scale - 1), fill=255)
    return big.resize((size, size), Image.Resampling.LANCZOS)


def _orb_palette(centre: tuple[int, int, int], rim: tuple[int, int, int]) -> list[int]:
    palette: list[int] = []
    for i in range(256):
        t = i / 255
        palette.extend(round(c0 + (c1 - c0) * t) for c0, c1 in zip(centre, rim, strict=True))
    return palette


def render_orb(public_id: str, size: int) -> bytes:
    """Render an orb without the cache (benchmarks and tests use this)."""
    _check_size(size)
    centre, rim = _orb_stops(public_id)
    orb = _orb_shading(size).copy()
    orb.putpalette(_orb_palette(centre, rim))
    orb = orb.convert("RGBA")
    orb.putalpha(_orb_mask(size))
    out = io.BytesIO()
    orb.save(out, format="PNG", compress_level=6)
    return out.getvalue()


@functools.lru_cache(maxsize=1024)
def _orb_png_cached(public_id: str, size: int) -> bytes:
    return render_orb(public_id, size)


def orb_png(public_id: str, size: int) -> bytes:
    """The orb of a public id at one of ORB_SIZES, as PNG bytes (memoised)."""
    _check_size(size)
    return _orb_png_cached(public_id, size)


# ---------------------------------------------------------------------------
# Uploads


def _read_capped(fileobj) -> bytes:
    if isinstance(fileobj, (bytes, bytearray, memoryview)):
        data = bytes(fileobj)
    else:
        declared = getattr(fileobj, "size", None)
        if isinstance(declared, int) and declared > AVATAR_MAX_BYTES:
            raise AvatarError(_TOO_BIG)
        if hasattr(fileobj, "seek"):
            fileobj.seek(0)
        # Never read more than one byte past the cap, whatever the file claims.
        data = fileobj.read(AVATAR_MAX_BYTES + 1)
    if len(data) > AVATAR_MAX_BYTES:
        raise AvatarError(_TOO_BIG)
    if not data:
        raise AvatarError(_EMPTY)
    return data


def _check_header(image: Image.Image) -> None:
    """Refuse on what the header says, before a single pixel is decoded."""
    if image.format not in _ACCEPTED_FORMATS:
        raise AvatarError(_NOT_AN_IMAGE)
    width, height = image.size
    if width < 1 or height < 1:
        raise AvatarError(_UNREADABLE)
    if width > AVATAR_MAX_SIDE or height > AVATAR_MAX_SIDE:
        raise AvatarError(_TOO_MANY_PIXELS)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _square(image: Image.Image) -> Image.Image:
    image = ImageOps.exif_transpose(image)
    image = image.convert("RGBA" if _has_alpha(image) else "RGB")
    if image.mode == "RGBA" and image.getchannel("A").getextrema() == (255, 255):
        image = image.convert("RGB")
    return ImageOps.fit(image, (AVATAR_SIZE, AVATAR_SIZE), Image.Resampling.LANCZOS, centering=(0.5, 0.5))


def clean_upload(fileobj) -> bytes:
    """Validate an uploaded avatar and return it re-encoded as a 256×256 PNG.

    Accepts a file-like object (a Django UploadedFile, an open file) or bytes.
    The picture is decoded by Pillow (the name and the declared content type are
    ignored), limited in bytes and in pixels, cut to a centred square and
    re-encoded from raw pixels, so no metadata (EXIF, ICC, text chunks) and no
    trailing payload survive. Raises AvatarError with a message for the user.
    """
    data = _read_capped(fileobj)
    try:
        with Image.open(io.BytesIO(data), formats=_DECODERS) as probe:
            _check_header(probe)
            probe.verify()
        # verify() leaves the image unusable, so decode from a fresh open.
        with Image.open(io.BytesIO(data), formats=_DECODERS) as image:
            _check_header(image)
            image.seek(0)  # the first frame of an animation
            image.load()
            square = _square(image)
    except AvatarError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise AvatarError(_TOO_MANY_PIXELS) from exc
    except UnidentifiedImageError as exc:
        raise AvatarError(_NOT_AN_IMAGE) from exc
    except Exception as exc:
        # Pillow's decoders raise many exception types on malformed input
        # (OSError, SyntaxError, struct.error, IndexError, ...): fail closed.
        raise AvatarError(_UNREADABLE) from exc

    # Rebuilt from raw pixels: the new image carries no info dict at all.
    clean = Image.frombytes(square.mode, square.size, square.tobytes())
    out = io.BytesIO()
    clean.save(out, format="PNG", optimize=True)
    return out.getvalue()
