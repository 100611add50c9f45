"""Pure rules of the outbox: statuses, retry schedule, and what an error may say.

Nothing here touches the database, the network or the clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

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
