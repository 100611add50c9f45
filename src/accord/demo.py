"""`accord demo`: the full lifecycle on the embedded instance, through the HTTP routes.

The shipped support services agreement template, sent to two signers in sequence and one
cc. Everything runs in-process (the ASGI app driven by an
HTTP client, the worker drained in between); no network is used."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi.testclient import TestClient
from rich.console import Console

from accord.errors import AccordError

if TYPE_CHECKING:
    from accord.runtime import Runtime

DEMO_TEMPLATE = "support-services-agreement"


def _demo_data() -> dict[str, Any]:
    """The shipped support services agreement's sample data, Premium tier (the template's
    routing rule makes Enterprise customers pass an SMS code, which this scripted signer
    does not receive)."""
    from accord.drafting.examples import load_examples

    seed = next(t for t in load_examples().templates if t.key == DEMO_TEMPLATE)
    return {**seed.sample_data, "tier": "premium"}


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
    form = {"csrf_token": csrf.group(1), "signature_kind": "typed", "signature_text": name,
            "intent": "yes"}
    # fill the fields the template asks this signer for (their name, a title, boxes)
    labels = dict(re.findall(r'<label for="f-([^"]+)">([^<]*)<', page.text))
    for fid in re.findall(r'<input type="text" id="f-([^"]+)" name="field_', page.text):
        form[f"field_{fid}"] = ("Authorised signatory" if "title" in labels.get(fid, "")
                                .lower() else name)
    for field in re.findall(r'<input type="checkbox" id="f-[^"]+" name="(field_[^"]+)"',
                            page.text):
        form[field] = "on"
    resp = _check(client.post("/sign/finish", headers=headers, data=form), "signing")
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


def run_demo(rt: Runtime, out_dir: Path, *, console: Console,
             prepare: Callable[[Runtime], object]) -> tuple[Path, Path]:
    """The demo on ``rt`` (the `accord demo` command's runtime); ``prepare`` migrates and
    seeds it (``accord.cli.prepare``)."""
    from accord.accounts.services import (
        DEMO_EMAIL,
        create_api_key,
        org_of_user,
        user_id_by_email,
    )
    from accord.app import create_app
    from accord.delivery.worker import drain
    from accord.drafting.services import seed_examples

    rt.settings = rt.settings.model_copy(update={"run_worker": False, "seed_demo": True})
    with console.status("preparing the embedded instance…"):
        prepare(rt)
        user_id = user_id_by_email(rt, DEMO_EMAIL)
        seed_examples(rt, org_of_user(rt, user_id), publisher_user_id=user_id)
        _kid, key = create_api_key(rt, user_id, "accord demo")
    client = TestClient(create_app(rt), base_url=rt.settings.base_url)
    auth = {"Authorization": f"Bearer {key}"}
    body = {
        "template_key": DEMO_TEMPLATE,
        "subject": "Support Services Agreement — Northwind Traders",
        "message": "Please review and sign the annual support agreement.",
        "data": _demo_data(),
        "recipients": {
            "customer": {"name": "Nora Customer", "email": "nora@northwind.example"},
            "provider": {"name": "Sam Provider", "email": "sam@demo-support.example"},
            "account_manager": {"name": "Legal Archive",
                                "email": "legal@demo-support.example"}},
        "send": True}
    with console.status("creating and sending the envelope…"):
        env = _check(client.post("/api/v1/envelopes/from-template", json=body,
                                 headers=auth), "creating the envelope").json()
        drain(rt)
    env_id, org_id = env["id"], org_of_user(rt, user_id)
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
    console.print(f"completed and sealed; {trail['count']} audit events, the export signed "
                  f"with the organisation's seal key ({trail['signature']['algorithm']})")
    return pdf_path, audit_path
