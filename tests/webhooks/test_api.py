"""The webhooks API, console and CLI: bad input is a 422 with a code, the secret is shown
once and rotates with an overlap, admins only, deletion, console forms with CSRF."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from accord.app import create_app
from accord.delivery.worker import drain
from accord.runtime import Runtime
from tests.factories import member
from tests.web.conftest import HTML, csrf_of, login
from tests.webhooks.webhook_receiver import Receiver, add_endpoint, client, hook_rt, receiver

__all__ = ["client", "hook_rt", "receiver"]  # fixtures used here

ENDPOINTS = "/api/v1/webhooks/endpoints"


@pytest.mark.parametrize(("body", "code"), [
    ({"url": "not a url"}, "invalid_url"),
    ({"url": "ftp://hooks.example.com/"}, "invalid_url"),
    ({"url": "http://hooks.example.com/in"}, "https_required"),
    ({"url": "https://user:secret@hooks.example.com/"}, "invalid_url"),
    ({"url": "https://10.0.0.5/in"}, "url_not_allowed"),
    ({"url": "https://[::ffff:127.0.0.1]/in"}, "url_not_allowed"),
    ({"url": "https://0x7f000001/in"}, "invalid_url"),
    ({"url": "https://localhost/in"}, "url_not_allowed"),
    ({"url": "https://hooks.example.com/", "event_types": ["envelope.exploded"]},
     "unknown_event_type"),
    ({"url": "https://hooks.example.com/", "event_types": ["webhook.test"]},
     "unknown_event_type"),
    ({"url": "https://hooks.example.com/", "secret": "mine"}, "invalid_request"),
    ({"url": 42}, "invalid_request"),
    ({}, "invalid_request"),
])
def test_bad_input_is_422_with_a_code(rt: Runtime, body: dict[str, object],
                                      code: str) -> None:
    admin = member(rt, role="admin")
    api = TestClient(create_app(rt), base_url="http://testserver")
    r = api.post(ENDPOINTS, json=body, headers=admin.auth)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code
    assert api.get(ENDPOINTS, headers=admin.auth).json() == []  # nothing half-written


def test_patch_and_queries_validate(rt: Runtime) -> None:
    admin = member(rt, role="admin")
    api = TestClient(create_app(rt), base_url="http://testserver")
    ep = api.post(ENDPOINTS, json={"url": "https://hooks.example.com/a"},
                  headers=admin.auth).json()["endpoint"]
    r = api.patch(f"{ENDPOINTS}/{ep['id']}", json={"url": "https://192.168.0.1/"},
                  headers=admin.auth)
    assert r.status_code == 422 and r.json()["error"]["code"] == "url_not_allowed"
    r = api.patch(f"{ENDPOINTS}/{ep['id']}", json={"enabled": "yes"}, headers=admin.auth)
    assert r.status_code == 422
    r = api.get("/api/v1/webhooks/messages", params={"status": "lost"}, headers=admin.auth)
    assert r.status_code == 422
    r = api.patch(f"{ENDPOINTS}/{ep['id']}", headers=admin.auth,
                  json={"event_types": ["envelope.completed"], "description": "CRM"})
    assert r.status_code == 200
    assert r.json()["event_types"] == ["envelope.completed"]
    assert r.json()["url"] == "https://hooks.example.com/a"
    assert api.get(f"{ENDPOINTS}/nope", headers=admin.auth).status_code == 404


def test_http_allowed_when_configured(rt: Runtime) -> None:
    rt.settings = rt.settings.model_copy(update={"webhook_require_https": False})
    admin = member(rt, role="admin")
    api = TestClient(create_app(rt), base_url="http://testserver")
    r = api.post(ENDPOINTS, json={"url": "http://hooks.example.com/in"}, headers=admin.auth)
    assert r.status_code == 201
    # loopback still needs its own (test-only) setting
    r = api.post(ENDPOINTS, json={"url": "http://127.0.0.1:8080/in"}, headers=admin.auth)
    assert r.status_code == 422 and r.json()["error"]["code"] == "url_not_allowed"


def test_secret_shown_once_and_rotation_overlaps(hook_rt: Runtime, client: TestClient,
                                                 receiver: Receiver) -> None:
    admin = member(hook_rt, role="admin")
    created = add_endpoint(client, admin, receiver.url)
    ep_id, first = created["endpoint"]["id"], created["secret"]
    shown = client.get(f"{ENDPOINTS}/{ep_id}", headers=admin.auth).json()
    assert "secret" not in shown and first not in str(shown) and "whsec_" not in str(shown)
    assert first not in client.get(ENDPOINTS, headers=admin.auth).text
    rotated = client.post(f"{ENDPOINTS}/{ep_id}/rotate-secret", headers=admin.auth).json()
    second = rotated["secret"]
    assert second != first and rotated["endpoint"]["previous_secret_until"]
    client.post(f"{ENDPOINTS}/{ep_id}/test", headers=admin.auth)
    drain(hook_rt)
    [req] = receiver.requests
    assert len(req.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(second).verify(req.body, req.headers)["type"] == "webhook.test"
    assert Webhook(first).verify(req.body, req.headers)  # during the 24-hour overlap
    hook_rt.clock.advance(hours=25)  # type: ignore[attr-defined]
    client.post(f"{ENDPOINTS}/{ep_id}/test", headers=admin.auth)
    drain(hook_rt)
    late = receiver.requests[-1]
    assert len(late.headers["webhook-signature"].split(" ")) == 1


def test_the_signature_verifies_at_the_receiver_in_real_time(
        hook_rt: Runtime, client: TestClient, receiver: Receiver) -> None:
    admin = member(hook_rt, role="admin")
    created = add_endpoint(client, admin, receiver.url)
    client.post(f"{ENDPOINTS}/{created['endpoint']['id']}/test", headers=admin.auth)
    drain(hook_rt)
    [req] = receiver.requests
    assert abs(int(req.headers["webhook-timestamp"]) - time.time()) < 60
    assert Webhook(created["secret"]).verify(req.body, req.headers)["data"][
        "endpoint_id"] == created["endpoint"]["id"]


def test_delete_removes_messages_and_pending_deliveries(hook_rt: Runtime, client: TestClient,
                                                        receiver: Receiver) -> None:
    admin = member(hook_rt, role="admin")
    ep_id = add_endpoint(client, admin, receiver.url)["endpoint"]["id"]
    msg = client.post(f"{ENDPOINTS}/{ep_id}/test", headers=admin.auth).json()
    r = client.delete(f"{ENDPOINTS}/{ep_id}", headers=admin.auth)
    assert r.status_code == 204
    drain(hook_rt)
    assert receiver.requests == []
    assert client.get(f"/api/v1/webhooks/messages/{msg['id']}",
                      headers=admin.auth).status_code == 404
    assert client.delete(f"{ENDPOINTS}/{ep_id}", headers=admin.auth).status_code == 404


def test_other_organisations_see_nothing(hook_rt: Runtime, client: TestClient,
                                         receiver: Receiver) -> None:
    admin = member(hook_rt, role="admin")
    ep_id = add_endpoint(client, admin, receiver.url)["endpoint"]["id"]
    msg = client.post(f"{ENDPOINTS}/{ep_id}/test", headers=admin.auth).json()
    other = member(hook_rt, role="admin", org_name="Other")
    assert client.get(ENDPOINTS, headers=other.auth).json() == []
    assert client.get("/api/v1/webhooks/messages", headers=other.auth).json() == []
    for method, path in [("GET", f"{ENDPOINTS}/{ep_id}"), ("PATCH", f"{ENDPOINTS}/{ep_id}"),
                         ("POST", f"{ENDPOINTS}/{ep_id}/test"),
                         ("POST", f"/api/v1/webhooks/messages/{msg['id']}/replay"),
                         ("DELETE", f"{ENDPOINTS}/{ep_id}")]:
        r = client.request(method, path, headers=other.auth,
                           json={} if method == "PATCH" else None)
        assert r.status_code == 404, (method, path, r.status_code)


def test_console_add_shows_secret_once_and_replays(hook_rt: Runtime,
                                                   receiver: Receiver) -> None:
    admin = member(hook_rt, role="admin")
    browser = TestClient(create_app(hook_rt), base_url="http://testserver", headers=HTML)
    login(browser, admin)
    page = browser.get("/console/admin/webhooks")
    assert page.status_code == 200 and "No webhook endpoints yet" in page.text
    token = csrf_of(page.text)
    r = browser.post("/console/admin/webhooks", data={"url": receiver.url})
    assert r.status_code == 403  # no CSRF token
    bad = browser.post("/console/admin/webhooks", data={"csrf_token": token,
                                                        "url": "https://10.1.1.1/"})
    assert bad.status_code == 422 and "private address" in bad.text
    r = browser.post("/console/admin/webhooks", data={
        "csrf_token": token, "url": receiver.url, "description": "CRM sync",
        "event_type": ["envelope.sent", "envelope.completed"]})
    assert r.status_code == 200 and 'id="webhook-secret"' in r.text
    secret = r.text.split('id="webhook-secret">')[1].split("<")[0]
    assert secret.startswith("whsec_")
    listing = browser.get("/console/admin/webhooks")
    assert receiver.url in listing.text and secret not in listing.text
    ep_id = listing.text.split('/console/admin/webhooks/')[1].split('"')[0]
    r = browser.post(f"/console/admin/webhooks/{ep_id}/test", data={"csrf_token": token},
                     follow_redirects=False)
    assert r.status_code == 303
    drain(hook_rt)
    assert Webhook(secret).verify(receiver.requests[0].body, receiver.requests[0].headers)
    detail = browser.get(f"/console/admin/webhooks/{ep_id}")
    assert "webhook.test" in detail.text and "delivered" in detail.text
    msg_id = detail.text.split("/console/admin/webhooks/messages/")[1].split('"')[0]
    r = browser.post(f"/console/admin/webhooks/messages/{msg_id}/replay",
                     data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    drain(hook_rt)
    assert len(receiver.requests) == 2
    message = browser.get(f"/console/admin/webhooks/messages/{msg_id}")
    assert message.status_code == 200 and message.text.count("badge s-completed") >= 2
    r = browser.post(f"/console/admin/webhooks/{ep_id}", data={
        "csrf_token": token, "url": receiver.url, "description": "", "enabled": ""},
        follow_redirects=False)
    assert r.status_code == 303
    assert "disabled" in browser.get(f"/console/admin/webhooks/{ep_id}").text
    r = browser.post(f"/console/admin/webhooks/{ep_id}/delete", data={"csrf_token": token},
                     follow_redirects=False)
    assert r.status_code == 303
    assert "No webhook endpoints yet" in browser.get("/console/admin/webhooks").text


def test_console_is_for_admins(rt: Runtime) -> None:
    admin = member(rt, role="admin")
    agent = member(rt, role="agent", org_id=admin.org_id)
    browser = TestClient(create_app(rt), base_url="http://testserver", headers=HTML)
    login(browser, agent)
    assert browser.get("/console/admin/webhooks").status_code == 403
    login(browser, admin)
    assert 'href="/console/admin/webhooks"' in browser.get("/console/admin/users").text


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from accord.cli import main; main()",
                           "webhooks", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_cli_list_add_test_replay(hook_rt: Runtime, receiver: Receiver) -> None:
    admin = member(hook_rt, role="admin")
    s = hook_rt.settings
    env = {**os.environ, "ACCORD_DATA_DIR": str(s.data_dir), "ACCORD_AS": admin.email,
           "ACCORD_DATABASE_URL": s.sqlalchemy_url, "COLUMNS": "250",
           "ACCORD_WEBHOOK_REQUIRE_HTTPS": "false", "ACCORD_WEBHOOK_ALLOW_LOOPBACK": "true"}
    r = _cli(["add", receiver.url, "--event", "envelope.sent"], env)
    assert r.returncode == 0, r.stderr
    ep_id = r.stdout.split("endpoint ")[1].split()[0]
    secret = r.stdout.split("secret ")[1].split()[0]
    r = _cli(["add", "https://10.0.0.1/"], env)
    assert r.returncode == 2 and "url_not_allowed" in r.stderr
    r = _cli(["list"], env)
    assert r.returncode == 0 and ep_id in r.stdout and "envelope.sent" in r.stdout
    r = _cli(["test", ep_id], env)
    assert r.returncode == 0
    msg_id = r.stdout.split("queued ")[1].split()[0]
    drain(hook_rt)
    assert Webhook(secret).verify(receiver.requests[0].body, receiver.requests[0].headers)
    r = _cli(["replay", msg_id], env)
    assert r.returncode == 0 and f"replayed {msg_id}" in r.stdout
    drain(hook_rt)
    assert len(receiver.requests) == 2
    r = _cli(["replay", "--endpoint", ep_id], env)
    assert r.returncode == 0 and "replayed 0 message(s)" in r.stdout
    r = _cli(["messages", "--status", "delivered"], env)
    assert r.returncode == 0 and msg_id in r.stdout
    r = _cli(["replay"], env)
    assert r.returncode == 2
