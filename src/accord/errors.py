"""Accord's exception hierarchy. Every error that leaves a service is one of these, with a
stable machine-readable ``code``; the API maps ``status`` to the HTTP response."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class AccordError(Exception):
    """``after_rollback``: work to do once the refused change is rolled back, in a
    transaction of its own (recording that a legal hold refused a change, say): the
    outermost ``Database.uow()`` the error leaves runs each with the database."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None,
                 details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details
        self.after_rollback: list[Callable[[Any], None]] = []


class InvalidInput(AccordError):
    status = 422
    code = "invalid_input"


class NotFound(AccordError):
    status = 404
    code = "not_found"


class Conflict(AccordError):
    """The object changed state underneath the request (or is in the wrong state)."""

    status = 409
    code = "conflict"


class Unauthorized(AccordError):
    status = 401
    code = "unauthorized"


class Forbidden(AccordError):
    status = 403
    code = "forbidden"


class PayloadTooLarge(AccordError):
    status = 413
    code = "payload_too_large"
