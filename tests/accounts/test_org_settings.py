"""Organisation settings other features own: accounts stores them, the owner (declared in
its wiring, installed by ``registry.install()``) says what they mean."""

from __future__ import annotations

import pytest

from accord.accounts.services import admin
from accord.envelopes.wiring import WIRING as ENVELOPES
from accord.errors import InvalidInput
from accord.runtime import Runtime
from tests.factories import member


def test_envelopes_declares_its_reminder_and_expiry_settings() -> None:
    assert {s.key for s in ENVELOPES.org_settings} == {"reminder_interval_hours",
                                                       "expiry_warning_days"}


def test_declared_settings_are_checked_by_their_owner_and_stored(rt: Runtime) -> None:
    boss = member(rt, role="admin")
    assert admin.get_settings(rt, boss.principal).reminder_interval_hours == 48  # its default
    with pytest.raises(InvalidInput) as exc:
        admin.update_settings(rt, boss.principal, expiry_warning_days=31)
    assert exc.value.code == "invalid_expiry_warning"
    with pytest.raises(InvalidInput) as exc:
        admin.update_settings(rt, boss.principal, nobody_declared_this=1)
    assert exc.value.code == "unknown_setting"
    saved = admin.update_settings(rt, boss.principal, expiry_warning_days=7)
    assert saved.expiry_warning_days == 7 and saved.reminder_interval_hours == 48
