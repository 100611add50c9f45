"""Signing's wiring: the signing-request email (with its delivered/failed hooks), the
one-time codes by email and SMS, and the envelope's completion (stamp, certify, seal)."""

from __future__ import annotations

from accord.envelopes.services import SIGNING_REQUEST
from accord.signing.completion import COMPLETE, RETRY_SCHEDULE_S, complete, gave_up
from accord.signing.otp import EMAIL_CODE, SMS_CODE
from accord.signing.tasks import (
    signer_code_email,
    signer_code_sms,
    signing_request_addressee,
    signing_request_delivered,
    signing_request_email,
    signing_request_failed,
)
from accord.wiring import Task, Wiring

WIRING = Wiring(
    feature="signing",
    tasks=(Task(SIGNING_REQUEST, signing_request_email, delivered=signing_request_delivered,
                failed=signing_request_failed, addressee=signing_request_addressee),
           Task(EMAIL_CODE, signer_code_email),
           Task(SMS_CODE, signer_code_sms),
           Task(COMPLETE, complete, failed=gave_up, retry_schedule=RETRY_SCHEDULE_S)),
)
