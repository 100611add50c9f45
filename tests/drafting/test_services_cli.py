"""`accord templates ...` (the drafting Typer app) against the test runtime."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from accord.accounts.models import Organisation
from accord.drafting.cli import app, parse_recipient
from accord.envelopes import services as envelopes
from accord.runtime import Runtime
from tests.clirunner import installed
from tests.factories import member

SSA = "support-services-agreement"


@pytest.fixture
def runner(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setattr("accord.terminal.out", Console(width=200))
    monkeypatch.setattr("accord.terminal.err", Console(width=200, stderr=True))
    with installed(rt):
        yield CliRunner()


def test_parse_recipient() -> None:
    assert parse_recipient('customer="Ann Lee <ann@example.com>"') == (
        "customer", {"name": "Ann Lee", "email": "ann@example.com"})
    assert parse_recipient("provider=bob@example.com")[1]["name"] == "bob@example.com"


def test_seed_list_show_preview_send(rt: Runtime, runner: CliRunner, tmp_path: Path) -> None:
    admin = member(rt, role="admin")
    agent = member(rt, role="agent", org_id=admin.org_id)
    with rt.db.uow() as uow:
        org = uow.session.get(Organisation, admin.org_id)
        assert org is not None
        slug = org.slug
    r = runner.invoke(app, ["seed-examples", "--org", slug, "--as", agent.email])
    assert r.exit_code == 2 and "must be legal or admin" in r.output
    r = runner.invoke(app, ["seed-examples", "--org", slug, "--as", admin.email])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["list", "--as", agent.email])
    assert r.exit_code == 0 and SSA in r.output and "published" in r.output
    r = runner.invoke(app, ["show", SSA, "--as", agent.email])
    assert r.exit_code == 0 and "pinned clauses" in r.output and "customer" in r.output

    data = tmp_path / "data.json"
    data.write_text(json.dumps({"annual_fee": {"amount": "1000", "currency": "USD"},
                                "effective_date": "2026-02-01", "end_date": "2027-01-31",
                                "covered_products": [{"product": "Desk", "seats": 5}]}))
    record = tmp_path / "record.json"
    record.write_text(json.dumps({
        "account": {"name": "Globex Ltd", "billing_address": "1 Main St, Springfield",
                    "support_tier": "premium"},
        "contact": {"name": "Hank Scorpio", "email": "hank@globex.example"}}))
    out = tmp_path / "preview.pdf"
    r = runner.invoke(app, ["preview", SSA, "--as", agent.email, "--data", str(data),
                            "--customer", str(record), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_bytes().startswith(b"%PDF-")

    r = runner.invoke(app, ["send", SSA, "--as", agent.email, "--data", str(data),
                            "--customer", str(record),
                            "--recipient", 'customer="Hank Scorpio <hank@globex.example>"',
                            "--recipient", "provider=Ann Lee <ann@brightline.example>",
                            "--recipient", "account_manager=am@brightline.example",
                            "--send"])
    assert r.exit_code == 0, r.output
    assert "sent" in r.output
    (env,) = envelopes.list_envelopes(rt, agent.principal).items
    assert env.status == "sent" and env.subject == "Support Services Agreement"

    # errors: a clear message and a non-zero exit
    r = runner.invoke(app, ["send", SSA, "--as", agent.email, "--data", str(data),
                            "--recipient", "customer=c@example.com"])
    assert r.exit_code == 2
    assert "role_recipient_missing" in r.output or "template_data_invalid" in r.output
    r = runner.invoke(app, ["publish", SSA, "--as", agent.email])
    assert r.exit_code == 2 and "forbidden" in r.output
    r = runner.invoke(app, ["publish", SSA, "--as", "nobody@example.com"])
    assert r.exit_code == 2 and "user_not_found" in r.output
    r = runner.invoke(app, ["publish", SSA, "--as", admin.email])
    assert r.exit_code == 2 and "version_not_publishable" in r.output


def test_upload_submit_publish_from_a_folder(rt: Runtime, runner: CliRunner,
                                             tmp_path: Path) -> None:
    legal = member(rt, role="legal")
    agent = member(rt, role="agent", org_id=legal.org_id)
    folder = tmp_path / "work-order"
    folder.mkdir()
    meta = {"key": "work-order", "name": "Work order", "kind": "markdown",
            "variables": [{"name": "fee", "type": "money", "currency": "USD"}],
            "roles": [{"key": "customer", "name": "Customer"},
                      {"key": "legal", "name": "Legal", "type": "approver",
                       "default_recipient": {"name": "Legal", "email": "legal@x.example"}}],
            "rules": [{"id": "big", "description": "Big orders need legal",
                       "when": {"var": "fee", "op": "gt", "value": 50000},
                       "then": [{"action": "add_recipient", "role": "legal",
                                 "before": "customer"}]}]}
    (folder / "template.json").write_text(json.dumps(meta))
    (folder / "source.md").write_text("Fee {{ fee|money }}. [[signature:customer]]\n")
    r = runner.invoke(app, ["upload", str(folder), "--as", agent.email])
    assert r.exit_code == 2  # agents do not author
    r = runner.invoke(app, ["upload", str(folder), "--as", legal.email])
    assert r.exit_code == 0 and "created work-order v1" in r.output, r.output
    for command in ("submit", "publish"):
        r = runner.invoke(app, [command, "work-order", "--as", legal.email])
        assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["show", "work-order", "--as", agent.email])
    assert r.exit_code == 0 and "Big orders need legal" in r.output
    # a changed folder becomes a new draft version; a broken one is refused whole
    (folder / "source.md").write_text("Fee: {{ fee|money }}. [[signature:customer]]\n")
    r = runner.invoke(app, ["upload", str(folder), "--as", legal.email])
    assert r.exit_code == 0 and "saved work-order v2 (draft)" in r.output, r.output
    meta["rules"][0]["then"][0]["role"] = "ghost"
    (folder / "template.json").write_text(json.dumps(meta))
    r = runner.invoke(app, ["upload", str(folder), "--as", legal.email])
    assert r.exit_code == 2 and "ghost" in r.output
    (folder / "template.json").write_text("{not json")
    r = runner.invoke(app, ["upload", str(folder), "--as", legal.email])
    assert r.exit_code == 2 and "cannot read template folder" in r.output
