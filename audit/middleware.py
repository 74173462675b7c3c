from . import context


def client_ip(request) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy
    # rewrites it, and the audit log must not record an address the client chose.
    return request.META.get("REMOTE_ADDR") or None


class RequestContextMiddleware:
    """Gives every request an id of the server's own for its audit rows, and answers with
    it in X-Request-ID. Not one the client sends: like the address, what the audit log
    records must not be the client's choice (one client could give its events another's
    id, and an org-wide key rotation's id groups its events: identity.selectors_services)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = context.new_request_id()
        request.request_id = request_id
        with context.bound(request_id=request_id, ip=client_ip(request)):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response
