"""The renewal sweep: windows in the organisation's local date (time zones, DST) with a
frozen clock, notices to the owner and watchers exactly once, across restarts and
crashes, the opt-out warning, and the moves to renewal_due and expired (flagged)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from accord.accounts.services import admin
from accord.contracts import settings as rules
from accord.contracts.services import renewals
from accord.contracts.tasks import renewal_sweep
from accord.errors import InvalidInput
from accord.runtime import Runtime
from tests.conftest import Clock
from tests.contracts.renewals_helpers import (
    add_contract,
    contract,
    mails,
    notices,
    organisation,
    utc,
)
from tests.factories import member

ORG = rules.RenewalSettings()


def _due(today: date, end: date, sent: set[tuple[str, int]] | None = None,
         **kw: Any) -> renewals.Due:
    args: dict[str, Any] = {"status": "active", "own_windows": None, "auto_renew": False,
                            "opt_out": None, "org": ORG}
    args.update(kw)
    return renewals.due_for(end=end, today=today, sent=sent or set(), **args)


# -- pure: what is due on which local day ---------------------------------------------


def test_windows_open_on_their_day_and_stay_due_until_sent() -> None:
    end = date(2027, 3, 31)
    assert _due(date(2026, 11, 30), end).windows == ()  # 121 days before
    first = _due(date(2026, 12, 1), end)  # 120 days before
    assert first.windows == (120,)
    assert first.status == "renewal_due"
    assert _due(date(2026, 12, 1), end, {("renewal", 120)}).windows == ()
    assert _due(date(2027, 1, 1), end, {("renewal", 120)}).windows == (90,)
    assert _due(date(2027, 1, 1), end).windows == (120, 90)  # a missed window too
    assert _due(date(2027, 3, 31), end, {("renewal", 120), ("renewal", 90)}).windows == (60,)


def test_a_contract_past_its_end_expires_once() -> None:
    end = date(2027, 3, 31)
    gone = _due(date(2027, 4, 1), end, status="renewal_due")
    assert gone.status == "expired"
    assert gone.expired_notice
    assert gone.windows == ()
    assert not _due(date(2027, 4, 1), end, {("expired", 0)}).expired_notice
    assert _due(date(2027, 4, 1), end, status="terminated").status == "terminated"
    assert not _due(date(2027, 4, 1), end, status="expired").work("expired")


def test_own_windows_win_over_the_organisation_s() -> None:
    end = date(2027, 3, 31)
    assert _due(date(2027, 3, 1), end, own_windows=[30, 7]).windows == (30,)
    assert _due(date(2026, 12, 1), end, own_windows=[30, 7]).windows == ()
    assert _due(date(2027, 3, 1), end, own_windows="junk").windows == (120, 90, 60)


def test_opt_out_warning_before_the_notice_date() -> None:
    end, out = date(2027, 3, 31), date(2027, 1, 30)  # 60 days' notice
    kw = {"auto_renew": True, "opt_out": out}
    assert not _due(date(2026, 12, 30), end, **kw).opt_out  # 31 days before
    assert _due(date(2026, 12, 31), end, **kw).opt_out  # 30 days before
    assert _due(out, end, **kw).opt_out
    assert not _due(out + timedelta(days=1), end, **kw).opt_out  # the date has passed
    assert not _due(out, end, {("opt_out", 0)}, **kw).opt_out
    assert not _due(out, end, opt_out=out).opt_out  # not auto-renewing


@pytest.mark.parametrize(("tz", "before", "at"), [
    # 2026-12-31 local midnight, the 90-day window of a contract ending 2027-03-31
    ("UTC", utc(2026, 12, 30, 23, 59), utc(2026, 12, 31, 0, 0)),
    ("America/New_York", utc(2026, 12, 31, 4, 59), utc(2026, 12, 31, 5, 0)),  # EST
    ("Pacific/Auckland", utc(2026, 12, 30, 10, 59), utc(2026, 12, 30, 11, 0)),  # NZDT
    ("Asia/Kolkata", utc(2026, 12, 30, 18, 29), utc(2026, 12, 30, 18, 30)),
])
def test_window_day_starts_at_local_midnight(tz: str, before: Any, at: Any) -> None:
    org = rules.RenewalSettings(time_zone=tz, windows=(90,))
    end = date(2027, 3, 31)
    for now, due in ((before, ()), (at, (90,))):
        today = renewals.local_today(now, tz)
        assert renewals.due_for(status="active", end=end, own_windows=None,
                                auto_renew=False, opt_out=None, org=org, today=today,
                                sent=set()).windows == due


@pytest.mark.parametrize(("end", "before", "at"), [
    # New York's DST starts 2027-03-14 02:00 (EST, UTC-5, until then): the window day
    # 2027-03-14 begins at 05:00 UTC
    (date(2027, 4, 13), utc(2027, 3, 14, 4, 59), utc(2027, 3, 14, 5, 0)),
    # ... and the day after at 04:00 UTC (EDT, UTC-4)
    (date(2027, 4, 14), utc(2027, 3, 15, 3, 59), utc(2027, 3, 15, 4, 0)),
    # DST ends 2026-11-01 02:00: that day begins at 04:00 UTC (EDT), the next at 05:00
    (date(2026, 12, 1), utc(2026, 11, 1, 3, 59), utc(2026, 11, 1, 4, 0)),
    (date(2026, 12, 2), utc(2026, 11, 2, 4, 59), utc(2026, 11, 2, 5, 0)),
])
def test_window_days_across_dst_changes(end: date, before: Any, at: Any) -> None:
    org = rules.RenewalSettings(time_zone="America/New_York", windows=(30,))
    for now, due in ((before, ()), (at, (30,))):
        today = renewals.local_today(now, "America/New_York")
        assert renewals.due_for(status="active", end=end, own_windows=None,
                                auto_renew=False, opt_out=None, org=org, today=today,
                                sent=set()).windows == due


# -- settings ---------------------------------------------------------------------------


def test_settings_are_checked_and_read_with_defaults(rt: Runtime) -> None:
    boss = member(rt, role="admin")
    got = admin.get_settings(rt, boss.principal)
    assert got.time_zone == "UTC"
    assert got.renewal_windows == [120, 90, 60]
    assert (got.renewal_addendum_days, got.renewal_template) == (60, None)
    assert got.renewal_addendum_mode == "confirm"
    for key, bad, code in (("time_zone", "Mars/Olympus", "invalid_time_zone"),
                           ("renewal_windows", [0], "invalid_windows"),
                           ("renewal_windows", [True], "invalid_windows"),
                           ("renewal_opt_out_warning_days", 400, "invalid_opt_out_warning"),
                           ("renewal_addendum_days", -1, "invalid_addendum_window"),
                           ("renewal_template", "Not A Key", "invalid_renewal_template"),
                           ("renewal_addendum_mode", "yolo", "invalid_addendum_mode")):
        with pytest.raises(InvalidInput) as exc:
            admin.update_settings(rt, boss.principal, **{key: bad})
        assert exc.value.code == code
    saved = admin.update_settings(rt, boss.principal, time_zone="Europe/Paris",
                                  renewal_windows=[30, 90, 90])
    assert (saved.time_zone, saved.renewal_windows) == ("Europe/Paris", [90, 30])
    assert rules.read_time_zone({"time_zone": "nowhere"}) == "UTC"


# -- the sweep ----------------------------------------------------------------------------


def test_notices_go_to_owner_and_watchers_once_per_window(rt: Runtime, clock: Clock) -> None:
    boss = organisation(rt, time_zone="Europe/Paris")
    watcher = member(rt, role="manager", org_id=boss.org_id)
    stranger = member(rt, role="manager")  # another organisation: never told
    cid = add_contract(rt, boss, end=date(2027, 3, 31),
                       watchers=[watcher.user_id, stranger.user_id])
    clock.freeze(utc(2026, 11, 30, 22, 59))  # 23:59 in Paris: 121 days before the end
    assert renewal_sweep(rt).notices == 0
    assert contract(rt, cid).status == "active"
    clock.freeze(utc(2026, 11, 30, 23, 0))  # midnight in Paris: 120 days before
    first = renewal_sweep(rt)
    assert (first.notices, first.renewal_due) == (1, 1)
    assert contract(rt, cid).status == "renewal_due"
    assert renewal_sweep(rt).notices == 0  # a second pass: nothing more
    clock.freeze(utc(2027, 1, 30, 12))  # 60 days before (the 90 passed while "down")
    assert renewal_sweep(rt).notices == 1  # one notice for the nearest window
    assert renewal_sweep(rt).notices == 0
    assert notices(rt, cid) == [("renewal", 120), ("renewal", 90), ("renewal", 60)]
    sent = mails(rt, boss.org_id)
    assert sorted(s for _, s in sent) == ["Renewal due in 120 days: Support agreement",
                                          "Renewal due in 60 days: Support agreement"]
    assert all(to == f"{boss.email}, {watcher.email}" for to, _ in sent)


def test_expired_after_the_end_flagged_once(rt: Runtime, clock: Clock) -> None:
    boss = organisation(rt, time_zone="America/New_York")
    cid = add_contract(rt, boss, end=date(2027, 3, 31), status="renewal_due")
    clock.freeze(utc(2027, 4, 1, 3, 59))  # still 2027-03-31 in New York: its last day
    late = renewal_sweep(rt)  # the windows it never got: one catch-up notice
    assert (late.expired, late.notices) == (0, 1)
    clock.freeze(utc(2027, 4, 1, 4, 0))
    assert renewal_sweep(rt).expired == 1
    c = contract(rt, cid)
    assert (c.status, c.flagged) == ("expired", True)
    assert renewal_sweep(rt).expired == 0
    assert notices(rt, cid) == [("expired", 0), ("renewal", 120), ("renewal", 90),
                                ("renewal", 60)]
    assert sorted(s for _, s in mails(rt, boss.org_id)) == [
        "Expired: Support agreement", "Renewal due in 0 days: Support agreement"]


def test_opt_out_warning_of_an_auto_renewing_contract(rt: Runtime, clock: Clock) -> None:
    boss = organisation(rt, renewal_windows=[10], renewal_opt_out_warning_days=14)
    cid = add_contract(rt, boss, end=date(2027, 3, 31), auto_renew=True, notice_days=60)
    clock.freeze(utc(2027, 1, 16, 12))  # opt-out 2027-01-30, 14 days ahead
    result = renewal_sweep(rt)
    assert (result.opt_out_warnings, result.notices) == (1, 0)
    assert renewal_sweep(rt).opt_out_warnings == 0
    assert notices(rt, cid) == [("opt_out", 0)]
    assert [s for _, s in mails(rt, boss.org_id)] == [
        "Opt-out deadline 2027-01-30: Support agreement"]


def test_terminated_and_undated_contracts_are_left_alone(rt: Runtime, clock: Clock) -> None:
    boss = organisation(rt)
    gone = add_contract(rt, boss, end=date(2027, 3, 31), status="terminated")
    open_ended = add_contract(rt, boss, end=None)
    clock.freeze(utc(2027, 3, 1))
    assert renewal_sweep(rt).notices == 0
    assert notices(rt, gone) == notices(rt, open_ended) == []


def test_a_crash_before_commit_leaves_nothing_and_the_next_pass_sends_once(
        rt: Runtime, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    boss = organisation(rt)
    cid = add_contract(rt, boss, end=date(2027, 3, 31))
    clock.freeze(utc(2026, 12, 1, 9))

    def crash(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("worker killed")

    monkeypatch.setattr(renewals, "send_email", crash)
    assert renewal_sweep(rt).notices == 0  # logged, rolled back
    assert notices(rt, cid) == []
    assert contract(rt, cid).status == "active"
    monkeypatch.undo()
    assert renewal_sweep(rt).notices == 1  # the "restarted" worker
    assert renewal_sweep(rt).notices == 0
    assert notices(rt, cid) == [("renewal", 120)]
    assert len(mails(rt, boss.org_id)) == 1


def test_a_restart_with_a_new_runtime_sends_nothing_again(rt: Runtime, clock: Clock) -> None:
    from accord.runtime import build_runtime

    boss = organisation(rt)
    cid = add_contract(rt, boss, end=date(2027, 3, 31))
    clock.freeze(utc(2026, 12, 1, 9))
    assert renewal_sweep(rt).notices == 1
    again = build_runtime(rt.settings, database=rt.db)
    again.clock = clock
    assert renewal_sweep(again).notices == 0
    assert notices(rt, cid) == [("renewal", 120)]


def test_webhook_events_for_renewal_due_and_expired(rt: Runtime, clock: Clock,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, str, dict[str, Any]]] = []
    monkeypatch.setattr(renewals.webhooks, "emit",
                        lambda _s, org, kind, data, _now: seen.append((org, kind, data)))
    boss = organisation(rt)
    cid = add_contract(rt, boss, end=date(2027, 3, 31))
    clock.freeze(utc(2026, 12, 1, 9))
    renewal_sweep(rt)
    clock.freeze(utc(2027, 4, 1, 9))
    renewal_sweep(rt)
    assert [(o, k, d["contract_id"], d["from"]) for o, k, d in seen] == [
        (boss.org_id, "contract.renewal_due", cid, "active"),
        (boss.org_id, "contract.expired", cid, "renewal_due")]
    assert (seen[1][2]["status"], seen[1][2]["type"]) == ("expired", "support_services")


def test_the_sweep_is_wired_for_every_worker(rt: Runtime, clock: Clock) -> None:
    from accord import registry
    from accord.contracts.wiring import WIRING

    assert "renewals" in {s.name for s in registry.sweeps()}
    assert {s.key for s in WIRING.org_settings} == {
        "time_zone", "renewal_windows", "renewal_opt_out_warning_days",
        "renewal_addendum_days", "renewal_template", "renewal_addendum_mode",
        "retention_policies"}
    boss = organisation(rt)
    add_contract(rt, boss, end=date(2027, 3, 31))
    clock.freeze(utc(2026, 12, 1, 9))
    swept = registry.sweep_once(rt)["renewals"]  # what `accord worker --once` runs
    assert str(swept).startswith("1 renewal notice(s)")
