"""Where the current request's id and client address live while a service runs.

Services do not take the request; `audit.record` reads these instead, so the CLI, the
API and the dashboard all stamp their events the same way.
"""

import contextlib
import contextvars
import uuid

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("dock_request_id", default="")
_ip: contextvars.ContextVar[str | None] = contextvars.ContextVar("dock_client_ip", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def current() -> tuple[str, str | None]:
    return _request_id.get(), _ip.get()


@contextlib.contextmanager
def bound(*, request_id: str | None = None, ip: str | None = None):
    t1 = _request_id.set(request_id or new_request_id())
    t2 = _ip.set(ip)
    try:
        yield
    finally:
        _request_id.reset(t1)
        _ip.reset(t2)
