"""Users, API keys (scopes, immediate revocation), teams and settings through the API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from accord.app import create_app
from accord.runtime import Runtime
from tests.factories import Member, envelope_body, member


@pytest.fixture
def client(rt: Runtime) -> TestClient:
    return TestClient(create_app(rt), base_url="http://testserver")


def _key(client: TestClient, m: Member, **body: object) -> str:
    r = client.post("/api/v1/api-keys", json={"name": "k", **body}, headers=m.auth)
    assert r.status_code == 201, r.text
    return str(r.json()["secret"])


def test_admin_manages_users_and_others_cannot(rt: Runtime, client: TestClient) -> None:
    adm = member(rt, role="admin")
    agent = member(rt, org_id=adm.org_id)
    r = client.post("/api/v1/users", json={"email": "new@example.com", "name": "New",
                                           "role": "manager", "team": "emea"},
                    headers=adm.auth)
    assert r.status_code == 201
    assert r.json()["user"]["team"] == "emea" and len(r.json()["initial_password"]) >= 12
    assert client.get("/api/v1/users", headers=agent.auth).status_code == 403
    assert client.post("/api/v1/users", json={"email": "x@example.com", "name": "X",
                                              "role": "admin"}, headers=agent.auth
                       ).status_code == 403
    # mass assignment: unknown fields are refused
    r = client.post("/api/v1/users", json={"email": "y@example.com", "name": "Y",
                                           "role": "agent", "id": "chosen", "active": False},
                    headers=adm.auth)
    assert r.status_code == 422
    users = client.get("/api/v1/users", headers=adm.auth).json()
    assert {u["email"] for u in users} >= {adm.email, agent.email, "new@example.com"}
    other = member(rt, role="admin", org_name="Other")
    r = client.patch(f"/api/v1/users/{agent.user_id}", json={"role": "admin"},
                     headers=other.auth)
    assert r.status_code == 404


def test_revoked_keys_stop_at_once(rt: Runtime, client: TestClient) -> None:
    m = member(rt)
    secret = _key(client, m)
    auth = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/me", headers=auth).status_code == 200
    key_id = next(k["id"] for k in client.get("/api/v1/api-keys", headers=m.auth).json()
                  if k["name"] == "k")
    assert client.post(f"/api/v1/api-keys/{key_id}/revoke", headers=m.auth).status_code == 200
    r = client.get("/api/v1/me", headers=auth)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert "secret" not in str(client.get("/api/v1/api-keys", headers=m.auth).json())


def test_scoped_keys(rt: Runtime, client: TestClient) -> None:
    m = member(rt)
    reader = {"Authorization": f"Bearer {_key(client, m, scopes=['envelopes:read'])}"}
    assert client.get("/api/v1/envelopes", headers=reader).status_code == 200
    r = client.post("/api/v1/envelopes", json=envelope_body(), headers=reader)
    assert r.status_code == 403 and r.json()["error"]["code"] == "scope_missing"
    r = client.post("/api/v1/api-keys", json={"name": "x", "scopes": ["admin"]},
                    headers=m.auth)
    assert r.status_code == 403 and r.json()["error"]["code"] == "scope_not_allowed"
    r = client.post("/api/v1/api-keys", json={"name": "x", "scopes": ["envelopes:write"]},
                    headers=reader)
    assert r.status_code == 403


def test_deactivating_a_user_kills_their_keys(rt: Runtime, client: TestClient) -> None:
    adm = member(rt, role="admin")
    agent = member(rt, org_id=adm.org_id)
    assert client.patch(f"/api/v1/users/{agent.user_id}", json={"active": False},
                        headers=adm.auth).status_code == 200
    assert client.get("/api/v1/me", headers=agent.auth).status_code == 401
    r = client.patch(f"/api/v1/users/{adm.user_id}", json={"active": False},
                     headers=adm.auth)
    assert r.status_code == 422 and r.json()["error"]["code"] == "cannot_demote_self"


def test_team_visibility(rt: Runtime, client: TestClient) -> None:
    adm = member(rt, role="admin")
    people = {}
    for name, role, team in (("a1", "agent", "emea"), ("a2", "agent", "emea"),
                             ("a3", "agent", "apac"), ("m1", "manager", "emea"),
                             ("c1", "compliance", None)):
        r = client.post("/api/v1/users", json={"email": f"{name}@example.com", "name": name,
                                               "role": role, "team": team},
                        headers=adm.auth)
        uid = r.json()["user"]["id"]
        from accord.accounts.services import authenticate_api_key, create_api_key

        _k, key = create_api_key(rt, uid, "t")
        people[name] = Member(adm.org_id, uid, f"{name}@example.com", key,
                              authenticate_api_key(rt, key))
    env = client.post("/api/v1/envelopes", json=envelope_body(send=False),
                      headers=people["a1"].auth).json()["id"]

    def listed(who: str) -> bool:
        items = client.get("/api/v1/envelopes", headers=people[who].auth).json()["items"]
        return env in {i["id"] for i in items}

    def detail(who: str) -> int:
        return client.get(f"/api/v1/envelopes/{env}", headers=people[who].auth).status_code

    assert listed("a1") and detail("a1") == 200
    assert listed("a2") and detail("a2") == 404  # teammate: status only
    assert not listed("a3") and detail("a3") == 404  # other team
    assert listed("m1") and detail("m1") == 200  # the team's manager
    assert listed("c1") and detail("c1") == 200  # compliance reads everything
    r = client.post(f"/api/v1/envelopes/{env}/void", json={"reason": "x"},
                    headers=people["a2"].auth)
    assert r.status_code == 404


def test_settings_are_admin_only(rt: Runtime, client: TestClient) -> None:
    adm = member(rt, role="admin")
    agent = member(rt, org_id=adm.org_id)
    assert client.get("/api/v1/organisation/settings", headers=agent.auth).status_code == 403
    r = client.patch("/api/v1/organisation/settings",
                     json={"mfa_required_roles": ["admin", "manager"],
                           "template_approval_required": False}, headers=adm.auth)
    assert r.status_code == 200
    assert r.json()["mfa_required_roles"] == ["admin", "manager"]
    assert r.json()["template_approval_required"] is False
    r = client.patch("/api/v1/organisation/settings",
                     json={"sso": {"issuer": "https://idp.example", "client_id": "c",
                                   "client_secret": "s3cret"}}, headers=adm.auth)
    assert r.json()["sso_issuer"] == "https://idp.example"
    assert "s3cret" not in r.text


def test_dashboard_for_managers(rt: Runtime, client: TestClient) -> None:
    from accord.accounts.services import authenticate_api_key, create_api_key, create_user

    adm = member(rt, role="admin")
    ids = {}
    for name, role in (("m", "manager"), ("a", "agent")):
        uid = create_user(rt, adm.org_id, email=f"{name}@example.com", name=name, role=role,
                          password="long enough password", team="emea")
        _k, key = create_api_key(rt, uid, "t")
        ids[name] = Member(adm.org_id, uid, f"{name}@example.com", key,
                           authenticate_api_key(rt, key))
    for send in (True, False, False):
        client.post("/api/v1/envelopes", json=envelope_body(send=send),
                    headers=ids["a"].auth)
    r = client.get("/api/v1/dashboard", headers=ids["m"].auth)
    assert r.status_code == 200
    assert r.json()["by_status"] == {"sent": 1, "draft": 2}
    assert r.json()["by_sender"]["a@example.com"] == {"sent": 1, "draft": 2}
    assert client.get("/api/v1/dashboard", headers=ids["a"].auth).status_code == 403


def test_a_scoped_key_cannot_reach_its_owners_broader_keys(rt: Runtime,
                                                           client: TestClient) -> None:
    """Issue 8: an envelopes:read key listed its owner's keys and revoked the owner's
    full-access key. Managing keys takes api-keys:manage, and never reaches a broader key."""
    m = member(rt)  # m.auth is a full-access key
    full_id = next(k["id"] for k in client.get("/api/v1/api-keys", headers=m.auth).json())
    reader = {"Authorization": f"Bearer {_key(client, m, scopes=['envelopes:read'])}"}
    for method, path in (("GET", "/api/v1/api-keys"), ("POST", "/api/v1/api-keys"),
                         ("POST", f"/api/v1/api-keys/{full_id}/revoke")):
        r = client.request(method, path, headers=reader,
                           json={"name": "x"} if method == "POST" else None)
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["error"]["code"] == "scope_missing"
    assert client.get("/api/v1/me", headers=m.auth).status_code == 200  # still alive

    manager = {"Authorization": "Bearer " + _key(
        client, m, scopes=["api-keys:manage", "envelopes:read"])}
    listed = {k["id"]: k["scopes"] for k in
              client.get("/api/v1/api-keys", headers=manager).json()}
    assert full_id not in listed  # broader than the caller: not shown
    assert sorted(listed.values()) == [["api-keys:manage", "envelopes:read"],
                                       ["envelopes:read"]]
    r = client.post(f"/api/v1/api-keys/{full_id}/revoke", headers=manager)
    assert r.status_code == 403 and r.json()["error"]["code"] == "scope_not_allowed"
    assert client.get("/api/v1/me", headers=m.auth).status_code == 200
    for scopes in (None, ["envelopes:write"], ["envelopes:read", "audit:read"]):
        r = client.post("/api/v1/api-keys", json={"name": "wider", "scopes": scopes},
                        headers=manager)
        assert r.status_code == 403, scopes
        assert r.json()["error"]["code"] == "scope_not_allowed"
    r = client.post("/api/v1/api-keys", json={"name": "narrow", "scopes": ["envelopes:read"]},
                    headers=manager)
    assert r.status_code == 201
    narrow = r.json()["key"]["id"]
    assert client.post(f"/api/v1/api-keys/{narrow}/revoke", headers=manager).status_code == 200
    # the full-access key keeps every power of the role
    assert len(client.get("/api/v1/api-keys", headers=m.auth).json()) == 4


def test_an_admins_scoped_key_sees_only_keys_within_its_scopes(rt: Runtime,
                                                               client: TestClient) -> None:
    adm = member(rt, role="admin")
    agent = member(rt, org_id=adm.org_id)
    reader_id = client.post("/api/v1/api-keys", headers=agent.auth, json={
        "name": "r", "scopes": ["envelopes:read"]}).json()["key"]["id"]
    keys = {"Authorization": "Bearer " + _key(client, adm, scopes=["api-keys:manage",
                                                                    "admin"])}
    listed = {k["id"] for k in client.get("/api/v1/api-keys", headers=keys).json()}
    assert reader_id not in listed  # envelopes:read is not within api-keys:manage + admin
    agent_full = next(k["id"] for k in client.get("/api/v1/api-keys", headers=adm.auth).json()
                      if k["owner_id"] == agent.user_id and k["scopes"] == ["*"])
    r = client.post(f"/api/v1/api-keys/{agent_full}/revoke", headers=keys)
    assert r.status_code == 403 and r.json()["error"]["code"] == "scope_not_allowed"
    # the admin's full-access key manages everyone's keys, as the role says
    assert client.post(f"/api/v1/api-keys/{reader_id}/revoke",
                       headers=adm.auth).status_code == 200
    assert client.post(f"/api/v1/api-keys/{agent_full}/revoke",
                       headers=adm.auth).status_code == 200
    assert client.get("/api/v1/me", headers=agent.auth).status_code == 401
