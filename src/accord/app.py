"""The ASGI app factory: mounts each feature's API and pages."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from accord import __version__
from accord.errors import AccordError
from accord.runtime import Runtime
from accord.web.idempotency import Idempotency
from accord.web.inputs import RefuseControlCharacters
from accord.web.limits import BodyLimit
from accord.web.openapi import install as install_openapi
from accord.web.ratelimit import RateLimit
from accord.web.security import OriginCheck, SecurityHeaders

log = logging.getLogger("accord")

DESCRIPTION = """Accord's REST API. Authenticate with an API key: `Authorization: Bearer
acc_...`. Errors are JSON `{"error": {"code": "...", "message": "...", "details": ...}}`
with a stable machine-readable `code`. Responses never contain signing tokens."""


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", "")


def _error(status: int, code: str, message: str, details: Any = None,
           headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": details}},
                        status_code=status, headers=headers)


def _background(rt: Runtime) -> tuple[list[threading.Thread], threading.Event]:
    """The in-process worker (outbox) and the lifecycle sweep (expiry, expiry warnings,
    reminders), for the embedded setup."""
    from accord.delivery.worker import Worker
    from accord.registry import run_sweeps

    stop = threading.Event()
    worker = Worker(rt, name="serve")
    threads = [threading.Thread(target=worker.run_forever, args=(stop,), daemon=True,
                                name="accord-worker"),
               threading.Thread(target=run_sweeps, args=(rt, stop), daemon=True,
                                name="accord-lifecycle")]
    for t in threads:
        t.start()
    return threads, stop


def _allowed_methods(app: FastAPI, request: Request) -> set[str]:
    from starlette.routing import Match

    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return methods


def create_app(rt: Runtime) -> FastAPI:  # noqa: PLR0915 - one import + mount per feature
    from accord import registry
    from accord.accounts.api import router as accounts_api
    from accord.accounts.pages import router as accounts_pages
    from accord.accounts.pages.admin import router as admin_pages
    from accord.accounts.services import Authenticator
    from accord.bulk.api import router as bulk_api
    from accord.bulk.pages import router as bulk_pages
    from accord.contracts.api import router as contracts_api
    from accord.contracts.pages import router as contracts_pages
    from accord.delivery.api import router as outbox_api
    from accord.delivery.pages import router as delivery_pages
    from accord.drafting.api import router as drafting_api
    from accord.drafting.pages import router as drafting_pages
    from accord.envelopes.api import router as envelopes_api
    from accord.envelopes.pages import router as envelopes_pages
    from accord.envelopes.pages.dashboard import router as dashboard_pages
    from accord.envelopes.pages.lifecycle import router as lifecycle_pages
    from accord.signing.pages import router as signing_pages
    from accord.webhooks.api import router as webhooks_api
    from accord.webhooks.pages import router as webhooks_pages

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        threads, stop = _background(rt) if rt.settings.run_worker else ([], threading.Event())
        try:
            yield
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=10)

    registry.install()
    app = FastAPI(title="Accord", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan, docs_url="/docs", openapi_url="/openapi.json")
    app.state.rt = rt
    # who an API key or a console session is: accounts' tables, behind web.deps' protocol
    app.state.authenticator = Authenticator()
    install_openapi(app)
    app.add_middleware(RefuseControlCharacters)  # a NUL or CR/LF in a path or query: 422
    app.add_middleware(Idempotency, runtime=lambda: rt)  # inside the rate limit
    app.add_middleware(RateLimit, settings=lambda: rt.settings)
    app.add_middleware(OriginCheck, settings=lambda: rt.settings)  # inside the headers
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit, settings=lambda: rt.settings)  # outermost: before auth

    @app.exception_handler(AccordError)
    async def accord_error(request: Request, exc: AccordError) -> Any:
        if exc.status == 401 and _wants_html(request) and not request.url.path.startswith(
                ("/sign", "/s/")):
            # come back to the page after logging in (a form POST cannot be replayed)
            nxt = f"?next={request.url.path}" if request.method == "GET" else ""
            step = {"mfa_pending": "/login/mfa",
                    "mfa_enrolment_required": "/account/mfa/setup"}.get(exc.code, "/login")
            return RedirectResponse(f"{step}{nxt}", status_code=303)
        if _wants_html(request):
            from accord.web.templating import render

            return render(request, "error.html", status_code=exc.status, error=exc)
        return _error(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> Any:
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
                   for e in exc.errors()]
        return _error(422, "invalid_request", "the request is not valid", details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Any:
        code = {400: "invalid_body", 404: "not_found",
                405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = exc.headers
        if exc.status_code == 405:  # every method of the path, not just the first route's
            headers = {"Allow": ", ".join(sorted(_allowed_methods(app, request)))}
        return _error(exc.status_code, code, str(exc.detail), headers=headers)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    app.include_router(envelopes_api)
    app.include_router(drafting_api)
    app.include_router(accounts_api)
    app.include_router(accounts_pages)
    app.include_router(envelopes_pages)
    app.include_router(lifecycle_pages)
    app.include_router(drafting_pages)
    app.include_router(admin_pages)
    app.include_router(dashboard_pages)
    app.include_router(delivery_pages)
    app.include_router(outbox_api)
    app.include_router(webhooks_api)
    app.include_router(webhooks_pages)
    app.include_router(signing_pages)
    app.include_router(bulk_api)
    app.include_router(bulk_pages)
    app.include_router(contracts_api)
    app.include_router(contracts_pages)
    static = Path(__file__).parent / "web" / "static"
    app.mount("/static", StaticFiles(directory=static), name="static")
    return app
