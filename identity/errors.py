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


class Forbidden(ServiceError):
    code, status = "forbidden", 403


class NotFound(ServiceError):
    code, status = "not_found", 404
