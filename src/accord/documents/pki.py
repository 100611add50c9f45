"""Each organisation's sealing identity: a root CA, a seal certificate and a TSA certificate.

Two ways to get one:

* :func:`generate_identity` makes a fresh, self-contained hierarchy (ECDSA P-256): a root CA
  that issues both the document-seal certificate and the time-stamping (TSA) certificate.
  Verifiers trust the one root.
* :func:`identity_from_pkcs12` takes an operator-supplied PKCS#12 (key, certificate and its
  chain; the chain must end in a self-signed root). Accord cannot issue a TSA certificate
  under the operator's root because it does not hold that root's key, yet every seal carries
  a signature timestamp from the local, in-process TSA. So a *separate* local TSA root is
  generated, it issues the TSA certificate, and its certificate is returned in
  :attr:`Identity.extra_roots_pem` as an additional trust anchor. The TSA root's private key
  is thrown away once the TSA certificate is issued (it is never needed again), so the TSA
  root is only ever trusted for what it has already signed. Verifiers must trust
  :attr:`Identity.trust_roots_pem` (operator root + local TSA root).

Intermediate CA certificates from a PKCS#12 chain are kept in ``signing_cert_pem`` after the
leaf certificate (a PEM bundle, leaf first), so they survive storage in the one text column.

No certificate carries CRL or OCSP URLs: the service is offline by design, and validators
are told to use a soft-fail revocation policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT_YEARS = 20
SIGNING_YEARS = 3
TSA_YEARS = 10
_BACKDATE = timedelta(minutes=5)


class PkiError(Exception):
    """Key material could not be made, read or used."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Identity:
    """An organisation's sealing identity. Keys are unencrypted PKCS#8 DER."""

    root_cert_pem: str
    signing_cert_pem: str  # leaf first, then any intermediate CA certificates
    signing_key_der: bytes
    tsa_cert_pem: str
    tsa_key_der: bytes
    root_key_der: bytes | None
    source: str  # "generated" | "pkcs12"
    extra_roots_pem: tuple[str, ...] = ()

    @property
    def trust_roots_pem(self) -> tuple[str, ...]:
        """Every root a verifier of this identity's seals must trust."""
        return (self.root_cert_pem, *self.extra_roots_pem)


def _years(start: datetime, years: int) -> datetime:
    return start + timedelta(days=365 * years + years // 4)


def _name(common_name: str, org_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, _clean(common_name)),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _clean(org_name)),
        ]
    )


def _clean(value: str) -> str:
    value = " ".join(value.split())[:64]
    return value or "Accord"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_der(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _key_usage(*, digital_signature: bool = False, non_repudiation: bool = False,
               cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=non_repudiation,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _make_root(
    common_name: str, org_name: str, now: datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    name = _name(common_name, org_name)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(_years(now, ROOT_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _issue(
    *,
    issuer: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    years: int,
    now: datetime,
    usage: x509.KeyUsage,
    time_stamping: bool,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    not_after = min(_years(now, years), issuer.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if time_stamping:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
    return builder.sign(issuer_key, hashes.SHA256()), key


def _issue_tsa(
    root: x509.Certificate, root_key: ec.EllipticCurvePrivateKey, org_name: str, now: datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    return _issue(
        issuer=root,
        issuer_key=root_key,
        subject=_name(f"{_clean(org_name)} Time Stamping Authority", org_name),
        years=TSA_YEARS,
        now=now,
        usage=_key_usage(digital_signature=True),
        time_stamping=True,
    )


def _aware(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise PkiError("now must be a timezone-aware datetime")
    return now.astimezone(UTC)


def generate_identity(org_name: str, *, now: datetime | None = None) -> Identity:
    """A fresh root CA with a document-seal certificate and a TSA certificate under it."""
    when = _aware(now)
    root, root_key = _make_root(f"{_clean(org_name)} Accord Root CA", org_name, when)
    signing, signing_key = _issue(
        issuer=root,
        issuer_key=root_key,
        subject=_name(f"{_clean(org_name)} Document Seal", org_name),
        years=SIGNING_YEARS,
        now=when,
        usage=_key_usage(digital_signature=True, non_repudiation=True),
        time_stamping=False,
    )
    tsa, tsa_key = _issue_tsa(root, root_key, org_name, when)
    return Identity(
        root_cert_pem=_pem(root),
        signing_cert_pem=_pem(signing),
        signing_key_der=_key_der(signing_key),
        tsa_cert_pem=_pem(tsa),
        tsa_key_der=_key_der(tsa_key),
        root_key_der=_key_der(root_key),
        source="generated",
    )


def _is_self_signed(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def identity_from_pkcs12(
    data: bytes, password: bytes | None, *, now: datetime | None = None
) -> Identity:
    """An identity from an operator's PKCS#12 file (see the module notes on the TSA)."""
    try:
        key, cert, chain = pkcs12.load_key_and_certificates(data, password)
    except (ValueError, TypeError) as exc:
        raise PkiError(f"cannot read the PKCS#12 file: {exc}") from exc
    if key is None or cert is None:
        raise PkiError("the PKCS#12 file must hold a private key and its certificate")
    if cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise PkiError("the PKCS#12 private key does not match its certificate")
    roots = [c for c in chain if _is_self_signed(c)]
    if not roots:
        raise PkiError(
            "the PKCS#12 chain has no self-signed root certificate; "
            "export it with the full chain"
        )
    root = roots[-1]
    intermediates = [c for c in chain if not _is_self_signed(c) and c != cert]
    org = _org_of(cert)
    when = _aware(now)
    tsa_root, tsa_root_key = _make_root(f"{org} Accord TSA Root", org, when)
    tsa, tsa_key = _issue_tsa(tsa_root, tsa_root_key, org, when)
    signing_key_der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return Identity(
        root_cert_pem=_pem(root),
        signing_cert_pem="".join(_pem(c) for c in [cert, *intermediates]),
        signing_key_der=signing_key_der,
        tsa_cert_pem=_pem(tsa),
        tsa_key_der=_key_der(tsa_key),
        root_key_der=None,
        source="pkcs12",
        extra_roots_pem=(_pem(tsa_root),),
    )


def _org_of(cert: x509.Certificate) -> str:
    for oid in (NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME):
        attrs = cert.subject.get_attributes_for_oid(oid)
        if attrs:
            value = attrs[0].value
            return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return "Accord"


def load_pem_certificates(pem: str) -> list[x509.Certificate]:
    """Every certificate in a PEM string (one certificate or a bundle)."""
    try:
        certs = x509.load_pem_x509_certificates(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise PkiError(f"not a PEM certificate: {exc}") from exc
    return certs
