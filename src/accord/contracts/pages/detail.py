"""Console pages of one contract: its record, every document (the version history) and
every envelope, its audit trail, terminating it; and the form that imports a signed PDF
made elsewhere. Thin: check the session (and CSRF on POST), call one service, render."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from accord.access import Permission, allowed
from accord.contracts.domain import ContractType
from accord.contracts.services import imports, records
from accord.errors import AccordError, InvalidInput, PayloadTooLarge
from accord.web.console import ConsoleUser
from accord.web.deps import Rt
from accord.web.templating import render

router = APIRouter(prefix="/console/contracts", include_in_schema=False)
ContractId = Annotated[str, Path(max_length=36)]
NOTICES = {"imported": "The contract is imported.", "terminated": "The contract is terminated.",
           "saved": "Saved."}
TYPES = [t.value for t in ContractType]


@dataclass
class ImportForm:
    title: str = ""
    type: str = "support_services"
    customer_name: str = ""
    customer_account_id: str = ""
    effective_date: str = ""
    end_date: str = ""
    term_months: str = ""
    auto_renew: str = ""
    notice_days: str = ""
    value: str = ""
    currency: str = ""
    tags: str = ""

    def meta(self) -> dict[str, Any]:
        """The form's non-blank fields as import metadata (the service checks them)."""
        out: dict[str, Any] = {k: v.strip() for k, v in asdict(self).items()
                               if v.strip() and k != "auto_renew"}
        out["auto_renew"] = self.auto_renew == "yes"
        if "tags" in out:
            out["tags"] = [t.strip() for t in out["tags"].split(",") if t.strip()]
        return out


def _import_page(request: Request, console: Any, form: ImportForm, error: str | None = None,
                 status_code: int = 200) -> HTMLResponse:
    return render(request, "contracts/import.html", status_code=status_code, form=form,
                  types=TYPES, error=error, **console.context("contracts"))


@router.get("/import", response_class=HTMLResponse)
def import_form(request: Request, console: ConsoleUser) -> HTMLResponse:
    console.principal.require(Permission.CONTRACT_MANAGE)
    return _import_page(request, console, ImportForm())


@router.post("/import", response_class=HTMLResponse, response_model=None)
def import_contract(request: Request, rt: Rt, console: ConsoleUser,
                    file: Annotated[UploadFile | None, File()] = None,
                    csrf_token: Annotated[str, Form()] = "",
                    title: Annotated[str, Form(max_length=300)] = "",
                    type: Annotated[str, Form(max_length=40)] = "support_services",
                    customer_name: Annotated[str, Form(max_length=200)] = "",
                    customer_account_id: Annotated[str, Form(max_length=200)] = "",
                    effective_date: Annotated[str, Form(max_length=10)] = "",
                    end_date: Annotated[str, Form(max_length=10)] = "",
                    term_months: Annotated[str, Form(max_length=5)] = "",
                    auto_renew: Annotated[str, Form(max_length=3)] = "",
                    notice_days: Annotated[str, Form(max_length=5)] = "",
                    value: Annotated[str, Form(max_length=20)] = "",
                    currency: Annotated[str, Form(max_length=3)] = "",
                    tags: Annotated[str, Form(max_length=2000)] = "",
                    ) -> HTMLResponse | RedirectResponse:
    console.check_csrf(csrf_token)
    console.principal.require(Permission.CONTRACT_MANAGE)
    form = ImportForm(title=title, type=type, customer_name=customer_name,
                      customer_account_id=customer_account_id, effective_date=effective_date,
                      end_date=end_date, term_months=term_months, auto_renew=auto_renew,
                      notice_days=notice_days, value=value, currency=currency, tags=tags)
    try:
        if file is None or not file.filename:
            raise InvalidInput("choose the signed PDF to import", code="file_missing")
        limit = rt.settings.max_document_bytes
        data = file.file.read(limit + 1)
        if len(data) > limit:
            raise PayloadTooLarge(f"the PDF is larger than {limit} bytes",
                                  code="document_too_large")
        got = imports.import_contract(rt, console.principal, data=data,
                                      filename=file.filename, meta=form.meta())
    except (InvalidInput, PayloadTooLarge) as exc:
        return _import_page(request, console, form, error=exc.message,
                            status_code=exc.status)
    return RedirectResponse(f"/console/contracts/{got.contract.id}?notice=imported",
                            status_code=303)


def _page(request: Request, rt: Rt, console: Any, contract_id: str, *,
          notice: str | None = None, error: str | None = None,
          status_code: int = 200) -> HTMLResponse:
    p = console.principal
    got = records.get_contract(rt, p, contract_id)
    trail = records.audit_trail(rt, p, contract_id) if p.can(Permission.AUDIT_READ) else []
    return render(request, "contracts/detail.html", status_code=status_code, d=got,
                  c=got.contract, trail=trail, notice=notice, error=error,
                  may_manage=allowed(p.role, Permission.CONTRACT_MANAGE),
                  **console.context("contracts"))


@router.get("/{contract_id}", response_class=HTMLResponse)
def contract_page(request: Request, rt: Rt, console: ConsoleUser, contract_id: ContractId,
                  notice: Annotated[str, Query(max_length=20)] = "") -> HTMLResponse:
    return _page(request, rt, console, contract_id, notice=NOTICES.get(notice))


@router.get("/{contract_id}/documents/{contract_document_id}")
def download(rt: Rt, console: ConsoleUser, contract_id: ContractId,
             contract_document_id: Annotated[str, Path(max_length=36)]) -> Response:
    got = records.download(rt, console.principal, contract_id,
                           contract_document_id)
    return Response(got.data, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{got.filename}"'})


@router.post("/{contract_id}/terminate", response_class=HTMLResponse, response_model=None)
def terminate(request: Request, rt: Rt, console: ConsoleUser, contract_id: ContractId,
              csrf_token: Annotated[str, Form()] = "",
              reason: Annotated[str, Form(max_length=1000)] = "",
              ) -> HTMLResponse | RedirectResponse:
    console.check_csrf(csrf_token)
    try:
        records.terminate_contract(rt, console.principal, contract_id, reason=reason)
    except AccordError as exc:
        if exc.status not in (409, 422):
            raise
        return _page(request, rt, console, contract_id, error=exc.message,
                     status_code=exc.status)
    return RedirectResponse(f"/console/contracts/{contract_id}?notice=terminated",
                            status_code=303)


@router.post("/{contract_id}", response_class=HTMLResponse, response_model=None)
def edit(request: Request, rt: Rt, console: ConsoleUser, contract_id: ContractId,
         csrf_token: Annotated[str, Form()] = "",
         title: Annotated[str, Form(max_length=300)] = "",
         tags: Annotated[str, Form(max_length=4000)] = "",
         customer_name: Annotated[str, Form(max_length=200)] = "",
         customer_account_id: Annotated[str, Form(max_length=200)] = "",
         ) -> HTMLResponse | RedirectResponse:
    console.check_csrf(csrf_token)
    given = {"title": title, "customer_name": customer_name,
             "customer_account_id": customer_account_id,
             "tags": [t.strip() for t in tags.split(",") if t.strip()]}
    try:
        records.update_contract(rt, console.principal, contract_id, given)
    except AccordError as exc:
        if exc.status not in (409, 422):
            raise
        return _page(request, rt, console, contract_id, error=exc.message,
                     status_code=exc.status)
    return RedirectResponse(f"/console/contracts/{contract_id}?notice=saved", status_code=303)
