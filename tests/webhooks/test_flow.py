"""End to end: sending and signing an envelope delivers the right, signed events to a
receiver the test runs on 127.0.0.1 (loopback allowed only by the test setting); event
filters; events are written in the same transaction as the state change."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from standardwebhooks import Webhook

from accord.delivery.models import OutboxMessage
from accord.delivery.worker import drain
from accord.runtime import Runtime
from accord.webhooks import services as webhooks
from accord.webhooks.models import WebhookMessage
from tests.factories import envelope_body, member, sign, signing_link
from tests.webhooks.webhook_receiver import Receiver, add_endpoint, client, hook_rt, receiver

__all__ = ["client", "hook_rt", "receiver"]  # fixtures used here

ANN = {"name": "Ann Signer", "email": "ann@customer.example", "routing_order": 1}
ONE_SIGNER = {"recipients": [ANN],
              "fields": [{"recipient": 0, "kind": "signature", "anchor": "Customer signature:",
                          "anchor_x_offset": 110, "anchor_y_offset": 10}]}


def test_sending_and_signing_delivers_signed_events(hook_rt: Runtime, client: TestClient,
                                                    receiver: Receiver) -> None:
    admin = member(hook_rt, role="admin")
    created = add_endpoint(client, admin, receiver.url)
    secret = created["secret"]
    assert secret.startswith("whsec_")
    r = client.post("/api/v1/envelopes", json=envelope_body(**ONE_SIGNER), headers=admin.auth)
    assert r.status_code == 201, r.text
    env = r.json()
    link = signing_link(hook_rt, admin.org_id, ANN["email"])  # drains: sent, delivered
    done = sign(client, link, name="Ann Signer")
    assert done.status_code == 200, done.text
    drain(hook_rt)

    # delivery order is not guaranteed (events of one transaction share a timestamp);
    # the completion files a contract record (contracts' subscriber): contract.filed
    assert sorted(receiver.events()) == sorted([
        "envelope.sent", "envelope.delivered", "recipient.viewed", "recipient.signed",
        "envelope.completed", "contract.filed"])
    ids = set()
    for req in receiver.requests:
        event = Webhook(secret).verify(req.body, req.headers)  # raises if not genuine
        assert event["data"]["envelope_id"] == env["id"]
        assert req.headers["content-type"] == "application/json"
        ids.add(req.headers["webhook-id"])
        assert "/s/" not in req.body.decode() and "token" not in req.body.decode()
    assert len(ids) == 6
    by_type = {r.json["type"]: r.json["data"] for r in receiver.requests}
    assert by_type["envelope.sent"]["envelope_status"] == "sent"
    assert by_type["recipient.signed"]["recipient_id"] == env["recipients"][0]["id"]
    assert by_type["recipient.signed"]["recipient_status"] == "completed"
    assert by_type["envelope.completed"]["envelope_status"] == "completed"
    assert by_type["envelope.delivered"]["recipient_id"] == env["recipients"][0]["id"]
    assert "Ann" not in str(by_type) and "customer.example" not in str(by_type)

    listed = client.get("/api/v1/webhooks/messages", headers=admin.auth).json()
    assert {m["status"] for m in listed} == {"delivered"}
    one = client.get(f"/api/v1/webhooks/messages/{listed[0]['id']}", headers=admin.auth).json()
    [attempt] = one["attempts"]
    assert attempt["ok"] and attempt["status_code"] == 200 and attempt["address"] == "127.0.0.1"
    assert attempt["duration_ms"] >= 0


def test_void_and_decline_events(hook_rt: Runtime, client: TestClient,
                                 receiver: Receiver) -> None:
    admin = member(hook_rt, role="admin")
    add_endpoint(client, admin, receiver.url, ["envelope.voided", "envelope.declined",
                                               "recipient.declined"])
    env = client.post("/api/v1/envelopes", json=envelope_body(**ONE_SIGNER),
                      headers=admin.auth).json()
    r = client.post(f"/api/v1/envelopes/{env['id']}/void", json={"reason": "wrong customer"},
                    headers=admin.auth)
    assert r.status_code == 200, r.text
    drain(hook_rt)
    assert receiver.events() == ["envelope.voided"]
    assert "wrong customer" not in receiver.requests[0].body.decode()


def test_event_filters(hook_rt: Runtime, client: TestClient, receiver: Receiver) -> None:
    admin = member(hook_rt, role="admin")
    only_completed = add_endpoint(client, admin, receiver.url + "/completed",
                                  ["envelope.completed"])
    add_endpoint(client, admin, receiver.url + "/sent", ["envelope.sent"])
    off = add_endpoint(client, admin, receiver.url + "/off")
    r = client.patch(f"/api/v1/webhooks/endpoints/{off['endpoint']['id']}",
                     json={"enabled": False}, headers=admin.auth)
    assert r.status_code == 200 and r.json()["enabled"] is False
    client.post("/api/v1/envelopes", json=envelope_body(**ONE_SIGNER), headers=admin.auth)
    drain(hook_rt)
    assert [(q.path, q.json["type"]) for q in receiver.requests] == [
        ("/hooks/sent", "envelope.sent")]
    # another organisation's envelope reaches none of these endpoints
    other = member(hook_rt, role="admin", org_name="Other Org")
    client.post("/api/v1/envelopes", json=envelope_body(**ONE_SIGNER), headers=other.auth)
    drain(hook_rt)
    assert len(receiver.requests) == 1
    msgs = client.get("/api/v1/webhooks/messages",
                      params={"endpoint_id": only_completed["endpoint"]["id"]},
                      headers=admin.auth).json()
    assert msgs == []


def _count(rt: Runtime) -> tuple[int, int]:
    with rt.db.uow() as uow:
        s = uow.session
        return (int(s.scalar(select(func.count()).select_from(WebhookMessage)) or 0),
                int(s.scalar(select(func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.kind == "webhook")) or 0))


def test_emit_writes_in_the_callers_transaction(hook_rt: Runtime, client: TestClient,
                                               receiver: Receiver) -> None:
    admin = member(hook_rt, role="admin")
    add_endpoint(client, admin, receiver.url, ["bulk_batch.finished"])
    with hook_rt.db.uow() as uow:
        ids = webhooks.emit(uow.session, admin.org_id, "bulk_batch.finished",
                            {"batch_id": "b1", "status": "finished"}, hook_rt.now())
        assert len(ids) == 1
        uow.rollback()  # the state change failed: no event
    assert _count(hook_rt) == (0, 0)
    with hook_rt.db.uow() as uow:
        webhooks.emit(uow.session, admin.org_id, "bulk_batch.finished",
                      {"batch_id": "b1", "status": "finished"}, hook_rt.now())
        uow.commit()
    assert _count(hook_rt) == (1, 1)
    drain(hook_rt)
    assert receiver.events() == ["bulk_batch.finished"]
    assert receiver.requests[0].json["data"] == {"batch_id": "b1", "status": "finished"}


def test_emit_refuses_unknown_types_and_unsafe_data(hook_rt: Runtime) -> None:
    admin = member(hook_rt, role="admin")
    with hook_rt.db.uow() as uow:
        with pytest.raises(webhooks.DeliveryError, match="unknown event type"):
            webhooks.emit(uow.session, admin.org_id, "envelope.exploded", {}, hook_rt.now())
        with pytest.raises(webhooks.DeliveryError, match="JSON"):
            webhooks.emit(uow.session, admin.org_id, "bulk_batch.finished",
                          {"x": object()}, hook_rt.now())


def test_no_endpoint_no_rows(hook_rt: Runtime, client: TestClient) -> None:
    admin = member(hook_rt, role="admin")
    client.post("/api/v1/envelopes", json=envelope_body(**ONE_SIGNER), headers=admin.auth)
    assert _count(hook_rt) == (0, 0)
