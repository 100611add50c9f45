"""Rate limits: 429 with Retry-After, per API key, per client IP, per signing link.

Fixed one-minute windows counted in this process (embedded default and single-node
setups). Behind several processes each counts on its own, so the effective limit is the
configured one times the number of processes; put the limit in the load balancer too
when that matters.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from accord.config import Settings


@dataclass(frozen=True)
class Rule:
    name: str
    per_minute: int


class Counter:
    """Counts hits per key in the current minute; thread-safe; forgets old windows."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._window = -1
        self._hits: dict[str, int] = {}

    def hit(self, key: str, limit: int) -> int:
        """0 if allowed, else the seconds until the window resets."""
        now = self._clock()
        window = int(now // 60)
        with self._lock:
            if window != self._window:
                self._window, self._hits = window, {}
            count = self._hits.get(key, 0) + 1
            self._hits[key] = count
        if count > limit:
            return max(1, math.ceil(60 - now % 60))
        return 0


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _header(scope: Scope, name: bytes) -> str:
    for k, v in scope.get("headers", []):
        if k == name:
            return str(v.decode("latin-1"))
    return ""


def _cookie(scope: Scope, name: str) -> str:
    for part in _header(scope, b"cookie").split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return ""


def keys_for(scope: Scope, settings: Settings) -> list[tuple[str, int]]:
    """The (key, limit) pairs a request counts against."""
    path: str = scope.get("path", "")
    ip = (scope.get("client") or ("?", 0))[0]
    keys = [(f"ip:{ip}", settings.rate_limit_ip_per_min)]
    if path.startswith("/api/"):
        auth = _header(scope, b"authorization")
        if auth:
            keys.append((f"key:{_digest(auth)}", settings.rate_limit_api_key_per_min))
    elif path.startswith(("/login", "/password")):
        keys.append((f"login:{ip}", settings.rate_limit_login_per_min))
    elif path.startswith("/s/"):
        keys.append((f"link:{_digest(path)}", settings.rate_limit_signing_per_min))
        keys.append((f"signip:{ip}", settings.rate_limit_signing_per_min))
    elif path.startswith("/sign"):
        signer = _cookie(scope, "accord_signer") or _cookie(scope, "__Host-accord_signer")
        keys.append((f"signer:{_digest(signer or ip)}", settings.rate_limit_signing_per_min))
    return keys


class RateLimit:
    """Pure-ASGI middleware applying ``keys_for``; static files are not counted."""

    def __init__(self, app: ASGIApp, settings: Callable[[], Settings],
                 counter: Counter | None = None) -> None:
        self.app = app
        self.settings = settings
        self.counter = counter or Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = self.settings()
        if (scope["type"] != "http" or not settings.rate_limits
                or scope.get("path", "").startswith("/static/")):
            await self.app(scope, receive, send)
            return
        wait = max((self.counter.hit(k, limit) for k, limit in keys_for(scope, settings)),
                   default=0)
        if wait:
            body = json.dumps({"error": {"code": "rate_limited", "message":
                                         f"too many requests; retry in {wait} s",
                                         "details": {"retry_after": wait}}}).encode()
            await send({"type": "http.response.start", "status": 429, "headers": [
                (b"content-type", b"application/json"), (b"retry-after", str(wait).encode()),
                (b"cache-control", b"no-store")]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
