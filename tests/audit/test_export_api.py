"""The audit export as the API and the console serve it is signed by the organisation's
seal key and verifies offline, alone and against its sealed PDF (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from accord.app import create_app
from accord.documents.verify import VerifyReport, verify_audit_json
from accord.runtime import Runtime
from tests.factories import envelope_body, member, sign, signing_link
from tests.web.conftest import login


def failures(report: VerifyReport) -> dict[str, str]:
    return {c.name: c.detail for c in report.checks if not c.ok}


def test_served_exports_are_signed_and_bind_to_the_sealed_pdf(rt: Runtime) -> None:
    client = TestClient(create_app(rt), base_url="http://testserver")
    agent, stranger = member(rt, "agent"), member(rt, "agent", org_name="Other Org")
    body = envelope_body(
        recipients=[{"name": "Ann Signer", "email": "ann@customer.example"}],
        fields=[{"recipient": 0, "kind": "signature", "anchor": "Customer signature:",
                 "anchor_x_offset": 110, "anchor_y_offset": 10}])
    env = client.post("/api/v1/envelopes", json=body, headers=agent.auth).json()
    signer = TestClient(create_app(rt), base_url="http://testserver")
    done = sign(signer, signing_link(rt, agent.org_id, "ann@customer.example"), name="Ann")
    assert done.status_code == 200, done.text
    pending = client.post("/api/v1/envelopes", json=body, headers=agent.auth).json()
    root = client.get("/api/v1/organisation/root-certificate", headers=agent.auth).text
    other_root = client.get("/api/v1/organisation/root-certificate",
                            headers=stranger.auth).text

    pdf = client.get(f"/api/v1/envelopes/{env['id']}/document", headers=agent.auth).content
    r = client.get(f"/api/v1/envelopes/{env['id']}/audit", headers=agent.auth)
    assert r.status_code == 200
    export: dict[str, Any] = r.json()
    assert export["envelope"]["status"] == "completed"
    assert export["envelope"]["recipients"] == [
        {"id": e["data"]["recipient_id"], "role": "signer"}
        for e in export["events"] if e["tag"] == "recipient:signed"]
    assert export["signature"]["certificates"][-1] == root
    data = r.content

    report = verify_audit_json(data, [root], pdf=pdf)
    assert report.ok, failures(report)
    assert report.envelope_id == env["id"]
    assert "chains to" in next(c.detail for c in report.checks if c.name == "signer anchored")

    # another organisation's root does not vouch for this export
    bad = failures(verify_audit_json(data, [other_root]))
    assert set(bad) == {"signer anchored"}
    assert "does not chain to a trusted root" in bad["signer anchored"]

    # an envelope still waiting for its signer: signed, consistent, but names no sealed PDF
    r = client.get(f"/api/v1/envelopes/{pending['id']}/audit", headers=agent.auth)
    assert r.json()["envelope"] == {"status": "sent", "sealed_pdf_sha256": None,
                                    "recipients": r.json()["envelope"]["recipients"]}
    assert verify_audit_json(r.content, [root]).ok
    bad = failures(verify_audit_json(r.content, [root], pdf=pdf))
    assert set(bad) == {"PDF is the sealed one", "PDF trail agrees"}
    assert "records no sealed PDF" in bad["PDF is the sealed one"]

    # the console download is the same signed export
    console = TestClient(create_app(rt), base_url="http://testserver",
                         headers={"accept": "text/html"})
    login(console, agent)
    download = console.get(f"/console/envelopes/{env['id']}/audit.json")
    assert download.status_code == 200
    report = verify_audit_json(download.content, [root], pdf=pdf)
    assert report.ok, failures(report)
    # and it is refused the moment a row is edited
    edited = json.loads(download.content)
    edited["events"][0]["actor"] = "user:mallory@example.com"
    bad = failures(verify_audit_json(json.dumps(edited).encode(), [root]))
    assert "signature valid" in bad
