"""Pure rules of the outbox: statuses, retry schedule, and what an error may say.

Nothing here touches the database, the network or the clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"
STATUSES = (PENDING, DELIVERED, DEAD)

MAX_KIND_LEN = 40  # outbox.kind is String(40)
MAX_ERROR_LEN = 500
BACKOFF_CAP_S = 3600.0


def backoff_s(attempts: int, *, base_s: float, cap_s: float = BACKOFF_CAP_S,
              jitter: float = 0.0, rand: float = 0.0) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt (1-based).

    ``base * 2**(attempts-1)`` capped at ``cap_s``, then stretched by up to ``jitter``
    (a fraction) using ``rand`` in [0, 1) so that workers do not retry in lockstep.
    """
    if attempts < 1:
        raise ValueError("attempts counts from 1")
    exponent = min(attempts - 1, 62)  # keep the float finite for absurd attempt counts
    delay = min(base_s * 2.0**exponent, cap_s)
    return delay * (1.0 + max(jitter, 0.0) * min(max(rand, 0.0), 1.0))


def is_final_attempt(attempts: int, max_attempts: int) -> bool:
    """After ``attempts`` failures, does the message go dead?"""
    return attempts >= max(max_attempts, 1)


# -- email: retried by age, not by a count of attempts ------------------------------------

MAIL_KIND = "email"
MAIL_MAX_AGE = timedelta(hours=72)  # a mail server may be down for a long weekend
MAIL_BACKOFF_CAP_S = 3600.0  # at least one attempt an hour once the backoff has grown


def is_mail_kind(kind: str) -> bool:
    """``email`` and every ``email:...`` kind (signing requests, codes, reminders...)."""
    return kind == MAIL_KIND or kind.startswith(MAIL_KIND + ":")


def mail_gives_up(failing_since: datetime, now: datetime,
                  max_age: timedelta = MAIL_MAX_AGE) -> bool:
    """After a transient failure at ``now``, does an email failing since
    ``failing_since`` go dead? Only once it has been retried for ``max_age``."""
    return now - failing_since >= max_age


def mail_schedule_s(*, base_s: float, cap_s: float = MAIL_BACKOFF_CAP_S,
                    max_age: timedelta = MAIL_MAX_AGE) -> list[float]:
    """The delays (without jitter) an email that keeps failing waits between attempts,
    until it gives up: for the README and the tests. Its sum reaches ``max_age``."""
    delays: list[float] = []
    total, horizon = 0.0, max_age.total_seconds()
    while total < horizon:
        delay = backoff_s(len(delays) + 1, base_s=base_s, cap_s=cap_s)
        delays.append(delay)
        total += delay
    return delays


def mask_address(addr: str) -> str:
    """``an***@example.com``: enough for an admin to recognise an address, not to harvest
    it (two characters of the local part, the domain in full)."""
    local, at, domain = addr.strip().rpartition("@")
    if not at or not local:
        return "***"
    return f"{local[:2]}***@{domain}"


_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S+")


def describe_error(exc: BaseException, *, secrets: Iterable[str] = ()) -> str:
    """A short, log-safe description of ``exc`` for ``outbox.last_error``.

    URLs (signing links carry tokens) and any of ``secrets`` are blanked out and the
    result is truncated to MAX_ERROR_LEN characters.
    """
    text = str(exc)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    text = _URL.sub("<url>", text)
    text = " ".join(text.split())
    message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if len(message) > MAX_ERROR_LEN:
        message = message[: MAX_ERROR_LEN - 1] + "…"
    return message
