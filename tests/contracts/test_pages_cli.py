"""The console's contract pages (detail, import form, change, terminate) and `accord
contracts show|import|terminate|link`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from typer.testing import CliRunner

from accord.app import create_app
from accord.contracts.cli import app as contracts_cli
from accord.runtime import Runtime
from tests.clirunner import installed
from tests.factories import PASSWORD, Member, member, pdf
from tests.web.conftest import HTML, csrf_of, post_login


def _browser(rt: Runtime, m: Member) -> TestClient:
    browser = TestClient(create_app(rt), base_url="http://testserver", headers=HTML)
    assert post_login(browser, m.email, PASSWORD).status_code == 303
    return browser


def test_import_form_detail_change_and_terminate(rt: Runtime) -> None:
    m = member(rt, role="legal")
    browser = _browser(rt, m)
    page = browser.get("/console/contracts/import")
    assert page.status_code == 200
    data = pdf(pages=1, title="Console import")
    form = {"csrf_token": csrf_of(page.text), "title": "Globex maintenance",
            "type": "maintenance", "customer_name": "Globex", "effective_date": "2026-03-01",
            "term_months": "24", "auto_renew": "yes", "notice_days": "90", "value": "999.99",
            "currency": "USD", "tags": "gold, emea"}
    bad = browser.post("/console/contracts/import", data={**form, "end_date": "2020-01-01"},
                       files={"file": ("globex.pdf", data, "application/pdf")})
    assert bad.status_code == 422 and 'id="form-error"' in bad.text
    assert 'value="Globex maintenance"' in bad.text  # the entries are kept
    done = browser.post("/console/contracts/import", data=form,
                        files={"file": ("globex.pdf", data, "application/pdf")},
                        follow_redirects=False)
    assert done.status_code == 303, done.text
    url = done.headers["location"].split("?")[0]
    detail = browser.get(url)
    assert detail.status_code == 200
    assert "Globex maintenance" in detail.text and "2028-02-29" in detail.text
    assert "contract:filed" in detail.text and "globex.pdf" in detail.text
    doc_link = url + "/documents/"
    href = detail.text.split(doc_link, 1)[1].split('"', 1)[0]
    down = browser.get(doc_link + href)
    assert down.status_code == 200 and down.content == data
    changed = browser.post(url, data={"csrf_token": csrf_of(detail.text), "title": "Globex",
                                      "tags": "gold", "customer_name": "Globex Ltd"},
                           follow_redirects=False)
    assert changed.status_code == 303
    no_csrf = browser.post(f"{url}/terminate", data={"reason": "gone"})
    assert no_csrf.status_code == 403
    ended = browser.post(f"{url}/terminate", data={"csrf_token": csrf_of(detail.text),
                                                   "reason": "Customer left"})
    assert ended.status_code == 200 and "terminated" in ended.text
    stranger = _browser(rt, member(rt, role="admin", org_name="Other Org"))
    assert stranger.get(url).status_code == 404
    agent = _browser(rt, member(rt, role="agent", org_id=m.org_id))
    assert agent.get(url).status_code == 200
    assert agent.get("/console/contracts/import").status_code == 403


@pytest.fixture
def runner(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setattr("accord.terminal.out", Console(width=250))
    monkeypatch.setattr("accord.terminal.err", Console(width=250, stderr=True))
    with installed(rt):
        yield CliRunner()


def test_cli_import_show_terminate(rt: Runtime, runner: CliRunner, tmp_path: Path) -> None:
    m = member(rt, role="manager")
    who = ["--as", m.email]
    data = pdf(pages=1)
    path = tmp_path / "signed.pdf"
    path.write_bytes(data)
    meta = {"title": "CLI contract", "customer_name": "Initech", "end_date": "2027-06-30",
            "tags": ["cli"]}
    r = runner.invoke(contracts_cli, ["import", str(path), "--meta", json.dumps(meta), *who])
    assert r.exit_code == 0, r.output
    assert "CLI contract" in r.output and hashlib.sha256(data).hexdigest()[:16] in r.output
    contract_id = r.output.split("contract ", 1)[1].split()[0]
    (tmp_path / "meta.json").write_text(json.dumps({"value": "lots"}))
    r = runner.invoke(contracts_cli, ["import", str(path), "--meta",
                                      f"@{tmp_path / 'meta.json'}", *who])
    assert r.exit_code == 2 and "invalid_contract_field" in r.output
    r = runner.invoke(contracts_cli, ["import", str(path), "--meta", "{nope", *who])
    assert r.exit_code == 2
    r = runner.invoke(contracts_cli, ["show", contract_id, *who])
    assert r.exit_code == 0 and "2027-06-30" in r.output and "Initech" in r.output
    r = runner.invoke(contracts_cli, ["terminate", contract_id, "--reason", "done", *who])
    assert r.exit_code == 0 and "terminated" in r.output
    r = runner.invoke(contracts_cli, ["terminate", contract_id, "--reason", "again", *who])
    assert r.exit_code == 2 and "already_terminated" in r.output
    other = member(rt, role="admin", org_name="Other Org")
    r = runner.invoke(contracts_cli, ["show", contract_id, "--as", other.email])
    assert r.exit_code == 2 and "contract_not_found" in r.output
