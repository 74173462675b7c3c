"""Errors services raise for a face to turn into a 4xx, a form error or a CLI line."""


class ServiceError(Exception):
    code = "invalid"
    status = 400

    def __init__(self, detail: str, *, fields: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        self.fields = fields or {}


class InvalidInput(ServiceError):
    code, status = "invalid", 400


class Conflict(ServiceError):
    code, status = "conflict", 409


class InvalidTransition(ServiceError):
    code, status = "invalid_transition", 409


class ProposalExpired(InvalidTransition):
    """A proposal past its expiry: refused. The decision's transaction rolls back, so
    whoever is outermost stores the expiry afterwards (services.proposal_expire_if_due)."""

    def __init__(self, proposal):
        super().__init__("This proposal has expired.")
        self.proposal = proposal


class Forbidden(ServiceError):
    code, status = "forbidden", 403


class NotFound(ServiceError):
    code, status = "not_found", 404
