"""The delivery feature's errors, part of Accord's hierarchy (accord.errors) so that the
API and pages map them like any other: NotFound -> 404, InvalidState -> 409, ..."""

from __future__ import annotations

from accord import errors

UNKNOWN_KIND = "unknown kind"


class DeliveryError(errors.AccordError):
    """Base of every error the delivery feature raises at its boundary."""


class NotFound(DeliveryError, errors.NotFound):
    """No such message in this organisation."""


class InvalidState(DeliveryError, errors.Conflict):
    """The message is not in a state that allows the requested change."""


class PermanentFailure(DeliveryError):
    """Retrying cannot help: the outbox message goes dead at once."""


class InvalidEmail(PermanentFailure, errors.InvalidInput):
    """An email that cannot be sent as given (no recipient, header injection, bad payload)."""


class UnknownKind(PermanentFailure):
    """No handler is registered for an outbox message's kind."""

    def __init__(self, kind: str) -> None:
        super().__init__(UNKNOWN_KIND)
        self.kind = kind
