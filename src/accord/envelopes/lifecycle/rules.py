"""Rules of a recipient's lifecycle: when reminders and the expiry warning are due. Pure:
no database, no web, no I/O.

Reminders: a recipient whose turn it is gets a reminder every ``interval`` hours after the
signing request (or the last reminder, or a new link), until they act or the envelope
leaves ``sent``. The interval is the envelope's own (``reminder_interval_hours``) or else
the organisation's (default 48); 0 switches reminders off.

Expiry warning: once per envelope, ``days`` before it expires (organisation setting,
default 3; 0 = no warning).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

REMINDER_SETTING = "reminder_interval_hours"
WARNING_SETTING = "expiry_warning_days"
DEFAULT_REMINDER_HOURS = 48
DEFAULT_WARNING_DAYS = 3
MAX_REMINDER_HOURS = 24 * 30  # 0 (off) or 1 hour .. 30 days
MAX_WARNING_DAYS = 30  # 0 (off) .. 30 days


class RuleError(ValueError):
    """A setting outside its range; ``code`` is the stable error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_interval(hours: int) -> int:
    if isinstance(hours, bool) or not isinstance(hours, int) or not (
            0 <= hours <= MAX_REMINDER_HOURS):
        raise RuleError("invalid_reminder_interval", f"reminder_interval_hours must be 0 "
                        f"(off) or 1-{MAX_REMINDER_HOURS}")
    return hours


def check_warning_days(days: int) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_WARNING_DAYS:
        raise RuleError("invalid_expiry_warning", f"expiry_warning_days must be 0 (off) or "
                        f"1-{MAX_WARNING_DAYS}")
    return days


def _setting(settings: Mapping[str, Any], key: str, default: int, top: int) -> int:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        return default
    return value


def org_interval(settings: Mapping[str, Any]) -> int:
    """The organisation's reminder interval in hours (its settings JSON; 0 = off)."""
    return _setting(settings, REMINDER_SETTING, DEFAULT_REMINDER_HOURS, MAX_REMINDER_HOURS)


def org_warning_days(settings: Mapping[str, Any]) -> int:
    return _setting(settings, WARNING_SETTING, DEFAULT_WARNING_DAYS, MAX_WARNING_DAYS)


def effective_interval(envelope_hours: int | None, org_hours: int) -> int:
    """The envelope's own interval wins over the organisation's."""
    return org_hours if envelope_hours is None else envelope_hours


def next_reminder_at(*, notified_at: datetime | None, reminded_at: datetime | None,
                     interval_hours: int) -> datetime | None:
    """When the next reminder is due, or None (no link sent yet, or reminders off)."""
    if interval_hours <= 0 or notified_at is None:
        return None
    last = max(notified_at, reminded_at) if reminded_at is not None else notified_at
    return last + timedelta(hours=interval_hours)


def reminder_due(*, notified_at: datetime | None, reminded_at: datetime | None,
                 interval_hours: int, now: datetime) -> bool:
    due = next_reminder_at(notified_at=notified_at, reminded_at=reminded_at,
                           interval_hours=interval_hours)
    return due is not None and due <= now


def warning_at(expires_at: datetime | None, days: int) -> datetime | None:
    """When the expiry warning goes out, or None (no expiry, or warnings off)."""
    if expires_at is None or days <= 0:
        return None
    return expires_at - timedelta(days=days)


def warning_due(*, expires_at: datetime | None, warned_at: datetime | None, days: int,
                now: datetime) -> bool:
    """Due once: from ``days`` before the expiry until the expiry itself."""
    at = warning_at(expires_at, days)
    return (warned_at is None and at is not None and expires_at is not None
            and at <= now < expires_at)
