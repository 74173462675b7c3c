"""One URL answers both the full page and, for htmx, the part of it that a request swaps."""

from django.utils.cache import patch_vary_headers

# What an htmx request sends that changes the answer: a fragment for a swap, the whole
# page for a history restore.
VARY = ("HX-Request", "HX-History-Restore-Request")


def wants_fragment(request) -> bool:
    """Whether htmx asked for just the swapped part. The back button asks for the whole
    page again (nothing is cached in the browser: historyCacheSize is 0) with an htmx
    request of its own, which gets the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def vary(response):
    patch_vary_headers(response, VARY)
    return response
