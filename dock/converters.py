"""URL path converters (registered in dock.urls)."""


class Segment:
    """One path segment, like the built-in `str`, but never holding NUL: no id, handle,
    token or key prefix does, and PostgreSQL refuses NUL even in a lookup, which made a
    500 of a hand-typed `%00`. A segment with NUL matches no URL: 404."""

    regex = "[^/\x00]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value

