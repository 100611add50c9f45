"""Shared fixtures and factories for the document pipeline tests.

Expensive things (WeasyPrint rendering, key generation, a sealed envelope) are built once
per session; everything else is a plain factory function.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from PIL import Image, ImageDraw

from accord.audit import chain
from accord.documents.pki import Identity, generate_identity
from accord.documents.seal import Sealer

ENVELOPE_ID = "env_test_0001"
T0 = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)

CONTRACT_HTML = """<html><head><style>
  @page { size: A4; margin: 2cm }
  body { font-family: sans-serif; font-size: 11pt }
  .page { page-break-after: always }
</style></head><body>
<div class="page"><h1>Support Agreement</h1><p>Page one text.</p></div>
<div class="page"><p>Intro on page two.</p>
  <p style="margin-top: 300px">Customer signature: SIGHERE_1 end</p></div>
<div><p>Page three. Provider: SIGHERE_2 and again SIGHERE_2 on one line.</p></div>
</body></html>"""


def render_html(html: str) -> bytes:
    import weasyprint

    pdf: bytes = weasyprint.HTML(string=html).write_pdf()
    return pdf


@pytest.fixture(scope="session")
def contract_pdf() -> bytes:
    """A 3-page WeasyPrint PDF with anchors SIGHERE_1 (page 2) and SIGHERE_2 (page 3, x2)."""
    return render_html(CONTRACT_HTML)


def signature_png(size: tuple[int, int] = (300, 100)) -> bytes:
    """A drawn signature: dark strokes on a transparent canvas."""
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.line([(10, h - 20), (w // 4, 15), (w // 2, h - 15), (w - 10, 20)],
              fill=(20, 30, 120, 255), width=5)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="session")
def identity() -> Identity:
    return generate_identity("Acme Support Ltd")


@pytest.fixture(scope="session")
def sealer(identity: Identity) -> Sealer:
    return Sealer(identity)


def make_events(
    sealed_input: bytes | None, *, envelope_id: str = ENVELOPE_ID, count: int = 12
) -> list[dict[str, Any]]:
    """A valid chain of ``count`` events; the last is envelope:completed with sealed_input."""
    events: list[dict[str, Any]] = []
    prev: dict[str, Any] | None = None
    for i in range(count - 1):
        prev = chain.build_event(
            envelope_id, prev, tag="recipient:viewed" if i % 2 else "recipient:signed",
            actor=f"signer{i}@example.com", occurred_at=(T0 + timedelta(minutes=i)).isoformat(),
            ip="203.0.113.9", user_agent="Mozilla/5.0 (Test)", data={"step": i, "name": "Zoë"},
        )
        events.append(prev)
    data: dict[str, Any] = {}
    if sealed_input is not None:
        data["sealed_input"] = {
            "sha256": hashlib.sha256(sealed_input).hexdigest(),
            "length": len(sealed_input),
        }
    events.append(
        chain.build_event(
            envelope_id, prev, tag="envelope:completed", actor="system",
            occurred_at=(T0 + timedelta(hours=1)).isoformat(), data=data,
        )
    )
    return events


def trail_json(events: list[dict[str, Any]], envelope_id: str = ENVELOPE_ID) -> bytes:
    return chain.export_json(envelope_id, events)


def raw_trail_json(events: list[dict[str, Any]], envelope_id: str = ENVELOPE_ID) -> bytes:
    """An export whose head/count are computed naively (for tampered event lists)."""
    return json.dumps(
        {
            "format": chain.FORMAT,
            "envelope_id": envelope_id,
            "count": len(events),
            "head_hash": events[-1]["hash"] if events else chain.GENESIS,
            "events": events,
        }
    ).encode()


@pytest.fixture(scope="session")
def sealed(contract_pdf: bytes, sealer: Sealer) -> bytes:
    """The contract sealed with a complete, valid audit trail."""
    return sealer.seal(contract_pdf, audit_json=trail_json(make_events(contract_pdf)))


def make_pkcs12(*, with_root: bool = True, password: bytes | None = b"pw") -> bytes:
    """An operator-style PKCS#12: EC leaf, issuing CA and (optionally) the root."""
    now = datetime.now(UTC)

    def build(subject: str, issuer: x509.Name | None, issuer_key: ec.EllipticCurvePrivateKey
              | None, ca: bool) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Operator Inc")])
        builder = (
            x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=900))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=not ca, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                encipher_only=False, decipher_only=False), critical=True)
        )
        return builder.sign(issuer_key or key, hashes.SHA256()), key

    root, root_key = build("Operator Root", None, None, True)
    inter, inter_key = build("Operator Issuing CA", root.subject, root_key, True)
    leaf, leaf_key = build("Operator Seal", inter.subject, inter_key, False)
    chain = [inter, root] if with_root else [inter]
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    return pkcs12.serialize_key_and_certificates(b"seal", leaf_key, leaf, chain, encryption)
