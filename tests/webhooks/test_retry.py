"""At-least-once delivery on the Standard Webhooks schedule with a failing receiver (time
frozen), dead after the last attempt, replay by API once the receiver recovers, and the
five-day rule: an endpoint failing that long is disabled and its owner emailed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from accord.delivery.services import list_mailbox
from accord.delivery.worker import drain
from accord.runtime import Runtime
from accord.webhooks.domain import RETRY_SCHEDULE_S
from tests.conftest import Clock
from tests.factories import member
from tests.webhooks.webhook_receiver import Receiver, add_endpoint, client, hook_rt, receiver

__all__ = ["client", "hook_rt", "receiver"]  # fixtures used here

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _test_event(client: TestClient, auth: dict[str, str], endpoint_id: str) -> str:
    r = client.post(f"/api/v1/webhooks/endpoints/{endpoint_id}/test", headers=auth)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "pending"
    return str(r.json()["id"])


def test_retry_schedule_then_dead_then_replay(hook_rt: Runtime, client: TestClient,
                                              receiver: Receiver, clock: Clock) -> None:
    # the generic outbox limit does not apply: the webhook kind has its own schedule
    hook_rt.settings = hook_rt.settings.model_copy(update={"outbox_max_attempts": 3})
    clock.freeze(T0)
    admin = member(hook_rt, role="admin")
    ep = add_endpoint(client, admin, receiver.url)["endpoint"]
    receiver.status = 500
    msg_id = _test_event(client, admin.auth, ep["id"])

    for attempt, delay in enumerate(RETRY_SCHEDULE_S, start=1):
        if delay:
            clock.advance(seconds=delay - 1)
            drain(hook_rt)
            assert len(receiver.requests) == attempt - 1, f"attempt {attempt} came early"
            clock.advance(seconds=1)
        drain(hook_rt)
        assert len(receiver.requests) == attempt, f"attempt {attempt} did not happen"
        status = client.get(f"/api/v1/webhooks/messages/{msg_id}",
                            headers=admin.auth).json()["message"]
        assert status["attempts"] == attempt
        assert status["status"] == ("dead" if attempt == len(RETRY_SCHEDULE_S) else "pending")

    clock.advance(hours=48)
    drain(hook_rt)
    assert len(receiver.requests) == len(RETRY_SCHEDULE_S)  # nothing after the last one
    assert {r.headers["webhook-id"] for r in receiver.requests} == {msg_id}

    failed = client.get("/api/v1/webhooks/messages", params={"status": "failed"},
                        headers=admin.auth).json()
    dead = client.get("/api/v1/webhooks/messages", params={"status": "dead"},
                      headers=admin.auth).json()
    assert [m["id"] for m in failed] == [m["id"] for m in dead] == [msg_id]
    assert dead[0]["last_error"] == "AttemptFailed: HTTP 500"
    detail = client.get(f"/api/v1/webhooks/messages/{msg_id}", headers=admin.auth).json()
    assert len(detail["attempts"]) == 8
    assert all(a["status_code"] == 500 and not a["ok"] and a["error"] == "HTTP 500"
               for a in detail["attempts"])
    assert client.get(f"/api/v1/webhooks/endpoints/{ep['id']}",
                      headers=admin.auth).json()["failing_since"] is not None

    receiver.status = 200  # the receiver recovers
    r = client.post(f"/api/v1/webhooks/messages/{msg_id}/replay", headers=admin.auth)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending" and r.json()["attempts"] == 0
    again = client.post(f"/api/v1/webhooks/messages/{msg_id}/replay", headers=admin.auth)
    assert again.status_code == 409 and again.json()["error"]["code"] == "message_pending"
    drain(hook_rt)
    assert len(receiver.requests) == 9
    assert receiver.requests[-1].headers["webhook-id"] == msg_id  # same id: receivers dedupe
    detail = client.get(f"/api/v1/webhooks/messages/{msg_id}", headers=admin.auth).json()
    assert detail["message"]["status"] == "delivered" and detail["attempts"][-1]["ok"]
    endpoint = client.get(f"/api/v1/webhooks/endpoints/{ep['id']}", headers=admin.auth).json()
    assert endpoint["failing_since"] is None and endpoint["last_success_at"] is not None


def test_redirect_answer_counts_as_a_failure(hook_rt: Runtime, client: TestClient,
                                             receiver: Receiver, clock: Clock) -> None:
    clock.freeze(T0)
    admin = member(hook_rt, role="admin")
    ep = add_endpoint(client, admin, receiver.url)["endpoint"]
    receiver.status, receiver.location = 302, "http://127.0.0.1:9/elsewhere"
    msg_id = _test_event(client, admin.auth, ep["id"])
    drain(hook_rt)
    detail = client.get(f"/api/v1/webhooks/messages/{msg_id}", headers=admin.auth).json()
    assert detail["message"]["status"] == "pending"
    assert detail["attempts"][0]["status_code"] == 302
    assert "redirect not followed" in detail["attempts"][0]["error"]


def test_replay_all_failed_for_an_endpoint(hook_rt: Runtime, client: TestClient,
                                           receiver: Receiver, clock: Clock) -> None:
    clock.freeze(T0)
    admin = member(hook_rt, role="admin")
    ep = add_endpoint(client, admin, receiver.url)["endpoint"]
    receiver.status = 503
    ids = {_test_event(client, admin.auth, ep["id"]) for _ in range(2)}
    for delay in RETRY_SCHEDULE_S:
        clock.advance(seconds=delay)
        drain(hook_rt)
    dead = client.get("/api/v1/webhooks/messages", params={"status": "dead"},
                      headers=admin.auth).json()
    assert {m["id"] for m in dead} == ids
    receiver.status = 204
    r = client.post(f"/api/v1/webhooks/endpoints/{ep['id']}/replay-failed", headers=admin.auth)
    assert r.status_code == 200 and r.json() == {"replayed": 2}
    drain(hook_rt)
    delivered = client.get("/api/v1/webhooks/messages", params={"status": "delivered"},
                           headers=admin.auth).json()
    assert {m["id"] for m in delivered} == ids


def _disable_mails(rt: Runtime, org_id: str, to: str) -> int:
    return sum(1 for m in list_mailbox(rt, org_id, limit=200)
               if m.to_addr == to and m.subject == "Webhook endpoint disabled")


def test_endpoint_failing_five_days_is_disabled_and_owner_emailed(
        hook_rt: Runtime, client: TestClient, receiver: Receiver, clock: Clock) -> None:
    clock.freeze(T0)
    admin = member(hook_rt, role="admin")
    ep = add_endpoint(client, admin, receiver.url)["endpoint"]
    url = f"/api/v1/webhooks/endpoints/{ep['id']}"
    receiver.status = 500
    _test_event(client, admin.auth, ep["id"])
    drain(hook_rt)  # first failure: failing since T0
    assert client.get(url, headers=admin.auth).json()["failing_since"].startswith("2026-03-02")

    clock.advance(days=5)  # exactly five days: not yet
    _test_event(client, admin.auth, ep["id"])
    drain(hook_rt)
    assert client.get(url, headers=admin.auth).json()["enabled"] is True

    clock.advance(minutes=1)  # more than five days without a success
    _test_event(client, admin.auth, ep["id"])
    drain(hook_rt)
    endpoint = client.get(url, headers=admin.auth).json()
    assert endpoint["enabled"] is False
    assert "5 days" in endpoint["disabled_reason"]
    drain(hook_rt)
    assert _disable_mails(hook_rt, admin.org_id, admin.email) == 1

    # disabled: no more attempts, no new messages, no replay until enabled again
    seen = len(receiver.requests)
    clock.advance(days=1)
    drain(hook_rt)
    assert len(receiver.requests) == seen
    r = client.post(f"{url}/test", headers=admin.auth)
    assert r.status_code == 409 and r.json()["error"]["code"] == "endpoint_disabled"
    dead = client.get("/api/v1/webhooks/messages", params={"status": "failed"},
                      headers=admin.auth).json()
    r = client.post(f"/api/v1/webhooks/messages/{dead[0]['id']}/replay", headers=admin.auth)
    assert r.status_code == 409 and r.json()["error"]["code"] == "endpoint_disabled"

    receiver.status = 200
    r = client.patch(url, json={"enabled": True}, headers=admin.auth)
    assert r.status_code == 200 and r.json()["failing_since"] is None
    assert r.json()["disabled_reason"] is None
    r = client.post(f"{url}/replay-failed", headers=admin.auth)
    assert r.status_code == 200 and r.json()["replayed"] >= 1
    drain(hook_rt)
    assert len(receiver.requests) > seen
    assert _disable_mails(hook_rt, admin.org_id, admin.email) == 1


def test_a_success_in_between_restarts_the_five_days(hook_rt: Runtime, client: TestClient,
                                                     receiver: Receiver, clock: Clock) -> None:
    clock.freeze(T0)
    admin = member(hook_rt, role="admin")
    ep = add_endpoint(client, admin, receiver.url)["endpoint"]
    url = f"/api/v1/webhooks/endpoints/{ep['id']}"
    receiver.status = 500
    _test_event(client, admin.auth, ep["id"])
    drain(hook_rt)
    clock.advance(days=3)
    receiver.status = 200
    _test_event(client, admin.auth, ep["id"])
    drain(hook_rt)
    assert client.get(url, headers=admin.auth).json()["failing_since"] is None
    clock.advance(days=2, hours=1)
    receiver.status = 500
    _test_event(client, admin.auth, ep["id"])
    drain(hook_rt)
    clock.advance(days=1)
    _test_event(client, admin.auth, ep["id"])
    drain(hook_rt)
    endpoint = client.get(url, headers=admin.auth).json()
    assert endpoint["enabled"] is True
    assert endpoint["failing_since"] == (T0 + timedelta(days=5, hours=1)).isoformat().replace(
        "+00:00", "Z")
