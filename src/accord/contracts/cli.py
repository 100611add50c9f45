"""`accord contracts ...`: show a contract record, import a signed PDF made elsewhere with
its metadata, terminate a contract, link an envelope that amends or renews one. Every
command acts as a user (``--as EMAIL`` or ACCORD_AS)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from accord import terminal
from accord.terminal import AsUser, guard

app = typer.Typer(help="Contract records: show, import, terminate, link.",
                  no_args_is_help=True, add_completion=False)
MAX_META_BYTES = 64 * 1024


def _show(d: Any) -> None:
    c = d.contract
    out = terminal.out
    out.print(f"contract {c.id}  {c.title}", highlight=False)
    rows = [("status", c.status), ("type", c.type),
            ("customer", f"{c.customer_name or '-'} ({c.customer_account_id or '-'})"),
            ("parties", "; ".join(f"{p.get('name')} <{p.get('email') or '-'}>"
                                  for p in c.parties) or "-"),
            ("owner", c.owner_id or "-"), ("effective", str(c.effective_date or "-")),
            ("ends", str(c.end_date or "-")),
            ("auto-renew", "yes" if c.auto_renew else "no"),
            ("opt-out by", str(c.opt_out_date or "-")),
            ("value", f"{c.currency or ''} {c.value}" if c.value else "-"),
            ("tags", ", ".join(c.tags) or "-"), ("source", c.source),
            ("version", str(c.version))]
    if c.flagged:
        rows.append(("FLAGGED", c.flag_reason or "needs a look"))
    for k, v in rows:
        out.print(f"  {k:<11} {v}", highlight=False)
    table = Table("#", "kind", "title", "envelope", "sha256", "id")
    for doc in d.documents:
        table.add_row(str(doc.seq), doc.kind, doc.title, doc.envelope_id or "-",
                      (doc.sha256 or "-")[:16], doc.id)
    out.print(table)


@app.command("show")
def show(contract_id: str, as_user: AsUser) -> None:
    """A contract record with its documents (the version history)."""
    from accord.contracts.services import records

    rt, p = terminal.acting_as(as_user)
    _show(guard(lambda: records.get_contract(rt, p, contract_id)))


def _meta(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    text = raw
    if raw.startswith("@"):  # @file.json
        path = Path(raw[1:])
        if not path.is_file() or path.stat().st_size > MAX_META_BYTES:
            terminal.err.print(f"cannot read {path}: missing or over {MAX_META_BYTES} bytes")
            raise typer.Exit(2)
        text = path.read_text(encoding="utf-8")
    try:
        meta = json.loads(text)
    except ValueError as exc:
        terminal.err.print(f"--meta is not JSON: {exc}", highlight=False)
        raise typer.Exit(2) from exc
    if not isinstance(meta, dict):
        terminal.err.print("--meta must be a JSON object of contract fields")
        raise typer.Exit(2)
    return meta


@app.command("import")
def import_cmd(file: Annotated[Path, typer.Argument(help="The signed PDF (kept byte for "
                                                    "byte).")],
               as_user: AsUser,
               meta: Annotated[str | None, typer.Option(
                   "--meta", help='The metadata as JSON, or @file.json: {"title", "type", '
                   '"customer_account_id", "customer_name", "parties", "effective_date", '
                   '"end_date", "term_months", "auto_renew", "notice_days", "value", '
                   '"currency", "tags", "sla", "owner_id"}')] = None) -> None:
    """Import a signed PDF made elsewhere as a contract record (legal, manager, admin)."""
    from accord.contracts.services import imports

    given = _meta(meta)
    rt, p = terminal.acting_as(as_user)
    limit = rt.settings.max_document_bytes
    if not file.is_file():
        terminal.err.print(f"no such file: {file}", highlight=False)
        raise typer.Exit(2)
    if file.stat().st_size > limit:
        terminal.err.print(f"document_too_large: {file} is larger than {limit} bytes",
                           highlight=False)
        raise typer.Exit(2)
    data = file.read_bytes()
    _show(guard(lambda: imports.import_contract(rt, p, data=data, filename=file.name,
                                                meta=given)))


@app.command("terminate")
def terminate(contract_id: str, as_user: AsUser,
              reason: Annotated[str, typer.Option(help="Why it ends early.")]) -> None:
    """Terminate a contract early (legal, manager, admin)."""
    from accord.contracts.services import records

    rt, p = terminal.acting_as(as_user)
    d = guard(lambda: records.terminate_contract(rt, p, contract_id, reason=reason))
    terminal.out.print(f"contract {d.contract.id} terminated", highlight=False)


@app.command("link")
def link(contract_id: str, envelope_id: str, as_user: AsUser,
         kind: Annotated[str, typer.Option(help="amendment or renewal_addendum")] = "amendment",
         ) -> None:
    """Link an envelope in progress that amends or renews the contract when it completes."""
    from accord.contracts.services import filing

    rt, p = terminal.acting_as(as_user)
    guard(lambda: filing.link_envelope(rt, p, contract_id, envelope_id=envelope_id,
                                       kind=kind))
    terminal.out.print(f"envelope {envelope_id} linked to contract {contract_id} ({kind})",
                       highlight=False)
