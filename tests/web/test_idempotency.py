"""Idempotency-Key on API POSTs: Stripe's semantics, on both databases."""

from __future__ import annotations

import threading
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from accord.app import create_app
from accord.envelopes.models import Envelope
from accord.runtime import Runtime
from accord.web.models import IdempotentRequest
from tests.conftest import Clock
from tests.factories import envelope_body, member


def _count(rt: Runtime, org_id: str) -> int:
    with rt.db.uow() as uow:
        return int(uow.session.scalar(
            select(func.count()).select_from(Envelope).where(Envelope.org_id == org_id)) or 0)


def _client(rt: Runtime) -> TestClient:
    return TestClient(create_app(rt), base_url="http://testserver")


def test_retry_replays_the_first_answer_and_creates_once(rt: Runtime) -> None:
    agent = member(rt, role="agent")
    client = _client(rt)
    body = envelope_body(send=False)
    headers = {**agent.auth, "Idempotency-Key": "order-4711"}
    first = client.post("/api/v1/envelopes", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = client.post("/api/v1/envelopes", json=body, headers=headers)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert _count(rt, agent.org_id) == 1
    # another key is another request
    other = client.post("/api/v1/envelopes", json=body,
                        headers={**agent.auth, "Idempotency-Key": "order-4712"})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    # no key: no idempotency
    assert client.post("/api/v1/envelopes", json=body, headers=agent.auth).status_code == 201
    assert _count(rt, agent.org_id) == 3


def test_same_key_with_another_body_is_422_and_runs_nothing(rt: Runtime) -> None:
    agent = member(rt, role="agent")
    client = _client(rt)
    headers = {**agent.auth, "Idempotency-Key": "k1"}
    body = envelope_body(send=False)
    assert client.post("/api/v1/envelopes", json=body, headers=headers).status_code == 201
    changed = {**body, "subject": "Something else"}
    r = client.post("/api/v1/envelopes", json=changed, headers=headers)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "idempotency_key_reused"
    # a different route with the key is a different request too
    r = client.post("/api/v1/api-keys", json={"name": "x"}, headers=headers)
    assert r.status_code == 422
    assert _count(rt, agent.org_id) == 1


def test_keys_belong_to_one_credential(rt: Runtime) -> None:
    ann = member(rt, role="agent")
    bob = member(rt, role="agent", org_id=ann.org_id)
    client = _client(rt)
    body = envelope_body(send=False)
    a = client.post("/api/v1/envelopes", json=body, headers={**ann.auth, "Idempotency-Key": "x"})
    b = client.post("/api/v1/envelopes", json=body, headers={**bob.auth, "Idempotency-Key": "x"})
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]
    assert "idempotent-replayed" not in b.headers


def test_answers_before_anything_ran_release_the_key(rt: Runtime) -> None:
    agent = member(rt, role="agent")
    compliance = member(rt, role="compliance", org_id=agent.org_id)
    client = _client(rt)
    headers = {**agent.auth, "Idempotency-Key": "fix-and-retry"}
    bad = client.post("/api/v1/envelopes", json={"subject": "no documents"}, headers=headers)
    assert bad.status_code == 422
    good = client.post("/api/v1/envelopes", json=envelope_body(send=False), headers=headers)
    assert good.status_code == 201 and "idempotent-replayed" not in good.headers
    # a refused permission is not stored either
    headers = {**compliance.auth, "Idempotency-Key": "fix-and-retry"}
    assert client.post("/api/v1/envelopes", json=envelope_body(),
                       headers=headers).status_code == 403
    with rt.db.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(IdempotentRequest)) == 1


def test_stored_answers_expire_after_24_hours(rt: Runtime, clock: Clock) -> None:
    agent = member(rt, role="agent")
    client = _client(rt)
    headers = {**agent.auth, "Idempotency-Key": "daily"}
    body = envelope_body(send=False)
    first = client.post("/api/v1/envelopes", json=body, headers=headers).json()
    clock.advance(hours=23, minutes=59)
    assert client.post("/api/v1/envelopes", json=body, headers=headers).json() == first
    clock.advance(minutes=2)
    later = client.post("/api/v1/envelopes", json=body, headers=headers)
    assert later.status_code == 201 and later.json()["id"] != first["id"]
    assert _count(rt, agent.org_id) == 2


def test_concurrent_requests_with_one_key_create_one_object(rt: Runtime) -> None:
    agent = member(rt, role="agent")
    app = create_app(rt)
    body = envelope_body(send=False)
    headers = {**agent.auth, "Idempotency-Key": "burst"}
    answers: list[Any] = []
    start = threading.Barrier(6)

    def post() -> None:
        client = TestClient(app, base_url="http://testserver")
        start.wait()
        answers.append(client.post("/api/v1/envelopes", json=body, headers=headers))

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in answers)
    assert set(statuses) <= {201, 409}, statuses
    created = {r.json()["id"] for r in answers if r.status_code == 201}
    assert len(created) == 1
    for r in answers:
        if r.status_code == 409:
            assert r.json()["error"]["code"] == "idempotency_key_in_use"
    assert _count(rt, agent.org_id) == 1


def test_one_time_secrets_are_never_stored_or_replayed(rt: Runtime) -> None:
    admin = member(rt, role="admin")
    client = _client(rt)
    headers = {**admin.auth, "Idempotency-Key": "new-key"}
    first = client.post("/api/v1/api-keys", json={"name": "ci"}, headers=headers)
    assert first.status_code == 201
    secret = first.json()["secret"]
    again = client.post("/api/v1/api-keys", json={"name": "ci"}, headers=headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "idempotency_key_used"
    assert secret not in again.text
    names = [k["name"] for k in client.get("/api/v1/api-keys", headers=admin.auth).json()]
    assert names.count("ci") == 1
    with rt.db.uow() as uow:
        for row in uow.session.scalars(select(IdempotentRequest)):
            assert row.response is None or secret.encode() not in row.response


def test_stored_answers_are_sealed(rt: Runtime) -> None:
    agent = member(rt, role="agent")
    client = _client(rt)
    body = {**envelope_body(send=False), "subject": "Renewal for Zyxwvut Industries"}
    r = client.post("/api/v1/envelopes", json=body,
                    headers={**agent.auth, "Idempotency-Key": "sealed"})
    assert r.status_code == 201
    with rt.db.uow() as uow:
        row = uow.session.scalars(select(IdempotentRequest)).one()
        assert row.response is not None and b"Zyxwvut" not in row.response
        assert row.owner != agent.auth["Authorization"]


def test_malformed_keys_are_refused(rt: Runtime) -> None:
    agent = member(rt, role="agent")
    client = _client(rt)
    for key in (b"has space", b"x" * 256, "caf\u00e9".encode()):
        r = client.post("/api/v1/envelopes", json=envelope_body(send=False),
                        headers=[(k.encode(), v.encode()) for k, v in agent.auth.items()]
                        + [(b"Idempotency-Key", key)])
        assert r.status_code == 400, key
        assert r.json()["error"]["code"] == "invalid_idempotency_key"
    assert _count(rt, agent.org_id) == 0


def test_openapi_documents_the_header(rt: Runtime) -> None:
    schema = _client(rt).get("/openapi.json").json()
    op = schema["paths"]["/api/v1/envelopes"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header"
               for p in op["parameters"])
    get = schema["paths"]["/api/v1/envelopes"]["get"]
    assert all(p["name"] != "Idempotency-Key" for p in get.get("parameters", []))
