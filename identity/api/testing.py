"""Helpers for tests of the agent API (imported by identity/tests/test_api*.py)."""

import json

from django.test import Client

HOST = "127.0.0.1"


class ApiClient:
    """A Django test client that speaks JSON with a bearer key, and insists that every
    answer is JSON (never an HTML error page)."""

    def __init__(self, key: str | None = None, **defaults):
        self.key = key
        self.client = Client(HTTP_HOST=HOST, **defaults)

    def request(self, method: str, path: str, data=None, *, key=..., raw: bytes | str | None = None,
                content_type="application/json", headers=None):
        key = self.key if key is ... else key
        extra = {}
        if key is not None:
            extra["HTTP_AUTHORIZATION"] = f"Bearer {key}"
        for name, value in (headers or {}).items():
            extra["HTTP_" + name.upper().replace("-", "_")] = value
        body = raw if raw is not None else (json.dumps(data) if data is not None else "")
        response = self.client.generic(method, path, body, content_type=content_type, **extra)
        assert response["Content-Type"].startswith("application/json"), (response.status_code, response.content[:300])
        response.data = json.loads(response.content) if response.content else None
        if response.status_code >= 400:
            assert set(response.data) <= {"error", "detail", "fields"}, response.data
            assert isinstance(response.data["error"], str) and isinstance(response.data["detail"], str), response.data
        assert response.status_code < 500, response.data
        return response

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, data=None, **kw):
        return self.request("POST", path, data, **kw)

    def patch(self, path, data=None, **kw):
        return self.request("PATCH", path, data, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)
