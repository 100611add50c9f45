"""Webhook test helpers: a receiver (a real HTTP server on 127.0.0.1, port chosen by the
OS) that keeps every request and answers with a status the test sets; a runtime that
allows loopback (the explicit test setting); an API client; endpoint registration."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from accord.app import create_app
from accord.runtime import Runtime
from tests.factories import Member


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    requests: list[Request] = field(default_factory=list)
    status: int = 200
    location: str | None = None  # sent with 3xx answers
    reply: bytes = b"ok"
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def events(self) -> list[str]:
        with self.lock:
            return [r.json["type"] for r in self.requests]


def start_receiver() -> Receiver:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            rec = holder["r"]
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            with rec.lock:
                rec.requests.append(Request(self.path, {k.lower(): v for k, v in
                                                        self.headers.items()}, body))
            self.send_response(rec.status)
            if rec.location:
                self.send_header("Location", rec.location)
            self.send_header("Content-Length", str(len(rec.reply)))
            self.end_headers()
            self.wfile.write(rec.reply)

        def do_GET(self) -> None:  # a followed redirect would land here
            self.do_POST()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder["r"] = Receiver(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return holder["r"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = start_receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def hook_rt(rt: Runtime) -> Runtime:
    """``rt`` whose webhooks may reach 127.0.0.1 over plain HTTP (tests only)."""
    rt.settings = rt.settings.model_copy(update={"webhook_allow_loopback": True,
                                                 "webhook_require_https": False,
                                                 "webhook_timeout_s": 3.0})
    return rt


@pytest.fixture
def client(hook_rt: Runtime) -> TestClient:
    return TestClient(create_app(hook_rt), base_url="http://testserver")


def add_endpoint(client: TestClient, admin: Member, url: str,
                 events: list[str] | None = None) -> dict[str, Any]:
    r = client.post("/api/v1/webhooks/endpoints", headers=admin.auth,
                    json={"url": url, "event_types": events or []})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body
