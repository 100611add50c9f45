"""Bulk send through HTTP (REST API and console pages) and `accord bulk-send`."""

from __future__ import annotations

import base64
import csv
import io
import os
import re
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from accord.app import create_app
from accord.bulk.cli import follow
from accord.cli import app as cli_app
from accord.delivery.worker import drain
from accord.runtime import Runtime
from tests.bulk.helpers import HEADER, csv_rows, publish_notice
from tests.factories import member
from tests.web.conftest import HTML, login


def _body(data: bytes, **extra: object) -> dict[str, object]:
    return {"template_key": "notice", "csv_base64": base64.b64encode(data).decode(), **extra}


def test_api_dry_run_submit_progress_results(rt: Runtime) -> None:
    admin = member(rt, role="admin")
    agent = member(rt, role="agent", org_id=admin.org_id)
    publish_notice(rt, admin.principal)
    client = TestClient(create_app(rt), base_url="http://testserver")
    data = csv_rows(3) + b"=HYPERLINK(\"x\"),,Eve,eve-at-x,Carl,carl@x.example\n"

    r = client.post("/api/v1/bulk-batches/dry-run", json=_body(data), headers=agent.auth)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["valid_rows"], report["invalid_rows"]) == (3, 1)
    assert report["problems"] == [{"row": 4, "column": "recipient.customer.email",
                                   "code": "invalid_email",
                                   "message": "'eve-at-x' is not an email address"}]
    assert client.get("/api/v1/bulk-batches", headers=agent.auth).json() == []

    headers = {**agent.auth, "Idempotency-Key": "import-42"}
    r = client.post("/api/v1/bulk-batches", json=_body(data, subject="Notice"),
                    headers=headers)
    assert r.status_code == 201, r.text
    batch = r.json()
    assert (batch["status"], batch["pending_rows"], batch["invalid_rows"]) == (
        "processing", 3, 1)
    # a retry with the key: the same batch (replayed by the API's idempotency layer)
    again = client.post("/api/v1/bulk-batches", json=_body(data, subject="Notice"),
                        headers=headers)
    assert again.status_code in (200, 201) and again.json()["id"] == batch["id"]
    # the same file without a key: identified by its hash, answered 200 with the batch
    same = client.post("/api/v1/bulk-batches", json=_body(csv_rows(2)), headers=agent.auth)
    assert same.status_code == 201
    twice = client.post("/api/v1/bulk-batches", json=_body(csv_rows(2)), headers=agent.auth)
    assert twice.status_code == 200 and twice.json()["id"] == same.json()["id"]
    assert len(client.get("/api/v1/bulk-batches", headers=agent.auth).json()) == 2

    drain(rt)
    r = client.get(f"/api/v1/bulk-batches/{batch['id']}", headers=agent.auth)
    assert r.json()["status"] == "finished" and r.json()["done_rows"] == 3, r.text
    r = client.get(f"/api/v1/bulk-batches/{batch['id']}/results.csv", headers=agent.auth)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text, newline="")))
    assert rows[0][-5:] == ["row", "status", "envelope_id", "error_code", "error_message"]
    assert rows[4][0] == "'=HYPERLINK(\"x\")" and rows[4][-4] == "invalid"
    # another sender of the organisation does not see it
    other = member(rt, role="agent", org_id=admin.org_id)
    assert client.get(f"/api/v1/bulk-batches/{batch['id']}",
                      headers=other.auth).status_code == 404


def test_api_refuses_bad_files_with_codes(rt: Runtime) -> None:
    admin = member(rt, role="admin")
    publish_notice(rt, admin.principal)
    client = TestClient(create_app(rt), base_url="http://testserver")
    for data, code in [(b"\xff\xfebad", "csv_not_utf8"),
                       ((HEADER + ",colour\n").encode(), "csv_unknown_column"),
                       ((HEADER.split(",")[0] + ",x@y\nA,B\n").encode(),
                        "csv_invalid")]:
        r = client.post("/api/v1/bulk-batches", json=_body(data), headers=admin.auth)
        assert r.status_code == 422 and r.json()["error"]["code"] == code, r.text
    r = client.post("/api/v1/bulk-batches", json={**_body(b""), "csv_base64": "%%"},
                    headers=admin.auth)
    assert r.json()["error"]["code"] == "invalid_base64"
    bad = (HEADER + "\nAcme,,Ann,nope,Carl,carl@x.example\n").encode()
    r = client.post("/api/v1/bulk-batches", json=_body(bad), headers=admin.auth)
    assert r.status_code == 422 and r.json()["error"]["code"] == "no_valid_rows"
    assert client.get("/api/v1/bulk-batches", headers=admin.auth).json() == []


def test_console_upload_report_send_progress(rt: Runtime) -> None:
    admin = member(rt, role="admin")
    publish_notice(rt, admin.principal)
    browser = TestClient(create_app(rt), base_url="http://testserver", headers=HTML)
    token = login(browser, admin)
    page = browser.get("/console/bulk")
    assert page.status_code == 200 and "Service Notice" in page.text
    data = csv_rows(2) + b"Bad,,Bob,bob-at-b,Carl,carl@x.example\n"
    r = browser.post("/console/bulk/check", data={"csrf_token": token,
                                                  "template_key": "notice"},
                     files={"file": ("people.csv", data, "text/csv")})
    assert r.status_code == 200, r.text
    assert "invalid_email" in r.text and "Send 2 envelopes" in r.text
    b64 = re.search(r'name="csv_b64" value="([^"]+)"', r.text)
    assert b64 is not None
    r = browser.post("/console/bulk/send", data={
        "csrf_token": token, "template_key": "notice", "csv_b64": b64.group(1),
        "file_name": "people.csv", "mapping": "{}"}, follow_redirects=False)
    assert r.status_code == 303
    progress = browser.get(r.headers["location"])
    assert progress.status_code == 200
    assert 'http-equiv="refresh"' in progress.text and "people.csv" in progress.text
    drain(rt)
    done = browser.get(r.headers["location"])
    assert "finished" in done.text and 'http-equiv="refresh"' not in done.text
    results = browser.get(r.headers["location"] + "/results.csv")
    assert results.status_code == 200 and results.text.count("\r\n") == 4
    r = browser.post("/console/bulk/check", data={"csrf_token": token,
                                                  "template_key": "notice"},
                     files={"file": ("x.csv", b"\xff\xfe", "text/csv")})
    assert r.status_code == 422 and "csv_not_utf8" in r.text


def test_cli_dry_run_and_send_with_progress(rt: Runtime, tmp_path: Path) -> None:
    admin = member(rt, role="admin")
    publish_notice(rt, admin.principal)
    file = tmp_path / "people.csv"
    file.write_bytes(csv_rows(4) + b"Bad,,Bob,bob-at-b,Carl,carl@x.example\n")
    env = {"ACCORD_DATABASE_URL": rt.settings.sqlalchemy_url,
           "ACCORD_DATA_DIR": str(rt.settings.data_dir), "ACCORD_SEED_DEMO": "false",
           "COLUMNS": "200"}
    cmd = [sys.executable, "-c", "from accord.cli import main; main()", "bulk-send",
           "notice", str(file), "--as", admin.email]
    done = subprocess.run([*cmd, "--dry-run"], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "4 can be sent, 1 have problems" in done.stdout and "invalid_email" in done.stdout
    done = subprocess.run([*cmd, "--no-wait"], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120, check=False)
    assert "4 envelopes queued, 1 invalid rows" in done.stdout, done.stdout + done.stderr
    batch_id = re.search(r"batch ([0-9a-f-]{36})", done.stdout)
    assert batch_id is not None
    drain(rt)
    from accord.bulk import services

    final = follow(lambda: services.get(rt, admin.principal, batch_id.group(1)).__dict__,
                   interval=0.01, timeout=5)
    assert final["status"] == "finished" and final["done_rows"] == 4
    result = CliRunner().invoke(cli_app, ["bulk-send", "notice", str(file)])
    assert result.exit_code == 2 and "--as EMAIL" in result.output
