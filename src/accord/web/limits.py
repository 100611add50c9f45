"""Request body size limits: one table of route families, enforced by ``BodyLimit``.

``BodyLimit`` is the outermost middleware: it runs before authentication, idempotency and
body parsing. A declared ``Content-Length`` over the route's limit is answered 413 at once,
without reading the body. Under HTTP/1.x the server delivers no more than the declared
length, so a request with a declared length under the limit, or with no body at all, goes
straight to the app. Any other body (chunked, or under another HTTP version) has its
bytes counted as they stream in, and the 413 goes out as soon as the count passes the
limit (the rest is never read; the app under it sees the client go away). The answer
carries ``Connection: close``, so the server drops the connection instead of reading on.

Each limit leaves room for base64 (4/3) and the rest of the JSON body where a route
carries a file: the limits of the files themselves (``ACCORD_MAX_DOCUMENT_BYTES``,
``ACCORD_BULK_MAX_CSV_BYTES``) are checked again, precisely, by the features.
"""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accord.config import Settings
from accord.web.answers import refuse, wants_html

log = logging.getLogger("accord.limits")

MIB = 1024 * 1024
ROOM = MIB  # the rest of a JSON or form body around a file
AUTHORING_BYTES = 8 * MIB  # a 500,000-character source, JSON- or form-escaped
SIGNING_BYTES = MIB  # a drawn signature is at most 300 KB of PNG (~410 KB in the form)


def base64_size(n: int) -> int:
    """Characters of the base64 text of ``n`` bytes."""
    return 4 * -(-n // 3)


@dataclass(frozen=True)
class Family:
    """Routes that share a limit. ``routes`` is what the documentation shows."""

    name: str
    routes: str
    pattern: re.Pattern[str]
    max_bytes: Callable[[Settings], int]
    why: str
    setting: str = ""
    code: str = "request_too_large"


def upload_bytes(s: Settings) -> int:
    if s.max_upload_body_bytes is not None:
        return s.max_upload_body_bytes
    return base64_size(s.max_document_bytes) + ROOM


def bulk_bytes(s: Settings) -> int:
    return base64_size(s.bulk_max_csv_bytes) + ROOM


FAMILIES: tuple[Family, ...] = (
    Family("bulk", "`/api/v1/bulk-batches`, `/api/v1/bulk-batches/dry-run`, "
           "`/console/bulk/check`, `/console/bulk/send`",
           re.compile(r"^/(api/v1/bulk-batches(/dry-run)?|console/bulk/(check|send))/?$"),
           bulk_bytes, "the CSV file (`ACCORD_BULK_MAX_CSV_BYTES`, 20 MiB) as base64, "
           "plus 1 MiB", "`ACCORD_BULK_MAX_CSV_BYTES`", code="csv_too_large"),
    Family("documents", "`/api/v1/envelopes`, `/api/v1/templates`, "
           "`/api/v1/templates/{key}`, `/console/envelopes`, `/api/v1/contracts/import`, "
           "`/console/contracts/import`",
           re.compile(r"^/(api/v1/envelopes|api/v1/templates(/[^/]+)?|console/envelopes"
                      r"|api/v1/contracts/import|console/contracts/import)/?$"),
           upload_bytes, "one PDF of `ACCORD_MAX_DOCUMENT_BYTES` (25 MiB) as base64, plus "
           "1 MiB: the documents of one request add up to about that",
           "`ACCORD_MAX_UPLOAD_BODY_BYTES`"),
    Family("authoring", "`/api/v1/clauses`, `/api/v1/clauses/{key}`, `/console/templates/...`, "
           "`/console/clauses/...`",
           re.compile(r"^/(api/v1/clauses(/[^/]+)?/?|console/(templates|clauses)(/.*)?)$"),
           lambda _s: AUTHORING_BYTES, "a 500,000-character template or clause source, "
           "escaped"),
    Family("signing", "`/sign/...`, `/s/...` (signer pages)",
           re.compile(r"^/(sign|s)(/.*)?$"), lambda _s: SIGNING_BYTES,
           "field values and a drawn signature (at most 300 KB of PNG)"),
    Family("default", "every other route", re.compile(""), lambda s: s.max_body_bytes,
           "forms and JSON of every other route", "`ACCORD_MAX_BODY_BYTES`"),
)


def family_for(path: str) -> Family:
    for family in FAMILIES:
        if family.pattern.match(path):
            return family
    return FAMILIES[-1]


def human(n: int) -> str:
    """``1 MiB``, ``34.3 MiB``, ``512 KiB``, ``900 bytes``."""
    for unit, size in (("MiB", MIB), ("KiB", 1024)):
        if n >= size:
            text = f"{n / size:.1f}".removesuffix(".0")
            return f"{text} {unit}"
    return f"{n} bytes"


def markdown_table(settings: Settings) -> str:
    """The README's "Limits" table, from the code."""
    lines = ["| Routes | Largest body (default) | Why | Setting | 413 code |",
             "|---|---|---|---|---|"]
    for f in FAMILIES:
        n = f.max_bytes(settings)
        lines.append(f"| {f.routes} | {human(n)} ({n:,} bytes) | {f.why} | "
                     f"{f.setting or '-'} | `{f.code}` |")
    return "\n".join(lines)


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """The declared Content-Length (None without one, or unreadable) and whether the
    request has a Transfer-Encoding."""
    declared, encoded = None, False
    for k, v in scope.get("headers", ()):
        if k == b"content-length":
            try:
                declared = int(v)
            except ValueError:
                declared = None
        elif k == b"transfer-encoding":
            encoded = True
    return declared, encoded


async def _refuse(scope: Scope, send: Send, family: Family, limit: int) -> None:
    message = (f"the request body is larger than {human(limit)}, the limit of this route; "
               "nothing was read past it")
    log.warning("refused a request body over %d bytes (%s routes)", limit, family.name)
    await refuse(send, 413, code=family.code, message=message,
                 details={"limit_bytes": limit},
                 html_title="Too large" if wants_html(scope) else None,
                 headers=[(b"connection", b"close"), (b"cache-control", b"no-store"),
                          (b"x-content-type-options", b"nosniff")])


_FRAMED = frozenset({"1.0", "1.1"})


class BodyLimit:
    """Pure-ASGI middleware: 413 past the route family's limit, before anything else.
    A request whose size its headers already settle (a GET without a body, a declared
    length under the limit) goes straight to the app; only chunked bodies are counted."""

    def __init__(self, app: ASGIApp, settings: Callable[[], Settings]) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        family = family_for(scope.get("path", ""))
        limit = family.max_bytes(self.settings())
        declared, encoded = _framing(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, send, family, limit)
            return
        if not encoded and scope.get("http_version") in _FRAMED:
            # HTTP/1.x without Transfer-Encoding: no body at all, or exactly the declared
            # length, within the limit (the server frames it): nothing to count
            await self.app(scope, receive, send)
            return
        received = 0
        started = refused = False

        async def counted() -> Message:
            nonlocal received, started, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        started = True
                        await _refuse(scope, send, family, limit)
                    return {"type": "http.disconnect"}  # the app stops reading
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 went out instead of whatever the app answers
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not refused:
                raise
            # the app gave up on the body it was reading (ClientDisconnect): answered
        finally:
            if refused:
                # The app's half-read body is held by a reference cycle (the exception it
                # raised, its traceback and the frames that hold the chunks). The cycle is
                # young: collect the young generations now, so that the memory is free for
                # the next request instead of waiting for a full collection.
                gc.collect(1)


__all__ = ["FAMILIES", "BodyLimit", "Family", "family_for", "human", "markdown_table"]
