"""Orbs and avatar uploads: pure functions, no database."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from identity.avatars import (
    AVATAR_MAX_BYTES,
    AVATAR_SIZE,
    ORB_SIZES,
    AvatarError,
    clean_upload,
    orb_colors,
    orb_png,
    render_orb,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_chunks(data: bytes) -> list[bytes]:
    assert data.startswith(PNG_MAGIC)
    chunks, pos = [], len(PNG_MAGIC)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunks.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    return chunks


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _image_bytes(fmt: str, size=(300, 200), mode="RGB", color=(200, 60, 40), **save) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, format=fmt, **save)
    return out.getvalue()


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- orbs -------------------------------------------------------------------


def test_orb_is_deterministic_for_an_id():
    assert render_orb("agt_7Hk2pQ", 64) == render_orb("agt_7Hk2pQ", 64)
    assert orb_png("agt_7Hk2pQ", 64) == render_orb("agt_7Hk2pQ", 64)
    assert orb_colors("agt_7Hk2pQ") == orb_colors("agt_7Hk2pQ")


def test_different_ids_get_different_orbs():
    ids = [f"usr_{n:04d}" for n in range(200)]
    assert len({orb_colors(i) for i in ids}) == len(ids)
    assert orb_png("usr_alice", 40) != orb_png("usr_alicf", 40)


@pytest.mark.parametrize("size", ORB_SIZES)
def test_orb_is_a_round_transparent_png_of_the_requested_size(size):
    data = orb_png("usr_abc", size)
    assert data.startswith(PNG_MAGIC)
    image = _open(data)
    assert image.format == "PNG"
    assert image.size == (size, size)
    assert image.mode == "RGBA"
    assert image.getpixel((0, 0))[3] == 0  # corners outside the circle
    assert image.getpixel((size // 2, size // 2))[3] == 255


@pytest.mark.parametrize("size", [0, 16, 32, 100, 256, -40, "40"])
def test_orb_refuses_other_sizes(size):
    with pytest.raises(ValueError):
        orb_png("usr_abc", size)


def test_orb_colors_are_css_hex():
    centre, rim = orb_colors("svc_backup")
    for colour in (centre, rim):
        assert len(colour) == 7 and colour[0] == "#"
        int(colour[1:], 16)
    assert centre != rim


# --- uploads: accepted ------------------------------------------------------


def test_png_is_accepted_and_made_square():
    out = clean_upload(io.BytesIO(_image_bytes("PNG", size=(400, 100))))
    assert out.startswith(PNG_MAGIC)
    image = _open(out)
    assert image.format == "PNG"
    assert image.size == (AVATAR_SIZE, AVATAR_SIZE)
    assert image.mode == "RGB"


def test_transparent_png_keeps_its_alpha():
    out = clean_upload(_image_bytes("PNG", mode="RGBA", color=(10, 20, 30, 0)))
    assert _open(out).mode == "RGBA"


def test_jpeg_loses_its_exif_icc_and_text():
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0131] = "GPS-leaking-software"  # Software
    icc = b"\x00" * 128 + b"fake-icc-profile"
    jpeg = _image_bytes("JPEG", exif=exif.tobytes(), icc_profile=icc, comment=b"hidden note")
    assert b"SecretCam" in jpeg

    out = clean_upload(io.BytesIO(jpeg))
    image = _open(out)
    assert image.format == "PNG"
    assert image.size == (AVATAR_SIZE, AVATAR_SIZE)
    assert b"SecretCam" not in out and b"hidden note" not in out
    assert not set(_png_chunks(out)) & {b"eXIf", b"iCCP", b"tEXt", b"zTXt", b"iTXt", b"tIME"}
    assert "exif" not in image.info and "icc_profile" not in image.info


def test_png_text_chunks_are_dropped():
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "tracking-id-42")
    png = _image_bytes("PNG", pnginfo=info)
    assert b"tracking-id-42" in png
    out = clean_upload(png)
    assert b"tracking-id-42" not in out
    assert set(_png_chunks(out)) <= {b"IHDR", b"IDAT", b"IEND"}


def test_webp_and_gif_are_accepted():
    assert _open(clean_upload(_image_bytes("WEBP"))).size == (AVATAR_SIZE, AVATAR_SIZE)
    assert _open(clean_upload(_image_bytes("GIF", mode="P", color=3))).size == (
        AVATAR_SIZE,
        AVATAR_SIZE,
    )


def test_animated_gif_keeps_its_first_frame():
    frames = [Image.new("RGB", (64, 64), c) for c in [(255, 0, 0), (0, 0, 255)]]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:])
    image = _open(clean_upload(out.getvalue()))
    r, _, b = image.convert("RGB").getpixel((128, 128))
    assert r > 200 and b < 50


def test_exif_orientation_is_applied_before_stripping():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    tall = Image.new("RGB", (400, 100), (255, 255, 255))
    tall.paste((0, 0, 0), (0, 0, 200, 100))  # left half black, as stored
    out = io.BytesIO()
    tall.save(out, format="JPEG", exif=exif.tobytes(), quality=95)
    image = _open(clean_upload(out.getvalue())).convert("L")
    # Displayed upright, the stored left half becomes the top: the centre row
    # of the square crop is split top/bottom, not left/right.
    assert image.getpixel((128, 20)) < 60 and image.getpixel((128, 235)) > 200


def test_a_django_style_upload_object_is_read():
    class Upload(io.BytesIO):
        name = "me.jpg"
        content_type = "image/jpeg"

        @property
        def size(self):
            return len(self.getvalue())

    upload = Upload(_image_bytes("JPEG"))
    upload.read(10)  # a partly consumed stream is rewound
    assert clean_upload(upload).startswith(PNG_MAGIC)


# --- uploads: refused -------------------------------------------------------


def test_svg_with_script_is_refused():
    svg = (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        b"<script>alert(document.cookie)</script><rect width='10' height='10'/></svg>"
    )
    with pytest.raises(AvatarError, match="PNG, JPEG, WebP or GIF"):
        clean_upload(io.BytesIO(svg))


def test_text_file_named_png_is_refused():
    upload = io.BytesIO(b"just some notes, not a picture\n" * 20)
    upload.name = "avatar.png"
    with pytest.raises(AvatarError):
        clean_upload(upload)


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "ICO"])
def test_formats_outside_the_list_are_refused_even_when_valid(fmt):
    with pytest.raises(AvatarError, match="PNG, JPEG, WebP or GIF"):
        clean_upload(_image_bytes(fmt, size=(64, 64)))


def test_oversize_bytes_are_refused_without_decoding():
    # Valid PNG header followed by padding: refused on length alone.
    data = _image_bytes("PNG", size=(10, 10)) + b"\x00" * AVATAR_MAX_BYTES
    with pytest.raises(AvatarError, match="2 MB"):
        clean_upload(io.BytesIO(data))


def test_oversize_declared_size_is_refused():
    class Huge(io.BytesIO):
        size = AVATAR_MAX_BYTES + 1

    with pytest.raises(AvatarError, match="2 MB"):
        clean_upload(Huge(_image_bytes("PNG")))


def test_empty_file_is_refused():
    with pytest.raises(AvatarError, match="empty"):
        clean_upload(io.BytesIO(b""))


def _flood_png(width: int, height: int) -> bytes:
    """A tiny file whose header claims a huge greyscale canvas of zeros."""
    raw_row = b"\x00" + b"\x00" * width
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(raw_row) for _ in range(64)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return PNG_MAGIC + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def test_decompression_bomb_is_refused():
    bomb = _flood_png(50_000, 50_000)  # 2.5 gigapixels in a few kilobytes
    assert len(bomb) < 100_000
    with pytest.raises(AvatarError, match="4096"):
        clean_upload(io.BytesIO(bomb))


def test_pixel_flood_below_pillows_own_limit_is_refused():
    flood = _flood_png(5000, 5000)  # 25 megapixels: Pillow would decode it
    with pytest.raises(AvatarError, match="4096"):
        clean_upload(flood)


def test_long_thin_image_is_refused():
    with pytest.raises(AvatarError, match="4096"):
        clean_upload(_image_bytes("PNG", size=(5000, 1), mode="L", color=0))


def test_polyglot_payload_after_a_real_image_is_dropped():
    payload = b"<html><script>alert(1)</script></html>"
    out = clean_upload(_image_bytes("PNG") + payload)
    assert payload not in out
    assert _open(out).size == (AVATAR_SIZE, AVATAR_SIZE)


def test_gif_header_with_script_body_is_refused():
    polyglot = b"GIF89a/*\x00\x00*/=1;alert(document.domain);//" + b"\x00" * 40
    with pytest.raises(AvatarError):
        clean_upload(polyglot)


def test_png_magic_followed_by_garbage_is_refused():
    with pytest.raises(AvatarError):
        clean_upload(PNG_MAGIC + bytes(range(256)) * 8)


def test_truncated_png_is_refused():
    noisy = Image.effect_noise((500, 500), 64).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, format="PNG")
    data = out.getvalue()
    with pytest.raises(AvatarError):
        clean_upload(data[: len(data) // 2])


def test_corrupted_crc_is_refused():
    data = bytearray(_image_bytes("PNG", size=(32, 32)))
    idat = data.index(b"IDAT")
    data[idat + 6] ^= 0xFF  # flip a byte inside the compressed pixels
    with pytest.raises(AvatarError):
        clean_upload(bytes(data))


def test_avatar_error_is_a_value_error():
    assert issubclass(AvatarError, ValueError)
