"""Fixtures for the delivery tests: organisations, handler registration, a real SMTP server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import func, select

from accord.accounts.models import Organisation
from accord.delivery import handlers, services
from accord.delivery.models import MailboxMessage, OutboxMessage
from accord.runtime import Runtime


@pytest.fixture
def new_org(rt: Runtime) -> Callable[[str], str]:
    """Insert an organisation row; returns its id."""

    def _new_org(slug: str) -> str:
        with rt.db.uow() as uow:
            org = Organisation(name=slug.title(), slug=slug, settings={}, created_at=rt.now())
            uow.session.add(org)
            uow.commit()
            return org.id

    return _new_org


@pytest.fixture
def org_id(new_org: Callable[[str], str]) -> str:
    return new_org("acme")


@pytest.fixture
def outbox_row(rt: Runtime) -> Callable[[str], OutboxMessage]:
    """A fresh copy of one outbox row."""

    def _row(message_id: str) -> OutboxMessage:
        with rt.db.uow() as uow:
            row = uow.session.get(OutboxMessage, message_id)
            assert row is not None
            uow.session.expunge(row)  # keep its loaded state past the rollback
            return row

    return _row


@pytest.fixture
def mailbox_count(rt: Runtime) -> Callable[[], int]:
    def _count() -> int:
        with rt.db.uow() as uow:
            return int(uow.session.scalar(select(func.count()).select_from(MailboxMessage))
                       or 0)

    return _count


@pytest.fixture
def enqueue(rt: Runtime) -> Callable[..., str]:
    """Enqueue one message in its own committed transaction; returns the outbox id."""

    def _enqueue(kind: str, payload: dict[str, Any] | None = None, *,
                 org_id: str | None = None, delay_s: float = 0.0) -> str:
        with rt.db.uow() as uow:
            row = services.enqueue(uow.session, kind=kind, payload=payload or {},
                                   now=rt.now(), org_id=org_id, delay_s=delay_s)
            uow.commit()
            return row.id

    return _enqueue


@pytest.fixture
def register() -> Iterator[Callable[[str, handlers.Handler], None]]:
    """Register handlers for the length of one test."""
    kinds: list[str] = []

    def _register(kind: str, handler: handlers.Handler) -> None:
        handlers.register(kind, handler, replace=True)
        kinds.append(kind)

    yield _register
    for kind in kinds:
        handlers.unregister(kind)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class CollectingHandler:
    """An aiosmtpd handler that keeps what it receives; refuses listed recipients."""

    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        msg = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 Message accepted for delivery"


class EphemeralController(Controller):  # type: ignore[misc]
    """aiosmtpd's Controller bound to a free port chosen by the OS (port 0)."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass
class SmtpServer:
    handler: CollectingHandler
    controller: Any

    @property
    def port(self) -> int:
        return int(self.controller.port)


def start_smtp(**smtp_kwargs: Any) -> SmtpServer:
    handler = CollectingHandler()
    controller = EphemeralController(handler, hostname="127.0.0.1", port=0,
                                     ready_timeout=5.0, **smtp_kwargs)
    controller.start()
    return SmtpServer(handler, controller)


@pytest.fixture
def start_smtp_server() -> Iterator[Callable[..., SmtpServer]]:
    """Start aiosmtpd servers with SMTP keyword arguments; all stopped after the test."""
    servers: list[SmtpServer] = []

    def _start(**smtp_kwargs: Any) -> SmtpServer:
        server = start_smtp(**smtp_kwargs)
        servers.append(server)
        return server

    yield _start
    for server in servers:
        server.controller.stop()


@pytest.fixture
def smtp_server(start_smtp_server: Callable[..., SmtpServer]) -> SmtpServer:
    return start_smtp_server()


@pytest.fixture
def smtp_rt(rt: Runtime, smtp_server: SmtpServer) -> Runtime:
    """``rt`` configured to send through the test's SMTP server."""
    rt.settings = rt.settings.model_copy(update={"smtp_host": "127.0.0.1",
                                                 "smtp_port": smtp_server.port})
    return rt
