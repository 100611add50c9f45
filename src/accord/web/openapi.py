"""The OpenAPI document: every /api operation documents the error answers every route can
give (malformed body, authentication, permission, unknown object, validation, conflict,
rate limit), so clients and schema checkers see the whole contract, not just the happy
path. Operation-specific descriptions already present are kept."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {"code": {"type": "string", "description": "stable machine-readable code"},
                       "message": {"type": "string"},
                       "details": {"description": "per-field problems, when there are any"}},
    }},
}
DESCRIPTIONS = {
    "400": "The body cannot be parsed (`invalid_body`), or the Idempotency-Key header is "
           "malformed (`invalid_idempotency_key`).",
    "401": "No or invalid credentials (`unauthenticated`).",
    "403": "The credentials lack the permission or scope (`forbidden`).",
    "404": "No such object in the caller's organisation (`not_found`).",
    "409": "The object's state does not allow this (`conflict` and more specific codes).",
    "413": "The body is too large.",
    "422": "The request is not valid: every problem is listed in `details` (a body field "
           "breaking its rule: `invalid_request`, each entry's `loc` naming the field and "
           "`type` saying why, e.g. `invalid_email`, `line_break_not_allowed`, "
           "`control_character`; a control character in the path or query: "
           "`invalid_text`).",
    "429": "Rate limited: retry after the `Retry-After` header's seconds.",
}


IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Makes a retry safe (Stripe's semantics): the first answer is replayed "
                   "for 24 hours with `Idempotent-Replayed: true`; the same key with a "
                   "different request is a 422 `idempotency_key_reused`; while the first "
                   "runs, 409 `idempotency_key_in_use`. 1-255 printable ASCII characters.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255,
               "pattern": "^[\\x21-\\x7e]+$"},
}


def _error_response(code: str) -> dict[str, Any]:
    return {"description": DESCRIPTIONS[code],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def install(app: FastAPI) -> None:
    """Replace ``app.openapi`` with one that adds the shared error answers."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version,
                             description=app.description, routes=app.routes)
        schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        for path, item in schema.get("paths", {}).items():
            if not path.startswith("/api/"):
                continue
            for method, op in item.items():
                responses = op.setdefault("responses", {})
                codes = ["401", "403", "422", "429"]
                if "{" in path:
                    codes.append("404")
                if "requestBody" in op:
                    codes.append("413")
                if "requestBody" in op or method == "post":  # body or Idempotency-Key
                    codes.append("400")
                if method != "get":
                    codes.append("409")
                for code in codes:
                    responses.setdefault(code, _error_response(code))
                if method == "post":
                    op.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
