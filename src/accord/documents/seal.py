"""The seal: a PAdES signature over the final PDF, with the audit trail embedded.

One :class:`Sealer` per organisation identity: keys, certificates, the signer and the
in-process TSA are built once, so a seal costs one CMS signature and one time-stamp token.

What a seal is, exactly (and what :mod:`accord.documents.verify` checks):

* exactly one incremental update appended to the input, which is left byte-for-byte
  unchanged as the output's prefix;
* in that update: the audit trail as an embedded file (``audit-trail.json``,
  ``application/json``), a Document Security Store holding every certificate needed to
  validate the seal and its time stamp, and the signature itself;
* the signature is PAdES (``/SubFilter /ETSI.CAdES.detached``, SHA-256) with a signature
  time-stamp from the organisation's local TSA: PAdES B-T, plus the certificate material of
  B-LT in the DSS. There is no revocation data to embed because Accord's certificates carry
  no CRL or OCSP locations (validators use a soft-fail revocation policy).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from asn1crypto import cms, core, keys, pem
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.embed import EmbeddedFileObject, EmbeddedFileParams, FileSpec, embed_file
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError, as_signing_certificate_v2
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator.registry import SimpleCertificateStore

from accord.documents.pdf import ensure_within_limits
from accord.documents.pki import Identity
from accord.documents.tsa import LocalTimeStamper, attribute_der, der

SEAL_FIELD = "AccordSeal"
_CONTENT_TYPE_DATA = attribute_der("content_type", "data")
_OID_SIGNATURE_TIME_STAMP = core.ObjectIdentifier("1.2.840.113549.1.9.16.2.14").dump()
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
AUDIT_ATTACHMENT = "audit-trail.json"


class SealError(Exception):
    """The PDF could not be sealed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def load_certificates(pem_text: str) -> list[asn1_x509.Certificate]:
    """Every certificate in a PEM string (one or a bundle), as asn1crypto objects."""
    data = pem_text.encode("ascii")
    certs = [
        asn1_x509.Certificate.load(der)
        for kind, _headers, der in pem.unarmor(data, multiple=True)
        if kind == "CERTIFICATE"
    ]
    if not certs:
        raise SealError("seal_bad_identity", "no certificate found in PEM text")
    return certs


class _SealSigner(signers.SimpleSigner):
    """SimpleSigner tuned for sealing: same CMS output, a fraction of the asn1crypto work.

    * the ECDSA key is loaded once (the stock signer reloads it for every signature);
    * for PAdES signatures the signed attributes (content-type, message-digest,
      signing-certificate-v2: exactly the set pyHanko builds) are assembled from pre-encoded
      DER, and the signature time stamp comes straight from the in-process TSA as DER.
      asn1crypto objects loaded from DER are copied and re-encoded cheaply, whereas the
      ones pyHanko builds from Python values are deep-copied at every nesting level.
    Anything unusual (CAdES extras, other content types, dry runs) goes the stock way.
    """

    def __init__(
        self,
        signing_cert: asn1_x509.Certificate,
        signing_key: keys.PrivateKeyInfo,
        cert_registry: SimpleCertificateStore,
    ) -> None:
        super().__init__(
            signing_cert=signing_cert, signing_key=signing_key, cert_registry=cert_registry
        )
        loaded = serialization.load_der_private_key(signing_key.dump(), password=None)
        public = loaded.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if public != signing_cert.public_key.dump():
            raise ValueError("the signing key does not belong to the signing certificate")
        self._ec_key = loaded if isinstance(loaded, ec.EllipticCurvePrivateKey) else None
        self._signing_cert_v2 = attribute_der(
            "signing_certificate_v2", as_signing_certificate_v2(signing_cert)
        )

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        digest = _HASHES.get(digest_algorithm.lower())
        if self._ec_key is None or digest is None:
            result: bytes = super().sign_raw(data, digest_algorithm)
            return result
        return self._ec_key.sign(data, ec.ECDSA(digest()))

    async def signed_attrs(
        self,
        data_digest: bytes,
        digest_algorithm: str,
        attr_settings: PdfCMSSignedAttributes | None = None,
        content_type: str = "data",
        use_pades: bool = False,
        timestamper: TimeStamper | None = None,
        dry_run: bool = False,
        is_pdf_sig: bool = True,
    ) -> cms.CMSAttributes:
        plain = attr_settings is None or (
            attr_settings.cades_signed_attrs is None and attr_settings.adobe_revinfo_attr is None
        )
        if not (use_pades and is_pdf_sig and plain and content_type == "data"
                and self.signed_attr_prov_spec is None):
            attrs: cms.CMSAttributes = await super().signed_attrs(
                data_digest, digest_algorithm, attr_settings=attr_settings,
                content_type=content_type, use_pades=use_pades, timestamper=timestamper,
                dry_run=dry_run, is_pdf_sig=is_pdf_sig,
            )
            return attrs
        encoded = sorted(
            [_CONTENT_TYPE_DATA, attribute_der("message_digest", data_digest),
             self._signing_cert_v2]
        )
        loaded: cms.CMSAttributes = cms.CMSAttributes.load(der(0x31, b"".join(encoded)))
        return loaded

    async def unsigned_attrs(
        self,
        digest_algorithm: str,
        signature: bytes,
        signed_attrs: cms.CMSAttributes,
        timestamper: TimeStamper | None = None,
        dry_run: bool = False,
    ) -> cms.CMSAttributes | None:
        if (not isinstance(timestamper, LocalTimeStamper) or dry_run
                or self.unsigned_attr_prov_spec is not None):
            attrs: cms.CMSAttributes | None = await super().unsigned_attrs(
                digest_algorithm, signature, signed_attrs, timestamper=timestamper,
                dry_run=dry_run,
            )
            return attrs
        digest = hashlib.new(digest_algorithm, signature).digest()
        token = timestamper.token_for_digest(digest, digest_algorithm)
        attribute = der(0x30, _OID_SIGNATURE_TIME_STAMP + der(0x31, token))
        loaded: cms.CMSAttributes = cms.CMSAttributes.load(der(0x31, attribute))
        return loaded


class Sealer:
    """Seals PDFs for one identity. Build once, reuse for every envelope, from any thread.

    ``clock`` (timezone-aware "now") drives the time stamps and attachment dates; tests
    freeze it, production leaves the default.
    """

    def __init__(
        self, identity: Identity, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._clock = clock or _utcnow
        # asn1crypto parses lazily and is not documented as thread-safe: one seal at a time
        # per Sealer (sealing is CPU-bound Python, so the GIL serialises it anyway).
        self._lock = threading.Lock()
        try:
            chain = load_certificates(identity.signing_cert_pem)
            roots = load_certificates(identity.root_cert_pem)
            tsa_chain = load_certificates(identity.tsa_cert_pem)
            extra_roots = [c for p in identity.extra_roots_pem for c in load_certificates(p)]
            signing_key = keys.PrivateKeyInfo.load(identity.signing_key_der)
            tsa_key = keys.PrivateKeyInfo.load(identity.tsa_key_der)
            signing_cert, intermediates = chain[0], chain[1:]
            self._signer = _SealSigner(
                signing_cert=signing_cert,
                signing_key=signing_key,
                cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
                    [*intermediates, *roots]
                ),
            )
            tsa_cert = tsa_chain[0]
            tsa_issuers = [
                c for c in [*tsa_chain[1:], *roots, *extra_roots] if c.subject == tsa_cert.issuer
            ]
            self._timestamper = LocalTimeStamper(
                tsa_cert, tsa_key, [*tsa_chain[1:], *tsa_issuers], clock=self._clock
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise SealError(
                "seal_bad_identity", f"cannot load the sealing identity: {exc}"
            ) from exc
        self.signing_cert = signing_cert
        self._dss_certs = _unique([signing_cert, *intermediates, *roots, tsa_cert, *tsa_issuers])
        # Room for the CMS blob: every certificate it may carry, the TSA token and the
        # signed attributes, doubled because /Contents is hex. Retried bigger if short.
        cms_estimate = sum(len(c.dump()) for c in self._dss_certs) + 4096
        self._bytes_reserved = 2 * cms_estimate

    def seal(
        self,
        pdf: bytes,
        *,
        audit_json: bytes,
        attachment_name: str = AUDIT_ATTACHMENT,
        reason: str = "Sealed by Accord",
    ) -> bytes:
        """Return ``pdf`` + one incremental update embedding ``audit_json`` and the seal.
        The document is held to the document limits first (``document_too_complex``):
        pyHanko decodes object streams in full."""
        ensure_within_limits(pdf)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass  # no loop running in this thread: the normal, synchronous case
        else:
            raise SealError(
                "seal_in_event_loop", "inside an event loop, use `await Sealer.async_seal(...)`"
            )
        with self._lock:
            return asyncio.run(
                self.async_seal(
                    pdf, audit_json=audit_json, attachment_name=attachment_name, reason=reason
                )
            )

    async def async_seal(
        self,
        pdf: bytes,
        *,
        audit_json: bytes,
        attachment_name: str = AUDIT_ATTACHMENT,
        reason: str = "Sealed by Accord",
    ) -> bytes:
        """The same as :meth:`seal`, for callers already inside an event loop.

        Not guarded by the Sealer's lock: do not share one Sealer between event loops
        running in different threads (share it freely between tasks of one loop).
        """
        reserved = self._bytes_reserved
        for _attempt in range(3):
            try:
                out = await self._seal_once(pdf, audit_json, attachment_name, reason, reserved)
            except SigningError as exc:
                if "larger than expected" not in str(exc):
                    raise SealError("seal_failed", f"signing failed: {exc}") from exc
                reserved *= 4  # our estimate was short: retry with much more room
                continue
            except (misc.PdfError, ValueError, KeyError, TypeError, NotImplementedError) as exc:
                raise SealError("seal_bad_pdf", f"cannot seal this PDF: {exc}") from exc
            if not out.startswith(pdf):
                raise SealError("seal_failed", "the sealed output does not extend its input")
            self._bytes_reserved = max(self._bytes_reserved, reserved)  # remember what fitted
            return out
        raise SealError("seal_failed", "the signature did not fit the reserved space")

    async def _seal_once(
        self, pdf: bytes, audit_json: bytes, attachment_name: str, reason: str, reserved: int
    ) -> bytes:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        now = self._clock()
        ef_stream = EmbeddedFileObject.from_file_data(
            writer,
            audit_json,
            mime_type="application/json",
            params=EmbeddedFileParams(creation_date=now, modification_date=now),
        )
        embed_file(
            writer,
            FileSpec(
                file_spec_string=attachment_name,
                file_name=attachment_name,
                embedded_data=ef_stream,
                description="Accord audit trail (hash-linked events)",
                af_relationship=None,
            ),
        )
        DocumentSecurityStore.supply_dss_in_writer(
            writer, None, certs=self._dss_certs, ocsps=[], crls=[]
        )
        meta = signers.PdfSignatureMetadata(
            field_name=_free_field_name(writer),
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=reason,
            name=None,
        )
        pdf_signer = signers.PdfSigner(meta, signer=self._signer, timestamper=self._timestamper)
        buf = io.BytesIO()
        await pdf_signer.async_sign_pdf(writer, bytes_reserved=reserved, output=buf)
        return buf.getvalue()


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _free_field_name(writer: IncrementalPdfFileWriter) -> str:
    taken: set[str] = set()
    try:
        acro = writer.root["/AcroForm"]
        for ref in acro.get("/Fields", generic.ArrayObject()):
            title = ref.get_object().get("/T")
            if title is not None:
                taken.add(str(title))
    except (KeyError, misc.PdfError):
        pass
    name, n = SEAL_FIELD, 1
    while name in taken:
        n += 1
        name = f"{SEAL_FIELD}{n}"
    return name


def _unique(certs: Iterable[asn1_x509.Certificate]) -> list[asn1_x509.Certificate]:
    seen: dict[bytes, asn1_x509.Certificate] = {}
    for cert in certs:
        seen.setdefault(cert.dump(), cert)
    return list(seen.values())
