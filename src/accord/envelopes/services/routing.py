"""Routing rules on envelopes: apply them when an envelope is created, check them again at
send and each time the routing advances, and record every decision in the audit trail.

The rules and the data they read are kept on the envelope (``Envelope.routing``), so a
later evaluation reads exactly what the first one did. Evaluation always starts from the
declared routing (``base``), which makes it idempotent: evaluating again changes nothing
unless a recipient who has not started yet drifted from the plan (then the plan is put
back, and that is audited too).

Audit tags: ``routing:rule_fired`` (the condition held; ``changes`` says what it did) and
``routing:rule_skipped`` (it did not), each with the rule's id and description, the
values its condition read and a readable ``reason``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from accord.audit import services as audit
from accord.envelopes import routing
from accord.envelopes.domain import RecipientStatus
from accord.envelopes.hooks import CONFIGURE_AUTH, AuthRequest, RecipientAuth
from accord.envelopes.models import Envelope, Recipient
from accord.envelopes.placement import FieldRequest
from accord.errors import InvalidInput

if TYPE_CHECKING:
    from accord.envelopes.services import RecipientInput

FIRED = "routing:rule_fired"
SKIPPED = "routing:rule_skipped"
_NOT_STARTED = frozenset({RecipientStatus.CREATED.value, RecipientStatus.WAITING.value})


def rules_error(problems: Sequence[routing.RuleProblem]) -> InvalidInput:
    """Every problem at once (422 ``rules_invalid``, or the one problem's code)."""
    details = [{"field": p.field, "code": p.code, "message": p.message} for p in problems]
    head = "; ".join(p.message for p in problems[:3])
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    code = problems[0].code if len({p.code for p in problems}) == 1 else "rules_invalid"
    return InvalidInput(f"{len(problems)} problem(s) with the routing rules: {head}{more}",
                        code=code, details=details)


@dataclass(frozen=True)
class Routed:
    """Recipients and fields after the rules; ``stored`` goes on the envelope."""

    recipients: list[RecipientInput]
    fields: list[FieldRequest]
    keys: list[str | None]
    plan: routing.Plan | None
    stored: dict[str, Any] | None


def _slot_key(i: int, r: RecipientInput) -> str:
    return r.key or f"#{i}"  # unnamed API recipients: rules cannot name them


def apply_rules(recipients: Sequence[RecipientInput], fields: Sequence[FieldRequest],
                rules: Sequence[Any], data: Mapping[str, Any]) -> Routed:
    """Decide the routing: who is on the envelope (rule-added roles only when a rule fires,
    skipped roles never), in which order, with which factors. Fields of recipients who are
    not on the envelope are dropped. Raises InvalidInput (422) for invalid rules, duplicate
    keys, or a rule-added role without a recipient (``rule_recipient_missing``)."""
    keys = [r.key for r in recipients if r.key]
    if len(set(keys)) != len(keys):
        raise InvalidInput("recipient keys must be unique", code="recipient_key_duplicate")
    if not rules:
        return Routed(list(recipients), list(fields), [r.key for r in recipients], None, None)
    parsed, problems = routing.parse_rules(
        list(rules), roles={r.key: r.role.value for r in recipients if r.key})
    if problems:
        raise rules_error(problems)
    base = [routing.Slot(_slot_key(i, r), r.role.value, r.routing_order, tuple(r.auth))
            for i, r in enumerate(recipients)]
    plan = routing.evaluate(parsed, data, base)
    possible: dict[str, set[str]] = {}
    for rule in parsed:
        for a in rule.then:
            if a.kind == "require_auth":
                possible.setdefault(a.role, set()).update(a.method)
    index = {_slot_key(i, r): i for i, r in enumerate(recipients)}
    out: list[RecipientInput] = []
    new_index: dict[int, int] = {}
    for slot in plan.slots:
        i = index[slot.key]
        r = recipients[i]
        if not r.email.strip():
            fired = next((d.rule_id for d in plan.decisions
                          if any(c.role == slot.key for c in d.changes)), "?")
            raise InvalidInput(f"rule {fired!r} adds role {slot.key!r}, but no recipient was "
                               f"given for it and the role has no default recipient",
                               code="rule_recipient_missing",
                               details=[{"field": f"recipients.{slot.key}",
                                         "code": "rule_recipient_missing",
                                         "message": f"give a recipient for {slot.key!r}"}])
        new_index[i] = len(out)
        r = replace(r, routing_order=slot.routing_order, auth=slot.auth)
        maybe = possible.get(slot.key, set()) - set(slot.auth)
        # what the request gave in case a rule required it, when no rule did
        if "sms_otp" in maybe:
            r = replace(r, phone=None)
        if "access_code" in maybe:
            r = replace(r, access_code=None)
        if "kba" in maybe:
            r = replace(r, kba=())
        out.append(r)
    kept = [replace(f, recipient=new_index[f.recipient]) for f in fields
            if f.recipient in new_index]
    stored = {"rules": routing.rules_json(parsed),
              "data": routing.pick(data, routing.variables_read(parsed)),
              "base": [s.as_json() for s in base]}
    return Routed(out, kept, [r.key for r in out], plan, stored)


def configure_auth(recipients: Sequence[RecipientInput]) -> list[RecipientAuth]:
    """The recipients' factors checked and configured (``hooks.CONFIGURE_AUTH``); a
    problem also names the recipient's ``role`` key (its index in the routed list may
    differ from the request's)."""
    try:
        return CONFIGURE_AUTH([AuthRequest(role=r.role.value, factors=r.auth,
                                           phone=r.phone, access_code=r.access_code,
                                           kba=[(k.question, k.answer) for k in r.kba])
                               for r in recipients])
    except InvalidInput as exc:
        i = exc.details.get("recipient") if isinstance(exc.details, dict) else None
        if isinstance(i, int) and 0 <= i < len(recipients) and recipients[i].key:
            exc.details = {**exc.details, "role": recipients[i].key}
        raise


def _audit(session: Session, env: Envelope, decisions: Sequence[routing.Decision],
           phase: str, now: datetime, by_key: Mapping[str, str],
           actor: str = "system", ip: str | None = None, ua: str | None = None) -> None:
    for d in decisions:
        data = {**d.as_json(), "phase": phase}
        data["changes"] = [{**c, "recipient_id": by_key.get(c["role"])}
                           for c in data["changes"]]
        audit.record(session, env, FIRED if d.fired else SKIPPED, actor=actor, now=now,
                     ip=ip, user_agent=ua, data=data)


def record_created(session: Session, env: Envelope, routed: Routed, recipients:
                   Sequence[Recipient], now: datetime, actor: str, ip: str | None,
                   ua: str | None) -> None:
    """At creation: keep the rules on the envelope and audit every decision."""
    if routed.plan is None:
        return
    env.routing = routed.stored
    by_key = {r.role_key: r.id for r in recipients if r.role_key}
    _audit(session, env, routed.plan.decisions, "create", now, by_key, actor, ip, ua)


def recheck(session: Session, env: Envelope, recipients: Sequence[Recipient],
            phase: str, now: datetime) -> None:
    """Evaluate the envelope's rules again (at send, and before each routing step) and put
    back the planned order and factors of recipients who have not started. Idempotent:
    when nothing drifted, nothing is written or audited. Who is on the envelope was
    decided at creation (rule-added recipients were added then)."""
    stored = env.routing
    if not stored:
        return
    parsed, problems = routing.parse_rules(stored.get("rules") or [])
    if problems:  # stored rules were valid when stored; never fail a signer over them
        return
    base = [routing.Slot.from_json(s) for s in stored.get("base") or []]
    plan = routing.evaluate(parsed, stored.get("data") or {}, base)
    started = [r.routing_order for r in recipients if r.status not in _NOT_STARTED
               and r.role != "cc" and r.status != RecipientStatus.CC.value]
    floor = max(started, default=0)
    drifted: dict[str, str] = {}
    for r in recipients:
        slot = plan.slot(r.role_key) if r.role_key else None
        if slot is None or r.status not in _NOT_STARTED:
            continue
        method = "+".join(slot.auth) or "email_link"
        if r.routing_order != slot.routing_order and slot.routing_order > floor:
            r.routing_order = slot.routing_order
            drifted[r.role_key or ""] = r.id
        if r.auth_method != method and _may_require(r, slot.auth):
            r.auth_method = method
            drifted[r.role_key or ""] = r.id
    if not drifted:
        return
    decisions = [d for d in plan.decisions
                 if any(c.role in drifted for c in d.changes)]
    _audit(session, env, decisions, phase, now, drifted)


def _may_require(r: Recipient, factors: tuple[str, ...]) -> bool:
    """Factors can be put back only when they need no secret the sender must supply."""
    had = set(r.auth_method.split("+")) - {"email_link"}
    new = set(factors) - had
    if "sms_otp" in new and not r.phone:
        return False
    return not new & {"access_code", "kba"} and had <= set(factors)
