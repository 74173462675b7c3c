"""What every dashboard view of this app shares: who is asking, and one URL answering
the full page or (for htmx) just its fragment."""

from django.conf import settings
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from dock.htmx import vary, wants_fragment

from ..models import Principal


def me(request) -> Principal:
    return request.user.principal


def page(request, template: str, context: dict, *, partial: str | None = None, status: int = 200):
    """The full page, or for an htmx request the named partial of the same template."""
    name = f"{template}#{partial}" if partial and wants_fragment(request) else template
    return vary(render(request, name, context, status=status))


def fragment(request, template: str, context: dict, *, status: int = 200):
    return vary(render(request, template, context, status=status))


def local_next(request, target: str | None) -> str:
    """`target` (a `next` the browser sent) if it leads to a page of this site, else ""."""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return ""


def grace_minutes() -> int:
    """A rotated key's grace window, in whole minutes, as pages say it."""
    return max(1, settings.DOCK_KEY_GRACE_SECONDS // 60)
