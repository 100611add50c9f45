"""The answer a pure-ASGI middleware gives when it refuses a request before any route runs:
the API's error JSON ``{"error": {"code", "message", "details"}}``, or a small HTML page
for a browser that asked for one."""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any

from starlette.types import Scope, Send


def wants_html(scope: Scope) -> bool:
    """A browser page asked (not the API): an ``Accept`` that names text/html."""
    if scope.get("path", "").startswith("/api/"):
        return False
    return any(k == b"accept" and b"text/html" in v for k, v in scope.get("headers", ()))


async def refuse(send: Send, status: int, *, code: str, message: str, details: Any = None,
                 html_title: str | None = None,
                 headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """Send the whole refusal; ``html_title`` set: as an HTML page with that title."""
    if html_title is not None:
        body = (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
                f"{escape(html_title)}</title></head><body><h1>{escape(html_title)}</h1>"
                f"<p>{escape(message)}</p></body></html>").encode()
        kind = b"text/html; charset=utf-8"
    else:
        body = json.dumps({"error": {"code": code, "message": message,
                                     "details": details}}).encode()
        kind = b"application/json"
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", kind), (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})
