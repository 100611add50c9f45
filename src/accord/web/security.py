"""Security headers for every response, and the Origin check on state-changing requests."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accord.config import Settings
from accord.web.answers import refuse

# pages sent with Referrer-Policy: no-referrer (their form posts carry "Origin: null")
NO_REFERRER_PATHS = ("/s/", "/sign")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
       "script-src 'self' 'nonce-{nonce}'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")


_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_FRAMES = (b"x-frame-options", b"DENY")
_NO_REFERRER = (b"referrer-policy", b"no-referrer")
_SAME_ORIGIN = (b"referrer-policy", b"same-origin")
_NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    """Pure-ASGI middleware (no body buffering) adding CSP and friends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        # a fresh nonce per response; pages put it on their <script> tags
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})["csp_nonce"] = nonce
        extra = [_NOSNIFF, _NO_FRAMES, _NO_REFERRER if path.startswith(NO_REFERRER_PATHS)
                 else _SAME_ORIGIN]
        if not path.startswith("/docs"):
            extra.append((b"content-security-policy", CSP.format(nonce=nonce).encode()))
        if not path.startswith("/static"):
            extra.append(_NO_STORE)

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers.extend(h for h in extra if h[0] not in names)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, wrapped)


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of a URL, lower-case, default port left out; None when it
    has no http(s) scheme or no host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{scheme}://{host}" if port in (None, _DEFAULT_PORTS[scheme]) else \
        f"{scheme}://{host}:{port}"


class OriginCheck:
    """Pure-ASGI middleware: a POST, PUT, PATCH or DELETE to a console or signer route (the
    cookie-authenticated ones: anything outside ``/api/``) whose ``Origin`` - or, without
    one, ``Referer`` - names another origin is refused, 403 ``origin_mismatch``. Our own
    origins are the request's (scheme and Host) and the configured public base URL. A
    request with neither header passes (the CSRF token still applies); so does
    ``Origin: null`` on signer routes, whose pages send no referrer. API routes take
    Bearer keys, never cookies, and are not checked."""

    def __init__(self, app: ASGIApp, *, settings: Callable[[], Settings]) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] not in UNSAFE_METHODS
                or scope.get("path", "").startswith("/api/")):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        claimed = headers.get("origin")
        if claimed is None:
            referer = headers.get("referer")
            claimed = (origin_of(referer) or "invalid") if referer else None
        if claimed is None or (claimed == "null"
                               and scope.get("path", "").startswith(NO_REFERRER_PATHS)):
            await self.app(scope, receive, send)
            return
        if origin_of(claimed) in self._own(scope, headers):
            await self.app(scope, receive, send)
            return
        await _refuse(send, html="text/html" in headers.get("accept", ""))

    def _own(self, scope: Scope, headers: Headers) -> set[str | None]:
        own = {origin_of(self.settings().base_url)}
        host = headers.get("host")
        if host:
            own.add(origin_of(f"{scope.get('scheme', 'http')}://{host}"))
        own.discard(None)
        return own


async def _refuse(send: Send, *, html: bool) -> None:
    message = ("This request came from another site (its Origin is not this server's), "
               "so it was refused. Go back to the page on this server and try again.")
    await refuse(send, 403, code="origin_mismatch", message=message,
                 html_title="Request refused" if html else None)
