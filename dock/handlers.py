"""The request classes of the WSGI and ASGI entry points: Django's, less one trap.

Given a charset in Content-Type, Django's request sets its encoding while it is being
built, and the setter asks `hasattr(self, "GET")` so as to drop a query string already
parsed in another encoding. On these classes GET is a cached property: asking parses the
query string there and then, and one over DATA_UPLOAD_MAX_NUMBER_FIELDS raised from the
constructor, before any middleware or handler, so the server answered with its own HTML
500. Here only a query string already parsed is dropped; parsed later, on first use, the
same limit is refused where Django (and the agent API) answer 400.

And a charset that Python knows but that is not a text encoding (zlib_codec, rot13,
base64_codec) is ignored, as Django ignores one it does not know: decoding the query
string with it raised LookupError on first use (a 500).
"""

from django.core.handlers.asgi import ASGIHandler as DjangoASGIHandler
from django.core.handlers.asgi import ASGIRequest as DjangoASGIRequest
from django.core.handlers.wsgi import WSGIHandler as DjangoWSGIHandler
from django.core.handlers.wsgi import WSGIRequest as DjangoWSGIRequest


def _is_text_encoding(name: str) -> bool:
    try:
        # Unknown codecs and bytes or str transforms raise LookupError (not for b"", which
        # is decoded without asking); a text encoding may find the sample malformed.
        b"x".decode(name)
    except LookupError:
        return False
    except ValueError:
        return True
    return True


class _Encoding:
    def _set_content_type_params(self, meta):
        super()._set_content_type_params(meta)
        if self._encoding is not None and not _is_text_encoding(self._encoding):
            self.encoding = None

    @property
    def encoding(self):
        return self._encoding

    @encoding.setter
    def encoding(self, value):
        self._encoding = value
        self.__dict__.pop("GET", None)  # the cached property, only if it was computed
        if hasattr(self, "_post"):
            del self._post


class WSGIRequest(_Encoding, DjangoWSGIRequest):
    pass


class ASGIRequest(_Encoding, DjangoASGIRequest):
    pass


class WSGIHandler(DjangoWSGIHandler):
    request_class = WSGIRequest


class ASGIHandler(DjangoASGIHandler):
    request_class = ASGIRequest
