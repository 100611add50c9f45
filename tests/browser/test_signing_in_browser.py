"""Two signers complete an envelope in a real browser (Debian's Chromium via Playwright)
on a phone-sized screen: one draws a signature, one types it."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from accord.app import create_app
from accord.config import Settings
from accord.db import Database
from accord.delivery.worker import drain
from accord.documents.services import trust_roots
from accord.documents.verify import verify_pdf
from accord.runtime import Runtime, build_runtime
from tests.conftest import IN_CI, empty_tables
from tests.factories import envelope_body, member, signing_link

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("ACCORD_TEST_CHROMIUM") or shutil.which("chromium") or ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live(tmp_path: Path, sqlite_db: Database) -> Iterator[tuple[Runtime, str]]:
    empty_tables(sqlite_db)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(data_dir=tmp_path / "data", database_url=sqlite_db.url, base_url=base,
                        run_worker=False, seed_demo=False)
    rt = build_runtime(settings, database=sqlite_db)
    server = uvicorn.Server(uvicorn.Config(create_app(rt), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    yield rt, base
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser() -> Iterator[object]:
    if not CHROMIUM or not Path(CHROMIUM).exists():
        msg = "Debian's chromium is not installed (apt-get install chromium)"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        yield b
        b.close()


def test_two_signers_complete_on_a_phone(live: tuple[Runtime, str], browser: object) -> None:
    rt, base = live
    m = member(rt)
    api = TestClient(create_app(rt))
    r = api.post("/api/v1/envelopes", json=envelope_body(), headers=m.auth)
    assert r.status_code == 201, r.text
    env_id = r.json()["id"]
    phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
             "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile"}

    # first signer: draws a signature
    ctx = browser.new_context(**phone)  # type: ignore[attr-defined]
    page = ctx.new_page()
    page.goto(base + signing_link(rt, m.org_id, "ann@customer.example"))
    assert "/s/" not in page.url  # the token left the address bar
    page.check("#agree")
    page.click("#consent-continue")
    page.wait_for_selector("#sign-form")
    assert page.evaluate("document.documentElement.scrollWidth") <= 400  # no sideways scroll
    img = page.locator(".page img").first
    img.scroll_into_view_if_needed()
    for _ in range(100):  # (wait_for_function would need 'unsafe-eval', which CSP forbids)
        if img.evaluate("i => i.complete && i.naturalWidth") > 0:
            break
        time.sleep(0.05)
    assert img.evaluate("i => i.naturalWidth") > 0
    page.check("#kind-drawn")
    box = page.locator("#pad").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 20, box["y"] + box["height"] / 2)
    page.mouse.down()
    for i in range(1, 12):
        page.mouse.move(box["x"] + 20 + i * 25, box["y"] + box["height"] / 2 + (-1) ** i * 15)
    page.mouse.up()
    page.check("#intent")
    page.click("#finish")
    page.wait_for_selector("#done")
    ctx.close()

    # second signer: types a signature and fills a text field
    ctx = browser.new_context(**phone)  # type: ignore[attr-defined]
    page = ctx.new_page()
    page.goto(base + signing_link(rt, m.org_id, "bob@provider.example"))
    page.check("#agree")
    page.click("#consent-continue")
    page.wait_for_selector("#sign-form")
    page.fill("input[name^='field_'][type=text]", "PO-1234")
    page.fill("#signature_text", "Bob Signer")
    page.check("#intent")
    page.click("#finish")
    page.wait_for_selector("#done")
    assert "The document is being sealed" in page.content()
    assert api.get(f"/api/v1/envelopes/{env_id}", headers=m.auth).json()["status"] == \
        "completing"
    # the worker's completion task seals it (pyHanko runs its own event loop, and
    # Playwright's sync API runs one on this thread: seal from another thread)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pool.submit(drain, rt).result()
    page.reload()
    assert "Everyone has finished: the sealed document" in page.content()
    ctx.close()

    state = api.get(f"/api/v1/envelopes/{env_id}", headers=m.auth).json()
    assert state["status"] == "completed"
    kinds = {r["email"]: r["status"] for r in state["recipients"]}
    assert kinds == {"ann@customer.example": "completed", "bob@provider.example": "completed",
                     "carl@provider.example": "completed"}
    sealed = api.get(f"/api/v1/envelopes/{env_id}/document", headers=m.auth).content
    # Playwright's sync API runs an event loop on this thread; verify from another one
    with ThreadPoolExecutor(1) as pool:
        report = pool.submit(verify_pdf, sealed, trust_roots(rt)).result()
    assert report.ok, [c for c in report.checks if not c.ok]
    trail = api.get(f"/api/v1/envelopes/{env_id}/audit", headers=m.auth).json()
    adopted = [e["data"]["kind"] for e in trail["events"]
               if e["tag"] == "recipient:signature_adopted"]
    assert adopted == ["drawn", "typed"]
    uas = {e["user_agent"] for e in trail["events"] if e["tag"] == "recipient:signed"}
    assert any("iPhone" in (ua or "") for ua in uas)
