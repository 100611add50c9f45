"""Reminders and the expiry warning, with a frozen clock moved by hand."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from accord import registry
from accord.accounts.services import admin
from accord.audit import services as audit
from accord.delivery.services import list_mailbox
from accord.delivery.worker import drain
from accord.envelopes import lifecycle, services
from accord.envelopes.lifecycle import rules as lifecycle_rules
from accord.errors import Conflict, InvalidInput
from accord.runtime import Runtime
from tests.conftest import Clock
from tests.factories import Member, member, pdf, signature_fields

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _sent(rt: Runtime, m: Member, *, reminders: int | None = None, days: int = 120,
          signers: int = 1) -> services.EnvelopeView:
    env_id = services.create(
        rt, m.principal, subject="Support agreement",
        documents=[services.DocumentInput("a.pdf", pdf())],
        recipients=(rs := [services.RecipientInput(f"Signer {i}", f"s{i}@customer.example",
                                                   routing_order=i + 1)
                           for i in range(signers)]),
        fields=signature_fields(rs), expires_in_days=days, reminder_interval_hours=reminders)
    return services.send(rt, m.principal, env_id)


def _tags(rt: Runtime, env_id: str, tag: str) -> list[dict[str, Any]]:
    with rt.db.uow() as uow:
        return [e for e in audit.events(uow.session, env_id) if e["tag"] == tag]


def _mails(rt: Runtime, m: Member, subject_start: str) -> list[str]:
    drain(rt)
    return [msg.to_addr for msg in list_mailbox(rt, m.org_id, limit=200)
            if msg.subject.startswith(subject_start)]


def test_rules_are_pure() -> None:
    assert lifecycle_rules.org_interval({}) == 48
    assert lifecycle_rules.org_interval({"reminder_interval_hours": 0}) == 0
    assert lifecycle_rules.org_interval({"reminder_interval_hours": "x"}) == 48
    assert lifecycle_rules.effective_interval(None, 48) == 48
    assert lifecycle_rules.effective_interval(0, 48) == 0
    assert lifecycle_rules.next_reminder_at(notified_at=T0, reminded_at=None,
                                            interval_hours=0) is None
    later = T0.replace(hour=12)
    assert lifecycle_rules.next_reminder_at(notified_at=later, reminded_at=T0,
                                            interval_hours=1) == later.replace(hour=13)
    assert not lifecycle_rules.warning_due(expires_at=None, warned_at=None, days=3, now=T0)
    with pytest.raises(lifecycle_rules.RuleError):
        lifecycle_rules.check_interval(721)
    with pytest.raises(lifecycle_rules.RuleError):
        lifecycle_rules.check_warning_days(True)


def test_reminders_at_48_and_96_hours_then_stop_after_signing(rt: Runtime,
                                                             clock: Clock) -> None:
    clock.freeze(T0)
    m = member(rt)
    env = _sent(rt, m, signers=2)
    first = env.recipients[0]
    assert lifecycle.send_due_reminders(rt) == 0
    clock.advance(hours=47, minutes=59)
    assert lifecycle.send_due_reminders(rt) == 0
    clock.advance(minutes=1)
    assert [d.recipient_id for d in lifecycle.reminders_due(rt)] == [first.id]
    assert lifecycle.send_due_reminders(rt) == 1
    assert lifecycle.send_due_reminders(rt) == 0  # not twice
    clock.advance(hours=48)
    assert lifecycle.send_due_reminders(rt) == 1
    reminded = _tags(rt, env.id, "recipient:reminded")
    assert [e["data"]["reminder"] for e in reminded] == [1, 2]
    assert all(e["actor"] == "system" for e in reminded)
    mails = _mails(rt, m, "Reminder:")
    assert mails == ["s0@customer.example"] * 2
    view = lifecycle.get_lifecycle(rt, m.principal, env.id)
    assert view.recipients[0].reminder_count == 2
    assert view.recipients[0].next_reminder_at == T0.replace(day=8)  # 144 h
    assert view.recipients[1].next_reminder_at is None  # not their turn yet

    # the first signer signs: their reminders stop, the second's start from their request
    _finish(rt, first.id)
    clock.advance(hours=48)
    assert lifecycle.send_due_reminders(rt) == 1
    assert _tags(rt, env.id, "recipient:reminded")[-1]["data"]["recipient_id"] == \
        env.recipients[1].id


def _finish(rt: Runtime, recipient_id: str) -> None:
    """Mark a recipient done the way signing does (state machine + audit)."""
    from accord.envelopes.models import Recipient

    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        rec = s.get(Recipient, recipient_id)
        assert rec is not None
        env = services.lock(s, rec.envelope_id)
        assert env is not None
        recs = services.recipients_of(s, env.id)
        state = services.state_of(env, recs)
        nxt, _ = state.complete_recipient(rec.id)
        services.apply_state(env, recs, state)
        rec.token_hash = None
        audit.record(s, env, "recipient:signed", actor="test", now=now)
        services.notify(s, env, nxt, now, rt.link_key)
        uow.commit()


def test_no_reminder_after_void_or_expiry(rt: Runtime, clock: Clock) -> None:
    clock.freeze(T0)
    m = member(rt)
    voided = _sent(rt, m)
    expiring = _sent(rt, m, days=2)
    services.void(rt, m.principal, voided.id, "wrong customer")
    clock.advance(hours=49)
    assert lifecycle.sweep(rt) == lifecycle.SweepResult(expired=1, warned=0, reminded=0)
    assert not _tags(rt, voided.id, "recipient:reminded")
    assert not _tags(rt, expiring.id, "recipient:reminded")
    assert _tags(rt, expiring.id, "envelope:expired")


def test_per_envelope_and_organisation_intervals(rt: Runtime, clock: Clock) -> None:
    clock.freeze(T0)
    admin_m = member(rt, role="admin")
    agent = member(rt, role="agent", org_id=admin_m.org_id)
    admin.update_settings(rt, admin_m.principal, reminder_interval_hours=24)
    org_default = _sent(rt, agent)
    own = _sent(rt, agent, reminders=6)
    off = _sent(rt, agent, reminders=0)
    clock.advance(hours=6)
    assert lifecycle.send_due_reminders(rt) == 1
    clock.advance(hours=18)  # 24 h: org_default's first, own's second (missed passes
    assert lifecycle.send_due_reminders(rt) == 2  # do not make a burst of catch-ups)
    assert len(_tags(rt, own.id, "recipient:reminded")) == 2
    assert len(_tags(rt, org_default.id, "recipient:reminded")) == 1
    assert not _tags(rt, off.id, "recipient:reminded")
    view = lifecycle.set_reminders(rt, agent.principal, off.id, None)
    assert view.reminder_interval_hours == 24 and view.envelope_reminder_interval_hours is None
    assert _tags(rt, off.id, "envelope:reminders_changed")[0]["data"] == {
        "before": 0, "after": None}
    assert lifecycle.send_due_reminders(rt) == 1  # 24 h since its request
    with pytest.raises(InvalidInput):
        lifecycle.set_reminders(rt, agent.principal, off.id, 1000)
    with pytest.raises(InvalidInput):
        admin.update_settings(rt, admin_m.principal, reminder_interval_hours=-1)
    assert admin.get_settings(rt, admin_m.principal).reminder_interval_hours == 24


def test_two_concurrent_sweeps_send_one_reminder(rt: Runtime, clock: Clock) -> None:
    clock.freeze(T0)
    m = member(rt)
    env = _sent(rt, m)
    clock.advance(hours=48)
    barrier = threading.Barrier(2)
    counts: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            counts.append(lifecycle.send_due_reminders(rt))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(counts) == [0, 1]
    assert len(_tags(rt, env.id, "recipient:reminded")) == 1
    assert len(_mails(rt, m, "Reminder:")) == 1


def test_guarded_claim_refuses_a_stale_count(rt: Runtime, clock: Clock) -> None:
    """The claim itself: a second transaction holding the old count loses."""
    clock.freeze(T0)
    m = member(rt)
    rid = _sent(rt, m).recipients[0].id
    with rt.db.uow() as uow:
        assert lifecycle._claim(uow.session, rid, 0, rt.now()) == 1
        uow.commit()
    with rt.db.uow() as uow:
        assert lifecycle._claim(uow.session, rid, 0, rt.now()) is None
        assert lifecycle._claim(uow.session, rid, 1, rt.now()) == 2


def test_remind_now_keeps_the_link(rt: Runtime, clock: Clock) -> None:
    clock.freeze(T0)
    m = member(rt)
    env = _sent(rt, m)
    rid = env.recipients[0].id
    clock.advance(hours=10)
    lifecycle.remind(rt, m.principal, env.id, rid)
    drain(rt)
    bodies = [msg.body for msg in list_mailbox(rt, m.org_id, limit=50)]
    links = {line for b in bodies for line in b.splitlines() if "/s/" in line}
    assert len(links) == 1  # the request and the reminder carry the same live link
    event = _tags(rt, env.id, "recipient:reminded")[0]
    assert event["data"]["manual"] is True and event["actor"] == f"user:{m.email}"
    clock.advance(hours=47)
    assert lifecycle.send_due_reminders(rt) == 0  # counted from the manual one
    clock.advance(hours=1)
    assert lifecycle.send_due_reminders(rt) == 1
    services.void(rt, m.principal, env.id, "done")
    with pytest.raises(Conflict):
        lifecycle.remind(rt, m.principal, env.id, rid)


def test_expiry_warning_once_then_expiry(rt: Runtime, clock: Clock) -> None:
    clock.freeze(T0)
    m = member(rt)
    env = _sent(rt, m, days=10, reminders=0)
    assert lifecycle.warn_expiring(rt) == 0
    clock.advance(days=6, hours=23)
    assert lifecycle.warn_expiring(rt) == 0
    clock.advance(hours=1)  # 3 days before
    assert lifecycle.warn_expiring(rt) == 1
    assert lifecycle.warn_expiring(rt) == 0
    clock.advance(days=1)
    assert lifecycle.sweep(rt).warned == 0
    warned = _tags(rt, env.id, "envelope:expiry_warned")
    assert len(warned) == 1 and warned[0]["data"]["days_before"] == 3
    assert _mails(rt, m, "Expires soon:") == [m.email, "s0@customer.example"] or \
        sorted(_mails(rt, m, "Expires soon:")) == sorted([m.email, "s0@customer.example"])
    clock.advance(days=2)
    assert lifecycle.sweep(rt).expired == 1
    assert lifecycle.get_lifecycle(rt, m.principal, env.id).expiry_warned_at is not None


def test_expiry_warning_follows_the_organisation(rt: Runtime, clock: Clock) -> None:
    clock.freeze(T0)
    admin_m = member(rt, role="admin")
    admin.update_settings(rt, admin_m.principal, expiry_warning_days=0)
    env = _sent(rt, admin_m, days=2)
    assert lifecycle.warn_expiring(rt) == 0
    admin.update_settings(rt, admin_m.principal, expiry_warning_days=7)
    assert lifecycle.warn_expiring(rt) == 1
    assert lifecycle.get_lifecycle(rt, admin_m.principal, env.id).expiry_warning_days == 7


def test_background_loop_sweeps_until_stopped(rt: Runtime, clock: Clock) -> None:
    """The loop ``accord serve`` and ``accord worker`` run in a thread."""
    clock.freeze(T0)
    m = member(rt)
    env = _sent(rt, m)
    clock.advance(hours=48)
    stop = threading.Event()
    thread = threading.Thread(target=registry.run_sweeps, args=(rt, stop, 0.05))
    thread.start()
    try:
        for _ in range(200):
            if _tags(rt, env.id, "recipient:reminded"):
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(_tags(rt, env.id, "recipient:reminded")) == 1
