"""The README's promises, end to end through the real command: `accord demo`, `accord
verify` (exit codes on valid and tampered files) and `accord serve` on a fresh data dir."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ACCORD = [sys.executable, "-c", "from accord.cli import main; main()"]


def run(args: list[str], env: dict[str, str],
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ACCORD, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "ACCORD_DATA_DIR": str(root / "data"), "COLUMNS": "200"}
    env.pop("ACCORD_DATABASE_URL", None)
    done = run(["demo", "--out", str(root / "out")], env)
    assert done.returncode == 0, done.stdout + done.stderr
    pdfs = list((root / "out").glob("*.pdf"))
    assert len(pdfs) == 1
    assert str(pdfs[0]) in done.stdout
    return pdfs[0], env


def test_demo_output_verifies(demo: tuple[Path, dict[str, str]]) -> None:
    pdf, env = demo
    r = run(["verify", str(pdf)], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "VALID" in r.stdout and "FAIL" not in r.stdout
    audit = pdf.with_suffix("").with_suffix(".audit.json")
    assert audit.exists()
    r = run(["verify", str(audit)], env)
    assert r.returncode == 0, r.stdout


def test_demo_audit_export_verifies_against_its_pdf(
        demo: tuple[Path, dict[str, str]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """In process (CliRunner): the signed export with --pdf passes on the demo instance,
    and a stranger with no trust anchor is told the signer is not anchored."""
    from typer.testing import CliRunner

    from accord.cli import app
    from accord.config import get_settings

    pdf, env = demo
    audit = pdf.with_suffix("").with_suffix(".audit.json")
    monkeypatch.delenv("ACCORD_DATABASE_URL", raising=False)
    runner = CliRunner()
    try:
        for data_dir, code, says in ((env["ACCORD_DATA_DIR"], 0, "VALID"),
                                     (str(tmp_path / "elsewhere"), 1, "not anchored")):
            monkeypatch.setenv("ACCORD_DATA_DIR", data_dir)
            get_settings.cache_clear()
            result = runner.invoke(app, ["verify", str(audit), "--pdf", str(pdf)],
                                   env={"COLUMNS": "300"})
            assert result.exit_code == code, result.output
            assert says in result.output
        # the stranger who was handed the organisation's root certificate: --trust
        result = runner.invoke(app, ["verify", str(audit), "--pdf", str(pdf), "--trust",
                                     str(_root_of(env))], env={"COLUMNS": "300"})
        assert result.exit_code == 0, result.output
        assert "PASS PDF trail agrees" in result.output
    finally:
        get_settings.cache_clear()


def _root_of(env: dict[str, str]) -> Path:
    """The demo organisation's root certificate, read from its database."""
    import sqlite3

    db = Path(env["ACCORD_DATA_DIR"]) / "accord.db"
    with sqlite3.connect(db) as conn:
        (pem,) = conn.execute("SELECT root_cert_pem FROM signing_identities").fetchone()
    path = db.parent.parent / "root.pem"
    path.write_text(pem)
    return path


def test_flipped_byte_fails(demo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    pdf, env = demo
    data = bytearray(pdf.read_bytes())
    for where in (len(data) // 5, len(data) // 2, len(data) - 300):
        bad = bytearray(data)
        bad[where] ^= 0x01
        path = tmp_path / f"flip-{where}.pdf"
        path.write_bytes(bytes(bad))
        r = run(["verify", str(path), "--json"], env)
        assert r.returncode == 1, (where, r.stdout)
        assert json.loads(r.stdout)["ok"] is False


def test_appended_update_fails(demo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    import io

    from pyhanko.pdf_utils.generic import NameObject, TextStringObject
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    pdf, env = demo
    buf = io.BytesIO(pdf.read_bytes())
    w = IncrementalPdfFileWriter(buf)
    info = w.trailer["/Root"]
    info[NameObject("/Lang")] = TextStringObject("xx")
    w.update_root()
    out = io.BytesIO()
    w.write(out)
    path = tmp_path / "appended.pdf"
    path.write_bytes(out.getvalue())
    r = run(["verify", str(path)], env)
    assert r.returncode == 1, r.stdout


def test_tampered_audit_json_fails(demo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    pdf, env = demo
    trail = json.loads(pdf.with_suffix("").with_suffix(".audit.json").read_text())
    trail["events"][1]["actor"] = "user:mallory@example.com"
    path = tmp_path / "edited.audit.json"
    path.write_text(json.dumps(trail))
    assert run(["verify", str(path)], env).returncode == 1


def test_untrusted_root_fails(demo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    pdf, env = demo
    stranger = {**env, "ACCORD_DATA_DIR": str(tmp_path / "elsewhere")}
    r = run(["verify", str(pdf)], stranger)
    assert r.returncode == 1
    assert not (tmp_path / "elsewhere").exists()  # verify creates nothing


def test_verify_missing_file(tmp_path: Path) -> None:
    r = run(["verify", str(tmp_path / "nope.pdf")], dict(os.environ))
    assert r.returncode == 2
    assert "cannot read" in r.stderr


def test_help_on_every_command() -> None:
    for args in (["--help"], ["serve", "--help"], ["worker", "--help"], ["demo", "--help"],
                 ["verify", "--help"], ["db", "upgrade", "--help"], ["users", "--help"]):
        r = run(args, dict(os.environ), timeout=60)
        assert r.returncode == 0, args
        assert "Usage" in r.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_seeds_and_prints_login(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "ACCORD_DATA_DIR": str(tmp_path / "data"), "ACCORD_PORT": str(port),
           "COLUMNS": "200"}
    env.pop("ACCORD_DATABASE_URL", None)
    proc = subprocess.Popen([*ACCORD, "serve"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise AssertionError("accord serve did not come up")
        r = httpx.get(f"http://127.0.0.1:{port}/console", follow_redirects=False,
                      headers={"accept": "text/html"})
        assert r.status_code in (303, 307)
        assert (tmp_path / "data" / "accord.db").exists()
        assert (tmp_path / "data" / "master.key").stat().st_mode & 0o077 == 0
        creds = (tmp_path / "data" / "demo-credentials.txt").read_text()
        # the in-process worker delivers the signing request without `accord worker`
        key = creds.split("api key: ")[1].split()[0]
        from tests.factories import envelope_body

        auth = {"Authorization": f"Bearer {key}"}
        env = httpx.post(f"http://127.0.0.1:{port}/api/v1/envelopes", json=envelope_body(),
                         headers=auth, timeout=30).json()
        tags: list[str] = []
        for _ in range(100):
            trail = httpx.get(f"http://127.0.0.1:{port}/api/v1/envelopes/{env['id']}/audit",
                              headers=auth, timeout=10).json()
            tags = [e["tag"] for e in trail["events"]]
            if "recipient:delivered" in tags:
                break
            time.sleep(0.1)
        assert "recipient:delivered" in tags
    finally:
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=30)[0]
    assert f"http://127.0.0.1:{port}/console" in output
    password = creds.split("password: ")[1].split()[0]
    assert password in output
    assert "admin@demo.accord.test" in output
