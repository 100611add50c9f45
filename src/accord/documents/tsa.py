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

# The policy under which tokens are issued: a private arc; Accord's TSA is local-only.
TSA_POLICY = "1.3.6.1.4.1.4146.2.2"

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


def _attribute(kind: str, value: object) -> bytes:
    """One DER-encoded CMS attribute with a single value."""
    attribute: cms.CMSAttribute = simple_cms_attribute(kind, value)  # type: ignore[no-untyped-call]
    encoded: bytes = attribute.dump()
    return encoded


def _der(tag: int, content: bytes) -> bytes:
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
        self._signing_cert_attr = _attribute(
            "signing_certificate_v2", as_signing_certificate_v2(tsa_cert, self._md)
        )
        self._content_type_attr = _attribute("content_type", "tst_info")
        self._digest_algorithm = algos.DigestAlgorithm({"algorithm": self._md}).dump()
        sig_algo = f"{self._md}_ecdsa" if isinstance(key, ec.EllipticCurvePrivateKey) else (
            f"{self._md}_rsa"
        )
        self._signature_algorithm = algos.SignedDigestAlgorithm({"algorithm": sig_algo}).dump()
        certs = {c.dump(): None for c in [tsa_cert, *(certs_to_embed or [])]}
        # certificates [0] IMPLICIT CertificateSet; DER wants SET OF members sorted
        self._certs_der = _der(0xA0, b"".join(sorted(certs)))

    def _sign(self, data: bytes) -> bytes:
        algo = _HASHES[self._md]()
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(algo))
        return self._key.sign(data, PKCS1v15(), algo)

    def issue(self, req: tsp.TimeStampReq, *, now: datetime | None = None) -> tsp.TimeStampResp:
        """Answer one time-stamp request (always granted).

        The response is assembled as DER from pre-encoded constant parts and parsed back
        lazily: building it through asn1crypto objects costs ~10 ms, mostly spent deep-copying
        the embedded certificates.
        """
        when = (now or self._clock()).astimezone(UTC)
        tst_args: dict[str, Any] = {
            "version": "v1",
            "policy": TSA_POLICY,
            "message_imprint": req["message_imprint"],
            "serial_number": int.from_bytes(os.urandom(15), "big") | 1,
            "gen_time": when,
            "tsa": self._tsa_name,
        }
        if req["nonce"].native is not None:
            tst_args["nonce"] = req["nonce"]
        tst_info_der = tsp.TSTInfo(tst_args).dump()
        digest = hashes.Hash(_HASHES[self._md]())
        digest.update(tst_info_der)
        attrs = sorted(
            [
                self._content_type_attr,
                _attribute("signing_time", cms.Time({"utc_time": when})),
                self._signing_cert_attr,
                _attribute("message_digest", digest.finalize()),
            ]
        )
        attrs_content = b"".join(attrs)
        signature = self._sign(_der(0x31, attrs_content))
        signer_info = _der(
            0x30,
            _VERSION_1
            + self._sid
            + self._digest_algorithm
            + _der(0xA0, attrs_content)
            + self._signature_algorithm
            + _der(0x04, signature),
        )
        encap = _der(0x30, _OID_TST_INFO + _der(0xA0, _der(0x04, tst_info_der)))
        signed_data = _der(
            0x30,
            _VERSION_3
            + _der(0x31, self._digest_algorithm)
            + encap
            + self._certs_der
            + _der(0x31, signer_info),
        )
        token = _der(0x30, _OID_SIGNED_DATA + _der(0xA0, signed_data))
        resp: tsp.TimeStampResp = tsp.TimeStampResp.load(_der(0x30, _GRANTED + token))
        return resp

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return self.issue(req)
