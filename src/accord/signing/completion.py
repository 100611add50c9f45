"""Completing an envelope, as a background task (outbox kind ``envelope:complete``).

The last required signature commits with the envelope ``completing`` and one outbox row
holding the envelope id (``queue``). The worker then runs ``complete``:

1. read, in one short transaction, everything the final PDF needs (``_read``);
2. outside any transaction: stamp the fields, build the certificate of completion, work
   out the ``envelope:completed`` event that will follow the current audit head (its time,
   data with the ``sealed_input`` hash, sequence number and hash fixed now), embed the
   trail including that event and seal (timestamp included), store the blobs;
3. in one short write transaction (``_record``), with the envelope row locked: if it is
   still ``completing`` with no sealed file and its audit head has not moved, record
   exactly that ``envelope:completed`` event (same hash as the embedded one), then
   ``document:sealed``, mark it completed and queue the completed copy to everyone.

Safe to run twice and after a crash: a completed envelope is left alone; a run killed
before step 3 left at most unreferenced blobs, and the next run does the work again. If
the audit head moved meanwhile (someone appended an event), the work is done once more;
if it moves again, the task fails and the outbox retries it with backoff, as it does
when sealing fails. The signature stays committed and the envelope ``completing``.

It lives in ``signing`` because that is the lowest feature that knows everything
completion reads (envelopes' rows, signers' factors and adopted signatures) and the
documents pipeline it drives; nothing here imports upwards. The envelope's rows are read
through envelopes' services, and marked completed by ``envelopes.ceremony.sealed``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from accord.accounts.services import org_name
from accord.audit import services as audit
from accord.audit.chain import event_hash, export_document
from accord.delivery.handlers import DeadLetter
from accord.delivery.mail import Attachment, Email
from accord.delivery.services import enqueue, send_email
from accord.documents import services as documents
from accord.documents.certificate import (
    CompletionSummary,
    DocumentSummary,
    RecipientSummary,
    assemble,
    certificate_pdf,
)
from accord.documents.services import SealingIdentity
from accord.documents.stamp import Stamp, stamp_pdf
from accord.envelopes import ceremony
from accord.envelopes import services as envelopes
from accord.envelopes.ceremony import Envelope
from accord.envelopes.domain import EnvelopeStatus, FieldKind
from accord.errors import Conflict
from accord.runtime import Runtime
from accord.signing.factors import certificate_line
from accord.signing.signature import initials_of, render_typed
from accord.storage.blobs import sha256_hex
from accord.wiring import Event

COMPLETE = "envelope:complete"
COMPLETED_TAG = "envelope:completed"
SYSTEM = "system"
# Told in the transaction that records the completion, once per envelope, as
# ``fire(session, envelope_id=..., org_id=..., now=...)``: later features (contracts,
# connectors) subscribe in their wiring. A subscriber that raises fails the recording,
# which the task retries; so a subscriber must not raise on bad data, only on outages.
ENVELOPE_COMPLETED = Event("envelope.completed",
                           "an envelope completed and its sealed PDF is stored")
# a failing seal (a timestamp authority down, a storage error) is retried for two days:
# at once, 10 s, 1 min, 5 min, 15 min, 30 min, 1 h, 2 h, 4 h, 8 h, 12 h, 24 h
RETRY_SCHEDULE_S: tuple[float, ...] = (0, 10, 60, 300, 900, 1800, 3600, 7200, 14400, 28800,
                                       43200, 86400)

log = logging.getLogger("accord.signing.completion")


def queue(session: Session, env: Envelope, now: datetime) -> None:
    """Queue the completion of ``env`` in the caller's transaction (the last signature)."""
    enqueue(session, kind=COMPLETE, payload={"envelope_id": env.id}, now=now,
            org_id=env.org_id)


# -- what the final PDF needs, read in one short transaction ------------------------------

@dataclass(frozen=True)
class _Mark:
    """One filled field, in PDF space (bottom-left origin)."""

    page: int
    x: float
    y: float
    width: float
    height: float
    kind: FieldKind
    value: str
    signature_blob: str | None
    signer_name: str


@dataclass(frozen=True)
class _Doc:
    name: str
    blob: str
    pages: int
    sha256: str
    marks: tuple[_Mark, ...]


@dataclass(frozen=True)
class _Plan:
    envelope_id: str
    org_id: str
    subject: str
    organisation: str
    sent_at: datetime | None
    template_lines: tuple[tuple[str, str], ...]
    audit_count: int
    audit_head: str
    events: tuple[dict[str, Any], ...]
    documents: tuple[_Doc, ...]
    recipients: tuple[tuple[RecipientSummary, str | None], ...]  # with the signature blob
    copies: tuple[tuple[str, str], ...]  # (name, email) of everyone, cc included
    identity: SealingIdentity
    now: datetime


def _marks(session: Session, env: Envelope) -> dict[str, list[_Mark]]:
    recs = {r.id: r for r in envelopes.recipients_of(session, env.id)}
    sizes = {d.id: d.page_sizes for d in envelopes.documents_of(session, env.id)}
    out: dict[str, list[_Mark]] = {}
    for f in envelopes.fields_of(session, env.id):
        if f.value is None:
            continue
        _w, ph = sizes[f.document_id][f.page - 1]
        rec = recs[f.recipient_id]
        out.setdefault(f.document_id, []).append(_Mark(
            page=f.page, x=f.x, y=float(ph) - f.y - f.height,  # stored top-left
            width=f.width, height=f.height, kind=FieldKind(f.kind), value=f.value,
            signature_blob=rec.signature_blob, signer_name=rec.name))
    return out


def _template_lines(env: Envelope) -> tuple[tuple[str, str], ...]:
    """Certificate lines naming the template version and pinned clauses, if any."""
    if not env.template_label:
        return ()
    lines = [("Template", env.template_label),
             ("Template SHA-256", env.template_sha256 or "")]
    for key, pin in sorted((env.template_clauses or {}).items()):
        lines.append((f"Clause {key}", f"v{pin.get('version')} sha256 {pin.get('sha256')}"))
    return tuple(lines)


def _read(rt: Runtime, envelope_id: str) -> _Plan | None:
    """The plan, or None when there is nothing to do (unknown, or no longer completing)."""
    with rt.db.uow() as uow:
        s = uow.session
        env = envelopes.lock(s, envelope_id)  # a consistent head and events (PostgreSQL)
        if (env is None or env.status != EnvelopeStatus.COMPLETING.value
                or env.sealed_blob is not None):
            return None
        marks = _marks(s, env)
        docs = tuple(_Doc(name=d.name, blob=d.blob, pages=d.page_count, sha256=d.sha256,
                          marks=tuple(marks.get(d.id, ())))
                     for d in envelopes.documents_of(s, env.id))
        recs = envelopes.recipients_of(s, env.id)
        summaries = tuple((RecipientSummary(
            name=r.name, email=r.email, role=r.role, routing_order=r.routing_order,
            status=r.status, auth_method=certificate_line(s, r), ip=r.ip,
            user_agent=r.user_agent, consented_at=r.consented_at,
            consent_version=r.consent_version, viewed_at=r.viewed_at,
            completed_at=r.completed_at, signature_png=None), r.signature_blob)
            for r in recs)
        identity = documents.sealing_identity(s, env.org_id)  # a value, read below
        head = audit.head(s, env.id)
        return _Plan(
            envelope_id=env.id, org_id=env.org_id, subject=env.subject,
            organisation=org_name(s, env.org_id), sent_at=env.sent_at,
            template_lines=_template_lines(env), audit_count=head.count,
            audit_head=head.hash,
            events=tuple(audit.events(s, env.id)), documents=docs, recipients=summaries,
            copies=tuple((r.name, r.email) for r in recs), identity=identity, now=rt.now())


# -- the heavy work, outside any transaction ----------------------------------------------

@dataclass(frozen=True)
class _Sealed:
    completed_data: dict[str, Any]
    completed_hash: str
    sealed_blob: str
    sealed_bytes: int


def _stamp(rt: Runtime, m: _Mark) -> Stamp:
    if m.kind is FieldKind.SIGNATURE and m.signature_blob:
        return Stamp(m.page, m.x, m.y, m.width, m.height, m.kind.value,
                     image_png=rt.blobs.get(m.signature_blob))
    if m.kind is FieldKind.INITIALS:
        return Stamp(m.page, m.x, m.y, m.width, m.height, m.kind.value,
                     image_png=render_typed(initials_of(m.signer_name)))
    if m.kind is FieldKind.CHECKBOX:
        return Stamp(m.page, m.x, m.y, m.width, m.height, m.kind.value,
                     checked=m.value == "true")
    return Stamp(m.page, m.x, m.y, m.width, m.height, m.kind.value, text=m.value)


def _completed_body(plan: _Plan, data: dict[str, Any]) -> dict[str, Any]:
    """The ``envelope:completed`` event as ``audit.record`` will store it."""
    body: dict[str, Any] = {"seq": plan.audit_count + 1, "tag": COMPLETED_TAG,
                            "actor": SYSTEM, "occurred_at": audit.iso(plan.now), "ip": None,
                            "user_agent": None, "data": data}
    body["prev_hash"] = plan.audit_head
    body["hash"] = event_hash(plan.audit_head, plan.envelope_id, body)
    return body


def _seal(rt: Runtime, plan: _Plan) -> _Sealed:
    stamped, summaries = [], []
    for d in plan.documents:
        original = rt.blobs.get(d.blob)
        out = stamp_pdf(original, [_stamp(rt, m) for m in d.marks]) if d.marks else original
        stamped.append(out)
        summaries.append(DocumentSummary(name=d.name, pages=d.pages, sha256_original=d.sha256,
                                         sha256_stamped=rt.blobs.put(out)))
    recipients = [replace(r, signature_png=rt.blobs.get(blob) if blob else None)
                  for r, blob in plan.recipients]
    cert = certificate_pdf(CompletionSummary(
        envelope_id=plan.envelope_id, subject=plan.subject, organisation=plan.organisation,
        sent_at=plan.sent_at, completed_at=plan.now, documents=summaries,
        recipients=recipients, audit_event_count=plan.audit_count,
        audit_head_hash=plan.audit_head, extra_lines=list(plan.template_lines)))
    final = assemble(stamped, cert)
    data: dict[str, Any] = {
        "documents": [{"name": s.name, "sha256_original": s.sha256_original,
                       "sha256_stamped": s.sha256_stamped} for s in summaries],
        "sealed_input": {"sha256": sha256_hex(final), "length": len(final)}}
    completed = _completed_body(plan, data)
    trail = export_document(plan.envelope_id, [*plan.events, completed])
    audit_json = json.dumps(trail, indent=2, ensure_ascii=False).encode()
    sealed = documents.sealer_of(rt, plan.identity).seal(final, audit_json=audit_json)
    return _Sealed(completed_data=data, completed_hash=str(completed["hash"]),
                   sealed_blob=rt.blobs.put(sealed), sealed_bytes=len(sealed))


# -- recording the result, in one short write transaction ----------------------------------

class _HeadMoved(Exception):
    """The envelope's audit head moved while sealing: the embedded trail is stale."""


def _record(rt: Runtime, plan: _Plan, result: _Sealed) -> None:
    """Record the completion; raises _HeadMoved when the work must be done again."""
    with rt.db.uow() as uow:
        s = uow.session
        env = envelopes.lock(s, plan.envelope_id)
        if (env is None or env.status != EnvelopeStatus.COMPLETING.value
                or env.sealed_blob is not None):
            return  # done already (a concurrent or earlier run), or no longer completing
        if audit.head(s, env.id) != audit.Head(plan.audit_count, plan.audit_head):
            raise _HeadMoved
        ceremony.sealed(s, env, plan.now, result.sealed_blob)
        event = audit.record(s, env, COMPLETED_TAG, actor=SYSTEM, now=plan.now,
                             data=result.completed_data)
        if event.hash != result.completed_hash:  # cannot happen unless record() changed
            raise Conflict("the recorded completion event differs from the sealed one",
                           code="completion_mismatch")
        audit.record(s, env, "document:sealed", actor=SYSTEM, now=max(rt.now(), plan.now),
                     data={"sha256": result.sealed_blob, "bytes": result.sealed_bytes})
        attachment = Attachment(filename=f"{env.id}.pdf", content_type="application/pdf",
                                blob=result.sealed_blob)
        for name, email in plan.copies:
            send_email(s, Email(
                to=(email,), subject=f"Completed: {env.subject}",
                body=(f"Hello {name},\n\nAll parties have completed \"{env.subject}\". The "
                      f"sealed document with its certificate of completion is attached.\n\n"
                      f"Envelope: {env.id}\n"),
                attachments=(attachment,)), now=plan.now, org_id=env.org_id)
        ENVELOPE_COMPLETED.fire(s, envelope_id=env.id, org_id=env.org_id, now=plan.now)
        envelopes.commit_or_conflict(s)
    log.info("envelope %s completed and sealed", plan.envelope_id)


def complete(rt: Runtime, payload: dict[str, Any]) -> None:
    """The ``envelope:complete`` task: seal and store the envelope's final PDF."""
    envelope_id = str(payload.get("envelope_id"))
    for _attempt in range(2):
        plan = _read(rt, envelope_id)
        if plan is None:
            return
        result = _seal(rt, plan)
        try:
            _record(rt, plan, result)
            return
        except _HeadMoved:
            log.info("envelope %s: the audit trail moved while sealing; sealing again",
                     envelope_id)
    raise Conflict("the envelope's audit trail kept moving while it was sealed; the "
                   "completion will be retried", code="completion_raced")


def gave_up(rt: Runtime, letter: DeadLetter) -> None:
    """Every retry failed: the envelope stays ``completing``; say so loudly, with the way
    out (replay the outbox message once the cause is fixed)."""
    log.error("envelope %s could not be completed after %d attempts (%s); it stays "
              "completing: fix the cause, then replay outbox message %s "
              "(`accord outbox replay` or the console's outbox page)",
              letter.payload.get("envelope_id"), letter.attempts, letter.error, letter.id)
