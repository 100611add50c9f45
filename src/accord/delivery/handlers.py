"""What the worker does with each kind of outbox message.

A handler receives the runtime and the message's payload (ids, not ORM objects) and
returns the Email to send, or None when the work is done by the handler itself. It may
raise PermanentFailure (the message goes dead at once) or any other exception (retried
with backoff). Handlers run at least once, so they must be safe to run twice.

Features declare their kinds in their ``wiring.py``; ``accord.registry.install`` registers
every feature's here, in every process (importing a feature registers nothing).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from accord.delivery.domain import MAX_KIND_LEN
from accord.delivery.errors import DeliveryError, UnknownKind
from accord.delivery.mail import Email
from accord.runtime import Runtime

Handler = Callable[[Runtime, dict[str, Any]], Email | None]
# Called after a handler's email was handed to the mail server (e.g. to audit "delivered").
Delivered = Callable[[Runtime, dict[str, Any]], None]


@dataclass(frozen=True)
class DeadLetter:
    """An outbox row that just went dead, as its kind's ``failed`` hook sees it."""

    id: str
    kind: str
    org_id: str | None
    payload: dict[str, Any]
    error: str  # the log-safe reason, as kept in outbox.last_error
    attempts: int
    permanent: bool  # refused (5xx and the like) rather than retried until it gave up
    created_at: datetime


# Called once a row of the kind went dead (e.g. to tell the sender); in its own transaction.
Failed = Callable[[Runtime, DeadLetter], None]
# Who a row's email goes to, for the admin's outbox list (when the payload holds ids only).
Addressee = Callable[[Runtime, dict[str, Any]], str | None]

EMAIL = "email"

_lock = threading.Lock()
_handlers: dict[str, Handler] = {}
_delivered: dict[str, Delivered] = {}
_failed: dict[str, Failed] = {}
_addressees: dict[str, Addressee] = {}
_schedules: dict[str, tuple[float, ...]] = {}


def check_kind(kind: str) -> None:
    if not kind or len(kind) > MAX_KIND_LEN or kind != kind.strip():
        raise DeliveryError(f"an outbox kind is 1-{MAX_KIND_LEN} characters without padding")


def register(kind: str, handler: Handler, *, replace: bool = False,
             delivered: Delivered | None = None,
             retry_schedule: Sequence[float] | None = None,
             failed: Failed | None = None, addressee: Addressee | None = None) -> None:
    """Make ``handler`` the one for ``kind``; ``delivered`` (optional) runs after its email
    was accepted by the mail server or the local mailbox, ``failed`` (optional) once a
    row of the kind went dead; ``addressee`` (optional) tells the outbox list who a row's
    email goes to.

    ``retry_schedule`` (optional) replaces the exponential backoff for this kind: item
    ``n`` is the delay before attempt ``n + 1`` (item 0, the first attempt's, is the
    enqueue delay and unused here) and the row goes dead after ``len(retry_schedule)``
    failed attempts, whatever ``ACCORD_OUTBOX_MAX_ATTEMPTS`` says.

    Registering a different handler for a taken kind raises DeliveryError unless
    ``replace`` is true; registering the same handler again is a no-op.
    """
    check_kind(kind)
    with _lock:
        current = _handlers.get(kind)
        if current is not None and current is not handler and not replace:
            raise DeliveryError(f"a handler for {kind!r} is already registered")
        _handlers[kind] = handler
        if delivered is not None:
            _delivered[kind] = delivered
        if failed is not None:
            _failed[kind] = failed
        if addressee is not None:
            _addressees[kind] = addressee
        if retry_schedule is not None:
            if not retry_schedule or any(d < 0 for d in retry_schedule):
                raise DeliveryError("a retry schedule is a non-empty list of delays >= 0")
            _schedules[kind] = tuple(float(d) for d in retry_schedule)


def unregister(kind: str) -> None:
    """Forget the handler for ``kind`` (tests; the built-in "email" stays put)."""
    if kind == EMAIL:
        raise DeliveryError("the built-in 'email' handler cannot be removed")
    with _lock:
        _handlers.pop(kind, None)
        _delivered.pop(kind, None)
        _failed.pop(kind, None)
        _addressees.pop(kind, None)
        _schedules.pop(kind, None)


def get(kind: str) -> Handler:
    """The handler for ``kind``; UnknownKind (a PermanentFailure) if there is none."""
    with _lock:
        handler = _handlers.get(kind)
    if handler is None:
        raise UnknownKind(kind)
    return handler


def delivered_hook(kind: str) -> Delivered | None:
    with _lock:
        return _delivered.get(kind)


def failed_hook(kind: str) -> Failed | None:
    with _lock:
        return _failed.get(kind)


def addressee_hook(kind: str) -> Addressee | None:
    with _lock:
        return _addressees.get(kind)


def retry_schedule(kind: str) -> tuple[float, ...] | None:
    """The kind's own retry schedule, or None for the default exponential backoff."""
    with _lock:
        return _schedules.get(kind)


def kinds() -> list[str]:
    with _lock:
        return sorted(_handlers)


def plain_email(_rt: Runtime, payload: dict[str, Any]) -> Email:
    """Kind "email": the payload is ``Email.to_payload()``."""
    return Email.from_payload(payload)
