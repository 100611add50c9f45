"""The envelope state machine and routing rules. Pure: no database, no web, no I/O.

Envelope:   draft -> sent -> completing -> completed
                      \\-> declined | voided | expired      (draft -> voided too)
            (completing: every required recipient has finished; the completion task is
            stamping and sealing the final PDF, which exists once it is completed)
Recipient:  created -> waiting -> sent -> delivered -> completed | declined
            (cc recipients stay "cc" until the envelope completes, then "completed";
            sent -> delivery_failed when the signing request could not be delivered, and
            back to sent on resend or correction; it is still their turn meanwhile)

Routing: recipients who act (signers, approvers) are grouped by routing order; the lowest
order with anyone unfinished is the current step; everyone in it acts in parallel; the next
step starts when the whole current step has finished.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def is_e164(phone: str) -> bool:
    """A recipient's phone (for SMS codes) in E.164 form: + then 7-15 digits, no 0 first."""
    return bool(_E164.match(phone))


class EnvelopeStatus(StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    COMPLETING = "completing"
    COMPLETED = "completed"
    DECLINED = "declined"
    VOIDED = "voided"
    EXPIRED = "expired"


class RecipientStatus(StrEnum):
    CREATED = "created"
    WAITING = "waiting"
    SENT = "sent"
    DELIVERED = "delivered"
    DELIVERY_FAILED = "delivery_failed"
    COMPLETED = "completed"
    DECLINED = "declined"
    CC = "cc"


class RecipientRole(StrEnum):
    SIGNER = "signer"
    APPROVER = "approver"
    CC = "cc"


class FieldKind(StrEnum):
    SIGNATURE = "signature"
    INITIALS = "initials"
    TEXT = "text"
    DATE_SIGNED = "date_signed"
    CHECKBOX = "checkbox"


TERMINAL = frozenset({EnvelopeStatus.COMPLETED, EnvelopeStatus.DECLINED,
                      EnvelopeStatus.VOIDED, EnvelopeStatus.EXPIRED})
ACTIVE_RECIPIENT = frozenset({RecipientStatus.SENT, RecipientStatus.DELIVERED,
                              RecipientStatus.DELIVERY_FAILED})


class TransitionError(Exception):
    """A state transition that the rules do not allow."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class RecipientState:
    id: str
    role: RecipientRole
    routing_order: int
    status: RecipientStatus = RecipientStatus.CREATED

    @property
    def acts(self) -> bool:
        return self.role is not RecipientRole.CC

    @property
    def finished(self) -> bool:
        return self.status is RecipientStatus.COMPLETED


@dataclass
class EnvelopeState:
    status: EnvelopeStatus
    recipients: list[RecipientState] = field(default_factory=list)
    expires_at: datetime | None = None

    # -- queries -------------------------------------------------------------------------

    def recipient(self, recipient_id: str) -> RecipientState:
        for r in self.recipients:
            if r.id == recipient_id:
                return r
        raise TransitionError("recipient_not_found", "no such recipient on this envelope")

    def current_order(self) -> int | None:
        pending = [r.routing_order for r in self.recipients if r.acts and not r.finished]
        return min(pending) if pending else None

    def is_turn_of(self, recipient_id: str) -> bool:
        r = self.recipient(recipient_id)
        return (self.status is EnvelopeStatus.SENT and r.acts
                and r.status in ACTIVE_RECIPIENT and r.routing_order == self.current_order())

    # -- transitions ---------------------------------------------------------------------

    def send(self) -> list[str]:
        """Send a draft; returns the ids of recipients to notify now."""
        if self.status is not EnvelopeStatus.DRAFT:
            raise TransitionError("envelope_not_draft", f"cannot send a {self.status} envelope")
        if not any(r.acts for r in self.recipients):
            raise TransitionError("no_signers", "an envelope needs at least one signer or "
                                  "approver")
        self.status = EnvelopeStatus.SENT
        for r in self.recipients:
            r.status = RecipientStatus.WAITING if r.acts else RecipientStatus.CC
        return self._start_current_step()

    def mark_viewed(self, recipient_id: str) -> bool:
        """Record that a recipient opened the envelope; True when that changed the state."""
        r = self.recipient(recipient_id)
        if r.status in (RecipientStatus.SENT, RecipientStatus.DELIVERY_FAILED):
            r.status = RecipientStatus.DELIVERED
            return True
        return False

    def fail_delivery(self, recipient_id: str) -> bool:
        """The recipient's signing request could not be delivered; True when that changed
        the state (someone who already opened the documents got an earlier request)."""
        r = self.recipient(recipient_id)
        if self.status is EnvelopeStatus.SENT and r.status is RecipientStatus.SENT:
            r.status = RecipientStatus.DELIVERY_FAILED
            return True
        return False

    def restore_delivery(self, recipient_id: str) -> bool:
        """A signing request reached the recipient after all (a replay or a new one)."""
        r = self.recipient(recipient_id)
        if r.status is RecipientStatus.DELIVERY_FAILED:
            r.status = RecipientStatus.SENT
            return True
        return False

    def complete_recipient(self, recipient_id: str) -> tuple[list[str], bool]:
        """A recipient finished (signed or approved). Returns (ids to notify next,
        whether every required recipient has now finished: the envelope is then
        ``completing`` until its sealed PDF exists, see ``sealed``)."""
        self._require_turn(recipient_id)
        self.recipient(recipient_id).status = RecipientStatus.COMPLETED
        if self.current_order() is None:
            self.status = EnvelopeStatus.COMPLETING
            for r in self.recipients:
                r.status = RecipientStatus.COMPLETED
            return [], True
        still_in_step = any(
            r.acts and not r.finished and r.status in ACTIVE_RECIPIENT
            for r in self.recipients
        )
        return ([] if still_in_step else self._start_current_step()), False

    def sealed(self) -> None:
        """The completion task stored the sealed PDF: completing -> completed."""
        if self.status is not EnvelopeStatus.COMPLETING:
            raise TransitionError("envelope_not_completing",
                                  f"cannot complete a {self.status} envelope")
        self.status = EnvelopeStatus.COMPLETED

    def decline(self, recipient_id: str) -> None:
        self._require_turn(recipient_id)
        self.recipient(recipient_id).status = RecipientStatus.DECLINED
        self.status = EnvelopeStatus.DECLINED

    def void(self) -> None:
        if self.status not in (EnvelopeStatus.DRAFT, EnvelopeStatus.SENT):
            raise TransitionError("envelope_not_voidable",
                                  f"cannot void a {self.status} envelope")
        self.status = EnvelopeStatus.VOIDED

    def expire(self, now: datetime) -> bool:
        """Expire a sent envelope whose deadline has passed; True when it expired now."""
        if (self.status is EnvelopeStatus.SENT and self.expires_at is not None
                and now >= self.expires_at):
            self.status = EnvelopeStatus.EXPIRED
            return True
        return False

    # -- internals -----------------------------------------------------------------------

    def _require_turn(self, recipient_id: str) -> None:
        if self.status is not EnvelopeStatus.SENT:
            raise TransitionError("envelope_not_active", f"the envelope is {self.status}")
        if not self.is_turn_of(recipient_id):
            raise TransitionError("not_your_turn", "it is not this recipient's turn")

    def _start_current_step(self) -> list[str]:
        order = self.current_order()
        started = []
        for r in self.recipients:
            if r.acts and r.routing_order == order and r.status is RecipientStatus.WAITING:
                r.status = RecipientStatus.SENT
                started.append(r.id)
        return started
