"""What every dashboard view of this app shares: who is asking, and one URL answering
the full page or (for htmx) just its fragment."""

from django.shortcuts import render
from django.utils.cache import patch_cache_control, patch_vary_headers

from ..models import Principal


def me(request) -> Principal:
    return request.user.principal


def page(request, template: str, context: dict, *, partial: str | None = None, status: int = 200):
    """The full page, or for an htmx request the named partial of the same template."""
    # A history restore (back button, nothing cached) needs the whole page again.
    wants_fragment = bool(request.htmx) and not request.htmx.history_restore_request
    name = f"{template}#{partial}" if partial and wants_fragment else template
    response = render(request, name, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def fragment(request, template: str, context: dict, *, status: int = 200):
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def no_store(response):
    """Pages that carry a secret shown once must never be cached or replayed."""
    patch_cache_control(response, no_store=True, no_cache=True, private=True, max_age=0)
    return response
