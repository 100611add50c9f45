"""A recipient's lifecycle after sending: reminders, the expiry warning, reassignment.

* Reminders: ``reminders_due`` finds recipients whose turn it is and whose interval has
  passed since their signing request (or last reminder); ``send_reminder`` claims one
  with a guarded UPDATE on the recipient's ``reminder_count`` (two sweeps racing: one
  wins, the other sends nothing), queues the reminder email and audits
  ``recipient:reminded``. They stop by themselves when the recipient acts or the envelope
  leaves ``sent``: nothing else is due then. ``remind`` is the sender's "remind now".
* Expiry warning: ``warn_expiring`` emails the recipients whose turn it is and the sender
  once per envelope, N days before it expires (``envelope:expiry_warned``).
* ``sweep`` runs the expiry, the warnings and the reminders; ``envelopes.wiring`` declares
  it, and the in-process loop of ``accord serve`` and every ``accord worker`` run it.
* ``reassign``: the sender gives a recipient's part to another person. ``hand_over`` does
  the work for it and for the signer's own delegation (``signing.delegation``): the old
  link and every signer session die, consent and views reset, a new link goes out if it
  is the recipient's turn.

Each command owns its transaction; the envelope row is locked first (its version column
and the audit chain head on it make concurrent writers conflict instead of forking).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from accord.access import Permission, Principal
from accord.accounts.services import org_settings
from accord.audit import services as audit
from accord.delivery.mail import Email
from accord.delivery.services import enqueue, send_email
from accord.envelopes.checks import person_problems, raise_problems
from accord.envelopes.domain import EnvelopeStatus, RecipientRole, RecipientStatus
from accord.envelopes.hooks import CONFIGURE_AUTH, END_SESSIONS, AuthRequest, factors_of
from accord.envelopes.lifecycle import rules as rules
from accord.envelopes.models import Envelope, Recipient
from accord.envelopes.services import (
    ASKED,
    Actor,
    EnvelopeView,
    clear_delivery_failure,
    commit_or_conflict,
    expire_due,
    load,
    notify,
    recipients_of,
    sender_email,
    staff_actor,
    state_of,
    view_of,
)
from accord.envelopes.tasks import EXPIRY_WARNING, REMINDER
from accord.errors import Conflict, InvalidInput, NotFound
from accord.runtime import Runtime

log = logging.getLogger("accord.lifecycle")

ACTIVE = (RecipientStatus.SENT.value, RecipientStatus.DELIVERED.value)
BATCH = 500  # reminders or warnings handled per pass (the next pass takes the rest)


# -- reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    envelope_id: str
    recipient_id: str
    due_at: datetime


@dataclass(frozen=True)
class RecipientReminders:
    recipient_id: str
    name: str
    email: str
    status: str
    may_delegate: bool
    reminder_count: int
    reminded_at: datetime | None
    next_reminder_at: datetime | None  # None: not their turn, or reminders are off


@dataclass(frozen=True)
class LifecycleView:
    """An envelope's reminder and expiry settings, and where each recipient stands."""

    envelope_id: str
    status: str
    reminder_interval_hours: int  # in force: the envelope's own, else the organisation's
    envelope_reminder_interval_hours: int | None  # None: the organisation's applies
    organisation_reminder_interval_hours: int
    expires_at: datetime | None
    expiry_warning_days: int
    expiry_warning_at: datetime | None
    expiry_warned_at: datetime | None
    recipients: list[RecipientReminders]


def _org(session: Session, org_id: str) -> tuple[int, int]:
    raw = org_settings(session, {org_id}).get(org_id, {})
    return rules.org_interval(raw), rules.org_warning_days(raw)


def _turn(env: Envelope, rec: Recipient) -> bool:
    return (env.status == EnvelopeStatus.SENT.value and rec.status in ACTIVE
            and rec.role != RecipientRole.CC.value and rec.token_hash is not None)


def lifecycle_of(session: Session, env: Envelope) -> LifecycleView:
    org_hours, days = _org(session, env.org_id)
    hours = rules.effective_interval(env.reminder_interval_hours, org_hours)
    live = env.status == EnvelopeStatus.SENT.value
    return LifecycleView(
        envelope_id=env.id, status=env.status, reminder_interval_hours=hours,
        envelope_reminder_interval_hours=env.reminder_interval_hours,
        organisation_reminder_interval_hours=org_hours, expires_at=env.expires_at,
        expiry_warning_days=days,
        expiry_warning_at=rules.warning_at(env.expires_at, days) if live else None,
        expiry_warned_at=env.expiry_warned_at,
        recipients=[RecipientReminders(
            recipient_id=r.id, name=r.name, email=r.email, status=r.status,
            may_delegate=r.may_delegate, reminder_count=r.reminder_count,
            reminded_at=r.reminded_at,
            next_reminder_at=rules.next_reminder_at(
                notified_at=r.notified_at, reminded_at=r.reminded_at, interval_hours=hours)
            if _turn(env, r) else None)
            for r in recipients_of(session, env.id)])


def get_lifecycle(rt: Runtime, principal: Principal, envelope_id: str) -> LifecycleView:
    principal.require(Permission.ENVELOPE_READ)
    with rt.db.uow() as uow:
        return lifecycle_of(uow.session, load(uow.session, principal, envelope_id))


def set_reminders(rt: Runtime, principal: Principal, envelope_id: str,
                  interval_hours: int | None, actor: Actor | None = None) -> LifecycleView:
    """Give the envelope its own reminder interval (0 = none), or None to follow the
    organisation's. Audited ``envelope:reminders_changed``."""
    principal.require(Permission.ENVELOPE_SEND)
    if interval_hours is not None:
        try:
            rules.check_interval(interval_hours)
        except rules.RuleError as exc:
            raise InvalidInput(exc.message, code=exc.code) from exc
    actor = actor or staff_actor(principal)
    now = rt.now()
    with rt.db.uow() as uow:
        env = load(uow.session, principal, envelope_id, for_update=True)
        if env.status not in (EnvelopeStatus.DRAFT.value, EnvelopeStatus.SENT.value):
            raise Conflict(f"the envelope is {env.status}", code="envelope_not_active")
        before = env.reminder_interval_hours
        if before != interval_hours:
            env.reminder_interval_hours = interval_hours
            audit.record(uow.session, env, "envelope:reminders_changed", actor=actor.label,
                         now=now, ip=actor.ip, user_agent=actor.user_agent,
                         data={"before": before, "after": interval_hours})
            commit_or_conflict(uow.session)
        return lifecycle_of(uow.session, env)


# -- reminders -------------------------------------------------------------------------


def reminders_due(rt: Runtime, *, limit: int = BATCH) -> list[Due]:
    """Recipients (all organisations) whose reminder is due now, oldest first."""
    now = rt.now()
    floor = now - timedelta(hours=1)  # no interval is shorter; the exact check follows
    with rt.db.uow() as uow:
        s = uow.session
        rows = s.execute(
            select(Recipient.id, Recipient.envelope_id, Recipient.notified_at,
                   Recipient.reminded_at, Envelope.org_id, Envelope.reminder_interval_hours)
            .join(Envelope, Envelope.id == Recipient.envelope_id)
            .where(Envelope.status == EnvelopeStatus.SENT.value,
                   or_(Envelope.expires_at.is_(None), Envelope.expires_at > now),
                   or_(Envelope.reminder_interval_hours.is_(None),
                       Envelope.reminder_interval_hours > 0),
                   Recipient.status.in_(ACTIVE), Recipient.role != RecipientRole.CC.value,
                   Recipient.token_hash.is_not(None), Recipient.notified_at <= floor,
                   or_(Recipient.reminded_at.is_(None), Recipient.reminded_at <= floor))
            .order_by(Recipient.notified_at, Recipient.id).limit(limit)).all()
        settings = org_settings(s, {r.org_id for r in rows})
    out = []
    for rid, env_id, notified_at, reminded_at, org_id, own in rows:
        hours = rules.effective_interval(own, rules.org_interval(settings.get(org_id, {})))
        at = rules.next_reminder_at(notified_at=notified_at, reminded_at=reminded_at,
                                    interval_hours=hours)
        if at is not None and at <= now:
            out.append(Due(env_id, rid, at))
    return out


def _claim(session: Session, recipient_id: str, seen: int, now: datetime) -> int | None:
    """Count one more reminder unless someone else did since ``seen`` was read: returns
    the new count, or None when another transaction got there first."""
    result = session.execute(
        update(Recipient).where(Recipient.id == recipient_id, Recipient.reminder_count == seen)
        .values(reminder_count=seen + 1, reminded_at=now)
        .execution_options(synchronize_session=False))
    return seen + 1 if getattr(result, "rowcount", 0) == 1 else None


def _remind(rt: Runtime, session: Session, env: Envelope, rec: Recipient, *, now: datetime,
            actor: Actor, manual: bool) -> bool:
    count = _claim(session, rec.id, rec.reminder_count, now)
    if count is None:
        return False
    session.expire(rec, ["reminder_count", "reminded_at"])
    enqueue(session, kind=REMINDER, payload={"recipient_id": rec.id, "reminder": count},
            now=now, org_id=env.org_id)
    audit.record(session, env, "recipient:reminded", actor=actor.label, now=now,
                 ip=actor.ip, user_agent=actor.user_agent,
                 data={"recipient_id": rec.id, "email": rec.email, "reminder": count,
                       "manual": manual})
    return True


def _lock_or_skip(rt: Runtime, session: Session, envelope_id: str) -> Envelope | None:
    """Lock the envelope for a sweep; on PostgreSQL skip one another transaction holds
    (its holder - another sweeper, or a signer - finishes first; a next pass sees it)."""
    query = select(Envelope).where(Envelope.id == envelope_id)
    return session.scalar(query.with_for_update(skip_locked=rt.db.is_postgres))


def send_reminder(rt: Runtime, recipient_id: str) -> bool:
    """Send one due reminder (the sweep). False when it is no longer due: the recipient
    acted, the envelope left ``sent``, or another worker sent it first."""
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        env_id = s.scalar(select(Recipient.envelope_id).where(Recipient.id == recipient_id))
        env = _lock_or_skip(rt, s, env_id) if env_id else None
        rec = s.get(Recipient, recipient_id, populate_existing=True) if env else None
        if env is None or rec is None or not _turn(env, rec):
            return False
        if env.expires_at is not None and env.expires_at <= now:
            return False
        hours = rules.effective_interval(env.reminder_interval_hours, _org(s, env.org_id)[0])
        if not rules.reminder_due(notified_at=rec.notified_at, reminded_at=rec.reminded_at,
                                  interval_hours=hours, now=now):
            return False
        if not _remind(rt, s, env, rec, now=now, actor=Actor("system"), manual=False):
            return False
        try:
            commit_or_conflict(s)
        except Conflict:
            return False
        return True


def send_due_reminders(rt: Runtime) -> int:
    """Every due reminder (up to a batch); returns how many went out. Safe to run twice
    and from several workers at once."""
    sent = 0
    for due in reminders_due(rt):
        if send_reminder(rt, due.recipient_id):
            sent += 1
    return sent


def remind(rt: Runtime, principal: Principal, envelope_id: str, recipient_id: str,
           actor: Actor | None = None) -> EnvelopeView:
    """The sender's "remind now": the recipient's current link again (it stays valid,
    unlike resend), and the automatic reminders count from now."""
    principal.require(Permission.ENVELOPE_SEND)
    actor = actor or staff_actor(principal)
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        env = load(s, principal, envelope_id, for_update=True)
        rec = _recipient(s, env, recipient_id)
        if not _turn(env, rec) or not _remind(rt, s, env, rec, now=now, actor=actor,
                                               manual=True):
            raise Conflict("only a recipient whose turn it is can be reminded",
                           code="recipient_not_active")
        commit_or_conflict(s)
        return view_of(s, env)


# -- the expiry warning ------------------------------------------------------------------


def warn_expiring(rt: Runtime, *, limit: int = BATCH) -> int:
    """Email the recipients whose turn it is (with their link) and the sender, once per
    envelope, N days before it expires. Returns how many envelopes were warned."""
    now = rt.now()
    with rt.db.uow() as uow:
        rows = uow.session.execute(
            select(Envelope.id, Envelope.org_id, Envelope.expires_at)
            .where(Envelope.status == EnvelopeStatus.SENT.value,
                   Envelope.expiry_warned_at.is_(None), Envelope.expires_at > now,
                   Envelope.expires_at <= now + timedelta(days=rules.MAX_WARNING_DAYS))
            .order_by(Envelope.expires_at, Envelope.id).limit(limit)).all()
        settings = org_settings(uow.session, {r.org_id for r in rows})
    warned = 0
    for env_id, org_id, expires_at in rows:
        days = rules.org_warning_days(settings.get(org_id, {}))
        if rules.warning_due(expires_at=expires_at, warned_at=None, days=days, now=now) \
                and _warn(rt, env_id, now):
            warned += 1
    return warned


def _warn(rt: Runtime, envelope_id: str, now: datetime) -> bool:
    with rt.db.uow() as uow:
        s = uow.session
        env = _lock_or_skip(rt, s, envelope_id)
        if env is None or env.status != EnvelopeStatus.SENT.value:
            return False
        days = _org(s, env.org_id)[1]
        if not rules.warning_due(expires_at=env.expires_at, warned_at=env.expiry_warned_at,
                                 days=days, now=now) or env.expires_at is None:
            return False
        env.expiry_warned_at = now  # the version column makes a racing warner conflict
        waiting = [r for r in recipients_of(s, env.id) if _turn(env, r)]
        for r in waiting:
            enqueue(s, kind=EXPIRY_WARNING, payload={"recipient_id": r.id}, now=now,
                    org_id=env.org_id)
        sender = sender_email(s, env)
        if sender:
            names = "\n".join(f"  - {r.name} <{r.email}>" for r in waiting) or "  (none)"
            send_email(s, Email(
                to=(sender,), subject=f"Expires soon: {env.subject}",
                body=(f"\"{env.subject}\" expires on {env.expires_at:%Y-%m-%d %H:%M} UTC "
                      f"and is still waiting for:\n{names}\n\nIf it expires, its links stop "
                      f"working and you will need to send it again.\n")),
                now=now, org_id=env.org_id)
        audit.record(s, env, "envelope:expiry_warned", actor="system", now=now,
                     data={"expires_at": env.expires_at.isoformat(), "days_before": days,
                           "recipient_ids": [r.id for r in waiting]})
        try:
            commit_or_conflict(s)
        except Conflict:
            return False
        return True


# -- the periodic sweep ------------------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    expired: int
    warned: int
    reminded: int

    def __str__(self) -> str:
        return (f"expired {self.expired}, warned {self.warned}, reminded {self.reminded} "
                "envelope(s)/recipient(s)")


def sweep(rt: Runtime) -> SweepResult:
    """One pass: expire what is past its deadline, then warn, then remind."""
    return SweepResult(expired=expire_due(rt), warned=warn_expiring(rt),
                       reminded=send_due_reminders(rt))


# -- handing a recipient's part to another person ------------------------------------------


def _recipient(session: Session, env: Envelope, recipient_id: str) -> Recipient:
    rec = next((r for r in recipients_of(session, env.id) if r.id == recipient_id), None)
    if rec is None:
        raise NotFound("no such recipient on this envelope", code="recipient_not_found")
    return rec


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    phone: str | None = None


def check_person(name: str, email: str) -> tuple[str, str]:
    """The new person's name and email, checked and normalised (422 otherwise)."""
    name, email, problems = person_problems(name, email)
    raise_problems(problems, "not a valid person")
    return name, email


def hand_over(rt: Runtime, session: Session, env: Envelope, rec: Recipient, to: Person, *,
              method: str, config: dict[str, object], now: datetime,
              may_delegate: bool) -> dict[str, str | None]:
    """Give ``rec``'s part to ``to`` (in the caller's transaction, envelope locked): the
    old link and signer sessions die, consent and views reset, a new link goes out if it
    is their turn. Returns who had the part (for the audit event)."""
    if env.status not in (EnvelopeStatus.DRAFT.value, EnvelopeStatus.SENT.value) or \
            rec.status in (RecipientStatus.COMPLETED.value, RecipientStatus.DECLINED.value):
        raise Conflict("this recipient's part can no longer be handed over",
                       code="recipient_not_reassignable")
    if to.email == rec.email:
        raise InvalidInput("that is already the recipient's email; use correct to change "
                           "only the name", code="same_recipient")
    before: dict[str, str | None] = {"name": rec.name, "email": rec.email,
                                     "phone": rec.phone}
    rec.name, rec.email, rec.phone = to.name, to.email, to.phone
    rec.auth_method, rec.auth_config = method, dict(config)
    rec.may_delegate = may_delegate
    rec.token_hash = None
    rec.viewed_at = rec.consented_at = rec.consent_version = None
    rec.ip = rec.user_agent = None
    rec.reminded_at, rec.reminder_count = None, 0
    END_SESSIONS(session, rec.id)
    if rec.status in ASKED:
        clear_delivery_failure(rec)
        rec.status = RecipientStatus.SENT.value
        if state_of(env, recipients_of(session, env.id)).is_turn_of(rec.id):
            notify(session, env, [rec.id], now, rt.link_key)
    return before


def reassign(rt: Runtime, principal: Principal, envelope_id: str, recipient_id: str, *,
             name: str, email: str, phone: str | None = None,
             access_code: str | None = None, kba: Sequence[tuple[str, str]] = (),
             actor: Actor | None = None) -> EnvelopeView:
    """The sender replaces a recipient who has not acted with another person. The part
    keeps its authentication factors; the new person's phone, access code or questions
    are given here as the factors need them. The old person is told they no longer need
    to act (if they were asked to). Audited ``recipient:reassigned`` with old and new."""
    principal.require(Permission.ENVELOPE_SEND)
    actor = actor or staff_actor(principal)
    name, email = check_person(name, email)
    with rt.db.uow() as uow:  # the factors to keep, read before any hashing
        rec0 = _recipient(uow.session, load(uow.session, principal, envelope_id),
                          recipient_id)
        role, factors = rec0.role, factors_of(rec0.auth_method)
    try:
        auth = CONFIGURE_AUTH([AuthRequest(role=role, factors=factors, phone=phone,
                                           access_code=access_code, kba=list(kba))])[0]
    except InvalidInput as exc:
        raise InvalidInput(exc.message.removeprefix("recipients[0]: "), code=exc.code) \
            from exc
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        env = load(s, principal, envelope_id, for_update=True)
        rec = _recipient(s, env, recipient_id)
        if rec.auth_method != auth.method:
            raise Conflict("the recipient changed meanwhile; try again",
                           code="concurrent_update")
        was_asked = rec.notified_at is not None and rec.status in ASKED
        before = hand_over(rt, s, env, rec, Person(name, email, auth.phone),
                           method=auth.method, config=auth.config, now=now,
                           may_delegate=rec.may_delegate)
        audit.record(s, env, "recipient:reassigned", actor=actor.label, now=now,
                     ip=actor.ip, user_agent=actor.user_agent,
                     data={"recipient_id": rec.id, "before": before,
                           "after": {"name": rec.name, "email": rec.email,
                                     "phone": rec.phone}})
        if was_asked and before["email"]:
            send_email(s, Email(
                to=(str(before["email"]),), subject=f"No longer needed: {env.subject}",
                body=(f"Hello {before['name']},\n\nThe sender has asked someone else to act "
                      f"on \"{env.subject}\" instead of you. Your link no longer works and "
                      f"you need to do nothing.\n")), now=now, org_id=env.org_id)
        commit_or_conflict(s)
        return view_of(s, env)
