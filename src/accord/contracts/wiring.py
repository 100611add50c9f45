"""Contracts' wiring: a completed envelope files (or amends, or renews) a contract record
through signing's ``envelope.completed`` event; the ``contract:index`` task reads the filed
documents' text for search; the renewal sweep; and the organisation settings renewals read
(time zone, renewal windows, opt-out warning, renewal addendum window, template and mode)
and the retention policy per contract type (stored by accounts, their rules in
``contracts.settings``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accord.contracts import settings as rules
from accord.contracts.domain import ContractError
from accord.contracts.services.filing import on_envelope_completed
from accord.contracts.services.indexing import INDEX, index_contract
from accord.contracts.tasks import renewal_sweep
from accord.errors import InvalidInput
from accord.wiring import OrgSetting, Subscription, Sweep, Task, Wiring


def _checked(rule: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        try:
            return rule(value)
        except ContractError as exc:
            raise InvalidInput(exc.message, code=exc.code) from exc

    return check


WIRING = Wiring(
    feature="contracts",
    tasks=(Task(INDEX, index_contract),),
    subscriptions=(Subscription("envelope.completed", on_envelope_completed),),
    sweeps=(Sweep("renewals", renewal_sweep, every_s=60.0),),
    org_settings=(
        OrgSetting(rules.TIME_ZONE, rules.read_time_zone, _checked(rules.check_time_zone)),
        OrgSetting(rules.WINDOWS, rules.read_renewal_windows,
                   _checked(rules.check_renewal_windows)),
        OrgSetting(rules.OPT_OUT_WARNING, rules.read_opt_out_warning,
                   _checked(rules.check_opt_out_warning)),
        OrgSetting(rules.ADDENDUM_DAYS, rules.read_addendum_days,
                   _checked(rules.check_addendum_days)),
        OrgSetting(rules.TEMPLATE, rules.read_template, _checked(rules.check_template)),
        OrgSetting(rules.ADDENDUM_MODE, rules.read_addendum_mode,
                   _checked(rules.check_addendum_mode)),
        OrgSetting(rules.RETENTION_POLICIES, rules.read_retention_policies,
                   _checked(rules.check_retention_policies)),
    ),
)
