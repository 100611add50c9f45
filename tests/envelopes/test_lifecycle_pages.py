"""The console's recipient actions and lifecycle settings, through HTTP with a logged-in
browser: every form needs the session's CSRF token."""

from __future__ import annotations

from fastapi.testclient import TestClient

from accord.envelopes import services
from accord.runtime import Runtime
from tests.factories import Member, audit_tags, member, sent_envelope
from tests.web.conftest import client, csrf_of, login  # noqa: F401 - fixtures


def _sent(rt: Runtime, m: Member) -> services.EnvelopeView:
    return sent_envelope(rt, m, "Console agreement")  # type: ignore[no-any-return]


def _tags(rt: Runtime, env_id: str) -> list[str]:
    return audit_tags(rt, env_id)


def test_recipient_actions(rt: Runtime, client: TestClient) -> None:  # noqa: F811
    m = member(rt)
    token = login(client, m)
    env = _sent(rt, m)
    ann = env.recipients[0].id
    base = f"/console/envelopes/{env.id}"
    page = client.get(base)
    assert page.status_code == 200
    for action in ("remind", "resend", "correct", "reassign"):
        assert f'action="{base}/recipients/{ann}/{action}"' in page.text
    assert f'{base}/recipients/{env.recipients[1].id}/remind' not in page.text  # waiting
    assert 'id="reminders">every 48 h' in page.text

    # no token, or a wrong one: refused and nothing happens
    for data in ({}, {"csrf_token": "forged"}):
        r = client.post(f"{base}/recipients/{ann}/remind", data=data, follow_redirects=False)
        assert r.status_code == 403
        r = client.post(f"{base}/recipients/{ann}/reassign",
                        data={**data, "name": "Eve", "email": "eve@example.com"},
                        follow_redirects=False)
        assert r.status_code == 403
    assert "recipient:reminded" not in _tags(rt, env.id)

    r = client.post(f"{base}/recipients/{ann}/remind", data={"csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("?notice=reminded")
    assert "reminder with the recipient" in client.get(r.headers["location"]).text
    r = client.post(f"{base}/recipients/{ann}/resend", data={"csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303
    r = client.post(f"{base}/recipients/{ann}/correct",
                    data={"csrf_token": token, "name": "Ann Lee", "email": ""},
                    follow_redirects=False)
    assert r.status_code == 303
    r = client.post(f"{base}/recipients/{ann}/reassign",
                    data={"csrf_token": token, "name": "Dora", "email": "bad"})
    assert r.status_code == 422 and 'data-code="invalid_recipient"' in r.text
    r = client.post(f"{base}/recipients/{ann}/reassign", follow_redirects=False,
                    data={"csrf_token": token, "name": "Dora",
                          "email": "dora@customer.example"})
    assert r.status_code == 303 and r.headers["location"].endswith("?notice=reassigned")
    r = client.post(f"{base}/recipients/{env.recipients[1].id}/remind",
                    data={"csrf_token": token})
    assert r.status_code == 409 and 'data-code="recipient_not_active"' in r.text

    r = client.post(f"{base}/reminders", data={"csrf_token": token, "interval_hours": "x"})
    assert r.status_code == 422
    r = client.post(f"{base}/reminders", data={"csrf_token": token, "interval_hours": "6"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert 'id="reminders">every 6 h' in client.get(base).text
    assert client.post(f"{base}/reminders", data={"interval_hours": "6"}).status_code == 403
    tags = _tags(rt, env.id)
    for tag in ("recipient:reminded", "recipient:resent", "recipient:corrected",
                "recipient:reassigned", "envelope:reminders_changed"):
        assert tag in tags, tag


def test_compliance_sees_no_actions(rt: Runtime, client: TestClient) -> None:  # noqa: F811
    m = member(rt)
    reader = member(rt, role="compliance", org_id=m.org_id)
    env = _sent(rt, m)
    token = login(client, reader)
    page = client.get(f"/console/envelopes/{env.id}")
    assert page.status_code == 200 and "/remind" not in page.text
    r = client.post(f"/console/envelopes/{env.id}/recipients/{env.recipients[0].id}/remind",
                    data={"csrf_token": token})
    assert r.status_code == 403


def test_admin_settings_page(rt: Runtime, client: TestClient) -> None:  # noqa: F811
    admin = member(rt, role="admin")
    token = login(client, admin)
    page = client.get("/console/admin/settings")
    assert 'name="reminder_interval_hours" min="0" max="720" value="48"' in page.text
    assert 'name="expiry_warning_days" min="0" max="30" value="3"' in page.text
    form = {"csrf_token": token, "template_approval_required": "yes",
            "reminder_interval_hours": "24", "expiry_warning_days": "7"}
    r = client.post("/console/admin/settings", data={**form, "csrf_token": ""},
                    follow_redirects=False)
    assert r.status_code == 403
    r = client.post("/console/admin/settings", data={**form, "expiry_warning_days": "90"})
    assert r.status_code == 422 and 'value="90"' in r.text  # kept what was typed
    r = client.post("/console/admin/settings", data={**form, "reminder_interval_hours": "x"})
    assert r.status_code == 422
    r = client.post("/console/admin/settings", data=form, follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/console/admin/settings")
    assert 'value="24"' in page.text and 'value="7"' in page.text
    assert csrf_of(page.text) == token
