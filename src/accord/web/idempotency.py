"""``Idempotency-Key`` on every API POST, with Stripe's semantics.

* The first request with a key (per credential) runs; its answer is stored, sealed, and
  replayed byte for byte to any retry with the same key for 24 hours (with the header
  ``Idempotent-Replayed: true``).
* The same key with a different request (method, path, query or body) is a 422
  ``idempotency_key_reused``; nothing runs.
* While the first request still runs, a second one with the key gets a 409
  ``idempotency_key_in_use``: concurrent requests create exactly one object (a unique
  constraint on (credential, key) decides, on SQLite and PostgreSQL alike).
* Answers given before anything ran (400, 401, 403, 422, 429) and server errors are not
  stored: the key is released so that a corrected request can use it.
* Answers carrying a secret shown once (API keys, webhook signing secrets, a new user's
  initial password) are not stored: a retry gets a 409 ``idempotency_key_used`` instead
  of the secret a second time. The object was created exactly once all the same.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from anyio import to_thread
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accord.runtime import Runtime, derive_key
from accord.web.models import IdempotentRequest

TTL = timedelta(hours=24)
HEADER = b"idempotency-key"
KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces
NOT_STORED = frozenset({400, 401, 403, 422, 429})
SECRET_PATHS = re.compile(
    r"^/api/v1/(users|api-keys|webhooks/endpoints(/[^/]+/rotate-secret)?)/?$")
MAX_STORED = 4 * 1024 * 1024  # larger answers run once but are not replayed
KEPT_HEADERS = frozenset({b"content-type", b"location", b"content-disposition"})
RUNNING = 0
SECRET = 1  # status placeholder: ran, answer held a one-time secret


@dataclass(frozen=True)
class Begun:
    row_id: str


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    replayed: bool = False


def _error(status: int, code: str, message: str) -> Answer:
    body = json.dumps({"error": {"code": code, "message": message, "details": None}}).encode()
    return Answer(status, [(b"content-type", b"application/json"),
                           (b"cache-control", b"no-store")], body)


def _box(rt: Runtime) -> AESGCM:
    return AESGCM(derive_key(rt.secret_key, "idempotency"))


def _seal(rt: Runtime, row_id: str, answer: Answer) -> bytes:
    plain = json.dumps({"status": answer.status,
                        "headers": [[k.decode("latin-1"), v.decode("latin-1")]
                                    for k, v in answer.headers],
                        "body": base64.b64encode(answer.body).decode()}).encode()
    nonce = secrets.token_bytes(12)
    return nonce + _box(rt).encrypt(nonce, plain, row_id.encode())


def _unseal(rt: Runtime, row_id: str, sealed: bytes) -> Answer:
    plain = json.loads(_box(rt).decrypt(sealed[:12], sealed[12:], row_id.encode()))
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in plain["headers"]]
    return Answer(plain["status"], headers, base64.b64decode(plain["body"]), replayed=True)


def _existing(rt: Runtime, found: IdempotentRequest, fingerprint: str) -> Answer:
    """What a request with a key already claimed gets."""
    if found.fingerprint != fingerprint:
        return _error(422, "idempotency_key_reused",
                      "this Idempotency-Key was used with a different request")
    if found.status == RUNNING:
        return _error(409, "idempotency_key_in_use",
                      "a request with this Idempotency-Key is still running; retry in a moment")
    if found.status != SECRET and found.response is not None:
        try:
            return _unseal(rt, found.id, found.response)
        except (InvalidTag, ValueError, KeyError):
            pass
    return _error(409, "idempotency_key_used",
                  "a request with this Idempotency-Key already succeeded; its answer held a "
                  "one-time secret (or was too large) and is not shown again")


def begin(rt: Runtime, owner: str, key: str, fingerprint: str) -> Begun | Answer:
    """Claim ``key`` for this request, or the answer a retry gets instead of running."""
    now = rt.now()
    for _ in range(3):
        with rt.db.uow() as uow:
            s = uow.session
            s.execute(delete(IdempotentRequest).where(IdempotentRequest.expires_at <= now))
            row = IdempotentRequest(owner=owner, key=key, fingerprint=fingerprint,
                                    status=RUNNING, created_at=now, expires_at=now + TTL)
            s.add(row)
            try:
                uow.commit()
                return Begun(row.id)
            except IntegrityError:
                uow.rollback()
            found = s.scalar(select(IdempotentRequest).where(
                IdempotentRequest.owner == owner, IdempotentRequest.key == key))
            if found is None:  # released or expired meanwhile: claim again
                continue
            return _existing(rt, found, fingerprint)
    return _error(409, "idempotency_key_in_use", "retry in a moment")


def finish(rt: Runtime, begun: Begun, answer: Answer | None, *, secret: bool) -> None:
    """Store the answer (or release the key when the answer is not to be kept)."""
    with rt.db.uow() as uow:
        row = uow.session.get(IdempotentRequest, begun.row_id)
        if row is None:
            return
        keep = answer is not None and answer.status < 500 and (
            answer.status not in NOT_STORED)
        if not keep or answer is None:
            uow.session.delete(row)
        elif (secret and 200 <= answer.status < 300) or len(answer.body) > MAX_STORED:
            row.status, row.response = SECRET, None
        else:
            row.status, row.response = answer.status, _seal(rt, row.id, answer)
        uow.commit()


def _header(scope: Scope, name: bytes) -> bytes | None:
    for k, v in scope.get("headers", ()):
        if k == name:
            return bytes(v)
    return None


async def _answer(send: Send, answer: Answer) -> None:
    headers = list(answer.headers)
    if answer.replayed:
        headers.append((b"idempotent-replayed", b"true"))
    headers.append((b"content-length", str(len(answer.body)).encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


class Idempotency:
    """ASGI middleware applying the rules above to POST /api/... with the header."""

    def __init__(self, app: ASGIApp, runtime: Callable[[], Runtime]) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] != "POST"
                or not scope["path"].startswith("/api/")):
            await self.app(scope, receive, send)  # not a request this concerns
            return
        raw_key = _header(scope, HEADER)
        auth = _header(scope, b"authorization")
        if raw_key is None or auth is None:
            await self.app(scope, receive, send)  # no key, or the route answers 401
            return
        key = raw_key.decode("latin-1")
        if not KEY.match(key):
            await _answer(send, _error(400, "invalid_idempotency_key",
                                       "Idempotency-Key must be 1-255 printable ASCII "
                                       "characters without spaces"))
            return
        chunks: list[bytes] = []  # joined once: the body is held once, not twice
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away (or BodyLimit refused the body)
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        del chunks
        rt = self.runtime()
        owner = hashlib.sha256(auth).hexdigest()
        digest = hashlib.sha256()
        for part in (scope["path"].encode(), scope.get("query_string", b""),
                     _header(scope, b"content-type") or b"", body):
            digest.update(len(part).to_bytes(8, "big") + part)
        outcome = await to_thread.run_sync(begin, rt, owner, key, digest.hexdigest())
        if isinstance(outcome, Answer):
            await _answer(send, outcome)
            return
        await self._run(scope, body, send, rt, outcome)

    async def _run(self, scope: Scope, body: bytes, send: Send, rt: Runtime,
                   begun: Begun) -> None:
        sent = False

        async def replay_body() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        status = 0
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(bytes(k).lower(), bytes(v)) for k, v in message.get("headers", ())]
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))
            await send(message)

        answer: Answer | None = None
        try:
            await self.app(scope, replay_body, capture)
            answer = Answer(status, [(k, v) for k, v in headers if k in KEPT_HEADERS],
                            b"".join(chunks))
        finally:
            secret = bool(SECRET_PATHS.match(scope["path"]))
            await to_thread.run_sync(lambda: finish(rt, begun, answer, secret=secret))


__all__ = ["Idempotency", "begin", "finish"]
