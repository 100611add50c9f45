"""Envelopes' wiring: the signing-request email (with its delivered/failed hooks), the
reminder and expiry-warning emails, the lifecycle sweep (expiry, expiry warnings,
reminders) and the organisation's reminder and expiry-warning settings (stored by
accounts; their defaults and ranges are envelopes' rules)."""

from __future__ import annotations

from collections.abc import Callable

from accord.envelopes.lifecycle import rules, sweep
from accord.envelopes.services import SIGNING_REQUEST
from accord.envelopes.tasks import (
    EXPIRY_WARNING,
    REMINDER,
    expiry_warning_email,
    reminder_email,
    signing_request_addressee,
    signing_request_delivered,
    signing_request_email,
    signing_request_failed,
)
from accord.errors import InvalidInput
from accord.wiring import OrgSetting, Sweep, Task, Wiring


def _checked(rule: Callable[[int], int]) -> Callable[[int], int]:
    def check(value: int) -> int:
        try:
            return rule(value)
        except rules.RuleError as exc:
            raise InvalidInput(exc.message, code=exc.code) from exc

    return check


WIRING = Wiring(
    feature="envelopes",
    tasks=(Task(SIGNING_REQUEST, signing_request_email, delivered=signing_request_delivered,
                failed=signing_request_failed, addressee=signing_request_addressee),
           Task(REMINDER, reminder_email), Task(EXPIRY_WARNING, expiry_warning_email)),
    sweeps=(Sweep("lifecycle", sweep, every_s=30.0),),
    org_settings=(
        OrgSetting(rules.REMINDER_SETTING, rules.org_interval, _checked(rules.check_interval)),
        OrgSetting(rules.WARNING_SETTING, rules.org_warning_days,
                   _checked(rules.check_warning_days)),
    ),
)
