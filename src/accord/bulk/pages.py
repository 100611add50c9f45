"""Console pages for bulk send: the upload form, the dry-run report (with the button that
sends), a batch's progress (refreshing itself until it finishes) and its results CSV.
Thin: read the form, call one service, render."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from accord.access import Permission
from accord.bulk import services
from accord.drafting import services as drafting
from accord.errors import AccordError, InvalidInput
from accord.runtime import Runtime
from accord.web.console import Console, ConsoleUser
from accord.web.deps import Rt
from accord.web.limits import bulk_bytes
from accord.web.templating import render

router = APIRouter(prefix="/console", include_in_schema=False)
NAV = "bulk"


async def _posted_form(request: Request) -> AsyncIterator[FormData]:
    # the CSV travels back in a hidden field (base64) from the report to "Send"; a field
    # may be as large as the whole body may be (BodyLimit), so that the service answers
    # 413 csv_too_large for a file over the limit
    async with request.form(max_part_size=bulk_bytes(request.app.state.rt.settings)) as form:
        yield form


PostedForm = Annotated[FormData, Depends(_posted_form)]


def _templates(rt: Runtime, console: Console) -> list[drafting.TemplateSummary]:
    return [t for t in drafting.list_templates(rt, console.principal)
            if t.published_version is not None]


def _form_page(request: Request, rt: Runtime, console: Console, *,
               error: AccordError | None = None, chosen: str = "",
               status_code: int = 200) -> HTMLResponse:
    return render(request, "bulk/bulk.html", status_code=status_code,
                  templates=_templates(rt, console), error=error, chosen=chosen,
                  batches=services.list_batches(rt, console.principal, limit=20),
                  **console.context(NAV))


@router.get("/bulk", response_class=HTMLResponse)
def bulk_home(request: Request, rt: Rt, console: ConsoleUser) -> HTMLResponse:
    console.principal.require(Permission.TEMPLATE_USE)
    return _form_page(request, rt, console)


def _mapping(form: FormData) -> dict[str, str]:
    raw = str(form.get("mapping") or "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput("the column mapping is not JSON", code="invalid_mapping") from exc
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                              for k, v in value.items()):
        raise InvalidInput('the column mapping is {"CSV header": "target"}',
                           code="invalid_mapping")
    return value


@router.post("/bulk/check", response_class=HTMLResponse)
async def bulk_check(request: Request, rt: Rt, console: ConsoleUser,
                     form: PostedForm) -> HTMLResponse:
    """The dry run: every row checked, nothing stored; the report can send the file."""
    console.check_csrf(str(form.get("csrf_token") or ""))
    key = str(form.get("template_key") or "")
    upload = form.get("file")
    allow = bool(form.get("allow_duplicates"))
    try:
        if not isinstance(upload, UploadFile):
            raise InvalidInput("choose a CSV file", code="csv_missing")
        limit = rt.settings.bulk_max_csv_bytes
        if (upload.size or 0) > limit:
            raise services.too_large(limit)
        data = await upload.read(limit + 1)  # from the spooled file; the service refuses more
        mapping = _mapping(form)
        report = services.dry_run(rt, console.principal, template_key=key, data=data,
                                  mapping=mapping, allow_duplicates=allow)
    except AccordError as exc:
        if exc.status not in (404, 409, 413, 422):
            raise
        return _form_page(request, rt, console, error=exc, chosen=key,
                          status_code=exc.status)
    return render(request, "bulk/report.html", report=report, template_key=key,
                  file_name=upload.filename or "batch.csv", mapping=json.dumps(mapping),
                  csv_b64=base64.b64encode(data).decode(), shown=report.problems[:500],
                  allow_duplicates=allow,
                  **console.context(NAV))


@router.post("/bulk/send", response_model=None)
def bulk_send(request: Request, rt: Rt, console: ConsoleUser,
              form: PostedForm) -> Response:
    console.check_csrf(str(form.get("csrf_token") or ""))
    key = str(form.get("template_key") or "")
    try:
        try:
            data = base64.b64decode(str(form.get("csv_b64") or ""), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput("the file did not come back intact; upload it again",
                               code="invalid_base64") from exc
        out = services.submit(rt, console.principal, template_key=key, data=data,
                              file_name=str(form.get("file_name") or "batch.csv"),
                              mapping=_mapping(form),
                              subject=str(form.get("subject") or "").strip() or None,
                              message=str(form.get("message") or "").strip(),
                              allow_duplicates=bool(form.get("allow_duplicates")))
    except AccordError as exc:
        if exc.status not in (404, 409, 413, 422):
            raise
        return _form_page(request, rt, console, error=exc, chosen=key,
                          status_code=exc.status)
    return RedirectResponse(f"/console/bulk/{out.batch.id}", status_code=303)


@router.get("/bulk/{batch_id}", response_class=HTMLResponse)
def bulk_batch(request: Request, rt: Rt, console: ConsoleUser, batch_id: str) -> HTMLResponse:
    batch = services.get(rt, console.principal, batch_id)
    return render(request, "bulk/batch.html", batch=batch, **console.context(NAV))


@router.get("/bulk/{batch_id}/results.csv")
def bulk_results(rt: Rt, console: ConsoleUser, batch_id: str) -> Response:
    name, text = services.results_csv(rt, console.principal, batch_id)
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "no-store"})
