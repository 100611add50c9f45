"""Rate limits answer 429 with Retry-After, per API key, per IP and per signing link."""

from __future__ import annotations

from fastapi.testclient import TestClient

from accord.app import create_app
from accord.runtime import Runtime
from accord.web.ratelimit import Counter
from tests.factories import member


def test_counter_windows() -> None:
    now = [120.0]
    c = Counter(clock=lambda: now[0])
    assert [c.hit("k", 2) for _ in range(3)] == [0, 0, 60]
    now[0] = 180.0  # next minute
    assert c.hit("k", 2) == 0


def test_api_key_limit(rt: Runtime) -> None:
    rt.settings = rt.settings.model_copy(update={"rate_limit_api_key_per_min": 3})
    client = TestClient(create_app(rt))
    m = member(rt)
    codes = [client.get("/api/v1/envelopes", headers=m.auth).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    r = client.get("/api/v1/envelopes", headers=m.auth)
    assert r.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(r.headers["retry-after"]) <= 61
    other = member(rt, org_name="Other")  # another key is not affected
    assert client.get("/api/v1/envelopes", headers=other.auth).status_code == 200


def test_login_and_signing_link_limits(rt: Runtime) -> None:
    rt.settings = rt.settings.model_copy(update={"rate_limit_login_per_min": 2,
                                                 "rate_limit_signing_per_min": 2})
    client = TestClient(create_app(rt))
    assert [client.get("/login").status_code for _ in range(3)] == [200, 200, 429]
    codes = [client.get("/s/" + "A" * 43).status_code for _ in range(3)]
    assert codes == [404, 404, 429]


def test_limits_can_be_switched_off(rt: Runtime) -> None:
    rt.settings = rt.settings.model_copy(update={"rate_limits": False,
                                                 "rate_limit_login_per_min": 1})
    client = TestClient(create_app(rt))
    assert {client.get("/login").status_code for _ in range(3)} == {200}


def test_security_headers_and_csp_nonce(rt: Runtime) -> None:
    client = TestClient(create_app(rt))
    a, b = client.get("/login"), client.get("/login")
    csp = a.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "'nonce-" in csp
    assert csp != b.headers["content-security-policy"]  # a new nonce every time
    assert a.headers["x-content-type-options"] == "nosniff"
    assert a.headers["cache-control"] == "no-store"
    assert client.get("/s/whatever").headers["referrer-policy"] == "no-referrer"
