"""Benchmark: the completion pipeline per envelope against a bare pyHanko signature.

    python bench/seal.py [--quick] [--seconds N]

(a) pipeline: stamp_pdf (signature image + text + date for 2 signers) -> certificate_pdf
    (2 recipients) -> assemble -> audit trail (~12 events, ending with envelope:completed
    carrying sealed_input) -> Sealer.seal (PAdES + embedded trail + local TSA time stamp);
(b) bare: pyHanko's stock sign_pdf of the same 3-page PDF with the same key and a SimpleSigner
    built once, no time stamp (pyHanko sizes the signature with its usual dry run);
(c) for reference, (b) with bytes_reserved given, i.e. without that dry run.

Progress goes to stdout; the LAST line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from asn1crypto import keys
from PIL import Image, ImageDraw
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from accord.audit import chain
from accord.documents.certificate import (
    CompletionSummary,
    DocumentSummary,
    RecipientSummary,
    assemble,
    certificate_pdf,
)
from accord.documents.pdf import find_anchors, inspect_pdf
from accord.documents.pki import generate_identity
from accord.documents.seal import Sealer, load_certificates
from accord.documents.stamp import Stamp, stamp_pdf
from accord.documents.verify import verify_pdf

ENVELOPE = "env_bench_0001"
PARAGRAPH = (
    "The Provider shall deliver support services in accordance with the service levels "
    "set out in Schedule 2. Response times are measured from the moment a ticket is "
    "logged through any supported channel until a qualified engineer acknowledges it. "
)


def make_document() -> bytes:
    import weasyprint

    clauses = "".join(f"<p>{i}. {PARAGRAPH * 3}</p>" for i in range(1, 12))
    html = f"""<html><head><style>
      @page {{ size: A4; margin: 2cm }} body {{ font-family: sans-serif; font-size: 10.5pt }}
    </style></head><body><h1>Support Services Agreement</h1>{clauses}
    <p style="page-break-before: always">Signed for the Customer: /sig1/ Date: /date1/</p>
    <p>Signed for the Provider: /sig2/ Date: /date2/</p></body></html>"""
    pdf: bytes = weasyprint.HTML(string=html).write_pdf()
    return pdf


def make_signature_png() -> bytes:
    image = Image.new("RGBA", (480, 160), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    points = [(20, 120), (80, 40), (130, 130), (200, 30), (260, 120), (330, 50), (460, 90)]
    draw.line(points, fill=(20, 30, 110, 255), width=6, joint="curve")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def stamps_for(document: bytes, signature: bytes) -> list[Stamp]:
    stamps: list[Stamp] = []
    for n, name in ((1, "Casey Customer"), (2, "Pat Provider")):
        sig = find_anchors(document, f"/sig{n}/")[0]
        date = find_anchors(document, f"/date{n}/")[0]
        stamps += [
            Stamp(sig.page, sig.x, sig.y - 8, 140, 36, "signature", image_png=signature),
            Stamp(sig.page, sig.x + 150, sig.y - 4, 120, 14, "text", text=name),
            Stamp(date.page, date.x, date.y - 3, 110, 14, "date_signed", text="2024-05-01"),
        ]
    return stamps


def recipients(signature: bytes, now: datetime) -> list[RecipientSummary]:
    agent = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36"
    )
    return [
        RecipientSummary(
            name=name, email=email, role="signer", routing_order=order, status="completed",
            auth_method="email link + one-time code", ip=f"198.51.100.{order}",
            user_agent=agent, consented_at=now, consent_version="2024-03", viewed_at=now,
            completed_at=now, signature_png=signature,
        )
        for order, (name, email) in enumerate(
            [("Casey Customer", "casey@example.com"), ("Pat Provider", "pat@example.org")],
            start=1,
        )
    ]


def audit_events(now: datetime, sealed_input: bytes) -> list[dict[str, Any]]:
    tags = [
        "envelope:created", "envelope:sent", "recipient:notified", "recipient:viewed",
        "recipient:consented", "recipient:signed", "recipient:notified", "recipient:viewed",
        "recipient:consented", "recipient:signed", "envelope:stamped",
    ]
    events: list[dict[str, Any]] = []
    prev: dict[str, Any] | None = None
    for i, tag in enumerate(tags):
        prev = chain.build_event(
            ENVELOPE, prev, tag=tag, actor="casey@example.com" if i < 6 else "pat@example.org",
            occurred_at=(now + timedelta(seconds=i)).isoformat(), ip="198.51.100.1",
            user_agent="Mozilla/5.0", data={"step": i},
        )
        events.append(prev)
    events.append(
        chain.build_event(
            ENVELOPE, prev, tag="envelope:completed", actor="system",
            occurred_at=(now + timedelta(seconds=len(tags))).isoformat(),
            data={"sealed_input": {"sha256": hashlib.sha256(sealed_input).hexdigest(),
                                   "length": len(sealed_input)}},
        )
    )
    return events


def measure(
    contenders: dict[str, Callable[[], object]], seconds: float, min_runs: int, rounds: int = 4
) -> dict[str, float]:
    """Runs per second of each contender, measured in alternating rounds (fair under noise)."""
    runs = dict.fromkeys(contenders, 0)
    spent = dict.fromkeys(contenders, 0.0)
    for fn in contenders.values():
        fn()  # warm up
    for round_no in range(1, rounds + 1):
        for name, fn in contenders.items():
            start = time.perf_counter()
            done = 0
            while done < max(1, min_runs // rounds) or time.perf_counter() - start < (
                seconds / rounds
            ):
                fn()
                done += 1
            spent[name] += time.perf_counter() - start
            runs[name] += done
        summary = ", ".join(
            f"{name} {runs[name] / spent[name]:.1f}/s" for name in contenders
        )
        print(f"round {round_no}/{rounds}: {summary}", flush=True)
    rates = {name: runs[name] / spent[name] for name in contenders}
    for name, rate in rates.items():
        print(f"{name}: {runs[name]} runs, {rate:.1f}/s ({1000 / rate:.2f} ms each)")
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (under a minute)")
    parser.add_argument("--seconds", type=float, default=None, help="time per measurement")
    args = parser.parse_args(argv)
    seconds = args.seconds or (4.0 if args.quick else 15.0)
    min_runs = 20 if args.quick else 100

    print("building the 3-page test document with WeasyPrint...", flush=True)
    document = make_document()
    info = inspect_pdf(document, max_bytes=50_000_000, max_pages=500)
    print(f"document: {info.page_count} pages, {len(document):,} bytes")
    signature = make_signature_png()
    stamps = stamps_for(document, signature)
    identity = generate_identity("Bench Support Ltd")
    sealer = Sealer(identity)
    now = datetime.now(UTC)
    people = recipients(signature, now)

    def certificate() -> bytes:
        return certificate_pdf(summary_for(document, document))

    def summary_for(original: bytes, stamped: bytes) -> CompletionSummary:
        return CompletionSummary(
            envelope_id=ENVELOPE, subject="Support Services Agreement",
            organisation="Bench Support Ltd", sent_at=now, completed_at=now,
            documents=[DocumentSummary(
                name="agreement.pdf", pages=info.page_count,
                sha256_original=hashlib.sha256(original).hexdigest(),
                sha256_stamped=hashlib.sha256(stamped).hexdigest(),
            )],
            recipients=people, audit_event_count=12, audit_head_hash=chain.GENESIS,
        )

    def pipeline() -> bytes:
        stamped = stamp_pdf(document, stamps)
        final = assemble([stamped], certificate_pdf(summary_for(document, stamped)))
        trail = chain.export_json(ENVELOPE, audit_events(now, final))
        return sealer.seal(final, audit_json=trail)

    sealed = pipeline()
    report = verify_pdf(sealed, identity.trust_roots_pem)
    print(f"sealed output: {len(sealed):,} bytes; verify ok: {report.ok}")
    if not report.ok:
        for check in report.checks:
            print(f"  {check.name}: {check.ok} - {check.detail}")
        return 1

    signing_cert = load_certificates(identity.signing_cert_pem)[0]
    bare_signer = signers.SimpleSigner(
        signing_cert=signing_cert,
        signing_key=keys.PrivateKeyInfo.load(identity.signing_key_der),
        cert_registry=SimpleCertificateStore.from_certs(
            load_certificates(identity.root_cert_pem)
        ),
    )
    bare_meta = signers.PdfSignatureMetadata(field_name="Signature1", md_algorithm="sha256")

    def bare() -> bytes:
        writer = IncrementalPdfFileWriter(io.BytesIO(document))
        out: io.BytesIO = signers.sign_pdf(writer, bare_meta, signer=bare_signer)
        return out.getvalue()

    def bare_reserved() -> bytes:
        # the same, minus pyHanko's dry-run size estimate (for reference only)
        writer = IncrementalPdfFileWriter(io.BytesIO(document))
        out: io.BytesIO = signers.sign_pdf(
            writer, bare_meta, signer=bare_signer, bytes_reserved=8192
        )
        return out.getvalue()

    rates = measure(
        {"bare": bare, "pipeline": pipeline, "bare_reserved": bare_reserved}, seconds, min_runs
    )
    bare_per_s, pipeline_per_s = rates["bare"], rates["pipeline"]
    print("pipeline stages:")
    stage_rates = measure(
        {
            "stamp": lambda: stamp_pdf(document, stamps),
            "certificate": certificate,
            "assemble": lambda: assemble([document], certificate()),
            "seal": lambda: sealer.seal(document, audit_json=b"{}"),
        },
        seconds / 4,
        min_runs // 4,
        rounds=1,
    )
    part_ms = {f"{name}_ms": round(1000 / rate, 2) for name, rate in stage_rates.items()}
    result = {
        "pipeline_per_s": round(pipeline_per_s, 2),
        "bare_per_s": round(bare_per_s, 2),
        "ratio": round(pipeline_per_s / bare_per_s, 3),
        "bare_reserved_per_s": round(rates["bare_reserved"], 2),
        "ratio_vs_bare_reserved": round(pipeline_per_s / rates["bare_reserved"], 3),
        "pipeline_ms": round(1000 / pipeline_per_s, 2),
        "bare_ms": round(1000 / bare_per_s, 2),
        **part_ms,
        "pages": info.page_count,
        "quick": args.quick,
        "python": platform.python_version(),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
