"""The SSRF-safe sender: resolve once, refuse unless every address is public, connect to
the pinned address with the original Host, follow no redirect, time out quickly, read a
capped answer. The resolver is mocked; the only server is the test's own on 127.0.0.1."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from accord.webhooks import sender as webhooks_http
from accord.webhooks.sender import Policy, post
from tests.webhooks.webhook_receiver import Receiver, receiver, start_receiver

__all__ = ["receiver"]  # the fixture, imported for this module

LOOPBACK_OK = Policy(require_https=False, allow_loopback=True, connect_timeout_s=2,
                     timeout_s=2)
STRICT = Policy(require_https=False, allow_loopback=False, connect_timeout_s=2, timeout_s=2)


class FakeResolver:
    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers[host]


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> FakeResolver:
    fake = FakeResolver({})
    monkeypatch.setattr(webhooks_http, "resolve_host", fake)
    return fake


PRIVATE_ANSWERS = ["127.0.0.1", "10.1.2.3", "172.16.5.4", "192.168.0.10", "169.254.169.254",
                   "100.64.0.1", "::1", "fc00::5", "fd00::1", "fe80::1", "::ffff:127.0.0.1",
                   "0.0.0.0", "224.0.0.251"]


@pytest.mark.parametrize("answer", PRIVATE_ANSWERS)
def test_hostname_resolving_to_a_private_address_is_refused(
        resolver: FakeResolver, receiver: Receiver, answer: str) -> None:
    resolver.answers["hooks.example.test"] = [answer]
    out = post(f"http://hooks.example.test:{receiver.port}/x", b"{}", {}, STRICT)
    assert not out.ok
    assert out.status_code is None and out.address is None
    assert "address not allowed" in (out.error or "")
    assert receiver.requests == []


def test_one_private_address_among_public_ones_refuses_the_name(
        resolver: FakeResolver, receiver: Receiver) -> None:
    resolver.answers["mixed.example.test"] = ["93.184.216.34", "10.0.0.7"]
    out = post("https://mixed.example.test/x", b"{}", {}, STRICT)
    assert not out.ok and "10.0.0.7" in (out.error or "")


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1",
                                  "169.254.169.254", "100.64.0.1", "[::1]", "[fc00::1]",
                                  "[fe80::1]", "[::ffff:127.0.0.1]", "2130706433",
                                  "0x7f000001", "0177.0.0.1", "127.1"])
def test_ip_literals_are_refused_without_resolving(resolver: FakeResolver, host: str) -> None:
    out = post(f"http://{host}:9/x", b"{}", {}, STRICT)
    assert not out.ok and out.address is None
    assert "not allowed" in (out.error or "")
    assert resolver.calls == []


def test_unresolvable_name_fails_the_attempt(resolver: FakeResolver) -> None:
    out = post("https://nowhere.example.test/", b"{}", {}, STRICT)
    assert not out.ok and "cannot resolve" in (out.error or "")


def test_dns_is_pinned_resolved_once_and_host_kept(resolver: FakeResolver,
                                                   receiver: Receiver) -> None:
    """The name resolves (once) to the test server's loopback address; the connection goes
    there, with the original Host header. A second, different answer is never asked for."""
    resolver.answers["hooks.example.test"] = ["127.0.0.1"]
    out = post(f"http://hooks.example.test:{receiver.port}/in?a=1", b'{"x":1}',
               {"webhook-id": "msg_1"}, LOOPBACK_OK)
    assert out.ok, out.error
    assert out.status_code == 200 and out.address == "127.0.0.1"
    assert resolver.calls == [("hooks.example.test", receiver.port)]
    [req] = receiver.requests
    assert req.headers["host"] == f"hooks.example.test:{receiver.port}"
    assert req.path == "/in?a=1" and req.body == b'{"x":1}'
    assert req.headers["webhook-id"] == "msg_1"
    assert req.headers["user-agent"].startswith("Accord-Webhooks/")


def test_rebinding_answer_after_the_check_is_not_used(monkeypatch: pytest.MonkeyPatch,
                                                      receiver: Receiver) -> None:
    """A resolver that answers public first and private next cannot steer the connection:
    Accord asks once and connects to that answer (here refused as non-public anyway)."""
    answers = iter([["127.0.0.1"], ["10.0.0.1"]])
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    monkeypatch.setattr(webhooks_http, "resolve_host", rebinding)
    out = post(f"http://rebind.example.test:{receiver.port}/", b"{}", {}, LOOPBACK_OK)
    assert out.ok and out.address == "127.0.0.1"
    assert calls == ["rebind.example.test"]


def test_redirects_are_not_followed(receiver: Receiver) -> None:
    target = start_receiver()
    try:
        receiver.status, receiver.location = 302, target.url
        out = post(receiver.url, b"{}", {}, LOOPBACK_OK)
        assert not out.ok and out.status_code == 302
        assert "redirect not followed" in (out.error or "")
        assert len(receiver.requests) == 1
        assert target.requests == []
    finally:
        target.server.shutdown()
        target.server.server_close()


def test_non_2xx_is_a_failure_and_the_answer_is_capped(receiver: Receiver) -> None:
    receiver.status, receiver.reply = 500, b"x" * 100_000
    out = post(receiver.url, b"{}", {}, LOOPBACK_OK)
    assert not out.ok and out.status_code == 500 and out.error == "HTTP 500"
    assert len(out.response_excerpt) <= webhooks_http.MAX_EXCERPT_CHARS
    assert out.duration_ms >= 0


def test_loopback_is_refused_without_the_test_setting(receiver: Receiver) -> None:
    out = post(receiver.url, b"{}", {}, STRICT)
    assert not out.ok and "loopback" in (out.error or "")
    assert receiver.requests == []


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(5)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                held.append(conn)
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield sock.getsockname()[1]
    stop.set()
    t.join(2)
    for c in held:
        c.close()
    sock.close()


def test_timeouts_are_short(silent_server: int) -> None:
    policy = Policy(require_https=False, allow_loopback=True, connect_timeout_s=0.5,
                    timeout_s=0.5)
    start = time.monotonic()
    out = post(f"http://127.0.0.1:{silent_server}/", b"{}", {}, policy)
    assert not out.ok and "timed out" in (out.error or "")
    assert time.monotonic() - start < 3


def test_connection_refused_is_a_failure() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    out = post(f"http://127.0.0.1:{port}/", b"{}", {}, LOOPBACK_OK)
    assert not out.ok and out.status_code is None
    assert "connection failed" in (out.error or "")


def test_proxies_from_the_environment_are_ignored(monkeypatch: pytest.MonkeyPatch,
                                                  receiver: Receiver) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://10.9.9.9:3128")
    monkeypatch.setenv("ALL_PROXY", "http://10.9.9.9:3128")
    out = post(receiver.url, b"{}", {}, LOOPBACK_OK)
    assert out.ok and len(receiver.requests) == 1


def _self_signed(tmp: Path, name: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_uses_the_host_name_for_sni_and_certificate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, resolver: FakeResolver,
        receiver: Receiver) -> None:
    """Connecting to the pinned IP still sends SNI = the URL's host and verifies the
    certificate against that name (not against the IP)."""
    name = "hooks.example.test"
    cert, key = _self_signed(tmp_path, name)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    seen_sni: list[str | None] = []

    def remember(_sock: ssl.SSLObject, sni: str | None, _ctx: ssl.SSLContext) -> None:
        seen_sni.append(sni)

    server_ctx.sni_callback = remember  # type: ignore[assignment]
    receiver.server.socket = server_ctx.wrap_socket(receiver.server.socket, server_side=True)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(webhooks_http, "_tls", lambda: client_ctx)
    resolver.answers[name] = ["127.0.0.1"]
    policy = Policy(require_https=True, allow_loopback=True, connect_timeout_s=2, timeout_s=2)
    out = post(f"https://{name}:{receiver.port}/tls", b"{}", {}, policy)
    assert out.ok, out.error
    assert seen_sni == [name]
    assert receiver.requests[0].headers["host"] == f"{name}:{receiver.port}"
    # the same server under a name its certificate does not carry is refused
    resolver.answers["other.example.test"] = ["127.0.0.1"]
    out = post(f"https://other.example.test:{receiver.port}/tls", b"{}", {}, policy)
    assert not out.ok and "connection failed" in (out.error or "")
