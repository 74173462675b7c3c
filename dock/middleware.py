"""Response headers every page carries, private pages kept out of the browser's cache, a
page for a form's address opened on its own, and the login page for an in-place update
whose session has ended."""

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import resolve_url
from django.template.response import TemplateResponse
from django.utils.cache import patch_cache_control
from django_htmx.http import HttpResponseClientRedirect

from dock.htmx import vary, wants_fragment

# Only our own origin: htmx is served from the django-htmx package under /static/, no
# inline scripts or styles anywhere (htmx's own indicator styles are turned off).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = getattr(settings, "DOCK_CONTENT_SECURITY_POLICY", CONTENT_SECURITY_POLICY)

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.policy)
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response


def on_api(request) -> bool:
    """Whether `request` is for the agent API, whose callers are programs that read JSON,
    not people who read pages."""
    return request.path.startswith("/api/")


def no_store(response):
    """Never kept by the browser, nor by any cache between: pages that carry a secret
    shown once, and a signed-in person's pages (PrivatePagesMiddleware)."""
    patch_cache_control(response, no_store=True, no_cache=True, private=True, max_age=0)
    return response


class PrivatePagesMiddleware:
    """A signed-in person's pages are never kept by the browser. Controls change them in
    place (htmx), and Back would otherwise bring back the copy first loaded: an agent shown
    active after it was paused, a proposal still waiting after it was decided. Kept out of
    the cache, Back asks again and shows what is true now (and nothing private stays behind
    after logging out). Responses that say how they are cached (images, exports) keep it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        page = response.get("Content-Type", "").startswith("text/html")
        if page and user is not None and user.is_authenticated and not response.has_header("Cache-Control"):
            no_store(response)
        return response


class MethodNotAllowedPageMiddleware:
    """A page, not an empty body, for a browser that opens a form's address on its own:
    `require_POST` answers 405 with nothing in it, which Chromium shows as "This page isn't
    working". The agent API answers its own 405s, in JSON (identity.api.urls)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        opened = request.method == "GET" and not on_api(request)
        if response.status_code == 405 and opened and not response.content:
            page = TemplateResponse(request, "405.html", status=405)
            page.render()
            page["Allow"] = response.get("Allow", "")
            return page
        return response


class LoginForSwapsMiddleware:
    """An in-place update (a filter, a pause button, a role change) asked for after the
    session ended is redirected to the login page, which htmx would follow and draw inside
    the page still showing, header and all. The browser is sent there instead, and the
    login returns to the page it was on: not to a control's address, which answers POST
    only. The back button's own request (a whole page) keeps the plain redirect."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 302 and wants_fragment(request):
            login = resolve_url(settings.LOGIN_URL)
            if urlsplit(response["Location"]).path == login:
                # This site's page on screen (htmx says which); else the page asked for.
                back = request.htmx.current_url_abs_path
                if back is None:
                    back = request.get_full_path() if request.method == "GET" else "/"
                return vary(HttpResponseClientRedirect(redirect_to_login(back).url))
        return response
