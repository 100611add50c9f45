"""The organisation settings contracts own (declared in ``contracts.wiring`` as
``wiring.OrgSetting``; accounts stores them). Pure: each ``read_*`` is the value in force
(its default when unset or not valid), each ``check_*`` the value to store (or
``ContractError``, which the wiring turns into a 422).

* ``time_zone``: the organisation's IANA time zone (default UTC): renewal windows are
  whole days in it.
* ``renewal_windows``: notice windows in days before the end date (default 120, 90, 60);
  a contract's own ``renewal_windows`` win.
* ``renewal_opt_out_warning_days``: the warning before an auto-renewing contract's
  opt-out notice date (default 30 days before it; 0 = none).
* ``renewal_addendum_days``: when the renewal addendum is drafted (default 60 days before
  the end; 0 = never).
* ``renewal_template``: the key of the published template the addendum is drafted from
  (default none: no addendum).
* ``retention_policies``: contract type -> retention policy (``contracts.retention``;
  types not named, and the default, ``standard``). A template's ``contract.retention``
  wins; compliance may override one contract's.
* ``renewal_addendum_mode``: ``confirm`` (a draft envelope the owner reviews and sends;
  the default) or ``auto`` (sent at once).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from accord.contracts.domain import (
    DEFAULT_ADDENDUM_WINDOW,
    DEFAULT_RENEWAL_WINDOWS,
    MAX_WINDOW_DAYS,
    ContractError,
    ContractType,
    check_windows,
)
from accord.contracts.retention import check_type_policies

TIME_ZONE = "time_zone"
WINDOWS = "renewal_windows"
OPT_OUT_WARNING = "renewal_opt_out_warning_days"
ADDENDUM_DAYS = "renewal_addendum_days"
TEMPLATE = "renewal_template"
ADDENDUM_MODE = "renewal_addendum_mode"
RETENTION_POLICIES = "retention_policies"

DEFAULT_TIME_ZONE = "UTC"
DEFAULT_OPT_OUT_WARNING_DAYS = 30
MAX_OPT_OUT_WARNING_DAYS = 365
CONFIRM, AUTO = "confirm", "auto"
_TEMPLATE_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")


def check_time_zone(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 64 or value.startswith("/"):
        raise ContractError("invalid_time_zone", "time_zone is an IANA time zone name "
                            "such as Europe/Paris")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ContractError("invalid_time_zone", f"unknown time zone {value!r}") from None
    return value


def read_time_zone(settings: Mapping[str, Any]) -> str:
    try:
        return check_time_zone(settings.get(TIME_ZONE, DEFAULT_TIME_ZONE))
    except ContractError:
        return DEFAULT_TIME_ZONE


def check_renewal_windows(value: Any) -> list[int]:
    if not isinstance(value, list | tuple) or any(
            isinstance(w, bool) or not isinstance(w, int) for w in value):
        raise ContractError("invalid_windows", "renewal_windows is a list of whole days")
    return list(check_windows(value))


def read_renewal_windows(settings: Mapping[str, Any]) -> list[int]:
    try:
        return check_renewal_windows(settings.get(WINDOWS, list(DEFAULT_RENEWAL_WINDOWS)))
    except ContractError:
        return list(DEFAULT_RENEWAL_WINDOWS)


def _days(value: Any, code: str, name: str, top: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        raise ContractError(code, f"{name} is 0 (off) to {top} days")
    return value


def check_opt_out_warning(value: Any) -> int:
    return _days(value, "invalid_opt_out_warning", OPT_OUT_WARNING, MAX_OPT_OUT_WARNING_DAYS)


def read_opt_out_warning(settings: Mapping[str, Any]) -> int:
    try:
        return check_opt_out_warning(settings.get(OPT_OUT_WARNING,
                                                  DEFAULT_OPT_OUT_WARNING_DAYS))
    except ContractError:
        return DEFAULT_OPT_OUT_WARNING_DAYS


def check_addendum_days(value: Any) -> int:
    return _days(value, "invalid_addendum_window", ADDENDUM_DAYS, MAX_WINDOW_DAYS)


def read_addendum_days(settings: Mapping[str, Any]) -> int:
    try:
        return check_addendum_days(settings.get(ADDENDUM_DAYS, DEFAULT_ADDENDUM_WINDOW))
    except ContractError:
        return DEFAULT_ADDENDUM_WINDOW


def check_template(value: Any) -> str:
    """A template key (the template must be published when the addendum is drafted);
    an empty string clears the setting (no addendum)."""
    if value == "":
        return ""
    if not isinstance(value, str) or not _TEMPLATE_KEY.match(value):
        raise ContractError("invalid_renewal_template", "renewal_template is a template "
                            "key (lower-case letters, digits and dashes)")
    return value


def read_template(settings: Mapping[str, Any]) -> str | None:
    try:
        return check_template(settings.get(TEMPLATE, "")) or None
    except ContractError:
        return None


def check_addendum_mode(value: Any) -> str:
    if value not in (CONFIRM, AUTO):
        raise ContractError("invalid_addendum_mode",
                            f"renewal_addendum_mode is {CONFIRM!r} or {AUTO!r}")
    return str(value)


def read_addendum_mode(settings: Mapping[str, Any]) -> str:
    value = settings.get(ADDENDUM_MODE, CONFIRM)
    return value if value in (CONFIRM, AUTO) else CONFIRM


def check_retention_policies(value: Any) -> dict[str, str]:
    return check_type_policies(value, tuple(t.value for t in ContractType))


def read_retention_policies(settings: Mapping[str, Any]) -> dict[str, str]:
    try:
        return check_retention_policies(settings.get(RETENTION_POLICIES, {}))
    except ContractError:
        return {}


@dataclass(frozen=True)
class RenewalSettings:
    """Every renewal setting of one organisation, in force."""

    time_zone: str = DEFAULT_TIME_ZONE
    windows: tuple[int, ...] = DEFAULT_RENEWAL_WINDOWS
    opt_out_warning_days: int = DEFAULT_OPT_OUT_WARNING_DAYS
    addendum_days: int = DEFAULT_ADDENDUM_WINDOW
    template: str | None = None
    addendum_mode: str = CONFIRM

    @property
    def horizon(self) -> int:
        """How many days before an end date anything of the organisation's own is due."""
        return max((*self.windows, self.addendum_days))


def renewal_settings(settings: Mapping[str, Any]) -> RenewalSettings:
    return RenewalSettings(
        time_zone=read_time_zone(settings), windows=tuple(read_renewal_windows(settings)),
        opt_out_warning_days=read_opt_out_warning(settings),
        addendum_days=read_addendum_days(settings), template=read_template(settings),
        addendum_mode=read_addendum_mode(settings))


def contract_windows(own: Any, org: RenewalSettings) -> tuple[int, ...]:
    """The windows in force for one contract: its own (if valid), else the organisation's."""
    if own:
        try:
            return check_windows(own)
        except (ContractError, TypeError, ValueError):
            pass
    return org.windows
