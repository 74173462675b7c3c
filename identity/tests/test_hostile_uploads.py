"""Hostile avatar uploads through the dashboard (/agents/new/, the one upload form; a test
below fails if another appears). A refused file is a field error, and nothing is created:
no agent, no key, no audit event, no file on disk. An accepted one is decoded and
re-encoded as a plain PNG, whatever it was called and whatever rode along."""

import io
import struct
import zlib

import pytest
from django import forms
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from identity.models import Principal
from identity.tests.hostile_support import Unchanged, logged_in

pytestmark = pytest.mark.django_db

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SCRIPT = b"<script>alert(document.domain)</script>"


@pytest.fixture
def alice(make, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    org = make.org("acme", "Acme")
    return make.human(org, "Alice Adams", email="alice@acme.test")


def media_files(settings) -> list:
    root = settings.MEDIA_ROOT
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def image(fmt="PNG", size=(64, 48), mode="RGB", **save) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (40, 120, 200) if mode == "RGB" else 0).save(out, format=fmt, **save)
    return out.getvalue()


def flood_png(width: int, height: int) -> bytes:
    """A PNG whose header claims width × height pixels, in a few kilobytes."""
    row = b"\x00" * (width + 1)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(64)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return PNG_MAGIC + _chunk(b"IHDR", header) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def padded_png(total: int) -> bytes:
    """A valid PNG made `total` bytes long by a text chunk."""
    base = image()
    pad = total - len(base) - 12
    return base[:-12] + _chunk(b"tEXt", b"c\x00" + b"x" * (pad - 2)) + base[-12:]


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script><rect width="9" height="9"/></svg>'

REFUSED = [
    # (file name, content type, bytes, the message the field shows)
    ("big.png", "image/png", lambda: padded_png(2 * 1024 * 1024 + 1), "larger than 2 MB"),
    ("huge.png", "image/png", lambda: PNG_MAGIC + b"\x00" * (12 * 1024 * 1024), "larger than 2 MB"),
    ("bomb.png", "image/png", lambda: flood_png(50_000, 50_000), "4096"),
    ("flood.png", "image/png", lambda: flood_png(5000, 5000), "4096"),
    ("thin.png", "image/png", lambda: image(size=(5000, 1), mode="L"), "4096"),
    ("face.svg", "image/svg+xml", lambda: SVG, "PNG, JPEG, WebP or GIF"),
    ("face.png", "image/png", lambda: SVG, "PNG, JPEG, WebP or GIF"),
    ("polyglot.gif", "image/gif", lambda: b"GIF89a/*\x00\x00*/=1;alert(document.domain);//" + b"\x00" * 40, None),
    ("page.gif", "image/gif", lambda: b"<!doctype html><html><body>" + SCRIPT + b"</body></html>", "PNG, JPEG, WebP or GIF"),
    ("notes.png", "image/png", lambda: b"just some text, not a picture\n" * 20, "PNG, JPEG, WebP or GIF"),
    ("empty.png", "image/png", lambda: b"", None),
    ("half.png", "image/png", lambda: image(size=(400, 400))[:200], None),
    ("garbage.png", "image/png", lambda: PNG_MAGIC + bytes(range(256)) * 8, None),
    ("bitmap.png", "image/png", lambda: image("BMP"), "PNG, JPEG, WebP or GIF"),
    ("scan.png", "image/png", lambda: image("TIFF"), "PNG, JPEG, WebP or GIF"),
    ("doc.jpg", "image/jpeg", lambda: b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\n" + SCRIPT, "PNG, JPEG, WebP or GIF"),
]


@pytest.mark.parametrize("name, content_type, make_bytes, message", REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_upload_is_a_field_error_and_creates_nothing(alice, settings, name, content_type, make_bytes, message):
    upload = SimpleUploadedFile(name, make_bytes(), content_type=content_type)
    agents = Principal.objects.filter(kind="agent").count()
    with Unchanged():
        response = logged_in(alice).post(reverse("agent-new"), {"name": "Uploader", "scope": ["read"], "avatar": upload})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert list(errors) == ["avatar"], errors
    if message:
        assert message in errors["avatar"][0]
    assert b'aria-invalid="true"' in response.content or b"errorlist" in response.content
    assert Principal.objects.filter(kind="agent").count() == agents
    assert media_files(settings) == []


def _created_avatar(alice, settings, name, content_type, data):
    response = logged_in(alice).post(reverse("agent-new"), {"name": "Painter", "scope": ["read"],
                                                            "avatar": SimpleUploadedFile(name, data, content_type=content_type)})
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    agent = Principal.objects.get(kind="agent", display_name="Painter")
    stored = agent.avatar.read()
    agent.avatar.close()
    assert agent.avatar.name.endswith(".png")
    assert stored.startswith(PNG_MAGIC)
    with Image.open(io.BytesIO(stored)) as picture:
        assert picture.format == "PNG" and picture.size == (256, 256)
    files = media_files(settings)
    assert len(files) == 1 and files[0].suffix == ".png"
    return agent, stored


ACCEPTED = [
    ("face.svg", "image/svg+xml", lambda: image(), "a PNG named .svg"),
    ("face.png", "image/png", lambda: image() + b"<html>" + SCRIPT + b"</html>", "a PNG with a script after it"),
    ("face.gif", "image/gif", lambda: image("GIF") + b"/*" + SCRIPT + b"*/", "a GIF with a script after it"),
    ("face.jpg", "image/jpeg", lambda: image("JPEG", comment=SCRIPT), "a JPEG with a script comment"),
    ("face.txt", "text/html", lambda: image("WEBP"), "a WebP named .txt and sent as HTML"),
]


@pytest.mark.parametrize("name, content_type, make_bytes, what", ACCEPTED, ids=[a[3] for a in ACCEPTED])
def test_accepted_upload_is_re_encoded_as_a_plain_png(alice, settings, name, content_type, make_bytes, what):
    agent, stored = _created_avatar(alice, settings, name, content_type, make_bytes())
    assert SCRIPT not in stored and b"script" not in stored.lower()
    # Served as what it is, and nothing the browser would sniff or run.
    served = Client().get(agent.avatar_url)
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert served["Content-Security-Policy"] == "default-src 'none'"
    assert b"".join([served.content]) == stored


def test_agent_form_is_the_only_upload_form():
    """A new form with a file field must get these tests too."""
    import audit.filters  # noqa: F401
    import dock.workspaces.forms  # noqa: F401
    import identity.forms  # noqa: F401
    import identity.forms_services  # noqa: F401

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    ours = ("identity.", "dock.", "audit.")
    with_files = {
        f"{cls.__module__}.{cls.__name__}"
        for cls in subclasses(forms.BaseForm)
        if cls.__module__.startswith(ours)
        and any(isinstance(f, forms.FileField) for f in getattr(cls, "base_fields", {}).values())
    }
    assert with_files == {"identity.forms.AgentForm"}
