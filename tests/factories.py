"""Factories for tests: organisations with users and keys, PDFs, a signing walk-through."""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fastapi.testclient import TestClient

from accord.access import Principal
from accord.accounts.services import (
    authenticate_api_key,
    create_api_key,
    create_organisation,
    create_user,
)
from accord.delivery.services import list_mailbox
from accord.delivery.worker import drain
from accord.documents.services import ensure_identity
from accord.runtime import Runtime

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Member:
    org_id: str
    user_id: str
    email: str
    api_key: str
    principal: Principal

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def member(rt: Runtime, role: str = "agent", org_id: str | None = None,
           org_name: str = "Acme Support", mfa_roles: list[str] | None = None) -> Member:
    """A user with an API key, in a new organisation unless ``org_id`` is given. New
    organisations require MFA for no role unless ``mfa_roles`` says otherwise (tests of
    the MFA rules opt in; the product's default is admin, legal and compliance)."""
    if org_id is None:
        from accord.accounts.login import set_mfa_roles

        org_id = create_organisation(rt, org_name, f"org-{secrets.token_hex(4)}")
        set_mfa_roles(rt, org_id, mfa_roles or [])
        ensure_identity(rt, org_id)
    email = f"{role}-{secrets.token_hex(4)}@example.com"
    uid = create_user(rt, org_id, email=email, name=f"{role.title()} User", role=role,
                      password=PASSWORD)
    _kid, key = create_api_key(rt, uid, "test")
    return Member(org_id, uid, email, key, authenticate_api_key(rt, key))


@lru_cache(maxsize=8)
def pdf(pages: int = 2, title: str = "Agreement") -> bytes:
    from weasyprint import HTML

    body = "".join(
        f'<section style="page-break-after: always"><h1>{title} page {i + 1}</h1>'
        f"<p>Terms and conditions, part {i + 1}.</p></section>" for i in range(pages - 1))
    body += ("<section><p>Customer signature: ____________</p>"
             "<p>Provider signature: ____________</p></section>")
    out: bytes = HTML(string=f"<html><body>{body}</body></html>").write_pdf()
    return out


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def with_signatures(recipients: list[dict[str, Any]],
                    fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``fields`` plus a signature field (page 1) for each signer who has none: a signer
    without one cannot be sent."""
    signed = {f["recipient"] for f in fields if f.get("kind") == "signature"}
    extra = [{"recipient": i, "kind": "signature", "page": 1, "x": 72, "y": 600 + 12 * (i % 10)}
             for i, r in enumerate(recipients)
             if r.get("role", "signer") == "signer" and i not in signed]
    return [*fields, *extra]


def signature_fields(recipients: Any) -> list[Any]:
    """A signature field (page 1) for each signer of ``services.RecipientInput``s."""
    from accord.envelopes.domain import FieldKind, RecipientRole
    from accord.envelopes.placement import FieldRequest

    return [FieldRequest(recipient=i, kind=FieldKind.SIGNATURE, page=1, x=72.0,
                         y=600.0 + 12 * (i % 10))
            for i, r in enumerate(recipients) if r.role is RecipientRole.SIGNER]


def envelope_body(*, recipients: list[dict[str, Any]] | None = None,
                  fields: list[dict[str, Any]] | None = None, send: bool = True,
                  document: bytes | None = None, signatures: bool = True) -> dict[str, Any]:
    """A create-envelope request. Unless ``signatures`` is False, each signer without a
    signature field among ``fields`` gets one (page 1)."""
    recipients = recipients or [
        {"name": "Ann Signer", "email": "ann@customer.example", "routing_order": 1},
        {"name": "Bob Signer", "email": "bob@provider.example", "routing_order": 2},
        {"name": "Carl Copy", "email": "carl@provider.example", "role": "cc",
         "routing_order": 3}]
    if fields is None:
        fields = [
            {"recipient": 0, "kind": "signature", "anchor": "Customer signature:",
             "anchor_x_offset": 110, "anchor_y_offset": 10},
            {"recipient": 0, "kind": "date_signed", "page": 1, "x": 72, "y": 700},
            {"recipient": 1, "kind": "signature", "anchor": "Provider signature:",
             "anchor_x_offset": 110, "anchor_y_offset": 10},
            {"recipient": 1, "kind": "text", "page": 1, "x": 300, "y": 700,
             "label": "PO number"},
            {"recipient": 1, "kind": "checkbox", "page": 1, "x": 72, "y": 740,
             "required": False, "label": "Send invoices by email"}]
    if signatures:
        fields = with_signatures(recipients, fields)
    data = pdf() if document is None else document
    return {"subject": "Support agreement", "message": "Please sign.",
            "documents": [{"name": "agreement.pdf", "content_base64": b64(data)}],
            "recipients": recipients, "fields": fields, "send": send}


def signing_link(rt: Runtime, org_id: str, email: str) -> str:
    """Deliver what is due, then find the newest signing link mailed to ``email``."""
    drain(rt)
    for msg in list_mailbox(rt, org_id, limit=200):
        if msg.to_addr == email or email in msg.to_addr:
            found = re.search(r"/s/([A-Za-z0-9_\-]+)", msg.body)
            if found:
                return f"/s/{found.group(1)}"
    raise AssertionError(f"no signing link mailed to {email}")


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign(client: TestClient, link: str, *, name: str, values: dict[str, str] | None = None,
         ua: str = "pytest-signer", complete: bool = True) -> Any:
    """Walk one signer through link → consent → finish with a typed signature. After the
    last signature (the envelope is ``completing``) the outbox is drained unless
    ``complete`` is False, so that the completion task has sealed the envelope."""
    client.cookies.clear()
    page = client.get(link, headers={"user-agent": ua})
    assert page.status_code == 200, page.text
    r = client.post("/sign/consent", data={"csrf_token": csrf(page.text), "agree": "yes"},
                    headers={"user-agent": ua})
    assert r.status_code == 200, r.text
    data = {"csrf_token": csrf(r.text), "signature_kind": "typed", "signature_text": name,
            "intent": "yes"}
    data.update(values or {})
    done = client.post("/sign/finish", data=data, headers={"user-agent": ua})
    if complete and 'id="completing"' in done.text:  # the last signature: let the worker seal it
        drain(client.app.state.rt)  # type: ignore[attr-defined]
    return done


def sent_envelope(rt: Runtime, m: Member, subject: str = "Agreement") -> Any:
    """A sent two-signer envelope (Ann, then Bob) made through the services."""
    from accord.envelopes import services

    env_id = services.create(
        rt, m.principal, subject=subject,
        documents=[services.DocumentInput("a.pdf", pdf())],
        recipients=(recipients := [
            services.RecipientInput("Ann", "ann@customer.example"),
            services.RecipientInput("Bob", "bob@provider.example", routing_order=2)]),
        fields=signature_fields(recipients))
    return services.send(rt, m.principal, env_id)


def audit_tags(rt: Runtime, envelope_id: str) -> list[str]:
    """The envelope's audit tags, in order."""
    from accord.audit import services as audit

    with rt.db.uow() as uow:
        return [str(e["tag"]) for e in audit.events(uow.session, envelope_id)]
