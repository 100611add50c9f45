"""Refuse a request whose path or query string holds a control character (NUL, CR, LF,
tab, DEL, C1) before any route runs: 422 ``invalid_text`` naming the part. No id, slug or
query value of Accord's may hold one, and PostgreSQL cannot even compare a text with a
NUL in it. JSON bodies are checked field by field by the request models
(``accord.validation``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from accord.validation import text_problem
from accord.web.answers import refuse


def _problem(scope: Scope) -> dict[str, Any] | None:
    path = scope.get("path", "")
    found = text_problem(path)
    if found is not None:
        return {"loc": ["path"], "msg": f"the path {found.message}", "type": found.code}
    raw = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(raw, keep_blank_values=True, errors="replace"):
        for part, text in (("name", name), ("value", value)):
            found = text_problem(text)
            if found is not None:
                return {"loc": ["query", name], "msg": f"query parameter {part} {found.message}",
                        "type": found.code}
    return None


class RefuseControlCharacters:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = _problem(scope) if scope["type"] == "http" else None
        if problem is None:
            await self.app(scope, receive, send)
            return
        await refuse(send, 422, code="invalid_text", message=problem["msg"],
                     details=[problem])
