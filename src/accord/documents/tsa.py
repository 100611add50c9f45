"""An in-process RFC 3161 time-stamping authority.

pyHanko ships ``DummyTimeStamper`` for the same job, but in 0.38 it is RSA-only, reloads the
private key for every token and takes the time in the machine's local zone. Accord's TSA
keys are ECDSA P-256, so this small :class:`~pyhanko.sign.timestamps.api.TimeStamper`
subclass answers requests itself: the key is loaded once and the constant parts of every
token (the signing-certificate attribute, the certificate set) are built once.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from asn1crypto import algos, cms, core, keys, tsp, x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute
from pyhanko.sign.timestamps.api import TimeStamper

# The policy under which Accord's local TSA issues tokens: a UUID-derived OID (ITU-T X.667,
# arc 2.25), so no registered enterprise number is borrowed.
TSA_POLICY = "2.25.308802833101376881256391265408877437097"

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


_VERSION_1 = b"\x02\x01\x01"
_VERSION_3 = b"\x02\x01\x03"
_GRANTED = b"\x30\x03\x02\x01\x00"  # PKIStatusInfo { status granted(0) }
_OID_TST_INFO = core.ObjectIdentifier("1.2.840.113549.1.9.16.1.4").dump()
_OID_SIGNED_DATA = core.ObjectIdentifier("1.2.840.113549.1.7.2").dump()


def attribute_der(kind: str, value: object) -> bytes:
    """One DER-encoded CMS attribute with a single value."""
    attribute: cms.CMSAttribute = simple_cms_attribute(kind, value)  # type: ignore[no-untyped-call]
    encoded: bytes = attribute.dump()
    return encoded


def der(tag: int, content: bytes) -> bytes:
    """One DER TLV with a single-byte tag."""
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size))) + size + content


class LocalTimeStamper(TimeStamper):
    """Issues time-stamp tokens signed with the organisation's TSA key, in memory."""

    def __init__(
        self,
        tsa_cert: x509.Certificate,
        tsa_key: keys.PrivateKeyInfo,
        certs_to_embed: list[x509.Certificate] | None = None,
        *,
        md_algorithm: str = "sha256",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(include_nonce=True)  # type: ignore[no-untyped-call]
        self._clock = clock or (lambda: datetime.now(UTC))
        key = serialization.load_der_private_key(tsa_key.dump(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise TypeError("the TSA key must be an ECDSA or RSA key")
        if md_algorithm not in _HASHES:
            raise ValueError(f"unsupported TSA digest {md_algorithm!r}")
        self._key = key
        self._md = md_algorithm
        self.tsa_cert = tsa_cert
        self._sid = cms.IssuerAndSerialNumber(
            {"issuer": tsa_cert.issuer, "serial_number": tsa_cert.serial_number}
        ).dump()
        self._tsa_name = x509.GeneralName(name="directory_name", value=tsa_cert.subject)
        self._signing_cert_attr = attribute_der(
            "signing_certificate_v2", as_signing_certificate_v2(tsa_cert, self._md)
        )
        self._content_type_attr = attribute_der("content_type", "tst_info")
        self._digest_algorithm = algos.DigestAlgorithm({"algorithm": self._md}).dump()
        sig_algo = f"{self._md}_ecdsa" if isinstance(key, ec.EllipticCurvePrivateKey) else (
            f"{self._md}_rsa"
        )
        self._signature_algorithm = algos.SignedDigestAlgorithm({"algorithm": sig_algo}).dump()
        certs = {c.dump(): None for c in [tsa_cert, *(certs_to_embed or [])]}
        # certificates [0] IMPLICIT CertificateSet; DER wants SET OF members sorted
        self._certs_der = der(0xA0, b"".join(sorted(certs)))

    def _sign(self, data: bytes) -> bytes:
        algo = _HASHES[self._md]()
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(algo))
        return self._key.sign(data, PKCS1v15(), algo)

    def issue(self, req: tsp.TimeStampReq, *, now: datetime | None = None) -> tsp.TimeStampResp:
        """Answer one RFC 3161 time-stamp request (always granted)."""
        nonce = req["nonce"] if req["nonce"].native is not None else None
        token = self.token(req["message_imprint"], nonce=nonce, now=now)
        resp: tsp.TimeStampResp = tsp.TimeStampResp.load(der(0x30, _GRANTED + token))
        return resp

    def token_for_digest(self, digest: bytes, md_algorithm: str) -> bytes:
        """A DER time-stamp token (CMS ContentInfo) over an already computed digest."""
        imprint = tsp.MessageImprint(
            {"hash_algorithm": {"algorithm": md_algorithm}, "hashed_message": digest}
        )
        return self.token(imprint)

    def token(
        self,
        imprint: tsp.MessageImprint,
        *,
        nonce: core.Integer | None = None,
        now: datetime | None = None,
    ) -> bytes:
        """The DER time-stamp token for a message imprint.

        Assembled as DER from pre-encoded constant parts: building it through asn1crypto
        objects costs ~10 ms, mostly spent deep-copying the embedded certificates.
        """
        when = (now or self._clock()).astimezone(UTC)
        tst_args: dict[str, Any] = {
            "version": "v1",
            "policy": TSA_POLICY,
            "message_imprint": imprint,
            "serial_number": int.from_bytes(os.urandom(15), "big") | 1,
            "gen_time": when,
            "tsa": self._tsa_name,
        }
        if nonce is not None:
            tst_args["nonce"] = nonce
        tst_info_der = tsp.TSTInfo(tst_args).dump()
        digest = hashes.Hash(_HASHES[self._md]())
        digest.update(tst_info_der)
        attrs = sorted(
            [
                self._content_type_attr,
                attribute_der("signing_time", cms.Time({"utc_time": when})),
                self._signing_cert_attr,
                attribute_der("message_digest", digest.finalize()),
            ]
        )
        attrs_content = b"".join(attrs)
        signature = self._sign(der(0x31, attrs_content))
        signer_info = der(
            0x30,
            _VERSION_1
            + self._sid
            + self._digest_algorithm
            + der(0xA0, attrs_content)
            + self._signature_algorithm
            + der(0x04, signature),
        )
        encap = der(0x30, _OID_TST_INFO + der(0xA0, der(0x04, tst_info_der)))
        signed_data = der(
            0x30,
            _VERSION_3
            + der(0x31, self._digest_algorithm)
            + encap
            + self._certs_der
            + der(0x31, signer_info),
        )
        return der(0x30, _OID_SIGNED_DATA + der(0xA0, signed_data))

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return self.issue(req)
