"""Every route x every role (plus no credentials and another organisation's admin),
asserted against the permission matrix written out below - not derived from the code.

A route added without an entry here fails `test_every_route_is_in_the_table`, so the
table (and the README's matrix) must be kept up to date."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Mount, Route

from accord.app import create_app
from accord.drafting.services import seed_examples
from accord.runtime import Runtime
from tests.bulk.helpers import matrix_batch
from tests.factories import Member, envelope_body, member
from tests.web.conftest import HTML, post_login

ALL = frozenset({"admin", "legal", "manager", "agent", "compliance"})
SENDERS = ALL - {"compliance"}
AUTHORS = frozenset({"admin", "legal"})
ADMIN = frozenset({"admin"})
MANAGERS = frozenset({"admin", "manager"})
ANY_USER = ALL  # every logged-in user (own objects)
CONTRACT_MANAGERS = frozenset({"admin", "legal", "manager"})
RETENTION = frozenset({"admin", "compliance"})
DISPOSITION = frozenset({"admin", "compliance", "legal"})

# (method, path) -> roles allowed. Everyone else must get 403.
API: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/api/v1/envelopes"): SENDERS,
    ("GET", "/api/v1/envelopes"): ALL,
    ("GET", "/api/v1/dashboard"): MANAGERS,
    ("GET", "/api/v1/envelopes/{envelope_id}"): ALL,
    ("POST", "/api/v1/envelopes/{envelope_id}/send"): SENDERS,
    ("POST", "/api/v1/envelopes/{envelope_id}/void"): SENDERS,
    ("POST", "/api/v1/envelopes/{envelope_id}/recipients/{recipient_id}/resend"): SENDERS,
    ("PATCH", "/api/v1/envelopes/{envelope_id}/recipients/{recipient_id}"): SENDERS,
    ("POST", "/api/v1/envelopes/{envelope_id}/recipients/{recipient_id}/reassign"): SENDERS,
    ("POST", "/api/v1/envelopes/{envelope_id}/recipients/{recipient_id}/remind"): SENDERS,
    ("GET", "/api/v1/envelopes/{envelope_id}/reminders"): ALL,
    ("PATCH", "/api/v1/envelopes/{envelope_id}/reminders"): SENDERS,
    ("GET", "/api/v1/envelopes/{envelope_id}/document"): ALL,
    ("GET", "/api/v1/envelopes/{envelope_id}/audit"): ALL,
    ("GET", "/api/v1/organisation/root-certificate"): ALL,
    ("GET", "/api/v1/me"): ANY_USER,
    ("GET", "/api/v1/users"): ADMIN,
    ("POST", "/api/v1/users"): ADMIN,
    ("PATCH", "/api/v1/users/{user_id}"): ADMIN,
    ("GET", "/api/v1/api-keys"): ANY_USER,
    ("POST", "/api/v1/api-keys"): ANY_USER,
    ("POST", "/api/v1/api-keys/{key_id}/revoke"): ANY_USER,
    ("GET", "/api/v1/organisation/settings"): ADMIN,
    ("PATCH", "/api/v1/organisation/settings"): ADMIN,
    ("GET", "/api/v1/clauses"): ALL,
    ("POST", "/api/v1/clauses"): AUTHORS,
    ("GET", "/api/v1/clauses/{key}"): ALL,
    ("PATCH", "/api/v1/clauses/{key}"): AUTHORS,
    ("POST", "/api/v1/clauses/{key}/submit"): AUTHORS,
    ("POST", "/api/v1/clauses/{key}/reject"): AUTHORS,
    ("POST", "/api/v1/clauses/{key}/publish"): AUTHORS,
    ("POST", "/api/v1/clauses/{key}/retire"): AUTHORS,
    ("GET", "/api/v1/clauses/{key}/diff"): ALL,
    ("GET", "/api/v1/templates"): ALL,
    ("POST", "/api/v1/templates"): AUTHORS,
    ("GET", "/api/v1/templates/{key}"): ALL,
    ("PATCH", "/api/v1/templates/{key}"): AUTHORS,
    ("GET", "/api/v1/templates/{key}/versions/{version}"): ALL,
    ("POST", "/api/v1/templates/{key}/submit"): AUTHORS,
    ("POST", "/api/v1/templates/{key}/reject"): AUTHORS,
    ("POST", "/api/v1/templates/{key}/publish"): AUTHORS,
    ("POST", "/api/v1/templates/{key}/retire"): AUTHORS,
    ("GET", "/api/v1/templates/{key}/diff"): ALL,
    ("POST", "/api/v1/templates/{key}/preview"): ALL,
    ("POST", "/api/v1/template-versions/{version_id}/preview"): ALL,
    ("POST", "/api/v1/envelopes/from-template"): SENDERS,
    ("GET", "/api/v1/organisation/drafting-settings"): ALL,
    ("POST", "/api/v1/bulk-batches/dry-run"): SENDERS,
    ("POST", "/api/v1/bulk-batches"): SENDERS,
    ("GET", "/api/v1/bulk-batches"): SENDERS,
    ("GET", "/api/v1/bulk-batches/{batch_id}"): SENDERS,
    ("GET", "/api/v1/bulk-batches/{batch_id}/results.csv"): SENDERS,
    ("GET", "/api/v1/webhooks/event-types"): ADMIN,
    ("GET", "/api/v1/webhooks/endpoints"): ADMIN,
    ("POST", "/api/v1/webhooks/endpoints"): ADMIN,
    ("GET", "/api/v1/webhooks/endpoints/{endpoint_id}"): ADMIN,
    ("PATCH", "/api/v1/webhooks/endpoints/{endpoint_id}"): ADMIN,
    ("POST", "/api/v1/webhooks/endpoints/{endpoint_id}/rotate-secret"): ADMIN,
    ("POST", "/api/v1/webhooks/endpoints/{endpoint_id}/test"): ADMIN,
    ("POST", "/api/v1/webhooks/endpoints/{endpoint_id}/replay-failed"): ADMIN,
    ("GET", "/api/v1/webhooks/messages"): ADMIN,
    ("GET", "/api/v1/webhooks/messages/{webhook_message_id}"): ADMIN,
    ("POST", "/api/v1/webhooks/messages/{webhook_message_id}/replay"): ADMIN,
    ("GET", "/api/v1/outbox"): ADMIN,
    ("GET", "/api/v1/contracts/renewals"): ALL,
    ("GET", "/api/v1/contracts/disposition"): DISPOSITION,
    ("PATCH", "/api/v1/contracts/{contract_id}/retention"): RETENTION,
    ("POST", "/api/v1/outbox/{outbox_id}/replay"): ADMIN,
    ("POST", "/api/v1/contracts/import"): CONTRACT_MANAGERS,
    ("GET", "/api/v1/contracts/{contract_id}"): ALL,
    ("PATCH", "/api/v1/contracts/{contract_id}"): CONTRACT_MANAGERS,
    ("POST", "/api/v1/contracts/{contract_id}/terminate"): CONTRACT_MANAGERS,
    ("POST", "/api/v1/contracts/{contract_id}/links"): CONTRACT_MANAGERS,
    ("GET", "/api/v1/contracts/{contract_id}/documents"): ALL,
    ("GET", "/api/v1/contracts/{contract_id}/documents/{contract_document_id}"): ALL,
    ("GET", "/api/v1/contracts/{contract_id}/audit"): ALL,
    ("GET", "/api/v1/contracts"): ALL,
    ("GET", "/api/v1/contracts/export.csv"): ALL,
    ("GET", "/api/v1/contract-views"): ALL,
    ("POST", "/api/v1/contract-views"): ALL,
    ("GET", "/api/v1/contract-views/{view_id}"): ALL,  # others: 404 (the admin's, private)
    ("PATCH", "/api/v1/contract-views/{view_id}"): ALL,
    ("DELETE", "/api/v1/contract-views/{view_id}"): ALL,
    ("DELETE", "/api/v1/webhooks/endpoints/{endpoint_id}"): ADMIN,  # last: it deletes
}

# The API-key routes called with a key of one scope, by every role: managing keys takes
# the api-keys:manage scope, and a key never reaches a key broader than itself (here the
# admin's full-access "victim" key). (scope, method, path, body) -> status per role.
OTHERS = ALL - ADMIN
KEY_BODY = {"name": "child", "scopes": ["api-keys:manage"]}
SCOPED: dict[tuple[str, str, str, str], dict[str, int]] = {
    ("envelopes:read", "GET", "/api/v1/api-keys", ""): dict.fromkeys(ALL, 403),
    ("envelopes:read", "POST", "/api/v1/api-keys", "child"): dict.fromkeys(ALL, 403),
    ("envelopes:read", "POST", "/api/v1/api-keys/{key_id}/revoke", ""):
        dict.fromkeys(ALL, 403),
    ("api-keys:manage", "GET", "/api/v1/api-keys", ""): dict.fromkeys(ALL, 200),
    ("api-keys:manage", "POST", "/api/v1/api-keys", "child"): dict.fromkeys(ALL, 201),
    ("api-keys:manage", "POST", "/api/v1/api-keys", "everything"): dict.fromkeys(ALL, 403),
    ("api-keys:manage", "POST", "/api/v1/api-keys/{key_id}/revoke", ""):
        {"admin": 403} | dict.fromkeys(OTHERS, 404),  # broader / not theirs
}

# Console pages (GET): roles that get the page; others 403; nobody logged in -> /login.
PAGES: dict[str, frozenset[str]] = {
    "/console": ALL,
    "/console/envelopes/new": SENDERS,
    "/console/envelopes/{envelope_id}": ALL,
    "/console/envelopes/{envelope_id}/document": ALL,
    "/console/envelopes/{envelope_id}/audit.json": ALL,
    # live signing links and codes of every envelope: admins only (issue 8)
    "/console/mailbox": ADMIN,
    "/console/mailbox/{message_id}": ADMIN,
    "/console/sms": ADMIN,
    "/console/templates": ALL,
    "/console/templates/new": AUTHORS,
    "/console/templates/{key}": ALL,
    "/console/templates/{key}/edit": AUTHORS,
    "/console/templates/{key}/versions/{number}": ALL,
    "/console/templates/{key}/versions/{number}/preview.pdf": ALL,
    "/console/templates/{key}/diff": ALL,
    "/console/templates/{key}/send": SENDERS,
    "/console/clauses": ALL,
    "/console/clauses/new": AUTHORS,
    "/console/clauses/{key}": ALL,
    "/console/clauses/{key}/edit": AUTHORS,
    "/console/clauses/{key}/diff": ALL,
    "/console/admin": ADMIN,
    "/console/admin/users": ADMIN,
    "/console/admin/settings": ADMIN,
    "/console/account/keys": ALL,
    "/console/dashboard": MANAGERS,
    "/console/bulk": SENDERS,
    "/console/bulk/{batch_id}": SENDERS,
    "/console/bulk/{batch_id}/results.csv": SENDERS,
    "/console/admin/webhooks": ADMIN,
    "/console/admin/webhooks/{endpoint_id}": ADMIN,
    "/console/admin/webhooks/messages/{webhook_message_id}": ADMIN,
    "/console/admin/outbox": ADMIN,
    "/console/contracts/import": CONTRACT_MANAGERS,
    "/console/contracts/{contract_id}": ALL,
    "/console/contracts/{contract_id}/documents/{contract_document_id}": ALL,
    "/console/contracts/renewals": ALL,
    "/console/contracts/disposition": DISPOSITION,
    "/console/contracts": ALL,
    "/console/contracts.csv": ALL,
}
# Public or ceremony routes: reachable without a console login (their own checks apply).
PUBLIC = {"/", "/login", "/login/mfa", "/login/sso", "/login/sso/callback",
          "/account/mfa/setup", "/password/forgot", "/password/reset",
          "/password/reset/{token}", "/s/{token}", "/sign", "/sign/consent", "/sign/finish",
          "/sign/decline", "/sign/delegate", "/sign/documents/{document_id}/pages/{page}.png",
          "/sign/auth/send-code", "/sign/auth/code", "/sign/auth/access-code", "/sign/auth/kba",
          "/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc",
          "/logout", "/static"}


def _routes(routes: list[BaseRoute]) -> Iterator[tuple[str, str]]:
    """(method, path) of every route, through included routers."""
    for r in routes:
        original = getattr(r, "original_router", None)
        if original is not None:
            yield from _routes(original.routes)
        elif isinstance(r, APIRoute | Route):
            for m in r.methods or ():
                if m != "HEAD":
                    yield m, r.path
        elif isinstance(r, Mount):
            yield "GET", r.path


@dataclass
class World:
    client: TestClient
    members: dict[str, Member]
    stranger: Member
    ids: dict[str, str]


@pytest.fixture
def world(rt: Runtime) -> World:
    admin = member(rt, role="admin")
    members = {"admin": admin}
    for role in ("legal", "manager", "agent", "compliance"):
        members[role] = member(rt, role=role, org_id=admin.org_id)
    seed_examples(rt, admin.org_id, publisher_user_id=admin.user_id)
    client = TestClient(create_app(rt), base_url="http://testserver")
    env = client.post("/api/v1/envelopes", json=envelope_body(), headers=admin.auth).json()
    tpl = client.get("/api/v1/templates/support-services-agreement", headers=admin.auth).json()
    key = client.post("/api/v1/api-keys", json={"name": "victim"}, headers=admin.auth).json()
    from accord.delivery.services import list_mailbox
    from accord.delivery.worker import drain

    drain(rt)
    mail = list_mailbox(rt, admin.org_id, limit=1)
    hook = client.post("/api/v1/webhooks/endpoints", headers=admin.auth,
                       json={"url": "https://hooks.example.com/accord"}).json()["endpoint"]
    probe = client.post(f"/api/v1/webhooks/endpoints/{hook['id']}/test",
                        headers=admin.auth).json()  # queued, never delivered here
    ids = {"envelope_id": env["id"], "recipient_id": env["recipients"][0]["id"],
           "key": "support-services-agreement", "version": "1",
           "version_id": tpl["versions"][0]["id"], "number": "1",
           "user_id": members["agent"].user_id,
           "key_id": key["key"]["id"], "message_id": mail[0].id if mail else "none",
           "document_id": env["documents"][0]["id"], "page": "1", "token": "x" * 43,
           "endpoint_id": hook["id"], "webhook_message_id": probe["id"]}
    ids["batch_id"] = matrix_batch(rt, admin.principal)
    from accord.delivery.services import list_outbox

    ids["outbox_id"] = list_outbox(rt, admin.principal, limit=1)[0].id
    from accord.contracts.services.imports import import_contract
    from tests.factories import pdf

    contract = import_contract(rt, admin.principal, data=pdf(), filename="matrix.pdf",
                               meta={"title": "Matrix contract"})
    ids["contract_id"] = contract.contract.id
    ids["contract_document_id"] = contract.documents[0].id
    ids["view_id"] = client.post("/api/v1/contract-views", json={"name": "matrix"},
                                 headers=admin.auth).json()["id"]
    stranger = member(rt, role="admin", org_name="Stranger Org")
    return World(client, members, stranger, ids)


def _path(path: str, ids: dict[str, str]) -> str:
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    return path


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    kwargs: dict[str, Any] = {"headers": headers}
    if method in ("POST", "PATCH", "PUT"):
        kwargs["json"] = {}
    return client.request(method, path, **kwargs)


def test_every_route_is_in_the_table(rt: Runtime) -> None:
    app = create_app(rt)
    missing = []
    for method, path in _routes(app.routes):
        if path.startswith("/api/"):
            known = (method, path) in API
        else:  # console form posts run the same services as the API routes above
            known = path in PUBLIC or path in PAGES or (
                method == "POST" and path.startswith("/console"))
        if not known:
            missing.append(f"{method} {path}")
    assert not missing, "routes with no expected access in this table: " + ", ".join(missing)


def test_api_matrix(world: World) -> None:
    failures = []
    for (method, path), allowed in API.items():
        url = _path(path, world.ids)
        r = _call(world.client, method, url, {})
        if r.status_code != 401:
            failures.append(f"{method} {path} without credentials: {r.status_code}")
        for role, m in world.members.items():
            r = _call(world.client, method, url, m.auth)
            ok = r.status_code not in (401, 403) and r.status_code < 500
            if role in allowed and not ok:
                failures.append(f"{method} {path} as {role}: {r.status_code} {r.text[:120]}")
            if role not in allowed and r.status_code != 403:
                failures.append(f"{method} {path} as {role}: {r.status_code}, expected 403")
        if "{" in path and "{key}" not in path:  # another organisation's ids look unknown
            r = _call(world.client, method, url, world.stranger.auth)
            if r.status_code not in (404, 422):
                failures.append(f"{method} {path} as another org: {r.status_code}")
    assert not failures, "\n".join(failures)


def test_scoped_key_matrix(rt: Runtime, world: World) -> None:
    from accord.accounts.services import create_api_key

    failures = []
    keys = {(role, scope): create_api_key(rt, m.user_id, scope, [scope])[1]
            for role, m in world.members.items()
            for scope in ("envelopes:read", "api-keys:manage")}
    for (scope, method, path, body), expected in SCOPED.items():
        url = _path(path, world.ids)
        payload = {"child": KEY_BODY, "everything": {"name": "wide"}}.get(body)
        for role, status in expected.items():
            r = world.client.request(method, url, json=payload, headers={
                "Authorization": f"Bearer {keys[role, scope]}"})
            if r.status_code != status:
                failures.append(f"{method} {path} {body} as {role} with a {scope} key: "
                                f"{r.status_code}, expected {status}")
            if method == "GET" and r.status_code == 200 and world.ids["key_id"] in r.text:
                failures.append(f"GET {path} as {role} with a {scope} key lists a broader key")
    victim = world.members["admin"].auth
    listed = world.client.get("/api/v1/api-keys", headers=victim).json()
    assert any(k["id"] == world.ids["key_id"] and k["revoked_at"] is None for k in listed)
    assert not failures, "\n".join(failures)


def test_console_matrix(rt: Runtime, world: World) -> None:
    failures = []
    anonymous = TestClient(create_app(rt), base_url="http://testserver", headers=HTML)
    for role, m in world.members.items():
        browser = TestClient(create_app(rt), base_url="http://testserver", headers=HTML)
        assert post_login(browser, m.email, "correct horse battery staple").status_code == 303
        for path, allowed in PAGES.items():
            url = _path(path, world.ids)
            r = browser.get(url, follow_redirects=False)
            moved = r.status_code == 303 and "/login" not in r.headers.get("location", "/login")
            if role in allowed and r.status_code not in (200, 404, 409) and not moved:
                failures.append(f"GET {path} as {role}: {r.status_code}")
            if role not in allowed and r.status_code != 403:
                failures.append(f"GET {path} as {role}: {r.status_code}, expected 403")
    for path in PAGES:
        r = anonymous.get(_path(path, world.ids), follow_redirects=False)
        if r.status_code != 303 or "/login" not in r.headers.get("location", ""):
            failures.append(f"GET {path} without login: {r.status_code}")
    assert not failures, "\n".join(failures)
