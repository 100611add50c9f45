"""Email values and the mailers that send them: SMTP, or the local mailbox.

Bodies carry signing links: nothing in this module logs a subject, body or address.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from accord.config import Settings
from accord.db import utcnow
from accord.delivery.errors import InvalidEmail, PermanentFailure
from accord.delivery.models import MailboxMessage
from accord.runtime import Runtime
from accord.storage.blobs import BlobError, BlobStore

log = logging.getLogger("accord.delivery")

MAX_TO_ADDR_LEN = 320  # mailbox.to_addr is String(320)
MAX_SUBJECT_LEN = 400  # mailbox.subject is String(400)
_TOKEN = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_ADDRESS = re.compile(r"[^\s<>@\"']+@[^\s<>@\"']+")
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


def _no_newlines(value: str, what: str) -> None:
    if "\r" in value or "\n" in value or "\x00" in value:
        raise InvalidEmail(f"{what} must not contain line breaks")


def address_of(addr: str) -> str:
    """The bare address of ``"Name <a@b.example>"`` or ``"a@b.example"``."""
    return parseaddr(addr)[1]


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    blob: str  # a blob-store key; the bytes are read at send time

    def __post_init__(self) -> None:
        _no_newlines(self.filename, "attachment filename")
        if not self.filename.strip():
            raise InvalidEmail("attachment filename is empty")
        if not _CONTENT_TYPE.match(self.content_type.lower()):
            raise InvalidEmail("attachment content type is not type/subtype")
        if not self.blob:
            raise InvalidEmail("attachment has no blob key")

    def to_payload(self) -> dict[str, str]:
        return {"filename": self.filename, "content_type": self.content_type, "blob": self.blob}


@dataclass(frozen=True)
class Email:
    to: tuple[str, ...]
    subject: str
    body: str
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.to, str):
            raise InvalidEmail("'to' is a tuple of addresses, not one string")
        # accept any iterable (a list from a caller) but keep the value immutable
        object.__setattr__(self, "to", tuple(self.to))
        object.__setattr__(self, "attachments", tuple(self.attachments))
        if not self.to:
            raise InvalidEmail("an email needs at least one recipient")
        for addr in self.to:
            _no_newlines(addr, "recipient")
            parsed = getaddresses([addr])
            if len(parsed) != 1 or "@" not in parsed[0][1]:
                raise InvalidEmail("recipient is not one email address")
        _no_newlines(self.subject, "subject")

    def to_payload(self) -> dict[str, Any]:
        """A JSON-safe dict; ``Email.from_payload(e.to_payload()) == e``."""
        return {
            "to": list(self.to),
            "subject": self.subject,
            "body": self.body,
            "html": self.html,
            "attachments": [a.to_payload() for a in self.attachments],
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Email:
        """Rebuild an Email; raise InvalidEmail (a PermanentFailure) if malformed."""
        try:
            to = payload["to"]
            subject, body = payload["subject"], payload["body"]
            html = payload.get("html")
            raw_attachments = payload.get("attachments") or []
            if not isinstance(to, list | tuple) or not all(isinstance(t, str) for t in to):
                raise InvalidEmail("'to' must be a list of strings")
            if not isinstance(subject, str) or not isinstance(body, str):
                raise InvalidEmail("subject and body must be strings")
            if html is not None and not isinstance(html, str):
                raise InvalidEmail("html must be a string")
            if not isinstance(raw_attachments, list):
                raise InvalidEmail("attachments must be a list")
            attachments = tuple(
                Attachment(filename=str(a["filename"]), content_type=str(a["content_type"]),
                           blob=str(a["blob"]))
                for a in raw_attachments
            )
        except (KeyError, TypeError) as exc:
            raise InvalidEmail(f"malformed email payload: missing or bad {exc}") from exc
        return cls(to=tuple(to), subject=subject, body=body, html=html,
                   attachments=attachments)


class Mailer(Protocol):
    def send(self, email: Email, *, message_id: str, org_id: str | None) -> None:
        """Deliver ``email``. ``message_id`` is the outbox id: sending the same id twice
        must be harmless (the mailbox ignores it, SMTP carries the same Message-ID)."""
        ...


def message_id_header(message_id: str, from_addr: str) -> str:
    """The RFC 5322 Message-ID for an outbox id: stable across redeliveries."""
    if not _TOKEN.match(message_id):
        raise ValueError("message_id must be a simple token such as an outbox id")
    domain = address_of(from_addr).rpartition("@")[2] or "accord.localhost"
    return f"<{message_id}@{domain}>"


def smtp_reply(code: int, text: bytes | str) -> str:
    """``550 5.1.1 no such user``: a server's reply, one line, at most 200 characters,
    addresses blanked out."""
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    line = _ADDRESS.sub("<address>", " ".join(raw.split()))[:200]  # no address in logs
    return f"{code} {line}".strip()


class SmtpMailer:
    """Sends through an SMTP server (STARTTLS and login when configured).

    A 5xx reply to the recipients (RCPT), the sender (MAIL FROM) or the message (DATA)
    raises PermanentFailure: the email goes dead at once. Everything else - 4xx replies
    (421, 450, 451...), refused or dropped connections, time-outs, TLS errors, a 5xx to
    the greeting or the login (the operator's configuration, not this message) - is
    raised as it is and retried."""

    def __init__(self, settings: Settings, blobs: BlobStore, *, timeout_s: float = 10.0,
                 clock: Callable[[], datetime] = utcnow) -> None:
        if not settings.smtp_host:
            raise ValueError("SmtpMailer needs settings.smtp_host")
        self.settings = settings
        self.blobs = blobs
        self.timeout_s = timeout_s
        self.clock = clock

    def build(self, email: Email, *, message_id: str) -> EmailMessage:
        """The MIME message for ``email`` (attachments read from the blob store)."""
        msg = EmailMessage()
        msg["From"] = self.settings.smtp_from
        msg["To"] = ", ".join(email.to)
        msg["Subject"] = email.subject
        msg["Date"] = format_datetime(self.clock())
        msg["Message-ID"] = message_id_header(message_id, self.settings.smtp_from)
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(email.body)
        if email.html is not None:
            msg.add_alternative(email.html, subtype="html")
        for att in email.attachments:
            maintype, _, subtype = att.content_type.lower().partition("/")
            try:
                data = self.blobs.get(att.blob)
            except BlobError as exc:  # missing or altered: no retry can fix it
                raise PermanentFailure(f"attachment blob {att.blob} is unreadable") from exc
            msg.add_attachment(data, maintype=maintype, subtype=subtype,
                               filename=att.filename)
        return msg

    def send(self, email: Email, *, message_id: str, org_id: str | None) -> None:
        msg = self.build(email, message_id=message_id)
        recipients = [address_of(a) for a in email.to]
        sender = address_of(self.settings.smtp_from)
        s = self.settings
        host = s.smtp_host or "localhost"  # always set: checked in __init__
        try:
            with smtplib.SMTP(host, s.smtp_port, timeout=self.timeout_s) as smtp:
                if s.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.smtp_username:
                    smtp.login(s.smtp_username, s.smtp_password or "")
                refused = smtp.send_message(msg, from_addr=sender, to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            replies = list(exc.recipients.values())
            if replies and all(code >= 500 for code, _ in replies):
                raise PermanentFailure("every recipient refused: "
                                       + smtp_reply(*replies[0])) from exc
            raise
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            # 5xx to MAIL FROM or DATA: this message is refused (size, content, policy)
            if exc.smtp_code >= 500:
                raise PermanentFailure("message refused by the server: "
                                       + smtp_reply(exc.smtp_code, exc.smtp_error)) from exc
            raise
        if refused:
            log.warning("outbox %s: %d of %d recipients refused by the SMTP server",
                        message_id, len(refused), len(recipients))
        log.info("outbox %s: sent over SMTP", message_id)


class MailboxMailer:
    """Keeps email in the local mailbox table (the embedded default, shown in the console).

    Idempotent per outbox id: the unique ``mailbox.outbox_id`` makes a second send a no-op.
    """

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def send(self, email: Email, *, message_id: str, org_id: str | None) -> None:
        for att in email.attachments:  # fail like SMTP would if a blob is missing
            if not self.rt.blobs.exists(att.blob):
                raise PermanentFailure(f"attachment blob {att.blob} is missing")
        to_addr = ", ".join(email.to)
        if len(to_addr) > MAX_TO_ADDR_LEN:
            to_addr = to_addr[: MAX_TO_ADDR_LEN - 1] + "…"
        subject = email.subject
        if len(subject) > MAX_SUBJECT_LEN:
            subject = subject[: MAX_SUBJECT_LEN - 1] + "…"
        if self._seen(message_id):
            log.info("outbox %s: already in the mailbox", message_id)
            return
        try:
            with self.rt.db.uow() as uow:
                uow.session.add(MailboxMessage(
                    org_id=org_id, outbox_id=message_id, to_addr=to_addr, subject=subject,
                    body=email.body, attachments=[a.to_payload() for a in email.attachments],
                    created_at=self.rt.now()))
                uow.commit()
        except IntegrityError:
            if not self._seen(message_id):
                raise
            # A concurrent redelivery won the race on uq_mailbox_outbox_id: same outcome.
            log.info("outbox %s: already in the mailbox", message_id)
            return
        log.info("outbox %s: kept in the local mailbox", message_id)

    def _seen(self, message_id: str) -> bool:
        with self.rt.db.uow() as uow:
            found = uow.session.scalar(
                select(MailboxMessage.id).where(MailboxMessage.outbox_id == message_id))
        return found is not None


def mailer_for(rt: Runtime) -> Mailer:
    """SMTP when ``settings.smtp_host`` is set, else the local mailbox."""
    if rt.settings.smtp_host:
        return SmtpMailer(rt.settings, rt.blobs, clock=rt.clock)
    return MailboxMailer(rt)
