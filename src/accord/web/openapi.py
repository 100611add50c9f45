"""The OpenAPI document: every /api operation documents the error answers every route can
give (malformed body, authentication, permission, unknown object, validation, conflict,
rate limit, and 413 with the route's body limit), so clients and schema checkers see the
whole contract, not just the happy path. Operation-specific descriptions already present
are kept (the 413's is replaced by one that states the limit)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from accord.config import Settings
from accord.web import limits

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


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=``: each of ``codes`` answers the error JSON (the shape
    ``ERROR_SCHEMA`` documents)."""
    return {code: {"description": "Error: `{\"error\": {\"code\", \"message\", "
                                  "\"details\"}}`"} for code in codes}


DESCRIPTIONS = {
    "400": "The body cannot be parsed (`invalid_body`), or the Idempotency-Key header is "
           "malformed (`invalid_idempotency_key`).",
    "401": "No or invalid credentials (`unauthenticated`).",
    "403": "The credentials lack the permission (`forbidden`) or the API key the scope "
           "(`scope_missing`).",
    "404": "No such object in the caller's organisation (`not_found`).",
    "409": "The object's state does not allow this (`conflict` and more specific codes).",
    "413": "The body is too large (`request_too_large`).",
    "422": "The request is not valid: every problem is listed in `details` (a body field "
           "breaking its rule: `invalid_request`, each entry's `loc` naming the field and "
           "`type` saying why, e.g. `invalid_email`, `line_break_not_allowed`, "
           "`control_character`; a control character in the path or query: "
           "`invalid_text`).",
    "429": "Rate limited: retry after the `Retry-After` header's seconds.",
}

#: Operations that read an uploaded PDF or render a template: their 422 also covers a
#: document past the document limits (README "Document limits").
DOCUMENT_OPERATIONS = frozenset({
    ("post", "/api/v1/envelopes"), ("post", "/api/v1/envelopes/from-template"),
    ("post", "/api/v1/templates"), ("patch", "/api/v1/templates/{key}"),
    ("post", "/api/v1/templates/{key}/submit"), ("post", "/api/v1/templates/{key}/publish"),
    ("post", "/api/v1/templates/{key}/preview"),
    ("post", "/api/v1/template-versions/{version_id}/preview"),
    ("post", "/api/v1/bulk-batches"), ("post", "/api/v1/bulk-batches/dry-run"),
    ("post", "/api/v1/contracts/import"),
})
TOO_COMPLEX = (" A PDF (uploaded, or rendered from the template) that would cost more than "
               "the document limits to check or render -- decoded stream sizes, objects, "
               "image pixels, memory or time -- is refused with `document_too_complex`, "
               "and nothing is stored.")


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


def _too_large(path: str, settings: Settings) -> str:
    family = limits.family_for(path)
    text = (f"The body is larger than {limits.human(family.max_bytes(settings))}, this "
            f"route's limit (`{family.code}`, see the README's Limits): answered before "
            "authentication, as soon as the limit is passed, and the connection is closed.")
    if family.name == "bulk":
        text += (f" A CSV file over {limits.human(settings.bulk_max_csv_bytes)} or "
                 f"{settings.bulk_max_rows:,} rows is `csv_too_large` too.")
    elif family.name == "documents":
        text += (f" A document over {limits.human(settings.max_document_bytes)} is "
                 "`document_too_large`.")
    return text


def install(app: FastAPI) -> None:
    """Replace ``app.openapi`` with one that adds the shared error answers."""

    def settings() -> Settings:
        rt = getattr(app.state, "rt", None)
        return rt.settings if rt is not None else Settings()

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
                codes.append("413")  # a declared Content-Length over the limit, any route
                if "requestBody" in op or method == "post":  # body or Idempotency-Key
                    codes.append("400")
                if method != "get":
                    codes.append("409")
                for code in codes:
                    responses.setdefault(code, _error_response(code))
                responses["413"]["description"] = _too_large(path, settings())
                if (method, path) in DOCUMENT_OPERATIONS:
                    answer = responses["422"] = dict(responses["422"])
                    answer["description"] = answer.get("description", "") + TOO_COMPLEX
                if method == "post":
                    op.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
