from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

from .avatars import ORB_SIZES, orb_png
from .models import Principal


@require_GET
def avatar(request, public_id: str):
    """Uploaded avatar (re-encoded PNG) or the generated orb, at ?s=<size>."""
    try:
        size = int(request.GET.get("s", "128"))
    except ValueError:
        size = 128
    if size not in ORB_SIZES:
        size = 128
    principal = Principal.objects.filter(public_id=public_id).only("public_id", "avatar").first()
    if principal is None:
        raise Http404
    if principal.avatar:
        try:
            with principal.avatar.open("rb") as f:
                body = f.read()
        except FileNotFoundError:
            body = orb_png(public_id, size)
    else:
        body = orb_png(public_id, size)
    response = HttpResponse(body, content_type="image/png")
    response["Cache-Control"] = "public, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'"
    return response
