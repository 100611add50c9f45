"""Request body limits against a real server: bodies past a route's limit are refused 413
before authentication, while they stream, without the server's memory growing with them.

One uvicorn server runs in a thread of this process on 127.0.0.1. A recorder around the
app notes every answer the server gave and how many body bytes it read, so the checks do
not depend on whether the client, still sending, gets to read the 413 before the server
closes the connection.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accord.app import create_app
from accord.config import Settings
from accord.runtime import Runtime
from accord.web import limits
from tests.factories import member

MB = 1024 * 1024
STREAMED = 300 * MB
CHUNK = 256 * 1024


def _status_kb(name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {name} in /proc/self/status")


def _reset_peak() -> bool:
    """Reset VmHWM (Linux: write 5 to clear_refs); False where that is not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


class Sampler:
    """The highest VmRSS seen, sampled every 5 ms (in case VmHWM cannot be reset)."""

    def __init__(self) -> None:
        self.peak_kb = _status_kb("VmRSS")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak_kb = max(self.peak_kb, _status_kb("VmRSS"))

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Seen:
    path: str
    read: int = 0
    status: int = 0
    body: bytearray = field(default_factory=bytearray)
    done: threading.Event = field(default_factory=threading.Event)


class Recorder:
    """Around the whole app: what the server answered, and the body bytes it read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: list[Seen] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen = Seen(scope["path"])
        self.seen.append(seen)

        async def counting() -> Message:
            message = await receive()
            seen.read += len(message.get("body", b""))
            return message

        async def recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen.status = message["status"]
            elif message["type"] == "http.response.body":
                seen.body += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, counting, recording)
        finally:
            seen.done.set()

    def last(self, path: str) -> Seen:
        found = [s for s in self.seen if s.path == path]
        assert found, f"the server saw no request for {path}"
        assert found[-1].done.wait(10), "the server did not finish the request"
        return found[-1]


def _serve(app: ASGIApp) -> tuple[uvicorn.Server, threading.Thread, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    return server, thread, port


def _zeros(total: int) -> Iterator[bytes]:
    chunk = b"0" * CHUNK
    for _ in range(total // CHUNK):
        yield chunk


def _stream(port: int, path: str, headers: dict[str, str]) -> httpx.Response | None:
    """POST ``STREAMED`` bytes, chunked (no Content-Length); None when the server closed
    the connection before the client could read its answer."""
    try:
        with httpx.Client(timeout=20) as client:
            return client.post(f"http://127.0.0.1:{port}{path}", content=_zeros(STREAMED),
                               headers={"content-type": "application/json", **headers})
    except httpx.TransportError:
        return None


def _declared(port: int, path: str, length: int) -> tuple[int, dict[str, str], bytes]:
    """Headers declaring ``length`` bytes and only 1 KiB of body: the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                     f"application/json\r\nContent-Length: {length}\r\n\r\n".encode()
                     + b"0" * 1024)
        raw = b""
        while b"\r\n\r\n" not in raw or len(raw.split(b"\r\n\r\n", 1)[1]) < int(
                raw.lower().split(b"content-length: ", 1)[1].split(b"\r\n")[0]
                if b"content-length: " in raw.lower() else 0):
            data = sock.recv(65536)
            if not data:
                break
            raw += data
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def _code(body: bytes) -> str:
    return str(json.loads(body)["error"]["code"])


def test_bodies_past_the_limit_are_refused_while_streaming_without_memory(
        rt: Runtime) -> None:
    agent = member(rt, role="agent")
    recorder = Recorder(create_app(rt))
    server, thread, port = _serve(recorder)
    limit = limits.upload_bytes(rt.settings)
    path = "/api/v1/envelopes"
    try:
        with httpx.Client(timeout=20) as client:  # warm up: every module imported
            r = client.post(f"http://127.0.0.1:{port}{path}", json={}, headers=agent.auth)
            assert r.status_code == 422
        before_kb = _status_kb("VmRSS")
        peak_reset = _reset_peak()
        with Sampler() as sampler:
            for headers in ({}, agent.auth, {**agent.auth, "Idempotency-Key": "big-1"}):
                answer = _stream(port, path, headers)
                seen = recorder.last(path)
                assert seen.status == 413 and _code(bytes(seen.body)) == "request_too_large"
                assert limit < seen.read <= limit + MB, "the server read past the limit"
                if answer is not None:  # the client read the answer before the close
                    assert answer.status_code == 413
                    assert answer.json()["error"]["code"] == "request_too_large"
                    assert answer.headers["connection"] == "close"
            # a declared length over the limit: refused at once, nothing read
            status, headers, body = _declared(port, path, 1024 * MB)
            assert (status, _code(body)) == (413, "request_too_large")
            assert headers["connection"] == "close"
            assert recorder.last(path).read == 0
            # the smallest family: 1 MiB
            answer = _stream(port, "/api/v1/users", agent.auth)
            seen = recorder.last("/api/v1/users")
            assert seen.status == 413 and seen.read <= rt.settings.max_body_bytes + MB
        peak_kb = max(sampler.peak_kb, _status_kb("VmHWM") if peak_reset else 0)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    grown = (peak_kb - before_kb) / 1024
    assert grown < 64, f"resident memory grew by {grown:.0f} MB"


def test_each_family_has_its_limit_and_code(rt: Runtime) -> None:
    """In-process: the table decides, the 413 is JSON for the API and HTML for pages,
    and a body under the limit goes through untouched."""
    rt.settings = rt.settings.model_copy(update={"max_body_bytes": 2048})
    client = TestClient(create_app(rt), base_url="http://testserver")
    big = b"x" * 4096
    r = client.post("/api/v1/users", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == {
        "code": "request_too_large", "details": {"limit_bytes": 2048},
        "message": "the request body is larger than 2 KiB, the limit of this route; "
                   "nothing was read past it"}
    assert r.headers["connection"] == "close"
    page = client.post("/login", content=big, headers={"accept": "text/html"})
    assert page.status_code == 413 and "<h1>Too large</h1>" in page.text
    # under the limit: the route answers as usual (no credentials: 401)
    assert client.post("/api/v1/users", json={"x": 1}).status_code == 401
    # the default limit does not apply to the document routes
    small = client.post("/api/v1/envelopes", content=big,
                        headers={"content-type": "application/json"})
    assert small.status_code == 422  # read and parsed: not JSON
    r = client.post("/api/v1/bulk-batches/dry-run", headers={
        "content-length": str(limits.bulk_bytes(rt.settings) + 1)}, content=b"")
    assert r.status_code == 413 and r.json()["error"]["code"] == "csv_too_large"


def test_the_table_matches_the_documented_defaults() -> None:
    s = Settings()
    assert limits.upload_bytes(s) == 4 * -(-25 * MB // 3) + MB
    assert limits.family_for("/api/v1/templates/nda").name == "documents"
    assert limits.family_for("/api/v1/templates/nda/submit").name == "default"
    assert limits.family_for("/api/v1/envelopes/from-template").name == "default"
    assert limits.family_for("/console/bulk/check").name == "bulk"
    assert limits.family_for("/s/abc").name == "signing"
    assert limits.family_for("/console/templates/x/edit").name == "authoring"
    assert limits.human(limits.upload_bytes(s)) == "34.3 MiB"


def _schema(rt: Runtime) -> dict[str, Any]:
    out: dict[str, Any] = TestClient(create_app(rt)).get("/openapi.json").json()
    return out


def test_every_api_operation_documents_its_413(rt: Runtime) -> None:
    paths = _schema(rt)["paths"]
    for path, item in paths.items():
        for method, op in item.items():
            if not path.startswith("/api/"):
                continue
            answer = op["responses"].get("413")
            assert answer, f"{method} {path} does not document 413"
            limit = limits.family_for(path).max_bytes(rt.settings)
            assert limits.human(limit) in answer["description"], (method, path)
    assert "csv_too_large" in paths["/api/v1/bulk-batches"]["post"]["responses"]["413"][
        "description"]


def test_the_readme_shows_the_table() -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert limits.markdown_table(Settings()) in readme.split("\n## Limits\n", 1)[1]


def _through_body_limit(scope: Scope, chunks: list[bytes]) -> tuple[int, bool]:
    """Run ``BodyLimit`` (default limit 1 MiB) over an app that reads the whole body and
    answers 200: the status answered, and whether the app got the server's own
    ``receive`` (nothing counted)."""
    import asyncio

    from accord.web.limits import BodyLimit

    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
                for i, c in enumerate(chunks)]
    statuses: list[int] = []
    untouched: list[bool] = []

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def app(scope: Scope, got: Receive, send: Send) -> None:
        untouched.append(got is receive)
        while (await got())["type"] == "http.request" and messages:
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    asyncio.run(BodyLimit(app, settings=Settings)(scope, receive, send))
    return statuses[0], untouched[0]


def test_only_bodies_the_headers_do_not_settle_are_counted() -> None:
    """A request whose size the HTTP/1.x headers settle goes straight to the app; a
    chunked body, or one under another HTTP version (no framing to rely on), is counted
    and refused past the limit."""
    big = [b"0" * (MB // 2)] * 3  # 1.5 MiB, past the 1 MiB default
    base = {"type": "http", "method": "POST", "path": "/api/v1/users"}
    no_body = {**base, "method": "GET", "http_version": "1.1", "headers": []}
    assert _through_body_limit(no_body, [b""]) == (200, True)
    declared = {**base, "http_version": "1.1", "headers": [(b"content-length", b"100")]}
    assert _through_body_limit(declared, [b"0" * 100]) == (200, True)
    chunked = {**base, "http_version": "1.1",
               "headers": [(b"transfer-encoding", b"chunked")]}
    assert _through_body_limit(chunked, [b"0" * 100]) == (200, False)
    assert _through_body_limit(chunked, big)[0] == 413
    http2 = {**base, "http_version": "2", "headers": []}
    assert _through_body_limit(http2, big)[0] == 413
