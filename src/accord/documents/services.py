"""Sealing identities, the sealed PDF's download and the signed audit export. (The
completion pipeline that produces the sealed PDF is ``accord.signing.completion``.)"""

from __future__ import annotations

import threading

from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.access import Principal
from accord.accounts.services import org_name
from accord.audit import services as audit
from accord.documents.audit_export import DONE_TAGS, EnvelopeFacts, ExportSigner, signed_export
from accord.documents.models import SigningIdentity
from accord.documents.pki import (
    Identity,
    PkiError,
    generate_identity,
    identity_from_pkcs12,
)
from accord.documents.seal import Sealer
from accord.errors import Conflict
from accord.runtime import Runtime

_sealers: dict[tuple[str, str], Sealer] = {}
_export_signers: dict[tuple[str, str], ExportSigner] = {}
_lock = threading.Lock()


def ensure_identity(rt: Runtime, org_id: str) -> None:
    """Create the organisation's root CA, seal and TSA certificates (or load the operator's
    PKCS#12) if it has none yet."""
    with rt.db.uow() as uow:
        if uow.session.get(SigningIdentity, org_id) is not None:
            return
        s = rt.settings
        if s.signing_pkcs12 is not None:
            pw = s.signing_pkcs12_password.encode() if s.signing_pkcs12_password else None
            ident = identity_from_pkcs12(s.signing_pkcs12.read_bytes(), pw)
        else:
            ident = generate_identity(org_name(uow.session, org_id), now=rt.now())
        extra = "".join(ident.extra_roots_pem)
        uow.session.add(SigningIdentity(
            org_id=org_id, root_cert_pem=ident.root_cert_pem + extra,
            signing_cert_pem=ident.signing_cert_pem, tsa_cert_pem=ident.tsa_cert_pem,
            signing_key_blob=rt.blobs.put(ident.signing_key_der),
            tsa_key_blob=rt.blobs.put(ident.tsa_key_der),
            root_key_blob=rt.blobs.put(ident.root_key_der) if ident.root_key_der else None,
            source=ident.source, created_at=rt.now()))
        uow.commit()


def _load_identity(rt: Runtime, row: SigningIdentity) -> Identity:
    return Identity(root_cert_pem=row.root_cert_pem, signing_cert_pem=row.signing_cert_pem,
                    signing_key_der=rt.blobs.get(row.signing_key_blob),
                    tsa_cert_pem=row.tsa_cert_pem, tsa_key_der=rt.blobs.get(row.tsa_key_blob),
                    root_key_der=None, source=row.source)


def sealing_identity(session: Session, org_id: str) -> SigningIdentity:
    """The organisation's sealing identity row (409 ``no_identity`` without one)."""
    row = session.get(SigningIdentity, org_id)
    if row is None:
        raise Conflict("the organisation has no sealing certificate", code="no_identity")
    return row


def sealer_of(rt: Runtime, row: SigningIdentity) -> Sealer:
    """The Sealer of an identity row, built once per process (keys are loaded once)."""
    key = (row.org_id, row.signing_key_blob)
    with _lock:
        if key not in _sealers:
            _sealers[key] = Sealer(_load_identity(rt, row))
        return _sealers[key]


def trust_roots(rt: Runtime) -> list[str]:
    """Every organisation's root certificate (PEM) known to this instance."""
    with rt.db.uow() as uow:
        return list(uow.session.scalars(select(SigningIdentity.root_cert_pem)))


def root_pem(rt: Runtime, principal: Principal) -> str:
    with rt.db.uow() as uow:
        row = uow.session.get(SigningIdentity, principal.org_id)
        if row is None:
            raise Conflict("the organisation has no sealing certificate", code="no_identity")
        return row.root_cert_pem


def sealed_pdf(rt: Runtime, principal: Principal, envelope_id: str, *,
               actor: str, ip: str | None, user_agent: str | None) -> bytes:
    """The completed, sealed PDF; the download is audited."""
    from accord.access import Permission
    from accord.envelopes import services as envelopes

    principal.require(Permission.ENVELOPE_READ)
    with rt.db.uow() as uow:
        env = envelopes.load(uow.session, principal, envelope_id, for_update=True)
        if env.sealed_blob is None:
            raise Conflict("the envelope is not completed yet", code="not_completed")
        data = rt.blobs.get(env.sealed_blob)
        audit.record(uow.session, env, "document:downloaded", actor=actor, now=rt.now(),
                     ip=ip, user_agent=user_agent, data={"sha256": env.sealed_sha256})
        envelopes.commit_or_conflict(uow.session)
        return data


def export_signer_for(rt: Runtime, session: Session, org_id: str) -> ExportSigner:
    """The organisation's audit-export signer (its seal key), built once per process."""
    row = sealing_identity(session, org_id)
    key = (org_id, row.signing_key_blob)
    with _lock:
        if key not in _export_signers:
            try:
                _export_signers[key] = ExportSigner(_load_identity(rt, row))
            except PkiError as exc:
                raise Conflict(exc.message, code="seal_bad_identity") from exc
        return _export_signers[key]


def audit_trail(rt: Runtime, principal: Principal, envelope_id: str) -> dict[str, object]:
    """The envelope's audit trail as a signed export (see documents.audit_export)."""
    from accord.access import Permission
    from accord.envelopes import services as envelopes

    principal.require(Permission.AUDIT_READ)
    with rt.db.uow() as uow:
        env = envelopes.load(uow.session, principal, envelope_id)
        recs = envelopes.recipients_of(uow.session, env.id)
        facts = EnvelopeFacts(
            status=env.status,
            sealed_pdf_sha256=env.sealed_sha256 if env.status == "completed" else None,
            recipients=tuple((r.id, r.role) for r in recs if r.role in DONE_TAGS))
        return signed_export(export_signer_for(rt, uow.session, env.org_id), env.id,
                             audit.events(uow.session, env.id), facts, exported_at=rt.now())
