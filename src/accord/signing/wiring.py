"""Signing's wiring: the one-time codes by email and SMS, the envelope's completion (stamp,
certify, seal), and what envelopes asks of the ceremony (``envelopes.hooks``): configuring
a recipient's factors and ending their signer sessions; it offers the
``envelope.completed`` event."""

from __future__ import annotations

from accord.envelopes.hooks import CONFIGURE_AUTH, END_SESSIONS
from accord.signing.completion import (
    COMPLETE,
    ENVELOPE_COMPLETED,
    RETRY_SCHEDULE_S,
    complete,
    gave_up,
)
from accord.signing.factors import configure
from accord.signing.links import end_sessions
from accord.signing.otp import EMAIL_CODE, SMS_CODE
from accord.signing.tasks import signer_code_email, signer_code_sms
from accord.wiring import Plug, Task, Wiring

WIRING = Wiring(
    feature="signing",
    tasks=(Task(EMAIL_CODE, signer_code_email),
           Task(SMS_CODE, signer_code_sms),
           Task(COMPLETE, complete, failed=gave_up, retry_schedule=RETRY_SCHEDULE_S)),
    plugs=(Plug(CONFIGURE_AUTH, configure), Plug(END_SESSIONS, end_sessions)),
    events=(ENVELOPE_COMPLETED,),
)
