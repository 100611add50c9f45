"""`accord envelopes ...` against the test runtime, acting --as a user or with an API key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rich.console import Console
from typer.testing import CliRunner

from accord.cli import app as accord_app
from accord.envelopes import services
from accord.envelopes.cli import app
from accord.runtime import Runtime
from tests.clirunner import installed
from tests.factories import Member, audit_tags, member, sent_envelope


@pytest.fixture
def runner(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setattr("accord.cli._runtime", lambda: rt)
    monkeypatch.setattr("accord.terminal.out", Console(width=250))
    monkeypatch.setattr("accord.terminal.err", Console(width=250, stderr=True))
    with installed(rt):
        yield CliRunner()


def _sent(rt: Runtime, m: Member) -> services.EnvelopeView:
    return sent_envelope(rt, m, "CLI agreement")  # type: ignore[no-any-return]


def _tags(rt: Runtime, env_id: str) -> list[str]:
    return audit_tags(rt, env_id)


def test_every_command(rt: Runtime, runner: CliRunner) -> None:
    m = member(rt)
    env = _sent(rt, m)
    who = ["--as", m.email]
    r = runner.invoke(app, ["list", *who])
    assert r.exit_code == 0 and env.id in r.output and "1 of 1" in r.output
    r = runner.invoke(app, ["show", env.id, *who])
    assert r.exit_code == 0 and "ann@customer.example" in r.output
    assert "every 48 h (organisation's)" in r.output
    r = runner.invoke(app, ["remind", env.id, "ann@customer.example", *who])
    assert r.exit_code == 0 and "reminder queued" in r.output
    r = runner.invoke(app, ["remind", env.id, "bob@provider.example", *who])
    assert r.exit_code == 2 and "recipient_not_active" in r.output
    r = runner.invoke(app, ["resend", env.id, env.recipients[0].id, *who])
    assert r.exit_code == 0
    r = runner.invoke(app, ["correct", env.id, "ann@customer.example", "--name", "Ann Lee",
                            *who])
    assert r.exit_code == 0 and "Ann Lee" in r.output
    r = runner.invoke(app, ["reassign", env.id, "ann@customer.example", "--name", "Dora",
                            "--email", "dora@customer.example", *who])
    assert r.exit_code == 0 and "dora@customer.example" in r.output
    r = runner.invoke(app, ["reminders", env.id, "--every", "12", *who])
    assert r.exit_code == 0 and "every 12 h" in r.output
    r = runner.invoke(app, ["reminders", env.id, *who])
    assert r.exit_code == 2
    r = runner.invoke(app, ["void", env.id, "--reason", "replaced", *who])
    assert r.exit_code == 0 and "voided" in r.output
    tags = _tags(rt, env.id)
    for tag in ("recipient:reminded", "recipient:resent", "recipient:corrected",
                "recipient:reassigned", "envelope:reminders_changed", "envelope:voided"):
        assert tag in tags, tag


def test_identity_and_errors(rt: Runtime, runner: CliRunner) -> None:
    m = member(rt)
    other = member(rt, org_name="Other Org")
    env = _sent(rt, m)
    r = runner.invoke(app, ["list"])
    assert r.exit_code == 2 and "--as EMAIL or --api-key KEY" in r.output
    r = runner.invoke(app, ["show", env.id, "--api-key", m.api_key])
    assert r.exit_code == 0 and "CLI agreement" in r.output
    r = runner.invoke(app, ["show", env.id, "--as", other.email])  # another organisation
    assert r.exit_code == 2 and "envelope_not_found" in r.output
    r = runner.invoke(app, ["list", "--api-key", "acc_nonsense"])
    assert r.exit_code == 2
    compliance = member(rt, role="compliance", org_id=m.org_id)
    r = runner.invoke(app, ["remind", env.id, env.recipients[0].id, "--as", compliance.email])
    assert r.exit_code == 2  # compliance reads, never sends
    r = runner.invoke(app, ["reassign", env.id, "nobody@example.com", "--name", "X",
                            "--email", "x@example.com", "--as", m.email])
    assert r.exit_code == 2 and "recipient_not_found" in r.output
    r = runner.invoke(accord_app, ["envelopes", "list", "--as", m.email])  # mounted
    assert r.exit_code == 0 and env.id in r.output


def test_worker_once_runs_the_sweep(rt: Runtime, runner: CliRunner,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from accord.delivery.services import list_mailbox

    monkeypatch.setattr("accord.terminal.out", Console(width=250))
    m = member(rt)
    env = _sent(rt, m)
    rt.clock.advance(hours=48)  # type: ignore[attr-defined]
    r = runner.invoke(accord_app, ["worker", "--once"])
    assert r.exit_code == 0, r.output
    assert "reminded 1" in r.output
    assert "recipient:reminded" in _tags(rt, env.id)
    assert [x.to_addr for x in list_mailbox(rt, m.org_id)
            if x.subject.startswith("Reminder:")] == ["ann@customer.example"]
