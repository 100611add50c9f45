"""`accord demo`: the full lifecycle on the embedded instance, through the HTTP routes.

Two signers in sequence and one cc. Everything runs in-process (the ASGI app driven by an
HTTP client, the worker drained in between); no network is used."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from rich.console import Console

from accord.errors import AccordError

AGREEMENT_HTML = """<!doctype html><html><head><style>
@page { size: Letter; margin: 72pt }
body { font-family: 'DejaVu Sans', sans-serif; font-size: 11pt; line-height: 1.45 }
h1 { font-size: 18pt } .sig { margin-top: 36pt }
</style></head><body>
<h1>Support Services Agreement</h1>
<p>This agreement is made between <b>Demo Support Co</b> ("Provider") and <b>Northwind
Traders Ltd</b> ("Customer").</p>
<h2>1. Services</h2><p>Provider will deliver technical support for the Customer's
deployment of the Product during business hours (09:00-17:00 Customer local time), with
the response targets below.</p>
<table border="1" cellpadding="4" cellspacing="0">
<tr><th>Severity</th><th>First response</th><th>Resolution target</th></tr>
<tr><td>1 - Critical</td><td>1 hour</td><td>8 hours</td></tr>
<tr><td>2 - High</td><td>4 hours</td><td>2 business days</td></tr>
<tr><td>3 - Normal</td><td>1 business day</td><td>10 business days</td></tr></table>
<h2>2. Term</h2><p>The term is twelve (12) months from the date of the last signature and
renews for further twelve-month terms unless either party gives 60 days' written notice.</p>
<h2>3. Fees</h2><p>Customer will pay USD 24,000 per year, invoiced annually in advance.</p>
<p style="page-break-before: always">IN WITNESS WHEREOF the parties sign below.</p>
<p class="sig">Customer signature: ______________________ Date: __________</p>
<p class="sig">Provider signature: ______________________ Date: __________</p>
</body></html>"""


def sample_pdf() -> bytes:
    from weasyprint import HTML

    pdf: bytes = HTML(string=AGREEMENT_HTML).write_pdf()
    return pdf


def _check(resp: Any, what: str) -> Any:
    if resp.status_code >= 400:
        raise AccordError(f"{what} failed with HTTP {resp.status_code}: {resp.text[:300]}",
                          code="demo_failed")
    return resp


def _sign_as(client: TestClient, link: str, name: str, ua: str) -> None:
    headers = {"user-agent": ua}
    client.cookies.clear()
    page = _check(client.get(link, headers=headers), "opening the signing link")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if not csrf:
        raise AccordError("no consent form on the signing page", code="demo_failed")
    _check(client.post("/sign/consent", data={"csrf_token": csrf.group(1), "agree": "yes"},
                       headers=headers), "consenting")
    page = _check(client.get("/sign", headers=headers), "loading the signing page")
    for img in re.findall(r'src="(/sign/documents/[^"]+\.png)"', page.text):
        _check(client.get(img, headers=headers), "loading a page image")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if not csrf:
        raise AccordError("no signing form on the signing page", code="demo_failed")
    resp = _check(client.post("/sign/finish", headers=headers, data={
        "csrf_token": csrf.group(1), "signature_kind": "typed", "signature_text": name,
        "intent": "yes"}), "signing")
    if "id=\"done\"" not in resp.text:
        raise AccordError(f"signing did not finish for {name}", code="demo_failed")


def _link_for(rt: Any, org_id: str, email: str) -> str:
    from accord.delivery.services import list_mailbox

    for msg in list_mailbox(rt, org_id, limit=200):
        if email in msg.to_addr and msg.subject.startswith("Please sign"):
            found = re.search(r"https?://\S+/s/(\S+)", msg.body)
            if found:
                return f"/s/{found.group(1)}"
    raise AccordError(f"no signing request in the mailbox for {email}", code="demo_failed")


def run_demo(out_dir: Path, *, console: Console) -> tuple[Path, Path]:
    from accord.accounts.services import DEMO_EMAIL, create_api_key, user_id_by_email
    from accord.app import create_app
    from accord.cli import _runtime, prepare
    from accord.delivery.worker import drain

    rt = _runtime()
    rt.settings = rt.settings.model_copy(update={"run_worker": False, "seed_demo": True})
    with console.status("preparing the embedded instance…"):
        prepare(rt)
        user_id = user_id_by_email(rt, DEMO_EMAIL)
        _kid, key = create_api_key(rt, user_id, "accord demo")
        pdf = sample_pdf()
    client = TestClient(create_app(rt), base_url=rt.settings.base_url)
    auth = {"Authorization": f"Bearer {key}"}
    body = {
        "subject": "Support Services Agreement — Northwind Traders",
        "message": "Please review and sign the annual support agreement.",
        "documents": [{"name": "support-services-agreement.pdf",
                       "content_base64": base64.b64encode(pdf).decode()}],
        "recipients": [
            {"name": "Nora Customer", "email": "nora@northwind.example", "routing_order": 1},
            {"name": "Sam Provider", "email": "sam@demo-support.example", "routing_order": 2},
            {"name": "Legal Archive", "email": "legal@demo-support.example", "role": "cc",
             "routing_order": 3}],
        "fields": [
            {"recipient": 0, "kind": "signature", "anchor": "Customer signature:",
             "anchor_x_offset": 120, "anchor_y_offset": 8},
            {"recipient": 0, "kind": "date_signed", "anchor": "Customer signature:",
             "anchor_x_offset": 330, "anchor_y_offset": 4},
            {"recipient": 1, "kind": "signature", "anchor": "Provider signature:",
             "anchor_x_offset": 120, "anchor_y_offset": 8},
            {"recipient": 1, "kind": "date_signed", "anchor": "Provider signature:",
             "anchor_x_offset": 330, "anchor_y_offset": 4}],
        "send": True}
    with console.status("creating and sending the envelope…"):
        env = _check(client.post("/api/v1/envelopes", json=body, headers=auth),
                     "creating the envelope").json()
        drain(rt)
    env_id, org_id = env["id"], rt_org(rt, user_id)
    console.print(f"envelope {env_id} sent")
    for name, email, ua in (
            ("Nora Customer", "nora@northwind.example", "Mozilla/5.0 (iPhone) AccordDemo"),
            ("Sam Provider", "sam@demo-support.example", "Mozilla/5.0 (X11) AccordDemo")):
        with console.status(f"{name} signs…"):
            _sign_as(client, _link_for(rt, org_id, email), name, ua)
            drain(rt)
        console.print(f"{name} signed")
    status = _check(client.get(f"/api/v1/envelopes/{env_id}", headers=auth), "status").json()
    if status["status"] != "completed":
        raise AccordError(f"the envelope ended {status['status']}", code="demo_failed")
    out_dir.mkdir(parents=True, exist_ok=True)
    pdf_path, audit_path = out_dir / f"{env_id}.pdf", out_dir / f"{env_id}.audit.json"
    pdf_path.write_bytes(_check(client.get(f"/api/v1/envelopes/{env_id}/document",
                                           headers=auth), "download").content)
    trail = _check(client.get(f"/api/v1/envelopes/{env_id}/audit", headers=auth),
                   "audit").json()
    audit_path.write_text(json.dumps(trail, indent=2, ensure_ascii=False))
    console.print(f"completed and sealed; {trail['count']} audit events")
    return pdf_path, audit_path


def rt_org(rt: Any, user_id: str) -> str:
    from accord.accounts.services import org_of_user

    return org_of_user(rt, user_id)
