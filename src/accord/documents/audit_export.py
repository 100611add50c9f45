"""Signed audit-trail exports: the organisation's seal key vouches for the whole export.

The hash chain alone proves nothing to an outsider: it is plain SHA-256 that anyone can
recompute after editing, dropping or re-hashing events. An export therefore carries a
detached signature made with the organisation's seal key (the key and certificate that
seal its PDFs), over the canonical JSON (sorted keys, no whitespace, UTF-8, see
:func:`accord.audit.chain.canonical_json`) of the whole document minus its ``signature``
member. The signed content includes the envelope's status, its signer and approver ids
and, once completed, the sealed PDF's SHA-256, so the trail binds to the document.

The ``signature`` member::

    {"format": "accord-audit-signature/1",
     "algorithm": "ecdsa-with-SHA256" | "sha256WithRSAEncryption",
     "signed_content": "<the rule above, in words>",
     "value": "<base64 of the signature (DER ECDSA-Sig-Value, or PKCS#1 v1.5)>",
     "certificates": ["<PEM of the seal certificate>", "<intermediates…>", "<root>"]}

The certificates only say who signed; trust comes from the verifier's own anchors, never
from the root carried in the export. Future work (issue 8): the export's head hash will
also be checked against the transparency log; that check belongs in
:func:`accord.documents.verify.verify_audit_json`, after the signer is anchored.

Pure: no database, no I/O.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    InvalidCertificateError,
    PathBuildingError,
    PathValidationError,
)

from accord.audit.chain import canonical_json, export_document
from accord.documents.pki import Identity, PkiError, load_pem_certificates

SIGNATURE_FORMAT = "accord-audit-signature/1"
SIGNATURE_KEY = "signature"
SIGNED_CONTENT = ("canonical JSON (sorted keys, no whitespace, UTF-8) of this document "
                  "without its \"signature\" member")
ECDSA_SHA256 = "ecdsa-with-SHA256"
RSA_SHA256 = "sha256WithRSAEncryption"

CREATED_TAG = "envelope:created"
COMPLETED_TAG = "envelope:completed"
SEALED_TAG = "document:sealed"
# the event a terminal status must have recorded
TERMINAL_TAGS = {"completed": COMPLETED_TAG, "declined": "envelope:declined",
                 "voided": "envelope:voided", "expired": "envelope:expired"}
DONE_TAGS = {"signer": "recipient:signed", "approver": "recipient:approved"}


class ExportProblemError(Exception):
    """An export check failed, for a reason worth telling as-is."""


@dataclass(frozen=True)
class EnvelopeFacts:
    """What the export states about the envelope (signed with the events)."""

    status: str
    sealed_pdf_sha256: str | None
    recipients: tuple[tuple[str, str], ...]  # (recipient id, "signer" | "approver")

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "sealed_pdf_sha256": self.sealed_pdf_sha256,
                "recipients": [{"id": rid, "role": role} for rid, role in self.recipients]}


def signed_bytes(document: Mapping[str, Any]) -> bytes:
    """The exact bytes an export's signature covers."""
    return canonical_json({k: v for k, v in document.items() if k != SIGNATURE_KEY})


class ExportSigner:
    """Signs exports with one identity's seal key. Build once per identity; thread-safe."""

    def __init__(self, identity: Identity) -> None:
        try:
            key = serialization.load_der_private_key(identity.signing_key_der, password=None)
            chain = load_pem_certificates(identity.signing_cert_pem)
            roots = load_pem_certificates(identity.root_cert_pem)
        except (ValueError, TypeError, PkiError) as exc:
            raise PkiError(f"cannot load the seal identity: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise PkiError(f"unsupported seal key type {type(key).__name__}")
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        der = serialization.Encoding.DER
        if key.public_key().public_bytes(der, spki) != chain[0].public_key().public_bytes(
                der, spki):
            raise PkiError("the seal key does not belong to the seal certificate")
        self._key = key
        self.algorithm = ECDSA_SHA256 if isinstance(key, ec.EllipticCurvePrivateKey) \
            else RSA_SHA256
        issuers = [r for r in roots if r.subject == chain[-1].issuer]
        pem = serialization.Encoding.PEM
        self.certificates = [c.public_bytes(pem).decode("ascii") for c in [*chain, *issuers]]

    def sign(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """``document`` with its ``signature`` member (an existing one is replaced)."""
        content = signed_bytes(document)
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            value = self._key.sign(content, ec.ECDSA(hashes.SHA256()))
        else:
            value = self._key.sign(content, padding.PKCS1v15(), hashes.SHA256())
        signed = {k: v for k, v in document.items() if k != SIGNATURE_KEY}
        signed[SIGNATURE_KEY] = {
            "format": SIGNATURE_FORMAT, "algorithm": self.algorithm,
            "signed_content": SIGNED_CONTENT,
            "value": base64.b64encode(value).decode("ascii"),
            "certificates": list(self.certificates)}
        return signed


def signed_export(signer: ExportSigner, envelope_id: str,
                  events: Sequence[Mapping[str, Any]], facts: EnvelopeFacts, *,
                  exported_at: datetime) -> dict[str, Any]:
    """The signed export document of one envelope's trail."""
    document = export_document(envelope_id, events)
    document["envelope"] = facts.as_json()
    document["exported_at"] = exported_at.isoformat()
    return signer.sign(document)


# -- verification: each function returns (ok, detail) or raises ExportProblemError ---------


def _block(document: Mapping[str, Any]) -> Mapping[str, Any]:
    block = document.get(SIGNATURE_KEY)
    if block is None:
        raise ExportProblemError(
            "unsigned: the export carries no signature, and its SHA-256 chain can be "
            "recomputed by anyone, so it proves nothing")
    if not isinstance(block, Mapping) or block.get("format") != SIGNATURE_FORMAT:
        raise ExportProblemError(f"the signature block is not {SIGNATURE_FORMAT}")
    return block


def _certificates(block: Mapping[str, Any]) -> list[x509.Certificate]:
    pems = block.get("certificates")
    if not isinstance(pems, list) or not pems or not all(isinstance(p, str) for p in pems):
        raise ExportProblemError("the signature block carries no certificates")
    try:
        return [cert for pem in pems for cert in load_pem_certificates(pem)]
    except PkiError as exc:
        raise ExportProblemError(f"the signature's certificates are unreadable: {exc}") from exc


def check_signed(document: Mapping[str, Any]) -> tuple[bool, str]:
    """The export carries a signature block naming a known algorithm."""
    block = _block(document)
    algorithm = block.get("algorithm")
    if algorithm not in (ECDSA_SHA256, RSA_SHA256):
        raise ExportProblemError(f"unsupported signature algorithm {algorithm!r}")
    leaf = _certificates(block)[0]
    return True, f"{algorithm} by {leaf.subject.rfc4514_string()}"


def check_signature(document: Mapping[str, Any]) -> tuple[bool, str]:
    """The signature verifies over the document's canonical content."""
    block = _block(document)
    leaf = _certificates(block)[0]
    try:
        value = base64.b64decode(str(block.get("value", "")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ExportProblemError(f"the signature value is not base64: {exc}") from exc
    content, key, algorithm = signed_bytes(document), leaf.public_key(), block.get("algorithm")
    try:
        if algorithm == ECDSA_SHA256 and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(value, content, ec.ECDSA(hashes.SHA256()))
        elif algorithm == RSA_SHA256 and isinstance(key, rsa.RSAPublicKey):
            key.verify(value, content, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False, f"the certificate's key cannot make {algorithm!r} signatures"
    except InvalidSignature:
        return False, ("signature invalid: the export was changed after it was signed "
                       "(edited, re-hashed, re-ordered, truncated or re-stated events)")
    return True, f"{algorithm} signature verifies over {len(content):,} bytes"


def _validate(leaf: asn1_x509.Certificate, others: list[asn1_x509.Certificate],
              roots: list[asn1_x509.Certificate]) -> Any:
    context = ValidationContext(trust_roots=roots, allow_fetching=False,
                                revocation_mode="soft-fail")
    validator = CertificateValidator(leaf, others, validation_context=context)
    return asyncio.run(validator.async_validate_usage(  # type: ignore[no-untyped-call]
        {"digital_signature"}))


def check_anchored(document: Mapping[str, Any],
                   roots: list[asn1_x509.Certificate]) -> tuple[bool, str]:
    """The signing certificate chains to one of the verifier's trust anchors."""
    certs = _certificates(_block(document))
    if not roots:
        return False, ("the signer is not anchored: no trust roots were given to check "
                       "against (pass --trust root.pem)")
    der = serialization.Encoding.DER
    leaf, *others = (asn1_x509.Certificate.load(c.public_bytes(der)) for c in certs)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:  # safe inside a running event loop
            path = pool.submit(_validate, leaf, others, roots).result()
    except PathBuildingError:
        return False, ("the signing certificate does not chain to a trusted root: signed by "
                       "another organisation or an unknown key")
    except (PathValidationError, InvalidCertificateError) as exc:
        return False, f"the signing certificate is not valid: {exc}"
    anchor = path.first
    name = anchor.subject.human_friendly if anchor is not None else "a trusted root"
    return True, f"chains to {name}"


def _tags_of(events: list[Any]) -> list[str]:
    return [str(e.get("tag")) for e in events if isinstance(e, Mapping)]


def _done_ids(events: list[Any], tag: str) -> set[str]:
    return {str(e["data"].get("recipient_id")) for e in events
            if isinstance(e, Mapping) and e.get("tag") == tag
            and isinstance(e.get("data"), Mapping)}


def check_consistent(document: Mapping[str, Any]) -> tuple[bool, str]:
    """The trail is non-empty, starts with the envelope's creation and ends as its status
    says: a completed envelope has every signer's and approver's act, the completion and
    the seal (whose hash is the one the export records)."""
    try:
        return True, _consistent(document)
    except ExportProblemError as exc:
        return False, str(exc)


def _consistent(document: Mapping[str, Any]) -> str:
    events = document.get("events")
    if not isinstance(events, list) or not events:
        raise ExportProblemError("empty trail: it records no events, so it proves nothing")
    tags = _tags_of(events)
    if tags[:1] != [CREATED_TAG]:
        raise ExportProblemError(f"the trail starts with {tags[:1]!r}, not {CREATED_TAG!r}")
    facts = document.get("envelope")
    if not isinstance(facts, Mapping) or not isinstance(facts.get("status"), str):
        raise ExportProblemError("the export does not state the envelope's status")
    status = str(facts["status"])
    needed = TERMINAL_TAGS.get(status)
    ended = [tag for tag in TERMINAL_TAGS.values() if tag in tags and tag != needed]
    if needed is not None and needed not in tags:
        raise ExportProblemError(
            f"the envelope is {status} but the trail has no {needed!r} event")
    if ended:
        raise ExportProblemError(f"the envelope is {status} but the trail records {ended[0]!r}")
    if status == "completed":
        _check_completed(events, tags, facts)
    return f"{len(events)} events from {CREATED_TAG!r}, consistent with status {status}"


def _check_completed(events: list[Any], tags: list[str], facts: Mapping[str, Any]) -> None:
    recipients = facts.get("recipients")
    if not isinstance(recipients, list):
        raise ExportProblemError("the export does not list the envelope's signers")
    for rec in recipients:
        role = rec.get("role") if isinstance(rec, Mapping) else None
        tag = DONE_TAGS.get(str(role))
        if tag is None or not isinstance(rec, Mapping):
            raise ExportProblemError(f"unknown recipient entry {rec!r}")
        if str(rec.get("id")) not in _done_ids(events, tag):
            raise ExportProblemError(
                f"the envelope is completed but {role} {rec.get('id')} has no {tag!r} event")
    sealed = [e for e in events if isinstance(e, Mapping) and e.get("tag") == SEALED_TAG]
    data = sealed[-1].get("data") if sealed else None
    digest = data.get("sha256") if isinstance(data, Mapping) else None
    if digest is None:
        raise ExportProblemError(f"the envelope is completed but has no {SEALED_TAG!r} event")
    if digest != facts.get("sealed_pdf_sha256"):
        raise ExportProblemError(
            f"the seal event records PDF {digest}, the export states "
            f"{facts.get('sealed_pdf_sha256')!r}")
    if tags.index(COMPLETED_TAG) > tags.index(SEALED_TAG):
        raise ExportProblemError(f"{SEALED_TAG!r} comes before {COMPLETED_TAG!r}")
