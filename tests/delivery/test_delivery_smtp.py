"""A real SMTP conversation with an aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import AuthResult, LoginPassword

from accord.delivery import services
from accord.delivery.domain import DEAD, DELIVERED, PENDING
from accord.delivery.mail import Attachment, Email, SmtpMailer
from accord.delivery.models import OutboxMessage
from accord.delivery.worker import Worker, drain
from accord.runtime import Runtime

T0 = datetime(2030, 1, 2, 9, 0, tzinfo=UTC)
PDF = b"%PDF-1.7\n% contract bytes \x00\xff\n%%EOF\n"
Row = Callable[[str], OutboxMessage]


def _queue(rt: Runtime, email: Email, org_id: str | None = None) -> str:
    with rt.db.uow() as uow:
        row = services.send_email(uow.session, email, now=rt.now(), org_id=org_id)
        uow.commit()
        return row.id


def _attachments(msg: EmailMessage) -> list[tuple[str | None, str, bytes]]:
    out = []
    for part in msg.iter_attachments():
        assert isinstance(part, EmailMessage)
        data = part.get_content()
        assert isinstance(data, bytes)
        out.append((part.get_filename(), part.get_content_type(), data))
    return out


def test_delivers_a_real_smtp_conversation_with_a_pdf_attachment(
        smtp_rt: Runtime, smtp_server: Any, clock: Any, org_id: str, outbox_row: Row,
        mailbox_count: Callable[[], int]) -> None:
    rt = smtp_rt
    clock.freeze(T0)
    blob = rt.blobs.put(PDF)
    email = Email(to=("Ann Agent <ann@example.com>", "bob@example.com"),
                  subject="Please sign: Support Agreement",
                  body="Sign here: http://testserver/s/token", html="<p>Sign here</p>",
                  attachments=(Attachment("agreement.pdf", "application/pdf", blob),))
    message_id = _queue(rt, email, org_id)

    assert drain(rt) == 1
    assert outbox_row(message_id).status == DELIVERED
    assert mailbox_count() == 0  # SMTP, not the local mailbox
    [got] = smtp_server.handler.received
    assert got.mail_from == "accord@localhost"
    assert got.rcpt_tos == ["ann@example.com", "bob@example.com"]
    msg = got.message
    assert msg["To"] == "Ann Agent <ann@example.com>, bob@example.com"
    assert msg["From"] == rt.settings.smtp_from
    assert msg["Subject"] == "Please sign: Support Agreement"
    assert msg["Message-ID"] == f"<{message_id}@localhost>"
    assert msg["Date"] == "Wed, 02 Jan 2030 09:00:00 +0000"
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content().strip() == "Sign here: http://testserver/s/token"
    assert _attachments(msg) == [("agreement.pdf", "application/pdf", PDF)]


def test_redelivery_carries_the_same_message_id(smtp_rt: Runtime, smtp_server: Any) -> None:
    mailer = SmtpMailer(smtp_rt.settings, smtp_rt.blobs)
    email = Email(to=("ann@example.com",), subject="s", body="b")
    mailer.send(email, message_id="outbox-1", org_id=None)
    mailer.send(email, message_id="outbox-1", org_id=None)
    ids = {r.message["Message-ID"] for r in smtp_server.handler.received}
    assert ids == {"<outbox-1@localhost>"}


def test_smtp_login(rt: Runtime, start_smtp_server: Callable[..., Any]) -> None:
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(_server: Any, _session: Any, _envelope: Any, mechanism: str,
                      data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"s3cret", handled=False)

    server = start_smtp_server(authenticator=authenticator, auth_require_tls=False)
    rt.settings = rt.settings.model_copy(update={
        "smtp_host": "127.0.0.1", "smtp_port": server.port,
        "smtp_username": "accord", "smtp_password": "s3cret"})
    _queue(rt, Email(to=("ann@example.com",), subject="s", body="b"))
    assert drain(rt) == 1
    assert logins == [(b"accord", b"s3cret")]
    assert len(server.handler.received) == 1


def test_wrong_password_is_retried_and_never_recorded(
        rt: Runtime, start_smtp_server: Callable[..., Any], outbox_row: Row) -> None:
    def refuse_all(_server: Any, _session: Any, _envelope: Any, _mechanism: str,
                   _data: Any) -> AuthResult:
        return AuthResult(success=False, handled=False)

    server = start_smtp_server(authenticator=refuse_all, auth_require_tls=False)
    rt.settings = rt.settings.model_copy(update={
        "smtp_host": "127.0.0.1", "smtp_port": server.port,
        "smtp_username": "accord", "smtp_password": "hunter2-wrong"})
    message_id = _queue(rt, Email(to=("ann@example.com",), subject="s", body="b"))
    assert drain(rt) == 1
    row = outbox_row(message_id)
    assert (row.status, row.attempts) == (PENDING, 1)
    assert row.last_error is not None
    assert row.last_error.startswith("SMTPAuthenticationError")
    assert "hunter2-wrong" not in row.last_error


def test_refused_recipients_go_dead(smtp_rt: Runtime, smtp_server: Any,
                                    outbox_row: Row) -> None:
    smtp_server.handler.refuse.add("gone@example.com")
    message_id = _queue(smtp_rt, Email(to=("gone@example.com",), subject="s", body="b"))
    assert drain(smtp_rt) == 1
    row = outbox_row(message_id)
    assert (row.status, row.attempts) == (DEAD, 1)
    assert row.last_error == "PermanentFailure: every recipient refused: 550 5.1.1 no such user"


def test_partly_refused_recipients_still_deliver(smtp_rt: Runtime, smtp_server: Any,
                                                 outbox_row: Row) -> None:
    smtp_server.handler.refuse.add("gone@example.com")
    message_id = _queue(smtp_rt, Email(to=("gone@example.com", "ann@example.com"),
                                       subject="s", body="b"))
    assert drain(smtp_rt) == 1
    assert outbox_row(message_id).status == DELIVERED
    [got] = smtp_server.handler.received
    assert got.rcpt_tos == ["ann@example.com"]


def test_unreachable_server_is_retried(rt: Runtime, outbox_row: Row) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    rt.settings = rt.settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port})
    message_id = _queue(rt, Email(to=("ann@example.com",), subject="s", body="b"))
    assert Worker(rt).run_once() == 1
    row = outbox_row(message_id)
    assert (row.status, row.attempts) == (PENDING, 1)
    assert row.last_error is not None
    assert row.last_error.startswith("ConnectionRefusedError")


def test_missing_attachment_blob_is_permanent(smtp_rt: Runtime, smtp_server: Any,
                                              outbox_row: Row) -> None:
    email = Email(to=("ann@example.com",), subject="s", body="b",
                  attachments=(Attachment("a.pdf", "application/pdf", "0" * 64),))
    message_id = _queue(smtp_rt, email)
    assert drain(smtp_rt) == 1
    assert outbox_row(message_id).status == DEAD
    assert smtp_server.handler.received == []


def test_mailbox_also_refuses_a_missing_blob(rt: Runtime, outbox_row: Row) -> None:
    email = Email(to=("ann@example.com",), subject="s", body="b",
                  attachments=(Attachment("a.pdf", "application/pdf", "0" * 64),))
    message_id = _queue(rt, email)
    assert rt.settings.smtp_host is None
    assert drain(rt) == 1
    assert outbox_row(message_id).status == DEAD
