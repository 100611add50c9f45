"""Issue 8: state-changing console and signer requests from another origin are refused
(403 ``origin_mismatch``); the server's own origins, header-less requests and API calls
with a Bearer key pass."""

from __future__ import annotations

from fastapi.testclient import TestClient

from accord.runtime import Runtime
from accord.web.security import origin_of
from tests.factories import PASSWORD, Member, envelope_body
from tests.web.conftest import HTML, csrf_of, login, post_login

EVIL = "https://evil.example"


def _login_form(client: TestClient, agent: Member, **headers: str) -> int:
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"email": agent.email, "password": PASSWORD,
                                       "csrf_token": token}, headers=headers,
                       follow_redirects=False).status_code


FOREIGN: list[dict[str, str]] = [
    {"origin": EVIL}, {"origin": "http://testserver.evil.example"},
    {"origin": "https://testserver"},  # another scheme is another origin
    {"origin": "http://testserver:8080"}, {"origin": "null"},
    {"referer": f"{EVIL}/page"}, {"referer": "not a url"},
    {"origin": EVIL, "referer": "http://testserver/login"},  # Origin wins
]
OWN: list[dict[str, str]] = [
    {}, {"origin": "http://testserver"}, {"origin": "HTTP://TestServer:80"},
    {"referer": "http://testserver/login?next=/console"},
]


def test_foreign_origins_are_refused_on_console_forms(client: TestClient,
                                                      agent: Member) -> None:
    for headers in FOREIGN:
        assert _login_form(client, agent, **headers) == 403, headers
        r = client.post("/login", data={}, headers={**headers, "accept": "application/json"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "origin_mismatch"
        assert r.headers["x-frame-options"] == "DENY"  # security headers still apply
        assert "another site" in client.post("/login", data={}, headers=headers).text
        assert client.get("/console", follow_redirects=False).status_code == 303


def test_own_origins_and_header_less_requests_pass(client: TestClient,
                                                   agent: Member) -> None:
    for headers in OWN:
        assert _login_form(client, agent, **headers) == 303, headers


def test_logged_in_console_posts_and_signer_posts_are_checked(
        rt: Runtime, client: TestClient, agent: Member) -> None:
    token = login(client, agent)
    r = client.post("/logout", data={"csrf_token": token}, headers={"origin": EVIL})
    assert r.status_code == 403
    assert client.get("/console").status_code == 200  # still logged in
    # signer pages send no referrer, so their own forms say "Origin: null": allowed there
    for origin, status in ((EVIL, 403), ("null", 401)):
        r = client.post("/sign/consent", data={"csrf_token": "x", "agree": "yes"},
                        headers={"origin": origin, "accept": "application/json"})
        assert r.status_code == status, (origin, r.text)


def test_api_calls_with_a_bearer_key_are_not_checked(client: TestClient,
                                                     agent: Member) -> None:
    r = client.post("/api/v1/envelopes", json=envelope_body(send=False),
                    headers={**agent.auth, "origin": EVIL, "accept": "application/json"})
    assert r.status_code == 201, r.text


def test_the_configured_public_base_url_is_an_own_origin() -> None:
    """Behind a proxy that ends TLS the request looks like http://internal:8000; the
    browser says the public https origin, which is the configured base URL."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from accord.config import Settings
    from accord.web.security import OriginCheck

    settings = Settings(base_url="https://sign.example.com/accord/", seed_demo=False)
    app = Starlette(routes=[Route("/sign/finish", lambda _r: PlainTextResponse("ok"),
                                  methods=["POST", "GET"])])
    client = TestClient(OriginCheck(app, settings=lambda: settings),
                        base_url="http://internal:8000")
    assert client.post("/sign/finish", headers={"origin": "https://sign.example.com"}
                       ).status_code == 200
    assert client.post("/sign/finish", headers={"origin": "http://internal:8000"}
                       ).status_code == 200
    assert client.post("/sign/finish", headers={"origin": "https://example.com"}
                       ).status_code == 403
    assert client.get("/sign/finish", headers={"origin": EVIL}).status_code == 200  # safe


def test_origin_of() -> None:
    assert origin_of("https://Example.COM:443/a?b") == "https://example.com"
    assert origin_of("http://example.com:8080") == "http://example.com:8080"
    assert origin_of("http://[::1]:8000/x") == "http://[::1]:8000"
    for bad in ("null", "ftp://example.com", "example.com", "http://", "http://h:99999"):
        assert origin_of(bad) is None, bad


def test_post_login_helper_still_works(client: TestClient, agent: Member) -> None:
    assert post_login(client, agent.email, PASSWORD).status_code == 303
    assert client.get("/console", headers=HTML).status_code == 200
