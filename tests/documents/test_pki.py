from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from accord.documents.pki import (
    Identity,
    PkiError,
    generate_identity,
    identity_from_pkcs12,
    load_pem_certificates,
)

from .conftest import make_pkcs12


def cert(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def test_generated_hierarchy(identity: Identity) -> None:
    root, signing, tsa = (cert(p) for p in (identity.root_cert_pem, identity.signing_cert_pem,
                                             identity.tsa_cert_pem))
    assert identity.source == "generated"
    assert identity.extra_roots_pem == ()
    assert identity.trust_roots_pem == (identity.root_cert_pem,)
    assert identity.root_key_der is not None

    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    root_usage = root.extensions.get_extension_for_class(x509.KeyUsage).value
    assert root_usage.key_cert_sign
    assert root_usage.crl_sign
    assert root.not_valid_after_utc - root.not_valid_before_utc > timedelta(days=365 * 19)

    assert signing.issuer == root.subject
    signing.verify_directly_issued_by(root)
    usage = signing.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.content_commitment
    assert not usage.key_cert_sign
    assert signing.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "Acme Support Ltd Document Seal"
    )
    life = signing.not_valid_after_utc - signing.not_valid_before_utc
    assert timedelta(days=365 * 3) <= life < timedelta(days=365 * 3 + 5)

    tsa.verify_directly_issued_by(root)
    eku = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical
    assert list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    assert tsa.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature

    for c in (root, signing, tsa):
        assert isinstance(c.public_key(), ec.EllipticCurvePublicKey)
        with pytest.raises(x509.ExtensionNotFound):
            c.extensions.get_extension_for_class(x509.CRLDistributionPoints)
        with pytest.raises(x509.ExtensionNotFound):
            c.extensions.get_extension_for_class(x509.AuthorityInformationAccess)

    key = serialization.load_der_private_key(identity.signing_key_der, None)
    assert key.public_key() == signing.public_key()


def test_generate_uses_the_given_time() -> None:
    when = datetime(2030, 1, 1, tzinfo=UTC)
    ident = generate_identity("Timely", now=when)
    assert cert(ident.signing_cert_pem).not_valid_before_utc == when - timedelta(minutes=5)
    with pytest.raises(PkiError):
        generate_identity("Naive", now=datetime(2030, 1, 1))


@pytest.fixture(scope="module")
def p12_identity() -> Identity:
    return identity_from_pkcs12(make_pkcs12(), b"pw")


def test_pkcs12_identity(p12_identity: Identity) -> None:
    assert p12_identity.source == "pkcs12"
    assert p12_identity.root_key_der is None
    assert cert(p12_identity.root_cert_pem).subject.rfc4514_string().startswith("O=Operator")
    chain = load_pem_certificates(p12_identity.signing_cert_pem)
    assert [c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value for c in chain] == [
        "Operator Seal", "Operator Issuing CA"]
    # the TSA hangs off a separate local root, which verifiers must also trust
    (tsa_root_pem,) = p12_identity.extra_roots_pem
    tsa_root = cert(tsa_root_pem)
    cert(p12_identity.tsa_cert_pem).verify_directly_issued_by(tsa_root)
    assert p12_identity.trust_roots_pem == (p12_identity.root_cert_pem, tsa_root_pem)


def test_pkcs12_without_password() -> None:
    ident = identity_from_pkcs12(make_pkcs12(password=None), None)
    assert ident.source == "pkcs12"


def test_pkcs12_needs_a_root_in_the_chain() -> None:
    with pytest.raises(PkiError, match="self-signed root"):
        identity_from_pkcs12(make_pkcs12(with_root=False), b"pw")


@pytest.mark.parametrize(("data", "password"), [(b"garbage", b"pw"), (None, b"wrong")])
def test_pkcs12_unreadable(data: bytes | None, password: bytes) -> None:
    with pytest.raises(PkiError, match="cannot read"):
        identity_from_pkcs12(data or make_pkcs12(), password)


def test_bad_pem_is_a_pki_error() -> None:
    with pytest.raises(PkiError):
        load_pem_certificates("not a certificate")
