"""Signed audit-trail exports: the hostile client's attacks on `accord verify x.audit.json`
(each used to answer VALID) are refused with their own cause; `--pdf` ties the export to
its sealed PDF. Pure: no database."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from accord.audit import chain
from accord.cli import app
from accord.documents.audit_export import (
    EnvelopeFacts,
    ExportSigner,
    check_consistent,
    signed_bytes,
    signed_export,
)
from accord.documents.pki import (
    Identity,
    generate_identity,
    identity_from_pkcs12,
    load_pem_certificates,
)
from accord.documents.seal import Sealer
from accord.documents.verify import VerifyReport, verify_audit_json

from .conftest import T0, make_pkcs12

EXPORT_CHECKS = ["audit trail readable", "signed", "signature valid", "signer anchored",
                 "audit chain intact", "head and count match", "trail complete"]
PDF_CHECKS = ["PDF is the sealed one", "PDF verifies", "PDF trail agrees"]
SIGNERS = (("rec_ann", "signer"), ("rec_bob", "signer"))


@dataclass(frozen=True)
class Completed:
    envelope_id: str
    pdf: bytes
    export: dict[str, Any]


def _event(envelope_id: str, prev: dict[str, Any] | None, tag: str, minutes: int,
           data: dict[str, Any] | None = None) -> dict[str, Any]:
    return chain.build_event(envelope_id, prev, tag=tag, actor="system" if ":" not in tag
                             or tag.startswith(("envelope", "document")) else "ann@x.example",
                             occurred_at=(T0 + timedelta(minutes=minutes)).isoformat(),
                             ip="203.0.113.9", user_agent="pytest", data=data or {})


def complete(envelope_id: str, contract_pdf: bytes, sealer: Sealer,
             signer: ExportSigner) -> Completed:
    """An envelope's life as Accord records it: created, two signatures, completed, sealed
    (the trail so far embedded in the PDF), then downloaded; exported and signed."""
    events: list[dict[str, Any]] = []

    def add(tag: str, data: dict[str, Any] | None = None) -> None:
        events.append(_event(envelope_id, events[-1] if events else None, tag, len(events),
                             data))

    add("envelope:created", {"recipients": [{"id": rid} for rid, _ in SIGNERS]})
    add("envelope:sent")
    for rid, _role in SIGNERS:
        add("recipient:signed", {"recipient_id": rid})
    add("envelope:completed", {"sealed_input": {
        "sha256": hashlib.sha256(contract_pdf).hexdigest(), "length": len(contract_pdf)}})
    pdf = sealer.seal(contract_pdf, audit_json=chain.export_json(envelope_id, events))
    digest = hashlib.sha256(pdf).hexdigest()
    add("document:sealed", {"sha256": digest, "bytes": len(pdf)})
    add("document:downloaded", {"sha256": digest})
    facts = EnvelopeFacts(status="completed", sealed_pdf_sha256=digest, recipients=SIGNERS)
    export = signed_export(signer, envelope_id, events, facts,
                           exported_at=T0 + timedelta(hours=2))
    return Completed(envelope_id, pdf, export)


@pytest.fixture(scope="module")
def signer(identity: Identity) -> ExportSigner:
    return ExportSigner(identity)


@pytest.fixture(scope="module")
def stranger() -> Identity:
    return generate_identity("Mallory Holdings")


@pytest.fixture(scope="module")
def done(contract_pdf: bytes, sealer: Sealer, signer: ExportSigner) -> Completed:
    return complete("env_export_1", contract_pdf, sealer, signer)


@pytest.fixture(scope="module")
def other_done(contract_pdf: bytes, sealer: Sealer, signer: ExportSigner) -> Completed:
    return complete("env_export_2", contract_pdf, sealer, signer)


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=1, ensure_ascii=False).encode()


def verify(document: dict[str, Any], identity: Identity, pdf: bytes | None = None
           ) -> VerifyReport:
    return verify_audit_json(encode(document), identity.trust_roots_pem, pdf=pdf)


def failures(report: VerifyReport) -> dict[str, str]:
    return {c.name: c.detail for c in report.checks if not c.ok}


def forge(document: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """What the hostile client did: new events, renumbered and re-hashed with
    chain.event_hash, count and head_hash fixed up, the old signature block kept."""
    envelope_id = document["envelope_id"]
    relinked: list[dict[str, Any]] = []
    for seq, event in enumerate(events, start=1):
        prev = relinked[-1]["hash"] if relinked else chain.GENESIS
        fixed = {**event, "seq": seq, "prev_hash": prev}
        fixed["hash"] = chain.event_hash(prev, envelope_id, fixed)
        relinked.append(fixed)
    forged = copy.deepcopy(document)
    forged.update(events=relinked, count=len(relinked), head_hash=chain.head_hash(relinked))
    assert chain.verify_chain(envelope_id, relinked)[0]  # the hash chain alone is fooled
    return forged


def assert_changed_after_signing(report: VerifyReport) -> None:
    assert not report.ok
    bad = failures(report)
    assert "signature valid" in bad, report.checks
    assert "changed after it was signed" in bad["signature valid"]
    assert "audit chain intact" not in bad and "head and count match" not in bad


def test_signed_export_verifies(done: Completed, identity: Identity) -> None:
    report = verify(done.export, identity)
    assert [c.name for c in report.checks] == EXPORT_CHECKS
    assert report.ok, report.checks
    block = done.export["signature"]
    assert block["algorithm"] == "ecdsa-with-SHA256"
    assert len(block["certificates"]) == 2  # the seal certificate and its issuing root
    leaf, _root = (load_pem_certificates(pem)[0] for pem in block["certificates"])
    assert "Acme Support Ltd Document Seal" in leaf.subject.rfc4514_string()
    assert block["certificates"][1] == identity.root_cert_pem
    assert done.export["envelope"]["sealed_pdf_sha256"] == hashlib.sha256(done.pdf).hexdigest()
    assert signed_bytes(done.export) == chain.canonical_json(
        {k: v for k, v in done.export.items() if k != "signature"})


def test_dropped_tail_with_fixed_count_and_head_is_refused(done: Completed,
                                                           identity: Identity) -> None:
    forged = forge(done.export, done.export["events"][:-3])
    assert_changed_after_signing(verify(forged, identity))


def test_edited_and_rehashed_row_is_refused(done: Completed, identity: Identity) -> None:
    events = copy.deepcopy(done.export["events"])
    events[2]["ip"] = "198.51.100.66"
    assert_changed_after_signing(verify(forge(done.export, events), identity))


def test_removed_signatures_rehashed_are_refused(done: Completed, identity: Identity) -> None:
    events = [e for e in done.export["events"] if e["tag"] != "recipient:signed"]
    report = verify(forge(done.export, events), identity)
    assert_changed_after_signing(report)
    assert "has no 'recipient:signed' event" in failures(report)["trail complete"]


def test_empty_trail_is_refused(done: Completed, identity: Identity) -> None:
    report = verify(forge(done.export, []), identity)
    assert_changed_after_signing(report)
    assert failures(report)["trail complete"].startswith("empty trail")


def test_unsigned_trail_is_refused(done: Completed, identity: Identity) -> None:
    unsigned = {k: v for k, v in done.export.items() if k != "signature"}
    report = verify(unsigned, identity)
    assert not report.ok
    bad = failures(report)
    assert bad["signed"].startswith("unsigned: the export carries no signature")
    assert set(bad) == {"signed", "signature valid", "signer anchored"}
    # the plain, unsigned chain format is refused too (what the hostile client sent)
    plain = chain.export_document(done.envelope_id, done.export["events"])
    assert "signed" in failures(verify(plain, identity))


def test_another_organisations_key_is_not_anchored(done: Completed, identity: Identity,
                                                   stranger: Identity) -> None:
    events = [e for e in done.export["events"] if e["tag"] != "recipient:signed"]
    resigned = ExportSigner(stranger).sign(forge(done.export, events))
    bad = failures(verify(resigned, identity))
    assert "signature valid" not in bad  # a real signature, by the wrong key
    assert "does not chain to a trusted root" in bad["signer anchored"]
    # without any trust anchor the signer is not anchored, whoever it is
    report = verify_audit_json(encode(done.export), [])
    assert failures(report) == {"signer anchored": (
        "the signer is not anchored: no trust roots were given to check against "
        "(pass --trust root.pem)")}


@pytest.mark.parametrize(("status", "drop", "cause"), [
    ("completed", "envelope:created", "not 'envelope:created'"),
    ("completed", "envelope:completed", "has no 'envelope:completed' event"),
    ("completed", "document:sealed", "has no 'document:sealed' event"),
    ("voided", None, "has no 'envelope:voided' event"),
    ("sent", None, "records 'envelope:completed'"),
])
def test_trail_must_match_its_status(done: Completed, signer: ExportSigner,
                                     status: str, drop: str | None, cause: str) -> None:
    """Even when the organisation itself signed it, an inconsistent trail is refused."""
    events = [e for e in done.export["events"] if e["tag"] != drop]
    forged = forge(done.export, events)
    forged["envelope"]["status"] = status
    ok, detail = check_consistent(signer.sign(forged))
    assert not ok
    assert cause in detail


def test_pdf_of_the_export_passes(done: Completed, identity: Identity) -> None:
    report = verify(done.export, identity, pdf=done.pdf)
    assert [c.name for c in report.checks] == EXPORT_CHECKS + PDF_CHECKS
    assert report.ok, report.checks


def test_pdf_of_another_envelope_fails(done: Completed, other_done: Completed,
                                       identity: Identity) -> None:
    report = verify(done.export, identity, pdf=other_done.pdf)
    bad = failures(report)
    assert set(bad) == {"PDF is the sealed one", "PDF trail agrees"}
    assert "another PDF" in bad["PDF is the sealed one"]
    assert "the PDF belongs to envelope env_export_2" in bad["PDF trail agrees"]


def test_cli_exit_codes(done: Completed, other_done: Completed, identity: Identity,
                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("accord.documents.trust.instance_roots", list)  # no instance here
    # the console's width is fixed when it is made (COLUMNS at import): make it wide here
    monkeypatch.setattr("accord.terminal.out", Console(width=300))
    runner = CliRunner()
    root, export, pdf, other = (tmp_path / n for n in ("root.pem", "x.audit.json", "x.pdf",
                                                       "other.pdf"))
    root.write_text("".join(identity.trust_roots_pem))
    export.write_bytes(encode(done.export))
    pdf.write_bytes(done.pdf)
    other.write_bytes(other_done.pdf)

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["verify", *args], env={"COLUMNS": "300"})
        return result.exit_code, result.output

    code, output = run(str(export), "--trust", str(root), "--pdf", str(pdf))
    assert code == 0, output
    assert "NOT VALID" not in output and "VALID" in output
    code, output = run(str(export))
    assert code == 1
    assert "the signer is not anchored" in output
    code, output = run(str(export), "--trust", str(root), "--pdf", str(other))
    assert code == 1
    assert "another PDF" in output
    unsigned = tmp_path / "unsigned.audit.json"
    unsigned.write_bytes(encode({k: v for k, v in done.export.items() if k != "signature"}))
    code, output = run(str(unsigned), "--trust", str(root))
    assert code == 1
    assert "unsigned: the export carries no signature" in output
    code, output = run(str(pdf), "--pdf", str(pdf))
    assert code == 2
    assert "--pdf goes with an audit-trail export" in output


def test_operator_pkcs12_identity_signs_exports(done: Completed) -> None:
    """An operator's PKCS#12 (leaf, issuing CA, root) signs exports too; the chain carried
    is leaf, intermediate, root, and only the operator's root anchors it."""
    ident = identity_from_pkcs12(make_pkcs12(), b"pw")
    export = ExportSigner(ident).sign(done.export)
    subjects = [load_pem_certificates(p)[0].subject.rfc4514_string()
                for p in export["signature"]["certificates"]]
    assert [s.split(",")[-1] for s in subjects] == [
        "CN=Operator Seal", "CN=Operator Issuing CA", "CN=Operator Root"]
    assert verify_audit_json(encode(export), ident.trust_roots_pem).ok
    assert verify_audit_json(encode(export), [ident.root_cert_pem]).ok
    assert "signer anchored" in failures(verify_audit_json(encode(export),
                                                           list(ident.extra_roots_pem)))
