"""Each organisation's sealing identity: creating it, and the sealer and audit-export
signer built from it. Knows nothing of envelopes (their downloads are
``accord.envelopes.services.documents``; the completion pipeline that seals is
``accord.signing.completion``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.accounts.services import org_name
from accord.documents.audit_export import ExportSigner
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


@dataclass(frozen=True)
class SealingIdentity:
    """An organisation's sealing identity as stored: certificates, and the blob addresses
    of its (encrypted) keys. A plain value, usable after its transaction ended."""

    org_id: str
    root_cert_pem: str
    signing_cert_pem: str
    tsa_cert_pem: str
    signing_key_blob: str
    tsa_key_blob: str
    source: str


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


def _load_identity(rt: Runtime, row: SealingIdentity) -> Identity:
    return Identity(root_cert_pem=row.root_cert_pem, signing_cert_pem=row.signing_cert_pem,
                    signing_key_der=rt.blobs.get(row.signing_key_blob),
                    tsa_cert_pem=row.tsa_cert_pem, tsa_key_der=rt.blobs.get(row.tsa_key_blob),
                    root_key_der=None, source=row.source)


def sealing_identity(session: Session, org_id: str) -> SealingIdentity:
    """The organisation's sealing identity (409 ``no_identity`` without one)."""
    row = session.get(SigningIdentity, org_id)
    if row is None:
        raise Conflict("the organisation has no sealing certificate", code="no_identity")
    return SealingIdentity(
        org_id=row.org_id, root_cert_pem=row.root_cert_pem,
        signing_cert_pem=row.signing_cert_pem, tsa_cert_pem=row.tsa_cert_pem,
        signing_key_blob=row.signing_key_blob, tsa_key_blob=row.tsa_key_blob,
        source=row.source)


def sealer_of(rt: Runtime, identity: SealingIdentity) -> Sealer:
    """The Sealer of an identity, built once per process (keys are loaded once)."""
    key = (identity.org_id, identity.signing_key_blob)
    with _lock:
        if key not in _sealers:
            _sealers[key] = Sealer(_load_identity(rt, identity))
        return _sealers[key]


def trust_roots(rt: Runtime) -> list[str]:
    """Every organisation's root certificate (PEM) known to this instance."""
    with rt.db.uow() as uow:
        return list(uow.session.scalars(select(SigningIdentity.root_cert_pem)))


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
