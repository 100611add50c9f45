"""An envelope's documents as users fetch them: the sealed PDF's download, the signed
audit export and the organisation's root certificate (the PDF and crypto work itself is
``accord.documents``, which knows nothing of envelopes)."""

from __future__ import annotations

from accord.access import Permission, Principal
from accord.audit import services as audit
from accord.documents import services as documents
from accord.documents.audit_export import DONE_TAGS, EnvelopeFacts, signed_export
from accord.envelopes.queries import load, recipients_of
from accord.envelopes.services.common import commit_or_conflict
from accord.errors import Conflict
from accord.runtime import Runtime


def root_pem(rt: Runtime, principal: Principal) -> str:
    """The organisation's root certificate (409 ``no_identity`` without one)."""
    with rt.db.uow() as uow:
        return documents.sealing_identity(uow.session, principal.org_id).root_cert_pem


def sealed_pdf(rt: Runtime, principal: Principal, envelope_id: str, *,
               actor: str, ip: str | None, user_agent: str | None) -> bytes:
    """The completed, sealed PDF; the download is audited."""
    principal.require(Permission.ENVELOPE_READ)
    with rt.db.uow() as uow:
        env = load(uow.session, principal, envelope_id, for_update=True)
        if env.sealed_blob is None:
            raise Conflict("the envelope is not completed yet", code="not_completed")
        data = rt.blobs.get(env.sealed_blob)
        audit.record(uow.session, env, "document:downloaded", actor=actor, now=rt.now(),
                     ip=ip, user_agent=user_agent, data={"sha256": env.sealed_sha256})
        commit_or_conflict(uow.session)
        return data


def audit_trail(rt: Runtime, principal: Principal, envelope_id: str) -> dict[str, object]:
    """The envelope's audit trail as a signed export (see documents.audit_export)."""
    principal.require(Permission.AUDIT_READ)
    with rt.db.uow() as uow:
        env = load(uow.session, principal, envelope_id)
        recs = recipients_of(uow.session, env.id)
        facts = EnvelopeFacts(
            status=env.status,
            sealed_pdf_sha256=env.sealed_sha256 if env.status == "completed" else None,
            recipients=tuple((r.id, r.role) for r in recs if r.role in DONE_TAGS))
        signer = documents.export_signer_for(rt, uow.session, env.org_id)
        return signed_export(signer, env.id, audit.events(uow.session, env.id), facts,
                             exported_at=rt.now())
