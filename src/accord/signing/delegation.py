"""Delegation: a signer (or approver) hands their part to someone else from the signing
page, when the sender allowed it (``allow_delegation`` on the template role, or the
envelope's flag for envelopes made by API or console).

The delegate gets a new link; the delegator's link and signer sessions die at once (the
same "not valid" page as an unknown link). The part keeps its authentication factors: an
email or SMS code is sent to the delegate (whose mobile number the delegator gives for SMS);
a part protected by an access code or knowledge questions cannot be delegated, because
only the sender knows those secrets. A delegate may not delegate again. The sender is told
by email, and the audit trail records ``recipient:delegated`` with who handed it to whom.
"""

from __future__ import annotations

from dataclasses import dataclass

from accord.accounts.services import org_name
from accord.audit import services as audit
from accord.delivery.mail import Email
from accord.delivery.services import send_email
from accord.envelopes import services as envelopes
from accord.envelopes.hooks import AuthRequest
from accord.envelopes.lifecycle import Person, check_person, hand_over
from accord.errors import Conflict, Forbidden, InvalidInput
from accord.runtime import Runtime
from accord.signing.domain import Factor
from accord.signing.factors import configure, required
from accord.signing.services import Client, check_csrf, load_signer

SENDER_SECRETS = frozenset({Factor.ACCESS_CODE, Factor.KBA})


@dataclass(frozen=True)
class Delegated:
    name: str  # the delegate
    email: str
    subject: str
    organisation: str


def delegate(rt: Runtime, session_token: str | None, csrf: str | None, *, name: str,
             email: str, phone: str | None = None, reason: str = "",
             client: Client) -> Delegated:
    """Hand the signer's part to ``name <email>``."""
    name, email = check_person(name, email)
    reason = reason.strip()
    if len(reason) > 1000:
        raise InvalidInput("the note is at most 1000 characters", code="invalid_reason")
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        sess, rec, env = load_signer(s, session_token, now)
        check_csrf(sess, csrf)
        if not rec.may_delegate:
            raise Forbidden("the sender did not allow this part to be delegated",
                            code="delegation_not_allowed")
        state = envelopes.state_of(env, envelopes.recipients_of(s, env.id))
        if not state.is_turn_of(rec.id):
            raise Conflict("it is not your turn yet", code="not_your_turn")
        factors = required(rec)
        if SENDER_SECRETS & set(factors):
            raise Conflict("this part is protected by a secret only the sender knows; ask "
                           "the sender to reassign it", code="delegation_needs_sender")
        try:
            auth = configure([AuthRequest(role=rec.role, factors=[f.value for f in factors],
                                          phone=phone.strip() if phone else None)])[0]
        except InvalidInput as exc:
            raise InvalidInput(exc.message.removeprefix("recipients[0]: "),
                               code=exc.code) from exc
        before = hand_over(rt, s, env, rec, Person(name, email, auth.phone),
                           method=auth.method, config=auth.config, now=now,
                           may_delegate=False)
        audit.record(s, env, "recipient:delegated", actor=f"recipient:{before['email']}",
                     now=now, ip=client.ip, user_agent=client.user_agent,
                     data={"recipient_id": rec.id, "from": before,
                           "to": {"name": rec.name, "email": rec.email, "phone": rec.phone},
                           "reason": reason})
        sender = envelopes.sender_email(s, env)
        if sender:
            send_email(s, Email(
                to=(sender,), subject=f"Delegated: {env.subject}",
                body=(f"{before['name']} <{before['email']}> handed their part of "
                      f"\"{env.subject}\" to {rec.name} <{rec.email}>, who has been sent "
                      f"a link.\n" + (f"\nTheir note: {reason}\n" if reason else ""))),
                now=now, org_id=env.org_id)
        done = Delegated(rec.name, rec.email, env.subject, org_name(s, env.org_id))
        envelopes.commit_or_conflict(s)
        return done

